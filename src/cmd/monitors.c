/*
 * monitors.c - the scheduler of monitoring schedules (see monitors.h).
 */
#include "cmd/monitors.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/monitoring.h"
#include "api/processing.h"
#include "api/validate.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "cmd/jobset.h"
#include "cmd/ticker.h"

#define TYPE          "monitoring-schedule"
#define ROUND_SECONDS 1
#define ROOT          "/opt/ml/processing"
#define VIOLATIONS    "constraint_violations.json"

struct monitors {
    struct meta *meta;
    struct objstore *store;
    const struct api_jobs *jobs;
    const char *region;
    struct ticker *ticker;
};

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static unsigned hash(const char *s, double t)
{
    unsigned h = 2166136261u ^ (unsigned)(long long)t;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The last component of an S3 URI's key ("statistics.json"). */
static const char *base_name(const char *uri)
{
    const char *slash = uri ? strrchr(uri, '/') : NULL;
    return slash ? slash + 1 : "";
}

static void add_input(json_t *inputs, const char *name, const char *uri,
                      const char *local)
{
    json_array_append_new(
        inputs, json_pack("{s:s,s:{s:s,s:s,s:s,s:s}}", "InputName", name,
                          "S3Input", "S3Uri", uri, "LocalPath", local,
                          "S3DataType", "S3Prefix", "S3InputMode", "File"));
}

/*
 * The CreateProcessingJob request of the execution of schedule `doc` at
 * time t over [from, to), reading the captures under `capture`, writing
 * under `out_uri`.
 */
static json_t *execution_request(json_t *doc, const char *job,
                                 const char *capture, const char *out_uri,
                                 double from, double to)
{
    json_t *def = monitoring_definition(doc);
    json_t *ep = monitoring_endpoint_input(def);
    json_t *out = monitoring_s3_output(def);
    json_t *base = json_object_get(def, "BaselineConfig");
    const char *stats =
        jstr(json_object_get(base, "StatisticsResource"), "S3Uri");
    const char *cons =
        jstr(json_object_get(base, "ConstraintsResource"), "S3Uri");
    char start[TM_ISO_LEN], end[TM_ISO_LEN], path[512];

    json_t *env = json_deep_copy(json_object_get(def, "Environment"));
    if (!json_is_object(env)) {
        json_decref(env);
        env = json_object();
    }
    tm_format_iso(from, start);
    tm_format_iso(to, end);
    json_object_set_new(
        env, "dataset_format",
        json_string("{\"sagemakerCaptureJson\": "
                    "{\"captureIndexNames\": "
                    "[\"endpointInput\", \"endpointOutput\"]}}"));
    json_object_set_new(env, "dataset_source",
                        json_string(jstr(ep, "LocalPath")));
    json_object_set_new(env, "output_path",
                        json_string(jstr(out, "LocalPath")));
    json_object_set_new(env, "start_time", json_string(start));
    json_object_set_new(env, "end_time", json_string(end));
    json_object_set(env, "sagemaker_endpoint_name",
                    json_object_get(doc, "EndpointName"));
    json_object_set(env, "sagemaker_monitoring_schedule_name",
                    json_object_get(doc, "MonitoringScheduleName"));

    json_t *inputs = json_array();
    add_input(inputs, "input_1", capture, jstr(ep, "LocalPath"));
    if (stats && cons) {
        snprintf(path, sizeof(path), "%s/baseline/stats/%s", ROOT,
                 base_name(stats));
        json_object_set_new(env, "baseline_statistics", json_string(path));
        snprintf(path, sizeof(path), "%s/baseline/constraints/%s", ROOT,
                 base_name(cons));
        json_object_set_new(env, "baseline_constraints", json_string(path));
        add_input(inputs, "baseline", stats, ROOT "/baseline/stats");
        add_input(inputs, "constraints", cons, ROOT "/baseline/constraints");
    }
    json_t *req = json_pack(
        "{s:s,s:O,s:{s:O},s:O,s:o,s:o,s:{s:[{s:s,s:{s:s,s:s,s:s}}]}}",
        "ProcessingJobName", job, "RoleArn", json_object_get(def, "RoleArn"),
        "AppSpecification", "ImageUri",
        json_object_get(json_object_get(def, "MonitoringAppSpecification"),
                        "ImageUri"),
        "ProcessingResources", json_object_get(def, "MonitoringResources"),
        "Environment", env, "ProcessingInputs", inputs,
        "ProcessingOutputConfig", "Outputs", "OutputName", "result", "S3Output",
        "S3Uri", out_uri, "LocalPath", jstr(out, "LocalPath"), "S3UploadMode",
        "EndOfJob");
    if (json_object_get(def, "StoppingCondition"))
        json_object_set(req, "StoppingCondition",
                        json_object_get(def, "StoppingCondition"));
    return req;
}

/* Starts the execution of `doc` scheduled at t; its entry is appended. */
static void start_execution(struct monitors *m, const char *account,
                            json_t *doc, double t)
{
    json_t *cfg = json_object_get(doc, "MonitoringScheduleConfig");
    json_t *sc = json_object_get(cfg, "ScheduleConfig");
    const char *schedule = jstr(doc, "MonitoringScheduleName");
    const char *endpoint = jstr(doc, "EndpointName");
    const char *out_base =
        jstr(monitoring_s3_output(monitoring_definition(doc)), "S3Uri");
    double from = t - 3600, to = t, off;
    char job[64], stamp[16], hour[32];
    struct kiln_diag d = {0};
    time_t tt = (time_t)t;
    struct tm tm;
    json_t *entry = json_object();

    gmtime_r(&tt, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M", &tm);
    strftime(hour, sizeof(hour), "%Y/%m/%d/%H", &tm);
    snprintf(job, sizeof(job), "model-monitoring-%s-%08x", stamp,
             hash(schedule, t));
    if (monitoring_offset(jstr(sc, "DataAnalysisStartTime"), &off) == 0)
        from = t + off;
    if (monitoring_offset(jstr(sc, "DataAnalysisEndTime"), &off) == 0)
        to = t + off;
    json_object_set_new(entry, "ProcessingJobName", json_string(job));
    json_object_set_new(entry, "ScheduledTime", json_real(t));
    json_object_set_new(entry, "CreationTime", json_real(tm_now()));

    /* The endpoint's captures: <DestinationS3Uri>/<endpoint>/. */
    char *body = NULL;
    json_t *ep = NULL;
    if (meta_res_get(m->meta, account, "endpoint", endpoint, &body) == 0)
        ep = json_loads(body, 0, NULL);
    mem_free(body);
    json_t *dcc = json_object_get(ep, "DataCaptureConfig");
    const char *dest = jstr(dcc, "DestinationS3Uri");
    int rc = 0;
    if (!ep)
        rc = diag_set(&d, KILN_EINVAL, "The endpoint %s does not exist.",
                      endpoint);
    else if (!dest || !*dest || !out_base || !*out_base ||
             !json_is_true(json_object_get(dcc, "EnableCapture")))
        rc = diag_set(&d, KILN_EINVAL,
                      "The endpoint %s captures no data: its endpoint config "
                      "has no DataCaptureConfig with EnableCapture.",
                      endpoint);
    if (!rc) {
        struct buf capture = BUF_INIT(2048), out = BUF_INIT(2048);
        size_t dl = strlen(dest), ol = strlen(out_base);
        buf_addf(&capture, "%.*s/%s/", (int)(dest[dl - 1] == '/' ? dl - 1 : dl),
                 dest, endpoint);
        buf_addf(&out, "%.*s/%s/%s/%s",
                 (int)(out_base[ol - 1] == '/' ? ol - 1 : ol), out_base,
                 endpoint, schedule, hour);
        json_t *req = execution_request(doc, job, buf_cstr(&capture),
                                        buf_cstr(&out), from, to);
        json_t *resp = NULL;
        struct api_ctx c = {.jobs = m->jobs,
                            .meta = m->meta,
                            .account = account,
                            .user = "monitoring",
                            .akid = "",
                            .region = m->region,
                            .request_id = ""};
        /* Checked as a CreateProcessingJob request from a client is. */
        rc = validate_request(&processing_create_input, req, &d);
        if (!rc)
            rc = processing_create(&c, req, &resp, &d);
        json_decref(resp);
        json_decref(req);
        json_object_set_new(entry, "Output", json_string(buf_cstr(&out)));
        buf_release(&capture);
        buf_release(&out);
    }
    if (rc) {
        json_object_set_new(entry, "Status", json_string("Failed"));
        json_object_set_new(entry, "FailureReason", json_string(d.msg));
        json_object_set_new(entry, "LastModifiedTime", json_real(tm_now()));
    }
    log_info("event=monitoring_execution schedule=%s job=%s%s%s", schedule, job,
             rc ? " error=" : "", rc ? d.msg : "");
    json_decref(ep);
    json_array_append_new(json_object_get(doc, MONITORING_EXECUTIONS), entry);
}

/* How many violations the execution's constraint_violations.json lists
 * (0 when there is none: a run without a baseline). */
static size_t violations(struct monitors *m, json_t *entry)
{
    char bucket[64];
    const char *prefix;
    struct buf key = BUF_INIT(2048), data = BUF_INIT((size_t)64 << 20);
    char chunk[65536];
    ssize_t n;
    int fd = -1;
    size_t count = 0;
    if (objstore_uri_split(jstr(entry, "Output"), bucket, sizeof(bucket),
                           &prefix) != 0)
        return 0;
    buf_addf(&key, "%s/%s", prefix, VIOLATIONS);
    struct kiln_diag d = {0};
    if (objstore_open_object(m->store, bucket, buf_cstr(&key), &fd, &d) == 0) {
        while ((n = read(fd, chunk, sizeof(chunk))) > 0 &&
               buf_add(&data, chunk, (size_t)n) == 0)
            ;
        close(fd);
        json_t *doc = json_loadb(data.data ? data.data : "", data.len, 0, NULL);
        count = json_array_size(json_object_get(doc, "violations"));
        json_decref(doc);
    }
    buf_release(&key);
    buf_release(&data);
    return count;
}

/* Records the end of each execution whose job has ended; true if any. */
static bool settle(struct monitors *m, const char *account, json_t *doc)
{
    size_t i;
    json_t *e;
    bool changed = false;
    json_array_foreach(json_object_get(doc, MONITORING_EXECUTIONS), i, e)
    {
        char *body = NULL;
        json_t *pj = NULL;
        if (jstr(e, "Status"))
            continue;
        if (meta_res_get(m->meta, account, "processing-job",
                         jstr(e, "ProcessingJobName"), &body) == 0)
            pj = json_loads(body, 0, NULL);
        mem_free(body);
        const char *ps = jstr(pj, "ProcessingJobStatus");
        const char *status = NULL;
        if (!pj)
            status = "Failed";
        else if (strcmp(ps, "Completed") == 0)
            status = violations(m, e) ? "CompletedWithViolations" : "Completed";
        else if (strcmp(ps, "Failed") == 0 || strcmp(ps, "Stopped") == 0)
            status = ps;
        if (status) {
            json_object_set_new(e, "Status", json_string(status));
            json_object_set_new(e, "LastModifiedTime", json_real(tm_now()));
            if (jstr(pj, "FailureReason"))
                json_object_set(e, "FailureReason",
                                json_object_get(pj, "FailureReason"));
            else if (!pj)
                json_object_set_new(e, "FailureReason",
                                    json_string("The processing job of the "
                                                "execution is gone."));
            changed = true;
        }
        json_decref(pj);
    }
    return changed;
}

/* One look at one schedule: start what is due, record what ended. */
static void tick(void *ctx, const char *account, const char *name)
{
    struct monitors *m = ctx;
    char *body = NULL;
    if (meta_res_get(m->meta, account, TYPE, name, &body) != 0)
        return;
    json_t *doc = json_loads(body, 0, NULL);
    mem_free(body);
    if (!doc)
        return;
    const char *status = jstr(doc, "MonitoringScheduleStatus");
    double now = tm_now();
    double next = json_number_value(json_object_get(doc, MONITORING_NEXT));
    bool changed = settle(m, account, doc);
    if (strcmp(status, "Scheduled") == 0 && next > 0 && now >= next) {
        start_execution(m, account, doc, next);
        const char *expr = monitoring_expression(
            json_object_get(doc, "MonitoringScheduleConfig"));
        double after = 0;
        /* A run missed while kiln was down is not made up. */
        if (monitoring_next(expr, now, &after) != 0)
            after = 0;
        json_object_set_new(doc, MONITORING_NEXT, json_real(after));
        changed = true;
    }
    if (changed) {
        char *nb = json_dumps(doc, JSON_COMPACT);
        struct meta_res r = {.account = account,
                             .type = TYPE,
                             .name = name,
                             .status = status,
                             .modified = tm_now(),
                             .body = nb,
                             .expect = status};
        /* Lost to a Stop or Start in between: the next round retries. */
        meta_res_save(m->meta, &r);
        mem_free(nb);
    }
    json_decref(doc);
}

static void round_once(void *ctx)
{
    struct monitors *m = ctx;
    jobset_each_status(m->meta, TYPE, "Scheduled", tick, m);
    jobset_each_status(m->meta, TYPE, "Stopped", tick, m);
}

int monitors_new(struct meta *meta, struct objstore *store,
                 const struct api_jobs *jobs, const char *region,
                 struct monitors **out, struct kiln_diag *d)
{
    struct monitors *m = xcalloc(1, sizeof(*m));
    m->meta = meta;
    m->store = store;
    m->jobs = jobs;
    m->region = region;
    if (ticker_start(ROUND_SECONDS, round_once, m, &m->ticker, d) != 0) {
        mem_free(m);
        return diag_wrap(d, KILN_EIO, "the monitoring scheduler: ");
    }
    *out = m;
    return 0;
}

void monitors_free(struct monitors *m)
{
    if (!m)
        return;
    ticker_stop(m->ticker);
    mem_free(m);
}
