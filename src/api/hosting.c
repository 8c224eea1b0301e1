/*
 * hosting.c - the fourteen hosting operations over meta_res_* documents.
 *
 * An endpoint's document carries, besides what DescribeEndpoint shows, a
 * "KilnDeployment" member: the variants with their models as they were
 * when the endpoint was created or last updated, shadow variants marked
 * and listed after the production ones. The runner reads it; Describe
 * strips it.
 */
#include "api/hosting.h"

#include <limits.h>

#include "api/cloudwatch.h"
#include "api/paging.h"
#include "api/registry.h"
#include "api/tags.h"
#include "base/instances.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "meta/meta.h"

#define NAME63     "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
#define MODEL_NAME "^[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?$"
#define DEPLOYMENT "KilnDeployment"
/* Marks a deployment's shadow variant (ShadowProductionVariants). */
#define SHADOW "KilnShadow"
/* The deployment an update in progress brings up (the hoster reads it). */
#define PENDING "PendingDeployment"

static const struct vshape model_name = {.type = VT_STRING,
                                         .flags = V_MIN | V_MAX,
                                         .min = 1,
                                         .max = 63,
                                         .pattern = MODEL_NAME};
static const struct vshape name63 = {.type = VT_STRING,
                                     .flags = V_MIN | V_MAX,
                                     .min = 1,
                                     .max = 63,
                                     .pattern = NAME63};
static const struct vshape image = {
    .type = VT_STRING, .flags = V_MAX, .max = 255, .pattern = "[\\S]+"};
static const struct vshape url = {.type = VT_STRING,
                                  .flags = V_MAX,
                                  .max = 1024,
                                  .pattern = "^(https|s3)://([^/]+)/?(.*)$"};
static const struct vshape role = {
    .type = VT_STRING,
    .flags = V_MIN | V_MAX,
    .min = 20,
    .max = 2048,
    .pattern = "^arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+$"};
static const struct vshape env_key = {.type = VT_STRING,
                                      .flags = V_MAX,
                                      .max = 1024,
                                      .pattern = "[a-zA-Z_][a-zA-Z0-9_]*"};
static const struct vshape env_value = {
    .type = VT_STRING, .flags = V_MAX, .max = 1024, .pattern = "[\\S\\s]*"};
static const struct vshape environment = {.type = VT_MAP,
                                          .flags = V_MAX,
                                          .max = 100,
                                          .key = &env_key,
                                          .item = &env_value};
static const char *const modes[] = {"SingleModel", "MultiModel", NULL};
static const struct vshape mode = {.type = VT_STRING, .enums = modes};
static const struct vmember container_members[] = {
    {"Image", &image, false},
    {"ModelDataUrl", &url, false},
    {"Environment", &environment, false},
    {"Mode", &mode, false},
    {NULL, NULL, false}};
static const struct vshape container = {.type = VT_STRUCTURE,
                                        .members = container_members};
static const struct vshape containers = {
    .type = VT_LIST, .flags = V_MAX, .max = 15, .item = &container};
static const struct vmember create_model_members[] = {
    {"ModelName", &model_name, true},   {"PrimaryContainer", &container, false},
    {"Containers", &containers, false}, {"ExecutionRoleArn", &role, false},
    {"Tags", &tags_shape, false},       {NULL, NULL, false}};
const struct vshape hosting_create_model_input = {
    .type = VT_STRUCTURE, .members = create_model_members};
static const struct vmember model_only[] = {{"ModelName", &model_name, true},
                                            {NULL, NULL, false}};
const struct vshape hosting_describe_model_input = {.type = VT_STRUCTURE,
                                                    .members = model_only};
const struct vshape hosting_delete_model_input = {.type = VT_STRUCTURE,
                                                  .members = model_only};

static const struct vshape pos_int = {
    .type = VT_INTEGER, .flags = V_MIN, .min = 1};
static const struct vshape weight = {
    .type = VT_DOUBLE, .flags = V_MIN, .min = 0};
static const struct vshape itype = {
    .type = VT_STRING, .flags = V_MAX, .max = 64};
static const struct vshape memory_mb = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1024, .max = 6144};
static const struct vshape concurrency = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 200};
static const struct vmember serverless_members[] = {
    {"MemorySizeInMB", &memory_mb, true},
    {"MaxConcurrency", &concurrency, true},
    {NULL, NULL, false}};
static const struct vshape serverless = {.type = VT_STRUCTURE,
                                         .members = serverless_members};
static const struct vmember variant_members[] = {
    {"VariantName", &name63, true},
    {"ModelName", &model_name, false},
    {"InitialInstanceCount", &pos_int, false},
    {"InstanceType", &itype, false},
    {"InitialVariantWeight", &weight, false},
    {"ServerlessConfig", &serverless, false},
    {NULL, NULL, false}};
static const struct vshape variant = {.type = VT_STRUCTURE,
                                      .members = variant_members};
static const struct vshape variants = {.type = VT_LIST,
                                       .flags = V_MIN | V_MAX,
                                       .min = 1,
                                       .max = 10,
                                       .item = &variant};
static const struct vshape pct = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 0, .max = 100};
static const struct vshape boolean = {.type = VT_BOOLEAN};
static const char *const capture_modes[] = {"Input", "Output", "InputAndOutput",
                                            NULL};
static const struct vshape capture_mode = {.type = VT_STRING,
                                           .enums = capture_modes};
static const struct vmember capture_option_members[] = {
    {"CaptureMode", &capture_mode, true}, {NULL, NULL, false}};
static const struct vshape capture_option = {.type = VT_STRUCTURE,
                                             .members = capture_option_members};
static const struct vshape capture_options = {.type = VT_LIST,
                                              .flags = V_MIN | V_MAX,
                                              .min = 1,
                                              .max = 32,
                                              .item = &capture_option};
static const struct vshape dest = {.type = VT_STRING,
                                   .flags = V_MAX,
                                   .max = 512,
                                   .pattern = "^(https|s3)://([^/])/?(.*)$"};
static const struct vshape content_type = {
    .type = VT_STRING,
    .flags = V_MAX,
    .max = 256,
    .pattern = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}\\/"
               "[a-zA-Z0-9](-*[a-zA-Z0-9.])*"};
static const struct vshape content_types = {.type = VT_LIST,
                                            .flags = V_MIN | V_MAX,
                                            .min = 1,
                                            .max = 10,
                                            .item = &content_type};
static const struct vmember capture_header_members[] = {
    {"CsvContentTypes", &content_types, false},
    {"JsonContentTypes", &content_types, false},
    {NULL, NULL, false}};
static const struct vshape capture_header = {.type = VT_STRUCTURE,
                                             .members = capture_header_members};
static const struct vshape kms_key = {
    .type = VT_STRING, .flags = V_MAX, .max = 2048};
static const struct vmember capture_members[] = {
    {"EnableCapture", &boolean, false},
    {"KmsKeyId", &kms_key, false},
    {"CaptureContentTypeHeader", &capture_header, false},
    {"InitialSamplingPercentage", &pct, true},
    {"DestinationS3Uri", &dest, true},
    {"CaptureOptions", &capture_options, true},
    {NULL, NULL, false}};
static const struct vshape capture = {.type = VT_STRUCTURE,
                                      .members = capture_members};
static const struct vshape per_instance = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 1000};
static const struct vmember async_client_members[] = {
    {"MaxConcurrentInvocationsPerInstance", &per_instance, false},
    {NULL, NULL, false}};
static const struct vshape async_client = {.type = VT_STRUCTURE,
                                           .members = async_client_members};
static const struct vmember async_output_members[] = {
    {"KmsKeyId", &kms_key, false},
    {"S3OutputPath", &dest, false},
    {"S3FailurePath", &dest, false},
    {NULL, NULL, false}};
static const struct vshape async_output = {.type = VT_STRUCTURE,
                                           .members = async_output_members};
static const struct vmember async_members[] = {
    {"ClientConfig", &async_client, false},
    {"OutputConfig", &async_output, true},
    {NULL, NULL, false}};
static const struct vshape async_config = {.type = VT_STRUCTURE,
                                           .members = async_members};
static const struct vmember create_config_members[] = {
    {"EndpointConfigName", &name63, true},
    {"ProductionVariants", &variants, true},
    {"DataCaptureConfig", &capture, false},
    {"AsyncInferenceConfig", &async_config, false},
    {"ShadowProductionVariants", &variants, false},
    {"Tags", &tags_shape, false},
    {NULL, NULL, false}};
const struct vshape hosting_create_config_input = {
    .type = VT_STRUCTURE, .members = create_config_members};
static const struct vmember config_only[] = {
    {"EndpointConfigName", &name63, true}, {NULL, NULL, false}};
const struct vshape hosting_describe_config_input = {.type = VT_STRUCTURE,
                                                     .members = config_only};
const struct vshape hosting_delete_config_input = {.type = VT_STRUCTURE,
                                                   .members = config_only};

static const char *const routing_types[] = {"ALL_AT_ONCE", "CANARY", "LINEAR",
                                            NULL};
static const struct vshape routing_type = {.type = VT_STRING,
                                           .enums = routing_types};
static const char *const size_types[] = {"INSTANCE_COUNT", "CAPACITY_PERCENT",
                                         NULL};
static const struct vshape size_type = {.type = VT_STRING, .enums = size_types};
static const struct vmember size_members[] = {
    {"Type", &size_type, true}, {"Value", &pos_int, true}, {NULL, NULL, false}};
static const struct vshape capacity_size = {.type = VT_STRUCTURE,
                                            .members = size_members};
static const struct vshape wait_seconds = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 0, .max = 3600};
static const struct vshape execution_timeout = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 600, .max = 14400};
static const struct vmember routing_members[] = {
    {"Type", &routing_type, true},
    {"WaitIntervalInSeconds", &wait_seconds, true},
    {"CanarySize", &capacity_size, false},
    {"LinearStepSize", &capacity_size, false},
    {NULL, NULL, false}};
static const struct vshape routing = {.type = VT_STRUCTURE,
                                      .members = routing_members};
static const struct vmember blue_green_members[] = {
    {"TrafficRoutingConfiguration", &routing, true},
    {"TerminationWaitInSeconds", &wait_seconds, false},
    {"MaximumExecutionTimeoutInSeconds", &execution_timeout, false},
    {NULL, NULL, false}};
static const struct vshape blue_green = {.type = VT_STRUCTURE,
                                         .members = blue_green_members};
static const struct vshape alarm_name = {
    .type = VT_STRING, .flags = V_MIN | V_MAX, .min = 1, .max = 255};
static const struct vmember alarm_members[] = {{"AlarmName", &alarm_name, true},
                                               {NULL, NULL, false}};
static const struct vshape alarm_shape = {.type = VT_STRUCTURE,
                                          .members = alarm_members};
static const struct vshape alarms = {.type = VT_LIST,
                                     .flags = V_MIN | V_MAX,
                                     .min = 1,
                                     .max = 10,
                                     .item = &alarm_shape};
static const struct vmember rollback_members[] = {{"Alarms", &alarms, false},
                                                  {NULL, NULL, false}};
static const struct vshape rollback = {.type = VT_STRUCTURE,
                                       .members = rollback_members};
static const struct vshape rolling_timeout = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 600, .max = 28800};
static const struct vmember rolling_members[] = {
    {"MaximumBatchSize", &capacity_size, true},
    {"WaitIntervalInSeconds", &wait_seconds, true},
    {"MaximumExecutionTimeoutInSeconds", &rolling_timeout, false},
    {"RollbackMaximumBatchSize", &capacity_size, false},
    {NULL, NULL, false}};
static const struct vshape rolling = {.type = VT_STRUCTURE,
                                      .members = rolling_members};
static const struct vmember deployment_config_members[] = {
    {"BlueGreenUpdatePolicy", &blue_green, false},
    {"RollingUpdatePolicy", &rolling, false},
    {"AutoRollbackConfiguration", &rollback, false},
    {NULL, NULL, false}};
static const struct vshape deployment_config = {
    .type = VT_STRUCTURE, .members = deployment_config_members};
static const struct vmember create_endpoint_members[] = {
    {"EndpointName", &name63, true},
    {"EndpointConfigName", &name63, true},
    {"DeploymentConfig", &deployment_config, false},
    {"Tags", &tags_shape, false},
    {NULL, NULL, false}};
const struct vshape hosting_create_endpoint_input = {
    .type = VT_STRUCTURE, .members = create_endpoint_members};
static const char *const variant_properties[] = {
    "DesiredInstanceCount", "DesiredWeight", "DataCaptureConfig", NULL};
static const struct vshape variant_property_type = {
    .type = VT_STRING, .enums = variant_properties};
static const struct vmember variant_property_members[] = {
    {"VariantPropertyType", &variant_property_type, true}, {NULL, NULL, false}};
static const struct vshape variant_property = {
    .type = VT_STRUCTURE, .members = variant_property_members};
static const struct vshape variant_property_list = {
    .type = VT_LIST, .flags = V_MAX, .max = 3, .item = &variant_property};
static const struct vmember update_endpoint_members[] = {
    {"EndpointName", &name63, true},
    {"EndpointConfigName", &name63, true},
    {"RetainAllVariantProperties", &boolean, false},
    {"ExcludeRetainedVariantProperties", &variant_property_list, false},
    {"DeploymentConfig", &deployment_config, false},
    {NULL, NULL, false}};
const struct vshape hosting_update_endpoint_input = {
    .type = VT_STRUCTURE, .members = update_endpoint_members};
static const struct vmember endpoint_only[] = {{"EndpointName", &name63, true},
                                               {NULL, NULL, false}};
const struct vshape hosting_describe_endpoint_input = {
    .type = VT_STRUCTURE, .members = endpoint_only};
const struct vshape hosting_delete_endpoint_input = {.type = VT_STRUCTURE,
                                                     .members = endpoint_only};
static const struct vmember desired_members[] = {
    {"VariantName", &name63, true},
    {"DesiredWeight", &weight, false},
    {"DesiredInstanceCount", &pos_int, false},
    {NULL, NULL, false}};
static const struct vshape desired = {.type = VT_STRUCTURE,
                                      .members = desired_members};
static const struct vshape desired_list = {.type = VT_LIST,
                                           .flags = V_MIN | V_MAX,
                                           .min = 1,
                                           .max = 10,
                                           .item = &desired};
static const struct vmember weights_members[] = {
    {"EndpointName", &name63, true},
    {"DesiredWeightsAndCapacities", &desired_list, true},
    {NULL, NULL, false}};
const struct vshape hosting_update_weights_input = {.type = VT_STRUCTURE,
                                                    .members = weights_members};

static const struct vshape next_token = {
    .type = VT_STRING, .flags = V_MAX, .max = 8192};
static const struct vshape max_results = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 100};
static const struct vshape ts = {.type = VT_TIMESTAMP};
static const struct vshape contains = {
    .type = VT_STRING, .flags = V_MAX, .max = 63, .pattern = "[a-zA-Z0-9-]+"};
static const char *const sorts[] = {"Name", "CreationTime", "Status", NULL};
static const struct vshape sort_by = {.type = VT_STRING, .enums = sorts};
static const char *const orders[] = {"Ascending", "Descending", NULL};
static const struct vshape sort_order = {.type = VT_STRING, .enums = orders};
static const char *const statuses[] = {
    "OutOfService",         "Creating",  "Updating", "SystemUpdating",
    "RollingBack",          "InService", "Deleting", "Failed",
    "UpdateRollbackFailed", NULL};
static const struct vshape status_eq = {.type = VT_STRING, .enums = statuses};
static const struct vmember list_members[] = {
    {"NextToken", &next_token, false},
    {"MaxResults", &max_results, false},
    {"NameContains", &contains, false},
    {"CreationTimeAfter", &ts, false},
    {"CreationTimeBefore", &ts, false},
    {"LastModifiedTimeAfter", &ts, false},
    {"LastModifiedTimeBefore", &ts, false},
    {"StatusEquals", &status_eq, false},
    {"SortBy", &sort_by, false},
    {"SortOrder", &sort_order, false},
    {NULL, NULL, false}};
const struct vshape hosting_list_models_input = {.type = VT_STRUCTURE,
                                                 .members = list_members};
const struct vshape hosting_list_configs_input = {.type = VT_STRUCTURE,
                                                  .members = list_members};
const struct vshape hosting_list_endpoints_input = {.type = VT_STRUCTURE,
                                                    .members = list_members};

/* ---- helpers --------------------------------------------------------- */

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

void hosting_arn(const struct api_ctx *c, const char *type, const char *name,
                 char *out, size_t size)
{
    char lc[64];
    str_lower_copy(lc, name, sizeof(lc));
    snprintf(out, size, "arn:aws:sagemaker:%s:%s:%s/%s", c->region, c->account,
             type, lc);
}

static const char *type_words(const char *type)
{
    return strcmp(type, "endpoint-config") == 0 ? "endpoint configuration"
                                                : type;
}

static int not_found(const struct api_ctx *c, const char *type,
                     const char *name, struct kiln_diag *d)
{
    char arn[256];
    hosting_arn(c, type, name, arn, sizeof(arn));
    return diag_set(d, KILN_EVALIDATION, "Could not find %s \"%s\".",
                    type_words(type), arn);
}

json_t *hosting_doc(struct meta *m, const char *account, const char *type,
                    const char *name)
{
    char *body = NULL;
    json_t *doc = NULL;
    if (meta_res_get(m, account, type, name, &body) == 0)
        doc = json_loads(body, 0, NULL);
    mem_free(body);
    return doc;
}

int hosting_load_doc(const struct api_ctx *c, const char *type,
                     const char *name, json_t **doc, struct kiln_diag *d)
{
    char *body = NULL;
    *doc = NULL; /* so that every caller may json_decref it on failure */
    if (meta_res_get(c->meta, c->account, type, name, &body) != 0)
        return KILN_ENOTFOUND;
    *doc = json_loads(body, 0, NULL);
    mem_free(body);
    return *doc ? 0 : diag_set(d, KILN_EINTERNAL, "unreadable record");
}

static int load(const struct api_ctx *c, const char *type, const char *name,
                json_t **doc, struct kiln_diag *d)
{
    int rc = hosting_load_doc(c, type, name, doc, d);
    return rc == KILN_ENOTFOUND ? not_found(c, type, name, d) : rc;
}

int hosting_insert_res(const struct api_ctx *c, const char *type,
                       const char *name, const char *arn, const char *status,
                       json_t *doc, double now, struct kiln_diag *d)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    struct meta_res r = {.account = c->account,
                         .type = type,
                         .name = name,
                         .arn = arn,
                         .status = status,
                         .created = now,
                         .modified = now,
                         .body = body};
    int rc = meta_res_insert(c->meta, &r, d);
    mem_free(body);
    return rc;
}

static int insert(const struct api_ctx *c, const char *type, const char *name,
                  const char *arn, const char *status, json_t *doc, double now,
                  struct kiln_diag *d)
{
    int rc = hosting_insert_res(c, type, name, arn, status, doc, now, d);
    if (rc == KILN_EINUSE)
        rc = diag_set(d, KILN_EVALIDATION,
                      "Cannot create already existing %s \"%s\".",
                      type_words(type), arn);
    return rc;
}

/*
 * Writes an endpoint's record, read as `doc`, back with a new status, only
 * while the stored status is still the one read: KILN_EPRECONDITION when
 * another call or the hoster changed it in between, and the caller reads
 * it again.
 */
static int save_endpoint(const struct api_ctx *c, json_t *doc,
                         const char *status)
{
    char was[32], *body;
    str_copy(was, str(doc, "EndpointStatus") ? str(doc, "EndpointStatus") : "",
             sizeof(was));
    json_object_set_new(doc, "EndpointStatus", json_string(status));
    json_object_set_new(doc, "LastModifiedTime", json_real(tm_now()));
    body = json_dumps(doc, JSON_COMPACT);
    struct meta_res r = {.account = c->account,
                         .type = "endpoint",
                         .name = str(doc, "EndpointName"),
                         .status = status,
                         .modified = tm_now(),
                         .body = body,
                         .expect = was};
    int rc = meta_res_save(c->meta, &r);
    mem_free(body);
    return rc;
}

/* Runs a read-modify-write of an endpoint's record again while it loses
 * the race for the record (KILN_EPRECONDITION). */
static int retried(int (*once)(const struct api_ctx *, json_t *, json_t **,
                               struct kiln_diag *),
                   const struct api_ctx *c, json_t *in, json_t **out,
                   struct kiln_diag *d)
{
    for (int tries = 0; tries < 16; tries++) {
        int rc = once(c, in, out, d);
        if (rc != KILN_EPRECONDITION)
            return rc;
    }
    return diag_set(d, KILN_EUNAVAILABLE, "Endpoint %s is changing; try again.",
                    str(in, "EndpointName"));
}

static json_t *arn_reply(const char *key, const char *arn)
{
    json_t *o = json_object();
    json_object_set_new(o, key, json_string(arn));
    return o;
}

int hosting_stop_job(const struct api_ctx *c, json_t *doc,
                     const char *status_key, const char *what,
                     int (*stop)(void *runner, const char *account,
                                 const char *name),
                     void *runner, const char *name, json_t **out,
                     struct kiln_diag *d)
{
    const char *status = str(doc, status_key);
    if (!status || strcmp(status, "InProgress") != 0)
        return diag_set(d, KILN_EVALIDATION,
                        "The request was rejected because the %s is in "
                        "status %s.",
                        what, status ? status : "unknown");
    if (stop)
        stop(runner, c->account, name);
    *out = json_object();
    return 0;
}

/* ---- models ---------------------------------------------------------- */

/* Whether a container serves many models (Mode MultiModel), named per
 * request by InvokeEndpoint's TargetModel. */
static bool is_multi(json_t *c)
{
    const char *m = str(c, "Mode");
    return m && strcmp(m, "MultiModel") == 0;
}

int hosting_create_model(const struct api_ctx *c, json_t *in, json_t **out,
                         struct kiln_diag *d)
{
    const char *name = str(in, "ModelName");
    json_t *primary = json_object_get(in, "PrimaryContainer");
    json_t *list = json_object_get(in, "Containers");
    char arn[256];
    double now = tm_now();
    int rc;

    if (primary && list)
        return diag_set(d, KILN_EVALIDATION,
                        "Specify either PrimaryContainer or Containers, not "
                        "both.");
    if (json_array_size(list) > 1)
        return diag_set(d, KILN_EVALIDATION,
                        "kiln does not support inference pipelines "
                        "(more than one entry in Containers) yet.");
    if (!primary && json_array_size(list) > 0)
        primary = json_array_get(list, 0);
    /* A model package's container: kept as given, with the package's
     * image and model data added, which is what the model serves. */
    json_t *resolved = NULL;
    if (str(primary, "ModelPackageName")) {
        json_t *pkg;
        rc = registry_container(c, str(primary, "ModelPackageName"), &pkg, d);
        if (rc)
            return rc;
        resolved = json_deep_copy(primary);
        json_object_update_missing(resolved, pkg);
        json_decref(pkg);
        primary = resolved;
    }
    rc = 0;
    if (is_multi(primary) && !str(primary, "ModelDataUrl"))
        rc = diag_set(d, KILN_EVALIDATION,
                      "A multi-model container (Mode MultiModel) needs a "
                      "ModelDataUrl: the S3 prefix its models are under.");
    else if (!primary || !str(primary, "Image"))
        rc = diag_set(d, KILN_EVALIDATION,
                      "1 validation error detected: Value null at "
                      "'primaryContainer.image' failed to satisfy "
                      "constraint: Member must not be null");
    if (rc) {
        json_decref(resolved);
        return rc;
    }
    hosting_arn(c, "model", name, arn, sizeof(arn));
    json_t *doc = json_object();
    json_object_set_new(doc, "ModelName", json_string(name));
    json_object_set_new(doc, "ModelArn", json_string(arn));
    json_object_set_new(doc, "PrimaryContainer", json_deep_copy(primary));
    json_decref(resolved);
    if (list)
        json_object_set_new(doc, "Containers", json_deep_copy(list));
    if (str(in, "ExecutionRoleArn"))
        json_object_set_new(doc, "ExecutionRoleArn",
                            json_string(str(in, "ExecutionRoleArn")));
    json_object_set_new(doc, "CreationTime", json_real(now));
    json_object_set_new(doc, "EnableNetworkIsolation",
                        json_boolean(json_is_true(
                            json_object_get(in, "EnableNetworkIsolation"))));
    rc = insert(c, "model", name, arn, "", doc, now, d);
    json_decref(doc);
    if (rc)
        return rc;
    tags_store(c, arn, in);
    *out = arn_reply("ModelArn", arn);
    return 0;
}

int hosting_describe_model(const struct api_ctx *c, json_t *in, json_t **out,
                           struct kiln_diag *d)
{
    return load(c, "model", str(in, "ModelName"), out, d);
}

static int delete_res(const struct api_ctx *c, const char *type,
                      const char *name, json_t **out, struct kiln_diag *d)
{
    if (meta_res_delete(c->meta, c->account, type, name) != 0)
        return not_found(c, type, name, d);
    *out = json_object();
    return 0;
}

int hosting_delete_model(const struct api_ctx *c, json_t *in, json_t **out,
                         struct kiln_diag *d)
{
    return delete_res(c, "model", str(in, "ModelName"), out, d);
}

/* ---- listing --------------------------------------------------------- */

struct page {
    json_t *items;
    int limit, seen;
    enum meta_sort sort;
    const char *const *keys; /* name, arn, status keys of the summary */
    json_t *last;
};

static int add_summary(void *ctx, const struct meta_res *r)
{
    struct page *p = ctx;
    json_t *doc, *o;
    char lc[64];

    if (++p->seen > p->limit)
        return 0;
    doc = json_loads(r->body, 0, NULL);
    o = json_object();
    json_object_set_new(o, p->keys[0], json_string(r->name));
    json_object_set_new(o, p->keys[1], json_string(r->arn));
    json_object_set_new(o, "CreationTime", json_real(r->created));
    if (p->keys[2]) {
        json_object_set_new(o, "LastModifiedTime", json_real(r->modified));
        json_object_set_new(o, p->keys[2], json_string(r->status));
        /* Members of the document the summary repeats; "A.B" is member
         * B of member A, B in the summary. */
        for (size_t k = 3; p->keys[k]; k++) {
            const char *key = p->keys[k], *dot = strchr(key, '.');
            json_t *from = doc;
            if (dot) {
                char outer[128];
                snprintf(outer, sizeof(outer), "%.*s", (int)(dot - key), key);
                from = json_object_get(doc, outer);
                key = dot + 1;
            }
            json_t *v = json_object_get(from, key);
            if (v)
                json_object_set(o, key, v);
        }
    }
    json_array_append_new(p->items, o);
    json_decref(doc);
    json_decref(p->last);
    size_t i = 0;
    for (; r->name[i] && i < 63; i++)
        lc[i] = (char)(r->name[i] >= 'A' && r->name[i] <= 'Z' ? r->name[i] + 32
                                                              : r->name[i]);
    lc[i] = '\0';
    p->last = json_object();
    json_object_set_new(p->last, "n", json_string(lc));
    if (p->sort == META_SORT_CREATION)
        json_object_set_new(p->last, "v", json_real(r->created));
    else
        json_object_set_new(
            p->last, "v",
            json_string(p->sort == META_SORT_NAME ? lc : r->status));
    return 0;
}

int hosting_list_res(const struct api_ctx *c, json_t *in, const char *type,
                     const char *result, const char *const *keys, json_t **out,
                     struct kiln_diag *d)
{
    struct meta_list_query q = {.account = c->account, .limit = 10};
    struct page p = {.keys = keys};
    const char *sort = str(in, "SortBy"), *order = str(in, "SortOrder");
    const char *token = str(in, "NextToken");
    json_t *pos = NULL;
    int rc;

    if (json_object_get(in, "MaxResults"))
        q.limit = (int)json_integer_value(json_object_get(in, "MaxResults"));
    q.sort_by = !sort || !strcmp(sort, "CreationTime") ? META_SORT_CREATION
                : !strcmp(sort, "Name")                ? META_SORT_NAME
                                                       : META_SORT_STATUS;
    q.descending = !order || strcmp(order, "Ascending") != 0;
    q.name_contains = str(in, "NameContains");
    q.status_equals = str(in, "StatusEquals");
    q.created_after =
        json_number_value(json_object_get(in, "CreationTimeAfter"));
    q.created_before =
        json_number_value(json_object_get(in, "CreationTimeBefore"));
    q.modified_after =
        json_number_value(json_object_get(in, "LastModifiedTimeAfter"));
    q.modified_before =
        json_number_value(json_object_get(in, "LastModifiedTimeBefore"));
    if (token && *token) {
        rc = paging_token_decode(token, &pos, d);
        if (rc)
            return rc;
        json_t *v = json_object_get(pos, "v");
        q.after_set = json_is_string(json_object_get(pos, "n")) && v;
        q.after_name = str(pos, "n");
        q.after_num = json_number_value(v);
        q.after_text = json_string_value(v);
        if (!q.after_set ||
            (q.sort_by == META_SORT_CREATION) != json_is_number(v)) {
            json_decref(pos);
            return diag_set(d, KILN_EVALIDATION, "Invalid pagination token.");
        }
    }
    p.items = json_array();
    p.limit = q.limit;
    p.sort = q.sort_by;
    rc = meta_res_list(c->meta, type, &q, add_summary, &p, d);
    if (!rc) {
        *out = json_object();
        json_object_set(*out, result, p.items);
        if (p.seen > p.limit && p.last) {
            char *t = paging_token_encode(p.last);
            json_object_set_new(*out, "NextToken", json_string(t));
            mem_free(t);
        }
    }
    json_decref(p.items);
    json_decref(p.last);
    json_decref(pos);
    return rc;
}

int hosting_list_models(const struct api_ctx *c, json_t *in, json_t **out,
                        struct kiln_diag *d)
{
    static const char *const keys[] = {"ModelName", "ModelArn", NULL};
    return hosting_list_res(c, in, "model", "Models", keys, out, d);
}

int hosting_list_configs(const struct api_ctx *c, json_t *in, json_t **out,
                         struct kiln_diag *d)
{
    static const char *const keys[] = {"EndpointConfigName",
                                       "EndpointConfigArn", NULL};
    return hosting_list_res(c, in, "endpoint-config", "EndpointConfigs", keys,
                            out, d);
}

int hosting_list_endpoints(const struct api_ctx *c, json_t *in, json_t **out,
                           struct kiln_diag *d)
{
    static const char *const keys[] = {"EndpointName", "EndpointArn",
                                       "EndpointStatus", NULL};
    return hosting_list_res(c, in, "endpoint", "Endpoints", keys, out, d);
}

/* ---- endpoint configurations --------------------------------------- */

/* A ValidationException naming the first member of `o` that is in
 * `members` ({member, what it asks for}): features kiln does not run are
 * refused, not accepted and ignored. */
static int refuse_members(json_t *o, const char *const members[][2], size_t n,
                          struct kiln_diag *d)
{
    for (size_t i = 0; i < n; i++)
        if (json_object_get(o, members[i][0]))
            return diag_set(d, KILN_EVALIDATION,
                            "kiln does not support %s (%s) yet.", members[i][1],
                            members[i][0]);
    return 0;
}

/* A serverless variant: memory in whole GiB, no instances of its own; kiln
 * runs one model server for it and holds it to MaxConcurrency. */
static int serverless_valid(json_t *v, json_t *sc, struct kiln_diag *d)
{
    json_int_t mb = json_integer_value(json_object_get(sc, "MemorySizeInMB"));
    if (json_object_get(v, "InstanceType") ||
        json_object_get(v, "InitialInstanceCount"))
        return diag_set(d, KILN_EVALIDATION,
                        "Variant %s has a ServerlessConfig, so it takes "
                        "neither InstanceType nor InitialInstanceCount.",
                        str(v, "VariantName"));
    if (mb % 1024 != 0)
        return diag_set(d, KILN_EVALIDATION,
                        "MemorySizeInMB of variant %s must be 1024, 2048, "
                        "3072, 4096, 5120 or 6144.",
                        str(v, "VariantName"));
    return 0;
}

/* AsyncInferenceConfig as kiln runs it: results and errors go to its
 * object store, as there is no SNS to notify. */
static int async_config_valid(json_t *aic, bool no_instances,
                              struct kiln_diag *d)
{
    json_t *oc = json_object_get(aic, "OutputConfig");
    static const char *const unsupported[][2] = {
        {"NotificationConfig", "Amazon SNS notifications; results are in "
                               "S3OutputPath"},
    };
    int rc = refuse_members(oc, unsupported, KILN_ARRAY_LEN(unsupported), d);
    if (rc)
        return rc;
    if (no_instances)
        return diag_set(d, KILN_EVALIDATION,
                        "Asynchronous inference (AsyncInferenceConfig) is "
                        "not supported for serverless endpoints.");
    static const char *const paths[] = {"S3OutputPath", "S3FailurePath"};
    for (size_t i = 0; i < KILN_ARRAY_LEN(paths); i++) {
        const char *p = str(oc, paths[i]);
        if (!p && i == 0)
            return diag_set(d, KILN_EVALIDATION,
                            "AsyncInferenceConfig.OutputConfig needs an "
                            "S3OutputPath: kiln writes each result there.");
        if (p && !str_starts(p, "s3://"))
            return diag_set(d, KILN_EVALIDATION,
                            "AsyncInferenceConfig.OutputConfig.%s must be an "
                            "s3:// URI of kiln's object store.",
                            paths[i]);
    }
    return 0;
}

/* One variant of a config's ProductionVariants or ShadowProductionVariants
 * (`list`, the member name as AWS's messages spell it), at index i. */
static int variant_valid(const struct api_ctx *c, json_t *v, const char *list,
                         size_t i, bool all_serverless, bool *multi,
                         struct kiln_diag *d)
{
    const char *model = str(v, "ModelName");
    const char *it = str(v, "InstanceType");
    char *body = NULL;
    json_t *sc = json_object_get(v, "ServerlessConfig");
    int rc;

    if ((sc != NULL) != all_serverless)
        return diag_set(d, KILN_EVALIDATION,
                        "An endpoint configuration's variants are either "
                        "all serverless (ServerlessConfig) or all "
                        "instance-based.");
    if (sc && (rc = serverless_valid(v, sc, d)) != 0)
        return rc;
    if (!model)
        return diag_set(d, KILN_EVALIDATION,
                        "1 validation error detected: Value null at "
                        "'%s.%zu.member.modelName' failed to satisfy "
                        "constraint: Member must not be null",
                        list, i + 1);
    if (!sc && (!it || !instance_find(it)))
        return diag_set(d, KILN_EVALIDATION,
                        "1 validation error detected: Value '%.64s' at "
                        "'%s.%zu.member.instanceType' failed to satisfy "
                        "constraint: Member must satisfy enum value set: "
                        "[ml.t2.medium, ml.m5.large, ml.m5.xlarge, "
                        "ml.c5.large, ...]",
                        it ? it : "null", list, i + 1);
    if (meta_res_get(c->meta, c->account, "model", model, &body) != 0)
        return not_found(c, "model", model, d);
    json_t *doc = json_loads(body, 0, NULL);
    *multi = is_multi(json_object_get(doc, "PrimaryContainer"));
    json_decref(doc);
    mem_free(body);
    return 0;
}

/* The variants as stored: weight 1 and one instance unless given. */
static json_t *variants_with_defaults(json_t *vs)
{
    json_t *copy = json_deep_copy(vs), *v;
    size_t i;
    json_array_foreach(copy, i, v)
    {
        if (!json_object_get(v, "InitialVariantWeight"))
            json_object_set_new(v, "InitialVariantWeight", json_real(1.0));
        if (!json_object_get(v, "InitialInstanceCount") &&
            !json_object_get(v, "ServerlessConfig"))
            json_object_set_new(v, "InitialInstanceCount", json_integer(1));
    }
    return copy;
}

int hosting_create_config(const struct api_ctx *c, json_t *in, json_t **out,
                          struct kiln_diag *d)
{
    const char *name = str(in, "EndpointConfigName");
    json_t *vs = json_object_get(in, "ProductionVariants");
    json_t *shadows = json_object_get(in, "ShadowProductionVariants");
    char arn[256];
    double now = tm_now();
    size_t i;
    json_t *v;
    int rc;

    /* Features kiln does not run are refused, not ignored: an endpoint
     * that silently lacked them would mislead. */
    static const char *const unsupported[][2] = {
        {"ExplainerConfig", "explainers"},
    };
    rc = refuse_members(in, unsupported, KILN_ARRAY_LEN(unsupported), d);
    if (rc)
        return rc;
    bool all_serverless =
        json_object_get(json_array_get(vs, 0), "ServerlessConfig") != NULL;
    json_t *aic = json_object_get(in, "AsyncInferenceConfig");
    if (aic && (rc = async_config_valid(aic, all_serverless, d)) != 0)
        return rc;
    if (shadows && (aic || all_serverless))
        return diag_set(d, KILN_EVALIDATION,
                        "Shadow variants (ShadowProductionVariants) are not "
                        "supported for %s endpoints.",
                        aic ? "asynchronous" : "serverless");
    /* Every variant, production then shadow: names unique among all. */
    json_t *all = json_array();
    json_array_extend(all, vs);
    if (shadows)
        json_array_extend(all, shadows);
    bool any_multi = false, all_multi = true;
    json_array_foreach(all, i, v)
    {
        bool shadow = i >= json_array_size(vs), multi = false;
        rc = variant_valid(
            c, v, shadow ? "shadowProductionVariants" : "productionVariants",
            shadow ? i - json_array_size(vs) : i, all_serverless, &multi, d);
        any_multi |= multi;
        all_multi &= multi;
        for (size_t j = 0; j < i && !rc; j++)
            if (strcmp(str(json_array_get(all, j), "VariantName"),
                       str(v, "VariantName")) == 0)
                rc = diag_set(d, KILN_EVALIDATION,
                              "The variant name '%s' appears more than "
                              "once.",
                              str(v, "VariantName"));
        if (rc)
            break;
    }
    json_decref(all);
    if (rc)
        return rc;
    /* A multi-model endpoint: every request names its model, so every
     * variant serves many, and no feature without TargetModel applies. */
    if (any_multi && !all_multi)
        return diag_set(d, KILN_EVALIDATION,
                        "The variants of an endpoint configuration either "
                        "all use multi-model containers (Mode MultiModel) "
                        "or none does.");
    if (any_multi && (aic || all_serverless || shadows))
        return diag_set(d, KILN_EVALIDATION,
                        "Multi-model endpoints do not support %s.",
                        aic       ? "asynchronous inference"
                        : shadows ? "shadow variants"
                                  : "serverless inference");
    hosting_arn(c, "endpoint-config", name, arn, sizeof(arn));
    json_t *doc = json_object();
    json_object_set_new(doc, "EndpointConfigName", json_string(name));
    json_object_set_new(doc, "EndpointConfigArn", json_string(arn));
    json_object_set_new(doc, "ProductionVariants", variants_with_defaults(vs));
    if (shadows)
        json_object_set_new(doc, "ShadowProductionVariants",
                            variants_with_defaults(shadows));
    static const char *const kept[] = {"DataCaptureConfig",
                                       "AsyncInferenceConfig"};
    for (size_t k = 0; k < KILN_ARRAY_LEN(kept); k++)
        if (json_object_get(in, kept[k]))
            json_object_set_new(doc, kept[k],
                                json_deep_copy(json_object_get(in, kept[k])));
    json_object_set_new(doc, "CreationTime", json_real(now));
    rc = insert(c, "endpoint-config", name, arn, "", doc, now, d);
    json_decref(doc);
    if (rc)
        return rc;
    tags_store(c, arn, in);
    *out = arn_reply("EndpointConfigArn", arn);
    return 0;
}

int hosting_describe_config(const struct api_ctx *c, json_t *in, json_t **out,
                            struct kiln_diag *d)
{
    return load(c, "endpoint-config", str(in, "EndpointConfigName"), out, d);
}

int hosting_delete_config(const struct api_ctx *c, json_t *in, json_t **out,
                          struct kiln_diag *d)
{
    return delete_res(c, "endpoint-config", str(in, "EndpointConfigName"), out,
                      d);
}

/* ---- endpoints -------------------------------------------------------- */

/* The deployment: the config's variants, each with its model document. */
static int deployment(const struct api_ctx *c, const char *config, json_t **dep,
                      json_t **cfg_out, struct kiln_diag *d)
{
    json_t *cfg, *vs, *v;
    size_t i;
    int rc = load(c, "endpoint-config", config, &cfg, d);
    if (rc)
        return rc;
    /* Shadow variants join the list, marked: they take copies of
     * requests, never answer one (hoster.c). */
    vs = json_deep_copy(json_object_get(cfg, "ProductionVariants"));
    json_t *shadows =
        json_deep_copy(json_object_get(cfg, "ShadowProductionVariants"));
    json_array_foreach(shadows, i, v)
        json_object_set_new(v, SHADOW, json_true());
    json_array_extend(vs, shadows);
    json_decref(shadows);
    json_array_foreach(vs, i, v)
    {
        json_t *model;
        rc = load(c, "model", str(v, "ModelName"), &model, d);
        if (rc) {
            json_decref(vs);
            json_decref(cfg);
            return rc;
        }
        json_object_set_new(v, "Model", model);
    }
    *dep = json_object();
    json_object_set_new(*dep, "Variants", vs);
    json_object_set_new(*dep, "EndpointConfigName", json_string(config));
    static const char *const kept[] = {"DataCaptureConfig",
                                       "AsyncInferenceConfig"};
    for (size_t k = 0; k < KILN_ARRAY_LEN(kept); k++)
        if (json_object_get(cfg, kept[k]))
            json_object_set(*dep, kept[k], json_object_get(cfg, kept[k]));
    *cfg_out = cfg;
    return 0;
}

/* Whether `instances` more model servers fit beside those running
 * (ResourceLimitExceeded when not). */
static int fits(const struct api_ctx *c, int instances, struct kiln_diag *d)
{
    if (c->jobs && c->jobs->endpoint_room)
        return c->jobs->endpoint_room(c->jobs->hosting, instances, d);
    return 0;
}

int hosting_instances(json_t *dep)
{
    json_t *v;
    size_t i;
    long long n = 0;
    json_array_foreach(json_object_get(dep, "Variants"), i, v)
    {
        json_int_t c =
            json_integer_value(json_object_get(v, "InitialInstanceCount"));
        n += c < 1 ? 1 : c;
    }
    return n > INT_MAX ? INT_MAX : (int)n;
}

int hosting_batch_instances(json_t *size, int count)
{
    json_int_t value = json_integer_value(json_object_get(size, "Value"));
    const char *type = str(size, "Type");
    if (type && strcmp(type, "CAPACITY_PERCENT") == 0)
        value = value * count / 100;
    return value < 1 ? 1 : value > count ? count : (int)value;
}

/* The instances of the one variant of a deployment (a rolling one). */
static int rolling_count(json_t *dep)
{
    json_t *v = json_array_get(json_object_get(dep, "Variants"), 0);
    json_int_t n =
        json_integer_value(json_object_get(v, "InitialInstanceCount"));
    return n < 1 ? 1 : n > INT_MAX ? INT_MAX : (int)n;
}

int hosting_rolling_headroom(json_t *now, json_t *dep, json_t *ru)
{
    int n = rolling_count(dep), was = rolling_count(now);
    int batch =
        hosting_batch_instances(json_object_get(ru, "MaximumBatchSize"), n);
    return n - was > batch ? n - was : batch;
}

/* The green fleet's instances, for a CapacitySize of INSTANCE_COUNT. */
static json_int_t production_instances(json_t *dep)
{
    json_t *v;
    size_t i;
    json_int_t n = 0;
    json_array_foreach(json_object_get(dep, "Variants"), i, v)
    {
        if (!json_is_true(json_object_get(v, SHADOW)))
            n += json_integer_value(json_object_get(v, "InitialInstanceCount"));
    }
    return n > 0 ? n : 1;
}

/* That the `total` seconds a deployment (`what`) waits fit in its
 * policy's MaximumExecutionTimeoutInSeconds, when it has one. */
static int within_limit(json_t *policy, json_int_t total, const char *what,
                        struct kiln_diag *d)
{
    json_t *max = json_object_get(policy, "MaximumExecutionTimeoutInSeconds");
    if (!max || total <= json_integer_value(max))
        return 0;
    return diag_set(d, KILN_EVALIDATION,
                    "%s takes %lld seconds of waiting, more than "
                    "MaximumExecutionTimeoutInSeconds (%lld).",
                    what, (long long)total, (long long)json_integer_value(max));
}

/*
 * A DeploymentConfig as kiln runs it (hoster.c): blue/green all at once,
 * canary or linear traffic shifting with their waits, or a rolling
 * update (checked by rolling_valid), rolled back when one of
 * AutoRollbackConfiguration's CloudWatch alarms (which must exist) goes
 * into ALARM. `dep` (the deployment to bring up, or NULL) checks sizes
 * against it.
 */
static int deployment_config_valid(const struct api_ctx *c, json_t *in,
                                   json_t *dep, struct kiln_diag *d)
{
    json_t *dc = json_object_get(in, "DeploymentConfig");
    json_t *bg = json_object_get(dc, "BlueGreenUpdatePolicy");
    json_t *tr = json_object_get(bg, "TrafficRoutingConfiguration");
    const char *type = str(tr, "Type");
    int rc = 0;
    if (bg && json_object_get(dc, "RollingUpdatePolicy"))
        rc = diag_set(d, KILN_EVALIDATION,
                      "A DeploymentConfig takes either a "
                      "BlueGreenUpdatePolicy or a RollingUpdatePolicy, not "
                      "both.");
    json_t *alarm;
    size_t i;
    json_array_foreach(
        json_object_get(json_object_get(dc, "AutoRollbackConfiguration"),
                        "Alarms"),
        i, alarm)
    {
        const char *name = str(alarm, "AlarmName");
        if (!rc && !cloudwatch_alarm_exists(c->meta, c->account, name))
            rc = diag_set(d, KILN_EVALIDATION,
                          "The CloudWatch alarm %s in "
                          "AutoRollbackConfiguration does not exist; create "
                          "it with PutMetricAlarm first.",
                          name);
    }
    if (rc || !tr)
        return rc;
    bool canary = strcmp(type, "CANARY") == 0;
    bool linear = strcmp(type, "LINEAR") == 0;
    const char *member = canary ? "CanarySize" : "LinearStepSize";
    json_t *size = json_object_get(tr, member);
    if ((canary || linear) && !size)
        return diag_set(d, KILN_EVALIDATION,
                        "TrafficRoutingConfiguration of type %s needs a %s.",
                        type, member);
    json_int_t value = json_integer_value(json_object_get(size, "Value"));
    bool percent = size && strcmp(str(size, "Type"), "CAPACITY_PERCENT") == 0;
    json_int_t whole = percent ? 100 : dep ? production_instances(dep) : value;
    if (size && value >= whole && (canary || linear))
        return diag_set(d, KILN_EVALIDATION,
                        "%s must be less than the whole new fleet (%lld %s).",
                        member, (long long)whole,
                        percent ? "percent" : "instances");
    /* Steps after the first, each after WaitIntervalInSeconds, then the
     * old fleet is kept TerminationWaitInSeconds. */
    json_int_t wait =
        json_integer_value(json_object_get(tr, "WaitIntervalInSeconds"));
    json_int_t steps = linear ? (whole + value - 1) / value : 1;
    json_int_t total =
        wait * steps +
        json_integer_value(json_object_get(bg, "TerminationWaitInSeconds"));
    return within_limit(bg, total, "The traffic shifting", d);
}

/*
 * A RollingUpdatePolicy kiln can follow. As SageMaker has it: one
 * production variant and no shadow variant, with instances (not
 * serverless), keeping its name across the update; MaximumBatchSize 5% to
 * 50% of the new variant's instances. kiln adds: not a multi-model
 * variant. `now`: the deployment being replaced (NULL for CreateEndpoint,
 * whose policy is only checked).
 */
static int rolling_valid(json_t *now, json_t *dep, json_t *in,
                         struct kiln_diag *d)
{
    json_t *ru = json_object_get(json_object_get(in, "DeploymentConfig"),
                                 "RollingUpdatePolicy");
    json_t *vs = json_object_get(dep, "Variants");
    json_t *v = json_array_get(vs, 0);
    json_t *was = json_array_get(json_object_get(now, "Variants"), 0);
    const char *how =
        str(json_object_get(json_object_get(v, "Model"), "PrimaryContainer"),
            "Mode");

    if (!ru)
        return 0;
    if (json_array_size(vs) != 1 ||
        (now && json_array_size(json_object_get(now, "Variants")) != 1))
        return diag_set(d, KILN_EVALIDATION,
                        "A rolling deployment needs an endpoint with one "
                        "production variant and no shadow variant; use a "
                        "BlueGreenUpdatePolicy.");
    if (json_object_get(v, "ServerlessConfig"))
        return diag_set(d, KILN_EVALIDATION,
                        "Rolling deployments are not supported for "
                        "serverless variants; use a BlueGreenUpdatePolicy.");
    if (how && strcmp(how, "MultiModel") == 0)
        return diag_set(d, KILN_EVALIDATION,
                        "kiln does not support rolling deployments of "
                        "multi-model variants yet; use a "
                        "BlueGreenUpdatePolicy.");
    if (was && strcmp(str(was, "VariantName"), str(v, "VariantName")) != 0)
        return diag_set(d, KILN_EVALIDATION,
                        "A rolling deployment keeps the variant's name: the "
                        "new endpoint configuration must name it %s, not %s.",
                        str(was, "VariantName"), str(v, "VariantName"));
    int n = rolling_count(dep);
    json_t *size = json_object_get(ru, "MaximumBatchSize");
    json_int_t value = json_integer_value(json_object_get(size, "Value"));
    bool percent = strcmp(str(size, "Type"), "CAPACITY_PERCENT") == 0;
    if (percent ? value < 5 || value > 50 : value * 20 < n || value * 2 > n)
        return diag_set(d, KILN_EVALIDATION,
                        "MaximumBatchSize must be between 5%% and 50%% of the "
                        "variant's %d instance%s%s.",
                        n, n == 1 ? "" : "s",
                        n == 1 ? "; a rolling deployment needs at least 2"
                               : "");
    json_t *back = json_object_get(ru, "RollbackMaximumBatchSize");
    if (back && strcmp(str(back, "Type"), "CAPACITY_PERCENT") == 0 &&
        json_integer_value(json_object_get(back, "Value")) > 100)
        return diag_set(d, KILN_EVALIDATION,
                        "RollbackMaximumBatchSize cannot be more than 100 "
                        "percent.");
    /* A wait after each batch; the deployment must fit in its limit. */
    int batch = hosting_batch_instances(size, n);
    json_int_t total =
        (json_int_t)((n + batch - 1) / batch) *
        json_integer_value(json_object_get(ru, "WaitIntervalInSeconds"));
    return within_limit(ru, total, "The rolling deployment", d);
}

int hosting_create_endpoint(const struct api_ctx *c, json_t *in, json_t **out,
                            struct kiln_diag *d)
{
    const char *name = str(in, "EndpointName");
    const char *config = str(in, "EndpointConfigName");
    json_t *dep = NULL, *cfg = NULL;
    char arn[256];
    double now = tm_now();
    int rc;

    rc = deployment(c, config, &dep, &cfg, d);
    if (!rc)
        rc = deployment_config_valid(c, in, dep, d);
    if (!rc)
        rc = rolling_valid(NULL, dep, in, d);
    if (!rc)
        rc = fits(c, hosting_instances(dep), d);
    if (rc) {
        json_decref(dep);
        json_decref(cfg);
        return rc;
    }
    hosting_arn(c, "endpoint", name, arn, sizeof(arn));
    json_t *doc = json_object();
    json_object_set_new(doc, "EndpointName", json_string(name));
    json_object_set_new(doc, "EndpointArn", json_string(arn));
    json_object_set_new(doc, "EndpointConfigName", json_string(config));
    json_object_set_new(doc, "EndpointStatus", json_string("Creating"));
    json_object_set_new(doc, "CreationTime", json_real(now));
    json_object_set_new(doc, "LastModifiedTime", json_real(now));
    json_object_set_new(doc, DEPLOYMENT, dep);
    if (json_object_get(in, "DeploymentConfig"))
        json_object_set(doc, "LastDeploymentConfig",
                        json_object_get(in, "DeploymentConfig"));
    rc = insert(c, "endpoint", name, arn, "Creating", doc, now, d);
    json_decref(doc);
    json_decref(cfg);
    if (rc)
        return rc;
    tags_store(c, arn, in);
    if (c->jobs && c->jobs->endpoint_create)
        c->jobs->endpoint_create(c->jobs->hosting, c->account, name);
    *out = arn_reply("EndpointArn", arn);
    return 0;
}

/* DescribeEndpoint's PendingDeploymentSummary of an UpdateEndpoint in
 * progress, from the deployment it started. */
static json_t *pending_summary(json_t *dep)
{
    json_t *o = json_object(), *list = json_array(), *shadows = json_array();
    json_t *v;
    size_t i;
    json_object_set(o, "EndpointConfigName",
                    json_object_get(dep, "EndpointConfigName"));
    json_object_set(o, "StartTime", json_object_get(dep, "StartTime"));
    json_array_foreach(json_object_get(dep, "Variants"), i, v)
    {
        json_t *p = json_object();
        json_object_set(p, "VariantName", json_object_get(v, "VariantName"));
        json_object_set(p, "DesiredWeight",
                        json_object_get(v, "InitialVariantWeight"));
        json_object_set(p, "DesiredInstanceCount",
                        json_object_get(v, "InitialInstanceCount"));
        json_object_set(p, "InstanceType", json_object_get(v, "InstanceType"));
        json_array_append_new(
            json_is_true(json_object_get(v, SHADOW)) ? shadows : list, p);
    }
    json_object_set_new(o, "ProductionVariants", list);
    if (json_array_size(shadows))
        json_object_set(o, "ShadowProductionVariants", shadows);
    json_decref(shadows);
    return o;
}

int hosting_describe_endpoint(const struct api_ctx *c, json_t *in, json_t **out,
                              struct kiln_diag *d)
{
    int rc = load(c, "endpoint", str(in, "EndpointName"), out, d);
    if (rc)
        return rc;
    json_t *pending = json_object_get(*out, PENDING);
    if (pending && json_object_get(pending, "StartTime"))
        json_object_set_new(*out, "PendingDeploymentSummary",
                            pending_summary(pending));
    json_t *aic = json_object_get(json_object_get(*out, DEPLOYMENT),
                                  "AsyncInferenceConfig");
    if (aic)
        json_object_set(*out, "AsyncInferenceConfig", aic);
    json_object_del(*out, PENDING);
    json_object_del(*out, DEPLOYMENT);
    return 0;
}

static int delete_endpoint_once(const struct api_ctx *c, json_t *in,
                                json_t **out, struct kiln_diag *d)
{
    const char *name = str(in, "EndpointName");
    json_t *doc;
    int rc = load(c, "endpoint", name, &doc, d);
    if (rc)
        return rc;
    const char *was = str(doc, "EndpointStatus");
    if (was && strcmp(was, "Deleting") == 0) {
        /* Its deletion is under way; a second one, queued behind it,
         * would delete an endpoint created again under the same name. */
        json_decref(doc);
        *out = json_object();
        return 0;
    }
    rc = save_endpoint(c, doc, "Deleting");
    json_decref(doc);
    if (rc)
        return rc;
    if (c->jobs && c->jobs->endpoint_delete)
        c->jobs->endpoint_delete(c->jobs->hosting, c->account, name);
    else
        meta_res_delete(c->meta, c->account, "endpoint", name);
    *out = json_object();
    return 0;
}

int hosting_delete_endpoint(const struct api_ctx *c, json_t *in, json_t **out,
                            struct kiln_diag *d)
{
    return retried(delete_endpoint_once, c, in, out, d);
}

static int updatable(const struct api_ctx *c, json_t *doc, struct kiln_diag *d)
{
    const char *st = str(doc, "EndpointStatus");
    char arn[256];
    if (st && (strcmp(st, "InService") == 0 || strcmp(st, "Failed") == 0))
        return 0;
    hosting_arn(c, "endpoint", str(doc, "EndpointName"), arn, sizeof(arn));
    return diag_set(d, KILN_EVALIDATION,
                    "Cannot update in-progress endpoint \"%s\".", arn);
}

/* Marks the endpoint Updating to `dep` (taken) and starts the update;
 * releases doc. */
static int save_update(const struct api_ctx *c, json_t *doc, json_t *dep,
                       json_t **out)
{
    json_object_set_new(doc, PENDING, dep);
    int rc = save_endpoint(c, doc, "Updating");
    if (!rc) {
        *out = arn_reply("EndpointArn", str(doc, "EndpointArn"));
        if (c->jobs && c->jobs->endpoint_update)
            c->jobs->endpoint_update(c->jobs->hosting, c->account,
                                     str(doc, "EndpointName"));
    }
    json_decref(doc);
    return rc;
}

/* RetainAllVariantProperties: variants of the new deployment keep the
 * weight, instance count and data capture the endpoint has now (set, say,
 * by UpdateEndpointWeightsAndCapacities), but those excluded. */
static void retain_properties(json_t *in, json_t *now, json_t *dep)
{
    bool keep[] = {true, true, true}; /* as variant_properties */
    json_t *v, *e;
    size_t i, j;
    json_array_foreach(json_object_get(in, "ExcludeRetainedVariantProperties"),
                       i, e)
    {
        for (size_t k = 0; k < KILN_ARRAY_LEN(keep); k++)
            if (strcmp(str(e, "VariantPropertyType"), variant_properties[k]) ==
                0)
                keep[k] = false;
    }
    json_array_foreach(json_object_get(dep, "Variants"), i, v)
    {
        json_t *old;
        json_array_foreach(json_object_get(now, "Variants"), j, old)
        {
            if (strcmp(str(old, "VariantName"), str(v, "VariantName")) != 0)
                continue;
            static const char *const fields[] = {"InitialInstanceCount",
                                                 "InitialVariantWeight"};
            for (size_t k = 0; k < 2; k++)
                if (keep[k] && json_object_get(old, fields[k]))
                    json_object_set(v, fields[k],
                                    json_object_get(old, fields[k]));
        }
    }
    if (keep[2]) {
        json_t *dcc = json_object_get(now, "DataCaptureConfig");
        if (dcc)
            json_object_set(dep, "DataCaptureConfig", dcc);
        else
            json_object_del(dep, "DataCaptureConfig");
    }
}

/* An update keeps the endpoint asynchronous or real-time, as SageMaker
 * does: its clients call one or the other. */
static int same_kind(json_t *doc, json_t *dep, struct kiln_diag *d)
{
    bool was = json_object_get(json_object_get(doc, DEPLOYMENT),
                               "AsyncInferenceConfig") != NULL;
    bool will = json_object_get(dep, "AsyncInferenceConfig") != NULL;
    if (was == will)
        return 0;
    return diag_set(d, KILN_EVALIDATION,
                    "The AsyncInferenceConfig parameter cannot be %s this "
                    "endpoint %s. To change the endpoint's kind, create a new "
                    "endpoint.",
                    was ? "removed from" : "added to",
                    str(doc, "EndpointName"));
}

static int update_endpoint_once(const struct api_ctx *c, json_t *in,
                                json_t **out, struct kiln_diag *d)
{
    const char *name = str(in, "EndpointName");
    json_t *doc, *dep = NULL, *cfg = NULL;
    int rc = load(c, "endpoint", name, &doc, d);

    if (!rc)
        rc = updatable(c, doc, d);
    if (!rc)
        rc = deployment(c, str(in, "EndpointConfigName"), &dep, &cfg, d);
    if (!rc)
        rc = deployment_config_valid(c, in, dep, d);
    if (!rc)
        rc = same_kind(doc, dep, d);
    json_t *now = json_object_get(doc, DEPLOYMENT);
    if (!rc && json_is_true(json_object_get(in, "RetainAllVariantProperties")))
        retain_properties(in, now, dep);
    if (!rc)
        rc = rolling_valid(now, dep, in, d);
    /* Blue/green brings up the whole new fleet beside the old; a rolling
     * update at most a batch, or what the fleet grows by. */
    json_t *ru = json_object_get(json_object_get(in, "DeploymentConfig"),
                                 "RollingUpdatePolicy");
    if (!rc)
        rc = fits(c,
                  ru ? hosting_rolling_headroom(now, dep, ru)
                     : hosting_instances(dep),
                  d);
    if (rc) {
        json_decref(dep);
        json_decref(cfg);
        json_decref(doc);
        return rc;
    }
    json_decref(cfg);
    json_object_set_new(dep, "StartTime", json_real(tm_now()));
    /* The hoster shifts traffic as it says; Describe shows it after. */
    json_t *dc = json_object_get(in, "DeploymentConfig");
    if (dc) {
        json_object_set(dep, "DeploymentConfig", dc);
        json_object_set(doc, "LastDeploymentConfig", dc);
    }
    return save_update(c, doc, dep, out);
}

/* The instances a change of counts alone adds to deployment `now` (its
 * variants in `dep`, in order), which the runner makes in place; -1 when
 * it cannot (a multi-model variant, whose slots it does not resize). */
static int added_instances(json_t *now, json_t *dep)
{
    json_t *was = json_object_get(now, "Variants");
    json_t *v;
    size_t i;
    long long more = 0;
    json_array_foreach(json_object_get(dep, "Variants"), i, v)
    {
        const char *how = str(
            json_object_get(json_object_get(v, "Model"), "PrimaryContainer"),
            "Mode");
        if (how && strcmp(how, "MultiModel") == 0)
            return -1;
        json_int_t n =
            json_integer_value(json_object_get(v, "InitialInstanceCount"));
        json_int_t before = json_integer_value(
            json_object_get(json_array_get(was, i), "InitialInstanceCount"));
        if (n > before)
            more += n - before;
    }
    return more > INT_MAX ? INT_MAX : (int)more;
}

static int update_weights_once(const struct api_ctx *c, json_t *in,
                               json_t **out, struct kiln_diag *d)
{
    const char *name = str(in, "EndpointName");
    json_t *doc, *dep, *want;
    size_t i;
    int rc = load(c, "endpoint", name, &doc, d);

    if (!rc)
        rc = updatable(c, doc, d);
    if (rc) {
        json_decref(doc);
        return rc;
    }
    dep = json_deep_copy(json_object_get(doc, DEPLOYMENT));
    json_object_del(dep, "StartTime"); /* no PendingDeploymentSummary */
    /* Weights and counts change at once, not by the last update's steps. */
    json_object_del(dep, "DeploymentConfig");
    json_array_foreach(json_object_get(in, "DesiredWeightsAndCapacities"), i,
                       want)
    {
        json_t *vs = json_object_get(dep, "Variants"), *v, *match = NULL;
        size_t j;
        json_array_foreach(vs, j, v) if (strcmp(str(v, "VariantName"),
                                                str(want, "VariantName")) == 0)
            match = v;
        if (!match) {
            json_decref(dep);
            json_decref(doc);
            return diag_set(d, KILN_EVALIDATION,
                            "The variant '%s' is not part of endpoint '%s'.",
                            str(want, "VariantName"), name);
        }
        if (json_object_get(want, "DesiredInstanceCount") &&
            json_object_get(match, "ServerlessConfig")) {
            json_decref(dep);
            json_decref(doc);
            return diag_set(d, KILN_EVALIDATION,
                            "Variant %s is serverless: it has no instance "
                            "count to change.",
                            str(want, "VariantName"));
        }
        if (json_object_get(want, "DesiredWeight"))
            json_object_set(match, "InitialVariantWeight",
                            json_object_get(want, "DesiredWeight"));
        if (json_object_get(want, "DesiredInstanceCount"))
            json_object_set(match, "InitialInstanceCount",
                            json_object_get(want, "DesiredInstanceCount"));
        /* DescribeEndpoint shows what is wanted while it is Updating. */
        json_array_foreach(json_object_get(doc, "ProductionVariants"), j, v)
        {
            if (strcmp(str(v, "VariantName"), str(want, "VariantName")) != 0)
                continue;
            static const char *const wanted[] = {"DesiredWeight",
                                                 "DesiredInstanceCount"};
            for (size_t k = 0; k < KILN_ARRAY_LEN(wanted); k++)
                if (json_object_get(want, wanted[k]))
                    json_object_set(v, wanted[k],
                                    json_object_get(want, wanted[k]));
        }
    }
    int more = added_instances(json_object_get(doc, DEPLOYMENT), dep);
    rc = fits(c, more >= 0 ? more : hosting_instances(dep), d);
    if (rc) {
        json_decref(dep);
        json_decref(doc);
        return rc;
    }
    if (more >= 0)
        json_object_set_new(dep, HOSTING_CAPACITY_ONLY, json_true());
    return save_update(c, doc, dep, out);
}

int hosting_update_endpoint(const struct api_ctx *c, json_t *in, json_t **out,
                            struct kiln_diag *d)
{
    return retried(update_endpoint_once, c, in, out, d);
}

int hosting_update_weights(const struct api_ctx *c, json_t *in, json_t **out,
                           struct kiln_diag *d)
{
    return retried(update_weights_once, c, in, out, d);
}
