/*
 * processing.c - processing jobs: CreateProcessingJob, Describe, List and
 * Stop, over meta_res documents of type "processing-job".
 *
 * kiln runs no container images yet, so a processing job runs one of
 * kiln's built-in processing images: Model Monitor's analyzer
 * ("sagemaker-model-monitor-analyzer", under any registry and tag), which
 * `kiln algo model-monitor analyze` implements; or, for any other image,
 * that image if it was loaded (`kiln admin images load`), else its
 * ContainerEntrypoint and ContainerArguments with this machine's programs
 * (script processing: the SDK's ScriptProcessor and SKLearnProcessor),
 * in a sandbox. The runner fails a job that has neither. The document is
 * DescribeProcessingJob's answer, with the defaults filled in; the runner
 * (cmd/processor.c) updates it.
 */
#include "api/processing.h"

#include "api/hosting.h"
#include "api/tags.h"
#include "api/transform.h"
#include "base/instances.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "meta/meta.h"

#define TYPE "processing-job"
#define ROOT "/opt/ml/processing/"

static const char *const s3_types[] = {"ManifestFile", "S3Prefix", NULL};
static const char *const input_modes[] = {"Pipe", "File", NULL};
static const char *const distributions[] = {"FullyReplicated", "ShardedByS3Key",
                                            NULL};
static const char *const compressions[] = {"None", "Gzip", NULL};
static const char *const upload_modes[] = {"Continuous", "EndOfJob", NULL};

static const struct vshape name63 = {.type = VT_STRING,
                                     .flags = V_MIN | V_MAX,
                                     .min = 1,
                                     .max = 63,
                                     .pattern =
                                         "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"};
static const struct vshape s3_uri = {.type = VT_STRING,
                                     .flags = V_MAX,
                                     .max = 1024,
                                     .pattern = "^(https|s3)://([^/]+)/?(.*)$"};
static const struct vshape local_path = {
    .type = VT_STRING, .flags = V_MAX, .max = 256, .pattern = ".*"};
static const struct vshape str256 = {
    .type = VT_STRING, .flags = V_MAX, .max = 256};
static const struct vshape str2048 = {
    .type = VT_STRING, .flags = V_MAX, .max = 2048};
static const struct vshape boolean = {.type = VT_BOOLEAN};
static const struct vshape e_s3_type = {.type = VT_STRING, .enums = s3_types};
static const struct vshape e_mode = {.type = VT_STRING, .enums = input_modes};
static const struct vshape e_distribution = {.type = VT_STRING,
                                             .enums = distributions};
static const struct vshape e_compression = {.type = VT_STRING,
                                            .enums = compressions};
static const struct vshape e_upload = {.type = VT_STRING,
                                       .enums = upload_modes};
/* Members kiln reads itself, or refuses by name. */
static const struct vshape any_struct = {.type = VT_STRUCTURE};

static const struct vmember s3_input_members[] = {
    {"S3Uri", &s3_uri, true},
    {"LocalPath", &local_path, false},
    {"S3DataType", &e_s3_type, true},
    {"S3InputMode", &e_mode, false},
    {"S3DataDistributionType", &e_distribution, false},
    {"S3CompressionType", &e_compression, false},
    {NULL, NULL, false}};
static const struct vshape s3_input = {.type = VT_STRUCTURE,
                                       .members = s3_input_members};
static const struct vmember input_members[] = {
    {"InputName", &str256, true},
    {"AppManaged", &boolean, false},
    {"S3Input", &s3_input, false},
    {"DatasetDefinition", &any_struct, false},
    {NULL, NULL, false}};
static const struct vshape input = {.type = VT_STRUCTURE,
                                    .members = input_members};
static const struct vshape inputs = {
    .type = VT_LIST, .flags = V_MAX, .max = 10, .item = &input};
static const struct vmember s3_output_members[] = {
    {"S3Uri", &s3_uri, true},
    {"LocalPath", &local_path, true},
    {"S3UploadMode", &e_upload, true},
    {NULL, NULL, false}};
static const struct vshape s3_output = {.type = VT_STRUCTURE,
                                        .members = s3_output_members};
static const struct vmember output_members[] = {
    {"OutputName", &str256, true},
    {"S3Output", &s3_output, false},
    {"FeatureStoreOutput", &any_struct, false},
    {"AppManaged", &boolean, false},
    {NULL, NULL, false}};
static const struct vshape output = {.type = VT_STRUCTURE,
                                     .members = output_members};
static const struct vshape outputs = {
    .type = VT_LIST, .flags = V_MAX, .max = 10, .item = &output};
static const struct vmember output_config_members[] = {
    {"Outputs", &outputs, true},
    {"KmsKeyId", &str2048, false},
    {NULL, NULL, false}};
static const struct vshape output_config = {.type = VT_STRUCTURE,
                                            .members = output_config_members};
static const struct vshape instances = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 100};
static const struct vshape volume = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 16384};
static const struct vmember cluster_members[] = {
    {"InstanceCount", &instances, true},
    {"InstanceType", &str256, true},
    {"VolumeSizeInGB", &volume, true},
    {"VolumeKmsKeyId", &str2048, false},
    {NULL, NULL, false}};
static const struct vshape cluster_config = {.type = VT_STRUCTURE,
                                             .members = cluster_members};
static const struct vmember resources_members[] = {
    {"ClusterConfig", &cluster_config, true}, {NULL, NULL, false}};
const struct vshape processing_resources_shape = {.type = VT_STRUCTURE,
                                                  .members = resources_members};
static const struct vshape runtime = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 777600};
static const struct vmember stopping_members[] = {
    {"MaxRuntimeInSeconds", &runtime, true}, {NULL, NULL, false}};
const struct vshape processing_stopping_shape = {.type = VT_STRUCTURE,
                                                 .members = stopping_members};
static const struct vshape arg = {.type = VT_STRING,
                                  .flags = V_MIN | V_MAX,
                                  .min = 1,
                                  .max = 256,
                                  .pattern = ".*"};
static const struct vshape args = {
    .type = VT_LIST, .flags = V_MAX, .max = 100, .item = &arg};
static const struct vmember app_members[] = {
    {"ImageUri", &str256, true},
    {"ContainerEntrypoint", &args, false},
    {"ContainerArguments", &args, false},
    {NULL, NULL, false}};
static const struct vshape app_spec = {.type = VT_STRUCTURE,
                                       .members = app_members};
static const struct vshape env_key = {.type = VT_STRING,
                                      .flags = V_MAX,
                                      .max = 256,
                                      .pattern = "[a-zA-Z_][a-zA-Z0-9_]*"};
static const struct vshape env_value = {
    .type = VT_STRING, .flags = V_MAX, .max = 256, .pattern = "[\\S\\s]*"};
const struct vshape processing_environment_shape = {.type = VT_MAP,
                                                    .flags = V_MAX,
                                                    .max = 100,
                                                    .key = &env_key,
                                                    .item = &env_value};
static const struct vshape role = {
    .type = VT_STRING, .flags = V_MIN | V_MAX, .min = 20, .max = 2048};

static const struct vmember create_members[] = {
    {"ProcessingInputs", &inputs, false},
    {"ProcessingOutputConfig", &output_config, false},
    {"ProcessingJobName", &name63, true},
    {"ProcessingResources", &processing_resources_shape, true},
    {"StoppingCondition", &processing_stopping_shape, false},
    {"AppSpecification", &app_spec, true},
    {"Environment", &processing_environment_shape, false},
    {"NetworkConfig", &any_struct, false},
    {"RoleArn", &role, true},
    {"Tags", &tags_shape, false},
    {"ExperimentConfig", &any_struct, false},
    {NULL, NULL, false}};
const struct vshape processing_create_input = {.type = VT_STRUCTURE,
                                               .members = create_members};

static const struct vmember name_members[] = {
    {"ProcessingJobName", &name63, true}, {NULL, NULL, false}};
const struct vshape processing_describe_input = {.type = VT_STRUCTURE,
                                                 .members = name_members};
const struct vshape processing_stop_input = {.type = VT_STRUCTURE,
                                             .members = name_members};
const struct vshape processing_list_input = {.type = VT_STRUCTURE,
                                             .members = job_list_members};

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void fill(json_t *o, const char *key, const char *value)
{
    if (!json_object_get(o, key))
        json_object_set_new(o, key, json_string(value));
}

bool processing_builtin_image(const char *image)
{
    static const char name[] = "sagemaker-model-monitor-analyzer";
    const char *slash = image ? strrchr(image, '/') : NULL;
    const char *repo = slash ? slash + 1 : image;
    return repo && strncmp(repo, name, sizeof(name) - 1) == 0 &&
           strchr(":@", repo[sizeof(name) - 1]) != NULL;
}

bool processing_local_path_ok(const char *p)
{
    if (!p || !str_starts(p, ROOT) || strlen(p) <= strlen(ROOT))
        return false;
    for (const char *s = p; (s = strchr(s, '/')) != NULL; s++)
        if (strncmp(s, "/./", 3) == 0 || strncmp(s, "/../", 4) == 0 ||
            strcmp(s, "/.") == 0 || strcmp(s, "/..") == 0 ||
            strncmp(s, "//", 2) == 0)
            return false;
    return true;
}

/* What kiln refuses by name, and inputs and outputs it cannot place. */
static int refused(json_t *in, struct kiln_diag *d)
{
    json_t *app = json_object_get(in, "AppSpecification");
    size_t i;
    json_t *x;

    bool builtin = processing_builtin_image(str(app, "ImageUri"));
    if (builtin && (json_object_get(app, "ContainerEntrypoint") ||
                    json_object_get(app, "ContainerArguments")))
        return diag_set(d, KILN_EVALIDATION,
                        "The built-in analyzer takes no ContainerEntrypoint "
                        "or ContainerArguments: it is configured by "
                        "Environment.");
    if (json_object_get(in, "ExperimentConfig"))
        return diag_set(d, KILN_EVALIDATION,
                        "kiln does not support SageMaker Experiments "
                        "(ExperimentConfig) yet.");
    json_array_foreach(json_object_get(in, "ProcessingInputs"), i, x)
    {
        json_t *s3 = json_object_get(x, "S3Input");
        if (!s3)
            return diag_set(d, KILN_EVALIDATION,
                            "Processing input %s: kiln reads S3Input only.",
                            str(x, "InputName"));
        const char *mode = str(s3, "S3InputMode");
        if (mode && strcmp(mode, "Pipe") == 0)
            return diag_set(d, KILN_EVALIDATION,
                            "Processing input %s: kiln supports S3InputMode "
                            "File only.",
                            str(x, "InputName"));
        if (!processing_local_path_ok(str(s3, "LocalPath")))
            return diag_set(d, KILN_EVALIDATION,
                            "Processing input %s: LocalPath must be a path "
                            "under " ROOT ".",
                            str(x, "InputName"));
    }
    json_array_foreach(
        json_object_get(json_object_get(in, "ProcessingOutputConfig"),
                        "Outputs"),
        i, x)
    {
        json_t *s3 = json_object_get(x, "S3Output");
        if (!s3)
            return diag_set(d, KILN_EVALIDATION,
                            "Processing output %s: kiln writes S3Output "
                            "only.",
                            str(x, "OutputName"));
        if (!processing_local_path_ok(str(s3, "LocalPath")))
            return diag_set(d, KILN_EVALIDATION,
                            "Processing output %s: LocalPath must be a path "
                            "under " ROOT ".",
                            str(x, "OutputName"));
    }
    json_t *cluster = json_object_get(
        json_object_get(in, "ProcessingResources"), "ClusterConfig");
    if (!instance_find(str(cluster, "InstanceType")))
        return diag_set(d, KILN_EVALIDATION,
                        "1 validation error detected: Value '%.64s' at "
                        "'processingResources.clusterConfig.instanceType' "
                        "failed to satisfy constraint: Member must satisfy "
                        "enum value set (kiln knows the ml.* types of "
                        "docs/api-coverage.md)",
                        str(cluster, "InstanceType"));
    return 0;
}

int processing_create(const struct api_ctx *c, json_t *in, json_t **out,
                      struct kiln_diag *d)
{
    const char *name = str(in, "ProcessingJobName");
    char arn[256];
    double now = tm_now();
    int rc = refused(in, d);
    size_t i;
    json_t *x;

    if (rc)
        return rc;
    hosting_arn(c, TYPE, name, arn, sizeof(arn));
    json_t *doc = json_deep_copy(in);
    json_object_del(doc, "Tags");
    json_array_foreach(json_object_get(doc, "ProcessingInputs"), i, x)
    {
        json_t *s3 = json_object_get(x, "S3Input");
        fill(s3, "S3InputMode", "File");
        fill(s3, "S3DataDistributionType", "FullyReplicated");
        fill(s3, "S3CompressionType", "None");
        if (!json_object_get(x, "AppManaged"))
            json_object_set_new(x, "AppManaged", json_false());
    }
    if (!json_object_get(doc, "StoppingCondition"))
        json_object_set_new(doc, "StoppingCondition",
                            json_pack("{s:i}", "MaxRuntimeInSeconds", 86400));
    if (!json_object_get(doc, "Environment"))
        json_object_set_new(doc, "Environment", json_object());
    json_object_set_new(doc, "ProcessingJobArn", json_string(arn));
    json_object_set_new(doc, "ProcessingJobStatus", json_string("InProgress"));
    json_object_set_new(doc, "CreationTime", json_real(now));
    json_object_set_new(doc, "LastModifiedTime", json_real(now));

    rc = hosting_insert_res(c, TYPE, name, arn, "InProgress", doc, now, d);
    json_decref(doc);
    if (rc == KILN_EINUSE)
        return diag_set(d, KILN_EINUSE,
                        "Job name must be unique within an AWS account and "
                        "region, and a job with this name already exists "
                        "(%s).",
                        arn);
    if (rc)
        return rc;
    tags_store(c, arn, in);
    if (c->jobs && c->jobs->processing_start)
        c->jobs->processing_start(c->jobs->processing, c->account, name);
    *out = json_pack("{s:s}", "ProcessingJobArn", arn);
    return 0;
}

static int load(const struct api_ctx *c, const char *name, json_t **doc,
                struct kiln_diag *d)
{
    int rc = hosting_load_doc(c, TYPE, name, doc, d);
    if (rc == KILN_ENOTFOUND)
        return diag_set(d, KILN_ENOJOB, "Processing job %s does not exist.",
                        name);
    return rc;
}

int processing_describe(const struct api_ctx *c, json_t *in, json_t **out,
                        struct kiln_diag *d)
{
    return load(c, str(in, "ProcessingJobName"), out, d);
}

int processing_stop(const struct api_ctx *c, json_t *in, json_t **out,
                    struct kiln_diag *d)
{
    const char *name = str(in, "ProcessingJobName");
    json_t *doc;
    int rc = load(c, name, &doc, d);
    if (rc)
        return rc;
    rc = hosting_stop_job(c, doc, "ProcessingJobStatus", "processing job",
                          c->jobs ? c->jobs->processing_stop : NULL,
                          c->jobs ? c->jobs->processing : NULL, name, out, d);
    json_decref(doc);
    return rc;
}

int processing_list(const struct api_ctx *c, json_t *in, json_t **out,
                    struct kiln_diag *d)
{
    static const char *const keys[] = {"ProcessingJobName",
                                       "ProcessingJobArn",
                                       "ProcessingJobStatus",
                                       "ProcessingEndTime",
                                       "FailureReason",
                                       "ExitMessage",
                                       NULL};
    return hosting_list_res(c, in, TYPE, "ProcessingJobSummaries", keys, out,
                            d);
}
