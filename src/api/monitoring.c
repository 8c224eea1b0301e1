/*
 * monitoring.c - monitoring schedules (see monitoring.h).
 *
 * An execution is an entry of the schedule's KilnExecutions list:
 * {ProcessingJobName, ScheduledTime, CreationTime, and once it has ended
 * Status, FailureReason, LastModifiedTime}. Until the scheduler records
 * the end, ListMonitoringExecutions reads the processing job's status.
 */
#include "api/monitoring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/hosting.h"
#include "api/paging.h"
#include "api/processing.h"
#include "api/tags.h"
#include "base/instances.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "meta/meta.h"

#define TYPE     "monitoring-schedule"
#define DEF_TYPE "data-quality-job-definition"
/* A schedule of a named job definition keeps a copy of it, as a
 * MonitoringJobDefinition, here (hidden from Describe). */
#define RESOLVED "KilnJobDefinition"
/* What a schedule without a ScheduleConfig runs: daily, at midnight. */
#define DAILY "cron(0 0 ? * * *)"

static const char *const schedule_statuses[] = {"Pending", "Failed",
                                                "Scheduled", "Stopped", NULL};
static const char *const exec_statuses[] = {
    "Pending",    "Completed", "CompletedWithViolations",
    "InProgress", "Failed",    "Stopping",
    "Stopped",    NULL};
static const char *const list_sort[] = {"Name", "CreationTime", "Status", NULL};
static const char *const exec_sort[] = {"CreationTime", "ScheduledTime",
                                        "Status", NULL};
static const char *const orders[] = {"Ascending", "Descending", NULL};
static const char *const types[] = {"DataQuality", "ModelQuality", "ModelBias",
                                    "ModelExplainability", NULL};

static const struct vshape name63 = {.type = VT_STRING,
                                     .flags = V_MIN | V_MAX,
                                     .min = 1,
                                     .max = 63,
                                     .pattern =
                                         "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"};
static const struct vshape str512 = {
    .type = VT_STRING, .flags = V_MIN | V_MAX, .min = 1, .max = 512};
static const struct vshape str256 = {
    .type = VT_STRING, .flags = V_MAX, .max = 256};
static const struct vshape s3_uri = {.type = VT_STRING,
                                     .flags = V_MAX,
                                     .max = 1024,
                                     .pattern = "^(https|s3)://([^/]+)/?(.*)$"};
static const struct vshape any_struct = {.type = VT_STRUCTURE};
static const struct vshape timestamp = {.type = VT_TIMESTAMP};
static const struct vshape token = {
    .type = VT_STRING, .flags = V_MAX, .max = 8192, .pattern = ".*"};
static const struct vshape max_results = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 100};
static const struct vshape e_type = {.type = VT_STRING, .enums = types};
static const struct vshape e_order = {.type = VT_STRING, .enums = orders};

static const struct vmember schedule_members[] = {
    {"ScheduleExpression", &str512, true},
    {"DataAnalysisStartTime", &str256, false},
    {"DataAnalysisEndTime", &str256, false},
    {NULL, NULL, false}};
static const struct vshape schedule = {.type = VT_STRUCTURE,
                                       .members = schedule_members};
static const struct vmember resource_members[] = {{"S3Uri", &s3_uri, false},
                                                  {NULL, NULL, false}};
static const struct vshape resource = {.type = VT_STRUCTURE,
                                       .members = resource_members};
static const struct vmember baseline_members[] = {
    {"BaseliningJobName", &str256, false},
    {"ConstraintsResource", &resource, false},
    {"StatisticsResource", &resource, false},
    {NULL, NULL, false}};
static const struct vshape baseline = {.type = VT_STRUCTURE,
                                       .members = baseline_members};
static const struct vmember endpoint_input_members[] = {
    {"EndpointName", &name63, true},
    {"LocalPath", &str256, true},
    {NULL, NULL, false}};
static const struct vshape endpoint_input = {.type = VT_STRUCTURE,
                                             .members = endpoint_input_members};
static const struct vmember input_members[] = {
    {"EndpointInput", &endpoint_input, false},
    {"BatchTransformInput", &any_struct, false},
    {NULL, NULL, false}};
static const struct vshape input = {.type = VT_STRUCTURE,
                                    .members = input_members};
static const struct vshape inputs = {.type = VT_LIST,
                                     .flags = V_MIN | V_MAX,
                                     .min = 1,
                                     .max = 1,
                                     .item = &input};
static const struct vmember s3_output_members[] = {
    {"S3Uri", &s3_uri, true},
    {"LocalPath", &str256, true},
    {"S3UploadMode", &str256, false},
    {NULL, NULL, false}};
static const struct vshape s3_output = {.type = VT_STRUCTURE,
                                        .members = s3_output_members};
static const struct vmember output_members[] = {{"S3Output", &s3_output, true},
                                                {NULL, NULL, false}};
static const struct vshape output = {.type = VT_STRUCTURE,
                                     .members = output_members};
static const struct vshape outputs = {.type = VT_LIST,
                                      .flags = V_MIN | V_MAX,
                                      .min = 1,
                                      .max = 1,
                                      .item = &output};
static const struct vmember output_config_members[] = {
    {"MonitoringOutputs", &outputs, true}, {NULL, NULL, false}};
static const struct vshape output_config = {.type = VT_STRUCTURE,
                                            .members = output_config_members};
static const struct vmember app_members[] = {{"ImageUri", &str256, true},
                                             {NULL, NULL, false}};
static const struct vshape app_spec = {.type = VT_STRUCTURE,
                                       .members = app_members};
static const struct vmember definition_members[] = {
    {"BaselineConfig", &baseline, false},
    {"MonitoringInputs", &inputs, true},
    {"MonitoringOutputConfig", &output_config, true},
    {"MonitoringResources", &processing_resources_shape, true},
    {"MonitoringAppSpecification", &app_spec, true},
    {"StoppingCondition", &processing_stopping_shape, false},
    {"Environment", &processing_environment_shape, false},
    {"NetworkConfig", &any_struct, false},
    {"RoleArn", &str256, true},
    {NULL, NULL, false}};
static const struct vshape definition = {.type = VT_STRUCTURE,
                                         .members = definition_members};
static const struct vmember config_members[] = {
    {"ScheduleConfig", &schedule, false},
    {"MonitoringJobDefinition", &definition, false},
    {"MonitoringJobDefinitionName", &name63, false},
    {"MonitoringType", &e_type, false},
    {NULL, NULL, false}};
static const struct vshape config = {.type = VT_STRUCTURE,
                                     .members = config_members};

static const struct vmember dq_app_members[] = {
    {"ImageUri", &str256, true},
    {"RecordPreprocessorSourceUri", &s3_uri, false},
    {"PostAnalyticsProcessorSourceUri", &s3_uri, false},
    {"Environment", &processing_environment_shape, false},
    {NULL, NULL, false}};
static const struct vshape dq_app = {.type = VT_STRUCTURE,
                                     .members = dq_app_members};
static const struct vmember dq_create_members[] = {
    {"JobDefinitionName", &name63, true},
    {"DataQualityBaselineConfig", &baseline, false},
    {"DataQualityAppSpecification", &dq_app, true},
    {"DataQualityJobInput", &input, true},
    {"DataQualityJobOutputConfig", &output_config, true},
    {"JobResources", &processing_resources_shape, true},
    {"NetworkConfig", &any_struct, false},
    {"RoleArn", &str256, true},
    {"StoppingCondition", &processing_stopping_shape, false},
    {"Tags", &tags_shape, false},
    {NULL, NULL, false}};
const struct vshape monitoring_create_dq_input = {.type = VT_STRUCTURE,
                                                  .members = dq_create_members};
static const struct vmember dq_name_members[] = {
    {"JobDefinitionName", &name63, true}, {NULL, NULL, false}};
const struct vshape monitoring_describe_dq_input = {.type = VT_STRUCTURE,
                                                    .members = dq_name_members};
const struct vshape monitoring_delete_dq_input = {.type = VT_STRUCTURE,
                                                  .members = dq_name_members};
static const char *const dq_sort[] = {"Name", "CreationTime", NULL};
static const struct vshape e_dq_sort = {.type = VT_STRING, .enums = dq_sort};
static const struct vmember create_members[] = {
    {"MonitoringScheduleName", &name63, true},
    {"MonitoringScheduleConfig", &config, true},
    {"Tags", &tags_shape, false},
    {NULL, NULL, false}};
const struct vshape monitoring_create_input = {.type = VT_STRUCTURE,
                                               .members = create_members};

static const struct vmember update_members[] = {
    {"MonitoringScheduleName", &name63, true},
    {"MonitoringScheduleConfig", &config, true},
    {NULL, NULL, false}};
const struct vshape monitoring_update_input = {.type = VT_STRUCTURE,
                                               .members = update_members};

static const struct vmember name_members[] = {
    {"MonitoringScheduleName", &name63, true}, {NULL, NULL, false}};
const struct vshape monitoring_describe_input = {.type = VT_STRUCTURE,
                                                 .members = name_members};
const struct vshape monitoring_delete_input = {.type = VT_STRUCTURE,
                                               .members = name_members};
const struct vshape monitoring_stop_input = {.type = VT_STRUCTURE,
                                             .members = name_members};
const struct vshape monitoring_start_input = {.type = VT_STRUCTURE,
                                              .members = name_members};

static const struct vshape name_contains = {
    .type = VT_STRING, .flags = V_MAX, .max = 63, .pattern = "[a-zA-Z0-9\\-]+"};
static const struct vshape e_schedule_status = {.type = VT_STRING,
                                                .enums = schedule_statuses};
static const struct vshape e_list_sort = {.type = VT_STRING,
                                          .enums = list_sort};
static const struct vmember list_members[] = {
    {"EndpointName", &name63, false},
    {"SortBy", &e_list_sort, false},
    {"SortOrder", &e_order, false},
    {"NextToken", &token, false},
    {"MaxResults", &max_results, false},
    {"NameContains", &name_contains, false},
    {"CreationTimeBefore", &timestamp, false},
    {"CreationTimeAfter", &timestamp, false},
    {"LastModifiedTimeBefore", &timestamp, false},
    {"LastModifiedTimeAfter", &timestamp, false},
    {"StatusEquals", &e_schedule_status, false},
    {"MonitoringTypeEquals", &e_type, false},
    {NULL, NULL, false}};
const struct vshape monitoring_list_input = {.type = VT_STRUCTURE,
                                             .members = list_members};

static const struct vshape e_exec_status = {.type = VT_STRING,
                                            .enums = exec_statuses};
static const struct vshape e_exec_sort = {.type = VT_STRING,
                                          .enums = exec_sort};
static const struct vmember exec_members[] = {
    {"MonitoringScheduleName", &name63, false},
    {"EndpointName", &name63, false},
    {"SortBy", &e_exec_sort, false},
    {"SortOrder", &e_order, false},
    {"NextToken", &token, false},
    {"MaxResults", &max_results, false},
    {"ScheduledTimeBefore", &timestamp, false},
    {"ScheduledTimeAfter", &timestamp, false},
    {"CreationTimeBefore", &timestamp, false},
    {"CreationTimeAfter", &timestamp, false},
    {"LastModifiedTimeBefore", &timestamp, false},
    {"LastModifiedTimeAfter", &timestamp, false},
    {"StatusEquals", &e_exec_status, false},
    {"MonitoringJobDefinitionName", &name63, false},
    {"MonitoringTypeEquals", &e_type, false},
    {NULL, NULL, false}};
const struct vshape monitoring_executions_input = {.type = VT_STRUCTURE,
                                                   .members = exec_members};

static const struct vmember dq_list_members[] = {
    {"EndpointName", &name63, false},
    {"SortBy", &e_dq_sort, false},
    {"SortOrder", &e_order, false},
    {"NextToken", &token, false},
    {"MaxResults", &max_results, false},
    {"NameContains", &name_contains, false},
    {"CreationTimeBefore", &timestamp, false},
    {"CreationTimeAfter", &timestamp, false},
    {NULL, NULL, false}};
const struct vshape monitoring_list_dq_input = {.type = VT_STRUCTURE,
                                                .members = dq_list_members};

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

json_t *monitoring_endpoint_input(json_t *def)
{
    return json_object_get(
        json_array_get(json_object_get(def, "MonitoringInputs"), 0),
        "EndpointInput");
}

json_t *monitoring_s3_output(json_t *def)
{
    return json_object_get(
        json_array_get(
            json_object_get(json_object_get(def, "MonitoringOutputConfig"),
                            "MonitoringOutputs"),
            0),
        "S3Output");
}

/* ---- schedule expressions ------------------------------------------ */

int monitoring_next(const char *expr, double after, double *next)
{
    int hour = -1, every = 0;
    char tail[8];
    if (!expr)
        return KILN_EINVAL;
    if (strcmp(expr, "NOW") == 0) {
        *next = 0;
        return 0;
    }
    if (strcmp(expr, "cron(0 * ? * * *)") == 0)
        every = 1;
    else if (sscanf(expr, "cron(0 */%d ? * * *%1[)]", &every, tail) == 2 &&
             every >= 1 && every <= 23 && 24 % every == 0)
        ;
    else if (sscanf(expr, "cron(0 %d ? * * *%1[)]", &hour, tail) == 2 &&
             hour >= 0 && hour <= 23)
        every = 24;
    else
        return KILN_EINVAL;
    /* The first firing strictly after `after`: on the hour, at hours
     * that are multiples of `every` (plus `hour` for daily ones). */
    double h = (double)((long long)after / 3600 + 1) * 3600;
    for (int i = 0; i < 48; i++, h += 3600) {
        long long hh = (long long)h / 3600 % 24;
        if (hour >= 0 ? hh == hour : hh % every == 0) {
            *next = h;
            return 0;
        }
    }
    return KILN_EINVAL;
}

int monitoring_offset(const char *text, double *seconds)
{
    const char *p = text;
    double sign = 1, total = 0;
    bool time = false, any = false;
    if (!p)
        return KILN_EINVAL;
    if (*p == '-') {
        sign = -1;
        p++;
    }
    if (*p++ != 'P')
        return KILN_EINVAL;
    while (*p) {
        if (*p == 'T' && !time) {
            time = true;
            p++;
            continue;
        }
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 100000)
            return KILN_EINVAL;
        double unit = !time && *end == 'D'  ? 86400
                      : time && *end == 'H' ? 3600
                      : time && *end == 'M' ? 60
                      : time && *end == 'S' ? 1
                                            : -1;
        if (unit < 0)
            return KILN_EINVAL;
        total += (double)v * unit;
        any = true;
        p = end + 1;
    }
    if (!any)
        return KILN_EINVAL;
    *seconds = sign * total;
    return 0;
}

/* ---- the handlers ------------------------------------------------- */

static int load(const struct api_ctx *c, const char *name, json_t **doc,
                struct kiln_diag *d)
{
    int rc = hosting_load_doc(c, TYPE, name, doc, d);
    if (rc == KILN_ENOTFOUND)
        return diag_set(d, KILN_ENOJOB,
                        "Monitoring Schedule %s does not exist.", name);
    return rc;
}

static int save(const struct api_ctx *c, json_t *doc, const char *expect)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    struct meta_res m = {.account = c->account,
                         .type = TYPE,
                         .name = str(doc, "MonitoringScheduleName"),
                         .status = str(doc, "MonitoringScheduleStatus"),
                         .modified = tm_now(),
                         .body = body,
                         .expect = expect};
    int rc = meta_res_save(c->meta, &m);
    mem_free(body);
    return rc;
}

const char *monitoring_expression(json_t *cfg)
{
    json_t *sc = json_object_get(cfg, "ScheduleConfig");
    return sc ? str(sc, "ScheduleExpression") : DAILY;
}

json_t *monitoring_definition(json_t *doc)
{
    json_t *def =
        json_object_get(json_object_get(doc, "MonitoringScheduleConfig"),
                        "MonitoringJobDefinition");
    return def ? def : json_object_get(doc, RESOLVED);
}

/* A data quality job definition (its Describe document) as the
 * MonitoringJobDefinition a schedule runs (a new reference). */
static json_t *as_monitoring_definition(json_t *jd)
{
    json_t *app = json_object_get(jd, "DataQualityAppSpecification");
    json_t *spec = json_deep_copy(app);
    json_t *def = json_object();
    static const char *const same[][2] = {
        {"DataQualityBaselineConfig", "BaselineConfig"},
        {"DataQualityJobOutputConfig", "MonitoringOutputConfig"},
        {"JobResources", "MonitoringResources"},
        {"StoppingCondition", "StoppingCondition"},
        {"NetworkConfig", "NetworkConfig"},
        {"RoleArn", "RoleArn"}};
    for (size_t i = 0; i < KILN_ARRAY_LEN(same); i++)
        if (json_object_get(jd, same[i][0]))
            json_object_set(def, same[i][1], json_object_get(jd, same[i][0]));
    json_object_set_new(
        def, "MonitoringInputs",
        json_pack("[O]", json_object_get(jd, "DataQualityJobInput")));
    if (json_object_get(app, "Environment"))
        json_object_set(def, "Environment",
                        json_object_get(app, "Environment"));
    json_object_del(spec, "Environment");
    json_object_set_new(def, "MonitoringAppSpecification", spec);
    return def;
}

/* A MonitoringJobDefinition kiln can run: the built-in analyzer on an
 * endpoint's captures. */
static int check_definition(json_t *def, struct kiln_diag *d)
{
    json_t *app = json_object_get(def, "MonitoringAppSpecification");
    if (!processing_builtin_image(str(app, "ImageUri")))
        return diag_set(d, KILN_EVALIDATION,
                        "kiln runs no container images yet: the "
                        "ImageUri must be the built-in "
                        "sagemaker-model-monitor-analyzer.");
    static const char *const scripts[] = {
        "RecordPreprocessorSourceUri", "PostAnalyticsProcessorSourceUri",
        "ContainerEntrypoint", "ContainerArguments"};
    for (size_t i = 0; i < KILN_ARRAY_LEN(scripts); i++)
        if (json_object_get(app, scripts[i]))
            return diag_set(d, KILN_EVALIDATION,
                            "kiln's analyzer runs no scripts or commands of "
                            "its own yet: remove %s.",
                            scripts[i]);
    json_t *ep = monitoring_endpoint_input(def);
    if (!ep)
        return diag_set(d, KILN_EVALIDATION,
                        "kiln monitors endpoints only: give an "
                        "EndpointInput, not a BatchTransformInput.");
    json_t *out = monitoring_s3_output(def);
    if (!processing_local_path_ok(str(ep, "LocalPath")) ||
        !processing_local_path_ok(str(out, "LocalPath")))
        return diag_set(d, KILN_EVALIDATION,
                        "LocalPath must be a path under /opt/ml/processing/.");
    json_t *cluster = json_object_get(
        json_object_get(def, "MonitoringResources"), "ClusterConfig");
    if (!instance_find(str(cluster, "InstanceType")))
        return diag_set(d, KILN_EVALIDATION,
                        "MonitoringResources: ClusterConfig must name a "
                        "known InstanceType.");
    return 0;
}

/*
 * A schedule's configuration kiln can run; *def gets the definition it
 * runs (a new reference): its MonitoringJobDefinition, or the data
 * quality job definition it names, copied.
 */
static int check_config(const struct api_ctx *c, json_t *cfg, json_t **def,
                        struct kiln_diag *d)
{
    json_t *sc = json_object_get(cfg, "ScheduleConfig");
    const char *type = str(cfg, "MonitoringType");
    const char *named = str(cfg, "MonitoringJobDefinitionName");
    const char *expr = monitoring_expression(cfg);
    double next, off;
    int rc;

    *def = NULL;
    if (type && strcmp(type, "DataQuality") != 0)
        return diag_set(d, KILN_EVALIDATION,
                        "kiln monitors data quality only, not %s.", type);
    if (named && json_object_get(cfg, "MonitoringJobDefinition"))
        return diag_set(d, KILN_EVALIDATION,
                        "MonitoringScheduleConfig takes either a "
                        "MonitoringJobDefinition or a "
                        "MonitoringJobDefinitionName, not both.");
    if (named && !type)
        return diag_set(d, KILN_EVALIDATION,
                        "MonitoringType is required with a "
                        "MonitoringJobDefinitionName.");
    if (!named && !json_object_get(cfg, "MonitoringJobDefinition"))
        return diag_set(d, KILN_EVALIDATION,
                        "MonitoringScheduleConfig must have a "
                        "MonitoringJobDefinition or a "
                        "MonitoringJobDefinitionName.");
    if (monitoring_next(expr, 0, &next) != 0)
        return diag_set(d, KILN_EVALIDATION,
                        "Schedule expression %.100s is not one kiln runs: "
                        "use NOW, cron(0 * ? * * *) (hourly), "
                        "cron(0 */N ? * * *) or cron(0 H ? * * *) (daily).",
                        expr ? expr : "(none)");
    const char *from = str(sc, "DataAnalysisStartTime");
    const char *to = str(sc, "DataAnalysisEndTime");
    if ((from || to || strcmp(expr, "NOW") == 0) &&
        (monitoring_offset(from, &off) != 0 ||
         monitoring_offset(to, &off) != 0))
        return diag_set(d, KILN_EVALIDATION,
                        "DataAnalysisStartTime and DataAnalysisEndTime must "
                        "both be ISO 8601 offsets such as -PT1H and -PT0H "
                        "(required with NOW).");
    if (named) {
        json_t *jd;
        rc = hosting_load_doc(c, DEF_TYPE, named, &jd, d);
        if (rc == KILN_ENOTFOUND)
            return diag_set(d, KILN_EVALIDATION,
                            "The data quality job definition %s does not "
                            "exist.",
                            named);
        if (rc)
            return rc;
        *def = as_monitoring_definition(jd);
        json_decref(jd);
    } else {
        *def = json_incref(json_object_get(cfg, "MonitoringJobDefinition"));
    }
    rc = check_definition(*def, d);
    json_t *ep = monitoring_endpoint_input(*def);
    char *body = NULL;
    if (!rc && meta_res_get(c->meta, c->account, "endpoint",
                            str(ep, "EndpointName"), &body) != 0)
        rc = diag_set(d, KILN_EVALIDATION, "Could not find endpoint \"%s\".",
                      str(ep, "EndpointName"));
    mem_free(body);
    if (rc) {
        json_decref(*def);
        *def = NULL;
    }
    return rc;
}

/* The definition a schedule of `cfg` runs kept in its document `doc`,
 * when it is a named one's copy; `def` is taken. */
static void keep_definition(json_t *doc, json_t *cfg, json_t *def)
{
    json_object_set(
        doc, "EndpointName",
        json_object_get(monitoring_endpoint_input(def), "EndpointName"));
    if (json_object_get(cfg, "MonitoringJobDefinitionName"))
        json_object_set_new(doc, RESOLVED, def);
    else {
        json_object_del(doc, RESOLVED);
        json_decref(def);
    }
}

/* When a schedule of config `cfg` runs next, from `now` (0: never). */
static double next_run(json_t *cfg, double now)
{
    const char *expr = monitoring_expression(cfg);
    double next = 0;
    if (expr && strcmp(expr, "NOW") == 0)
        return now;
    return monitoring_next(expr, now, &next) == 0 ? next : 0;
}

/* The stored copy of a configuration: its type made explicit. */
static json_t *stored_config(json_t *cfg)
{
    json_t *copy = json_deep_copy(cfg);
    json_object_set_new(copy, "MonitoringType", json_string("DataQuality"));
    return copy;
}

int monitoring_create(const struct api_ctx *c, json_t *in, json_t **out,
                      struct kiln_diag *d)
{
    const char *name = str(in, "MonitoringScheduleName");
    json_t *cfg = json_object_get(in, "MonitoringScheduleConfig");
    char arn[256];
    double now = tm_now();
    json_t *def;
    int rc = check_config(c, cfg, &def, d);
    if (rc)
        return rc;
    hosting_arn(c, TYPE, name, arn, sizeof(arn));
    json_t *doc = json_object();
    json_object_set_new(doc, "MonitoringScheduleArn", json_string(arn));
    json_object_set_new(doc, "MonitoringScheduleName", json_string(name));
    json_object_set_new(doc, "MonitoringScheduleStatus",
                        json_string("Scheduled"));
    json_object_set_new(doc, "MonitoringType", json_string("DataQuality"));
    json_object_set_new(doc, "CreationTime", json_real(now));
    json_object_set_new(doc, "LastModifiedTime", json_real(now));
    json_object_set_new(doc, "MonitoringScheduleConfig", stored_config(cfg));
    keep_definition(doc, cfg, def);
    json_object_set_new(doc, MONITORING_EXECUTIONS, json_array());
    json_object_set_new(doc, MONITORING_NEXT, json_real(next_run(cfg, now)));
    rc = hosting_insert_res(c, TYPE, name, arn, "Scheduled", doc, now, d);
    json_decref(doc);
    if (rc == KILN_EINUSE)
        return diag_set(d, KILN_EINUSE,
                        "Monitoring Schedule %s already exists.", arn);
    if (rc)
        return rc;
    tags_store(c, arn, in);
    *out = json_pack("{s:s}", "MonitoringScheduleArn", arn);
    return 0;
}

/* An execution entry as ListMonitoringExecutions shows it; the processing
 * job's status while the scheduler has not recorded an end. */
static json_t *summary(const struct api_ctx *c, json_t *doc, json_t *e)
{
    const char *job = str(e, "ProcessingJobName");
    const char *status = str(e, "Status");
    char arn[256];
    json_t *s = json_object();
    json_object_set(s, "MonitoringScheduleName",
                    json_object_get(doc, "MonitoringScheduleName"));
    json_object_set(s, "ScheduledTime", json_object_get(e, "ScheduledTime"));
    json_object_set(s, "CreationTime", json_object_get(e, "CreationTime"));
    json_object_set(s, "LastModifiedTime",
                    json_object_get(e, json_object_get(e, "LastModifiedTime")
                                           ? "LastModifiedTime"
                                           : "CreationTime"));
    if (job) {
        hosting_arn(c, "processing-job", job, arn, sizeof(arn));
        json_object_set_new(s, "ProcessingJobArn", json_string(arn));
    }
    if (!status && job) {
        char *body = NULL;
        json_t *pj = NULL;
        if (meta_res_get(c->meta, c->account, "processing-job", job, &body) ==
            0)
            pj = json_loads(body, 0, NULL);
        mem_free(body);
        const char *ps = str(pj, "ProcessingJobStatus");
        status = ps && strcmp(ps, "Stopping") == 0 ? "Stopping" : "InProgress";
        json_decref(pj);
    }
    json_object_set_new(s, "MonitoringExecutionStatus",
                        json_string(status ? status : "Pending"));
    json_object_set(s, "EndpointName", json_object_get(doc, "EndpointName"));
    json_object_set_new(s, "MonitoringType", json_string("DataQuality"));
    json_t *named =
        json_object_get(json_object_get(doc, "MonitoringScheduleConfig"),
                        "MonitoringJobDefinitionName");
    if (named)
        json_object_set(s, "MonitoringJobDefinitionName", named);
    if (json_object_get(e, "FailureReason"))
        json_object_set(s, "FailureReason",
                        json_object_get(e, "FailureReason"));
    return s;
}

int monitoring_describe(const struct api_ctx *c, json_t *in, json_t **out,
                        struct kiln_diag *d)
{
    json_t *doc;
    int rc = load(c, str(in, "MonitoringScheduleName"), &doc, d);
    if (rc)
        return rc;
    json_t *list = json_object_get(doc, MONITORING_EXECUTIONS);
    size_t n = json_array_size(list);
    if (n)
        json_object_set_new(doc, "LastMonitoringExecutionSummary",
                            summary(c, doc, json_array_get(list, n - 1)));
    json_object_del(doc, MONITORING_EXECUTIONS);
    json_object_del(doc, MONITORING_NEXT);
    json_object_del(doc, RESOLVED);
    *out = doc;
    return 0;
}

int monitoring_delete(const struct api_ctx *c, json_t *in, json_t **out,
                      struct kiln_diag *d)
{
    const char *name = str(in, "MonitoringScheduleName");
    if (meta_res_delete(c->meta, c->account, TYPE, name) != 0)
        return diag_set(d, KILN_ENOJOB,
                        "Monitoring Schedule %s does not exist.", name);
    *out = json_object();
    return 0;
}

int monitoring_update(const struct api_ctx *c, json_t *in, json_t **out,
                      struct kiln_diag *d)
{
    json_t *cfg = json_object_get(in, "MonitoringScheduleConfig"), *doc, *def;
    int rc = check_config(c, cfg, &def, d);
    if (!rc && (rc = load(c, str(in, "MonitoringScheduleName"), &doc, d)))
        json_decref(def);
    if (rc)
        return rc;
    char *status = xstrdup(str(doc, "MonitoringScheduleStatus"));
    double now = tm_now();
    json_object_set_new(doc, "MonitoringScheduleConfig", stored_config(cfg));
    keep_definition(doc, cfg, def);
    json_object_set_new(doc, "LastModifiedTime", json_real(now));
    json_object_set_new(
        doc, MONITORING_NEXT,
        json_real(strcmp(status, "Scheduled") == 0 ? next_run(cfg, now) : 0));
    rc = save(c, doc, status);
    if (rc)
        rc = diag_set(d, KILN_EVALIDATION,
                      "The monitoring schedule changed; try again.");
    else
        *out = json_pack("{s:O}", "MonitoringScheduleArn",
                         json_object_get(doc, "MonitoringScheduleArn"));
    mem_free(status);
    json_decref(doc);
    return rc;
}

/* Stop and Start: from `from` to `to`, else a ValidationException. */
static int move(const struct api_ctx *c, json_t *in, const char *from,
                const char *to, json_t **out, struct kiln_diag *d)
{
    json_t *doc;
    int rc = load(c, str(in, "MonitoringScheduleName"), &doc, d);
    if (rc)
        return rc;
    const char *now_status = str(doc, "MonitoringScheduleStatus");
    if (strcmp(now_status, from) != 0) {
        rc = diag_set(d, KILN_EVALIDATION,
                      "The monitoring schedule is %s; it must be %s to "
                      "become %s.",
                      now_status, from, to);
        json_decref(doc);
        return rc;
    }
    json_object_set_new(doc, "MonitoringScheduleStatus", json_string(to));
    json_object_set_new(doc, "LastModifiedTime", json_real(tm_now()));
    json_t *cfg = json_object_get(doc, "MonitoringScheduleConfig");
    const char *expr = monitoring_expression(cfg);
    /* Started again, a NOW schedule does not run again. */
    if (strcmp(to, "Scheduled") == 0 && expr && strcmp(expr, "NOW") != 0)
        json_object_set_new(doc, MONITORING_NEXT,
                            json_real(next_run(cfg, tm_now())));
    rc = save(c, doc, from);
    json_decref(doc);
    if (rc)
        return diag_set(d, KILN_EVALIDATION,
                        "The monitoring schedule changed; try again.");
    *out = json_object();
    return 0;
}

int monitoring_stop(const struct api_ctx *c, json_t *in, json_t **out,
                    struct kiln_diag *d)
{
    return move(c, in, "Scheduled", "Stopped", out, d);
}

int monitoring_start(const struct api_ctx *c, json_t *in, json_t **out,
                     struct kiln_diag *d)
{
    return move(c, in, "Stopped", "Scheduled", out, d);
}

int monitoring_list(const struct api_ctx *c, json_t *in, json_t **out,
                    struct kiln_diag *d)
{
    static const char *const keys[] = {
        "MonitoringScheduleName",
        "MonitoringScheduleArn",
        "MonitoringScheduleStatus",
        "EndpointName",
        "MonitoringType",
        "MonitoringScheduleConfig.MonitoringJobDefinitionName",
        NULL};
    int rc = hosting_list_res(c, in, TYPE, "MonitoringScheduleSummaries", keys,
                              out, d);
    const char *ep = str(in, "EndpointName");
    json_t *list = json_object_get(*out, "MonitoringScheduleSummaries");
    for (size_t i = json_array_size(list); !rc && ep && i-- > 0;)
        if (!str(json_array_get(list, i), "EndpointName") ||
            strcmp(ep, str(json_array_get(list, i), "EndpointName")) != 0)
            json_array_remove(list, i);
    return rc;
}

/* ---- ListMonitoringExecutions -------------------------------------- */

struct gather {
    const struct api_ctx *c;
    json_t *in, *items;
};

static bool time_ok(json_t *in, const char *key, json_t *s, const char *field)
{
    char after[64], before[64];
    snprintf(after, sizeof(after), "%sAfter", key);
    snprintf(before, sizeof(before), "%sBefore", key);
    double t = json_number_value(json_object_get(s, field));
    json_t *a = json_object_get(in, after), *b = json_object_get(in, before);
    return (!a || t > json_number_value(a)) && (!b || t < json_number_value(b));
}

/* Schedules' names, copied out of the store's callback (which holds its
 * lock) as "account/name". */
static int collect(void *ctx, const char *account, const char *name)
{
    char both[160];
    snprintf(both, sizeof(both), "%s/%s", account, name);
    json_array_append_new(ctx, json_string(both));
    return 0;
}

static void gather_one(struct gather *g, const char *account, const char *name)
{
    json_t *doc;
    struct kiln_diag d = {0};
    const char *want = str(g->in, "MonitoringScheduleName");
    const char *ep = str(g->in, "EndpointName");
    const char *status = str(g->in, "StatusEquals");
    const char *named = str(g->in, "MonitoringJobDefinitionName");
    size_t i;
    json_t *e;

    if (strcmp(account, g->c->account) != 0 ||
        (want && strcasecmp(want, name) != 0) || load(g->c, name, &doc, &d))
        return;
    const char *has = str(json_object_get(doc, "MonitoringScheduleConfig"),
                          "MonitoringJobDefinitionName");
    if ((ep && strcmp(ep, str(doc, "EndpointName")) != 0) ||
        (named && (!has || strcmp(named, has) != 0))) {
        json_decref(doc);
        return;
    }
    json_array_foreach(json_object_get(doc, MONITORING_EXECUTIONS), i, e)
    {
        json_t *s = summary(g->c, doc, e);
        if ((status &&
             strcmp(status, str(s, "MonitoringExecutionStatus")) != 0) ||
            !time_ok(g->in, "ScheduledTime", s, "ScheduledTime") ||
            !time_ok(g->in, "CreationTime", s, "CreationTime") ||
            !time_ok(g->in, "LastModifiedTime", s, "LastModifiedTime"))
            json_decref(s);
        else
            json_array_append_new(g->items, s);
    }
    json_decref(doc);
}

static int by_key(const void *a, const void *b, void *arg)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    json_t *in = arg;
    const char *key = str(in, "SortBy") ? str(in, "SortBy") : "ScheduledTime";
    const char *order = str(in, "SortOrder");
    int r;
    if (strcmp(key, "Status") == 0) {
        r = strcmp(str(x, "MonitoringExecutionStatus"),
                   str(y, "MonitoringExecutionStatus"));
    } else {
        double p = json_number_value(json_object_get(x, key));
        double q = json_number_value(json_object_get(y, key));
        r = p < q ? -1 : p > q;
    }
    return order && strcmp(order, "Ascending") == 0 ? r : -r;
}

int monitoring_executions(const struct api_ctx *c, json_t *in, json_t **out,
                          struct kiln_diag *d)
{
    struct gather g = {c, in, json_array()};
    json_t *names = json_array(), *nm;
    size_t k;
    for (size_t i = 0; schedule_statuses[i]; i++)
        meta_res_each_status(c->meta, TYPE, schedule_statuses[i], collect,
                             names);
    json_array_foreach(names, k, nm)
    {
        const char *both = json_string_value(nm);
        char account[13];
        snprintf(account, sizeof(account), "%.12s", both);
        gather_one(&g, account, both + strlen(account) + 1);
    }
    json_decref(names);

    size_t n = json_array_size(g.items);
    json_t **v = xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(g.items, i);
    if (n)
        qsort_r(v, n, sizeof(*v), by_key, in);

    int rc =
        paging_offset_page(in, v, n, "MonitoringExecutionSummaries", out, d);
    mem_free(v);
    json_decref(g.items);
    return rc;
}

/* ---- data quality job definitions ---------------------------------- */

static int load_definition(const struct api_ctx *c, const char *name,
                           json_t **doc, struct kiln_diag *d)
{
    int rc = hosting_load_doc(c, DEF_TYPE, name, doc, d);
    if (rc == KILN_ENOTFOUND)
        return diag_set(d, KILN_ENOJOB, "Job definition %s does not exist.",
                        name);
    return rc;
}

int monitoring_create_dq(const struct api_ctx *c, json_t *in, json_t **out,
                         struct kiln_diag *d)
{
    const char *name = str(in, "JobDefinitionName");
    static const char *const kept[] = {"DataQualityBaselineConfig",
                                       "DataQualityAppSpecification",
                                       "DataQualityJobInput",
                                       "DataQualityJobOutputConfig",
                                       "JobResources",
                                       "NetworkConfig",
                                       "RoleArn",
                                       "StoppingCondition"};
    char arn[256];
    double now = tm_now();
    json_t *doc = json_object();
    for (size_t i = 0; i < KILN_ARRAY_LEN(kept); i++)
        if (json_object_get(in, kept[i]))
            json_object_set(doc, kept[i], json_object_get(in, kept[i]));
    /* Checked as the schedules that name it will run it; the endpoint
     * need not exist yet. */
    json_t *def = as_monitoring_definition(doc);
    int rc = check_definition(def, d);
    json_decref(def);
    if (rc) {
        json_decref(doc);
        return rc;
    }
    hosting_arn(c, DEF_TYPE, name, arn, sizeof(arn));
    json_object_set_new(doc, "JobDefinitionArn", json_string(arn));
    json_object_set_new(doc, "JobDefinitionName", json_string(name));
    json_object_set_new(doc, "CreationTime", json_real(now));
    rc = hosting_insert_res(c, DEF_TYPE, name, arn, "", doc, now, d);
    json_decref(doc);
    if (rc == KILN_EINUSE)
        return diag_set(d, KILN_EINUSE, "Job definition %s already exists.",
                        arn);
    if (rc)
        return rc;
    tags_store(c, arn, in);
    *out = json_pack("{s:s}", "JobDefinitionArn", arn);
    return 0;
}

int monitoring_describe_dq(const struct api_ctx *c, json_t *in, json_t **out,
                           struct kiln_diag *d)
{
    return load_definition(c, str(in, "JobDefinitionName"), out, d);
}

int monitoring_delete_dq(const struct api_ctx *c, json_t *in, json_t **out,
                         struct kiln_diag *d)
{
    const char *name = str(in, "JobDefinitionName");
    /* Schedules that name it keep the copy they run. */
    if (meta_res_delete(c->meta, c->account, DEF_TYPE, name) != 0)
        return diag_set(d, KILN_ENOJOB, "Job definition %s does not exist.",
                        name);
    *out = json_object();
    return 0;
}

int monitoring_list_dq(const struct api_ctx *c, json_t *in, json_t **out,
                       struct kiln_diag *d)
{
    static const char *const keys[] = {"MonitoringJobDefinitionName",
                                       "MonitoringJobDefinitionArn", NULL};
    int rc = hosting_list_res(c, in, DEF_TYPE, "JobDefinitionSummaries", keys,
                              out, d);
    const char *ep = str(in, "EndpointName");
    json_t *list = json_object_get(*out, "JobDefinitionSummaries");
    for (size_t i = json_array_size(list); !rc && i-- > 0;) {
        json_t *s = json_array_get(list, i), *doc;
        struct kiln_diag ignored = {0};
        if (load_definition(c, str(s, "MonitoringJobDefinitionName"), &doc,
                            &ignored) != 0) {
            json_array_remove(list, i); /* deleted meanwhile */
            continue;
        }
        json_t *name = json_object_get(
            json_object_get(json_object_get(doc, "DataQualityJobInput"),
                            "EndpointInput"),
            "EndpointName");
        if (ep && (!name || strcmp(ep, json_string_value(name)) != 0))
            json_array_remove(list, i);
        else if (name)
            json_object_set(s, "EndpointName", name);
        json_decref(doc);
    }
    return rc;
}
