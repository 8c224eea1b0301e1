/*
 * transform.c - batch transform jobs: CreateTransformJob, Describe, List
 * and Stop, over meta_res documents of type "transform-job".
 *
 * The document is DescribeTransformJob's answer, with the defaults the
 * runner uses filled in (MaxPayloadInMB 6, one concurrent transform per
 * instance, MultiRecord batches, no split, no assembly), so a user sees
 * what ran. The runner (cmd/transformer.c) updates it as the job goes.
 */
#include "api/transform.h"

#include "api/hosting.h"
#include "api/tags.h"
#include "base/instances.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "formats/dataproc.h"
#include "meta/meta.h"

#define NAME63 "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
#define S3URI  "^(https|s3)://([^/]+)/?(.*)$"
#define TYPE   "transform-job"

static const char *const s3_types[] = {"ManifestFile", "S3Prefix",
                                       "AugmentedManifestFile", NULL};
static const char *const compressions[] = {"None", "Gzip", NULL};
static const char *const splits[] = {"None", "Line", "RecordIO", "TFRecord",
                                     NULL};
static const char *const assemblies[] = {"None", "Line", NULL};
static const char *const strategies[] = {"MultiRecord", "SingleRecord", NULL};
static const char *const statuses[] = {"InProgress", "Completed", "Failed",
                                       "Stopping",   "Stopped",   NULL};
static const char *const sort_by[] = {"Name", "CreationTime", "Status", NULL};
static const char *const sort_order[] = {"Ascending", "Descending", NULL};

static const struct vshape name63 = {.type = VT_STRING,
                                     .flags = V_MIN | V_MAX,
                                     .min = 1,
                                     .max = 63,
                                     .pattern = NAME63};
static const struct vshape model_name = {.type = VT_STRING,
                                         .flags = V_MAX,
                                         .max = 63,
                                         .pattern =
                                             "^[a-zA-Z0-9](-*[a-zA-Z0-9])*"};
static const struct vshape s3_uri = {
    .type = VT_STRING, .flags = V_MAX, .max = 1024, .pattern = S3URI};
static const struct vshape str256 = {
    .type = VT_STRING, .flags = V_MAX, .max = 256};
static const struct vshape str2048 = {
    .type = VT_STRING, .flags = V_MAX, .max = 2048};
static const struct vshape non_negative = {
    .type = VT_INTEGER, .flags = V_MIN, .min = 0};
static const struct vshape pos_int = {
    .type = VT_INTEGER, .flags = V_MIN, .min = 1};
static const struct vshape timeout = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 3600};
static const struct vshape retries = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 0, .max = 3};
static const struct vshape json_path = {
    .type = VT_STRING, .flags = V_MAX, .max = 63};
static const struct vshape e_s3_type = {.type = VT_STRING, .enums = s3_types};
static const struct vshape e_compression = {.type = VT_STRING,
                                            .enums = compressions};
static const struct vshape e_split = {.type = VT_STRING, .enums = splits};
static const struct vshape e_assembly = {.type = VT_STRING,
                                         .enums = assemblies};
static const struct vshape e_strategy = {.type = VT_STRING,
                                         .enums = strategies};
static const char *const joins[] = {"Input", "None", NULL};
static const struct vshape e_join = {.type = VT_STRING, .enums = joins};

static const struct vmember s3_source_members[] = {
    {"S3DataType", &e_s3_type, true},
    {"S3Uri", &s3_uri, true},
    {NULL, NULL, false}};
static const struct vshape s3_source = {.type = VT_STRUCTURE,
                                        .members = s3_source_members};
static const struct vmember data_source_members[] = {
    {"S3DataSource", &s3_source, true}, {NULL, NULL, false}};
static const struct vshape data_source = {.type = VT_STRUCTURE,
                                          .members = data_source_members};
static const struct vmember input_members[] = {
    {"DataSource", &data_source, true},
    {"ContentType", &str256, false},
    {"CompressionType", &e_compression, false},
    {"SplitType", &e_split, false},
    {NULL, NULL, false}};
static const struct vshape input = {.type = VT_STRUCTURE,
                                    .members = input_members};
static const struct vmember output_members[] = {
    {"S3OutputPath", &s3_uri, true},
    {"Accept", &str256, false},
    {"AssembleWith", &e_assembly, false},
    {"KmsKeyId", &str2048, false},
    {NULL, NULL, false}};
static const struct vshape output = {.type = VT_STRUCTURE,
                                     .members = output_members};
static const struct vmember resources_members[] = {
    {"InstanceType", &str256, true},
    {"InstanceCount", &pos_int, true},
    {"VolumeKmsKeyId", &str2048, false},
    {NULL, NULL, false}};
static const struct vshape resources = {.type = VT_STRUCTURE,
                                        .members = resources_members};
static const struct vmember client_members[] = {
    {"InvocationsTimeoutInSeconds", &timeout, false},
    {"InvocationsMaxRetries", &retries, false},
    {NULL, NULL, false}};
static const struct vshape client = {.type = VT_STRUCTURE,
                                     .members = client_members};
static const struct vmember processing_members[] = {
    {"InputFilter", &json_path, false},
    {"OutputFilter", &json_path, false},
    {"JoinSource", &e_join, false},
    {NULL, NULL, false}};
static const struct vshape processing = {.type = VT_STRUCTURE,
                                         .members = processing_members};
static const struct vshape env_key = {.type = VT_STRING,
                                      .flags = V_MAX,
                                      .max = 1024,
                                      .pattern =
                                          "[a-zA-Z_][a-zA-Z0-9_]{0,1023}"};
static const struct vshape env_value = {
    .type = VT_STRING, .flags = V_MAX, .max = 10240, .pattern = "[\\S\\s]*"};
static const struct vshape environment = {.type = VT_MAP,
                                          .flags = V_MAX,
                                          .max = 16,
                                          .key = &env_key,
                                          .item = &env_value};
static const struct vmember create_members[] = {
    {"TransformJobName", &name63, true},
    {"ModelName", &model_name, true},
    {"MaxConcurrentTransforms", &non_negative, false},
    {"ModelClientConfig", &client, false},
    {"MaxPayloadInMB", &non_negative, false},
    {"BatchStrategy", &e_strategy, false},
    {"Environment", &environment, false},
    {"TransformInput", &input, true},
    {"TransformOutput", &output, true},
    {"TransformResources", &resources, true},
    {"DataProcessing", &processing, false},
    {"Tags", &tags_shape, false},
    {NULL, NULL, false}};
const struct vshape transform_create_input = {.type = VT_STRUCTURE,
                                              .members = create_members};

static const struct vmember name_members[] = {
    {"TransformJobName", &name63, true}, {NULL, NULL, false}};
const struct vshape transform_describe_input = {.type = VT_STRUCTURE,
                                                .members = name_members};
const struct vshape transform_stop_input = {.type = VT_STRUCTURE,
                                            .members = name_members};

static const struct vshape timestamp = {.type = VT_TIMESTAMP};
static const struct vshape name_contains = {
    .type = VT_STRING, .flags = V_MAX, .max = 63, .pattern = "[a-zA-Z0-9\\-]+"};
static const struct vshape e_status = {.type = VT_STRING, .enums = statuses};
static const struct vshape e_sort_by = {.type = VT_STRING, .enums = sort_by};
static const struct vshape e_sort_order = {.type = VT_STRING,
                                           .enums = sort_order};
static const struct vshape next_token = {
    .type = VT_STRING, .flags = V_MAX, .max = 8192, .pattern = ".*"};
static const struct vshape max_results = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 100};
const struct vmember job_list_members[] = {
    {"CreationTimeAfter", &timestamp, false},
    {"CreationTimeBefore", &timestamp, false},
    {"LastModifiedTimeAfter", &timestamp, false},
    {"LastModifiedTimeBefore", &timestamp, false},
    {"NameContains", &name_contains, false},
    {"StatusEquals", &e_status, false},
    {"SortBy", &e_sort_by, false},
    {"SortOrder", &e_sort_order, false},
    {"NextToken", &next_token, false},
    {"MaxResults", &max_results, false},
    {NULL, NULL, false}};
const struct vshape transform_list_input = {.type = VT_STRUCTURE,
                                            .members = job_list_members};

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A member of `o` that is `value` unless set. */
static void fill(json_t *o, const char *key, json_t *value)
{
    if (!json_object_get(o, key))
        json_object_set_new(o, key, value);
    else
        json_decref(value);
}

/* DataProcessing: filters kiln can apply, to records it can read. */
static int processing_valid(json_t *in, struct kiln_diag *d)
{
    json_t *dp = json_object_get(in, "DataProcessing");
    json_t *ti = json_object_get(in, "TransformInput");
    const char *join = str(dp, "JoinSource");
    bool active = join && strcmp(join, "Input") == 0;
    const char *filters[] = {"InputFilter", "OutputFilter"};
    for (size_t i = 0; i < KILN_ARRAY_LEN(filters); i++) {
        const char *f = str(dp, filters[i]);
        struct jsonpath *p = NULL;
        if (!f || !*f || strcmp(f, "$") == 0)
            continue;
        active = true;
        if (jsonpath_parse(f, &p, d) != 0)
            return diag_wrap(d, KILN_EVALIDATION,
                             i ? "OutputFilter: " : "InputFilter: ");
        jsonpath_free(p);
    }
    if (!active)
        return 0;
    const char *split = str(ti, "SplitType"), *ct = str(ti, "ContentType");
    if (!split || strcmp(split, "Line") != 0)
        return diag_set(d, KILN_EVALIDATION,
                        "DataProcessing works on records: set "
                        "TransformInput SplitType to Line.");
    if (!ct ||
        !(str_starts(ct, "text/csv") || str_starts(ct, "application/json") ||
          str_starts(ct, "application/jsonlines")))
        return diag_set(d, KILN_EVALIDATION,
                        "DataProcessing reads CSV and JSON records only: "
                        "set TransformInput ContentType to text/csv, "
                        "application/json or application/jsonlines.");
    return 0;
}

/* What kiln refuses by name rather than accepts and ignores. */
static int refused(json_t *in, struct kiln_diag *d)
{
    json_t *src = json_object_get(
        json_object_get(json_object_get(in, "TransformInput"), "DataSource"),
        "S3DataSource");
    const char *type = str(src, "S3DataType");
    if (type && strcmp(type, "AugmentedManifestFile") == 0)
        return diag_set(d, KILN_EVALIDATION,
                        "Batch transform reads S3Prefix or ManifestFile "
                        "input, not AugmentedManifestFile.");
    if (json_object_get(in, "DataCaptureConfig"))
        return diag_set(d, KILN_EVALIDATION,
                        "kiln does not support batch data capture "
                        "(DataCaptureConfig) yet.");
    if (json_object_get(in, "ExperimentConfig"))
        return diag_set(d, KILN_EVALIDATION,
                        "kiln does not support SageMaker Experiments "
                        "(ExperimentConfig) yet.");
    return processing_valid(in, d);
}

int transform_create(const struct api_ctx *c, json_t *in, json_t **out,
                     struct kiln_diag *d)
{
    const char *name = str(in, "TransformJobName");
    const char *model = str(in, "ModelName");
    json_t *res = json_object_get(in, "TransformResources");
    const char *itype = str(res, "InstanceType");
    char arn[256], model_arn[256], *body = NULL;
    double now = tm_now();
    int rc = refused(in, d);

    if (rc)
        return rc;
    if (!instance_find(itype))
        return diag_set(d, KILN_EVALIDATION,
                        "1 validation error detected: Value '%.64s' at "
                        "'transformResources.instanceType' failed to satisfy "
                        "constraint: Member must satisfy enum value set: "
                        "[ml.m5.large, ml.m5.xlarge, ml.c5.xlarge, "
                        "ml.c4.xlarge, ml.p3.2xlarge, ...] (kiln knows the "
                        "ml.* types of docs/api-coverage.md)",
                        itype);
    json_int_t payload = 6, concurrent = 1;
    if (json_object_get(in, "MaxPayloadInMB"))
        payload = json_integer_value(json_object_get(in, "MaxPayloadInMB"));
    if (json_integer_value(json_object_get(in, "MaxConcurrentTransforms")) > 0)
        concurrent =
            json_integer_value(json_object_get(in, "MaxConcurrentTransforms"));
    if (payload > 100)
        return diag_set(d, KILN_EVALIDATION,
                        "MaxPayloadInMB must be at most 100; it is %lld.",
                        (long long)payload);
    if (payload * concurrent > 100)
        return diag_set(d, KILN_EVALIDATION,
                        "MaxPayloadInMB (%lld) times MaxConcurrentTransforms "
                        "(%lld) must not exceed 100 MB.",
                        (long long)payload, (long long)concurrent);
    hosting_arn(c, "model", model, model_arn, sizeof(model_arn));
    if (meta_res_get(c->meta, c->account, "model", model, &body) != 0)
        return diag_set(d, KILN_EVALIDATION, "Could not find model \"%s\".",
                        model_arn);
    mem_free(body);

    hosting_arn(c, TYPE, name, arn, sizeof(arn));
    json_t *doc = json_object();
    json_object_set_new(doc, "TransformJobName", json_string(name));
    json_object_set_new(doc, "TransformJobArn", json_string(arn));
    json_object_set_new(doc, "TransformJobStatus", json_string("InProgress"));
    json_object_set_new(doc, "ModelName", json_string(model));
    json_object_set_new(doc, "MaxConcurrentTransforms",
                        json_integer(concurrent));
    json_object_set_new(doc, "MaxPayloadInMB", json_integer(payload));
    json_object_set_new(doc, "BatchStrategy",
                        json_string(str(in, "BatchStrategy")
                                        ? str(in, "BatchStrategy")
                                        : "MultiRecord"));
    json_t *mc = json_deep_copy(json_object_get(in, "ModelClientConfig"));
    if (!mc)
        mc = json_object();
    fill(mc, "InvocationsTimeoutInSeconds", json_integer(600));
    fill(mc, "InvocationsMaxRetries", json_integer(3));
    json_object_set_new(doc, "ModelClientConfig", mc);
    json_t *env = json_object_get(in, "Environment");
    json_object_set_new(doc, "Environment",
                        env ? json_deep_copy(env) : json_object());
    json_t *ti = json_deep_copy(json_object_get(in, "TransformInput"));
    fill(ti, "CompressionType", json_string("None"));
    fill(ti, "SplitType", json_string("None"));
    json_object_set_new(doc, "TransformInput", ti);
    json_t *to = json_deep_copy(json_object_get(in, "TransformOutput"));
    fill(to, "AssembleWith", json_string("None"));
    json_object_set_new(doc, "TransformOutput", to);
    json_object_set_new(doc, "TransformResources", json_deep_copy(res));
    if (json_object_get(in, "DataProcessing"))
        json_object_set_new(
            doc, "DataProcessing",
            json_deep_copy(json_object_get(in, "DataProcessing")));
    json_object_set_new(doc, "CreationTime", json_real(now));

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
    if (c->jobs && c->jobs->transform_start)
        c->jobs->transform_start(c->jobs->transforms, c->account, name);
    *out = json_object();
    json_object_set_new(*out, "TransformJobArn", json_string(arn));
    return 0;
}

static int load(const struct api_ctx *c, const char *name, json_t **doc,
                struct kiln_diag *d)
{
    int rc = hosting_load_doc(c, TYPE, name, doc, d);
    if (rc == KILN_ENOTFOUND)
        return diag_set(d, KILN_ENOTFOUND,
                        "Could not find requested job with name %s", name);
    return rc;
}

int transform_describe(const struct api_ctx *c, json_t *in, json_t **out,
                       struct kiln_diag *d)
{
    return load(c, str(in, "TransformJobName"), out, d);
}

int transform_stop(const struct api_ctx *c, json_t *in, json_t **out,
                   struct kiln_diag *d)
{
    const char *name = str(in, "TransformJobName");
    json_t *doc;
    int rc = load(c, name, &doc, d);
    if (rc)
        return rc;
    rc = hosting_stop_job(c, doc, "TransformJobStatus", "transform job",
                          c->jobs ? c->jobs->transform_stop : NULL,
                          c->jobs ? c->jobs->transforms : NULL, name, out, d);
    json_decref(doc);
    return rc;
}

int transform_list(const struct api_ctx *c, json_t *in, json_t **out,
                   struct kiln_diag *d)
{
    static const char *const keys[] = {"TransformJobName",   "TransformJobArn",
                                       "TransformJobStatus", "TransformEndTime",
                                       "FailureReason",      NULL};
    return hosting_list_res(c, in, TYPE, "TransformJobSummaries", keys, out, d);
}
