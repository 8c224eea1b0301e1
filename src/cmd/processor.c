/*
 * processor.c - processing jobs (see processor.h).
 */
#include "cmd/processor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/processing.h"
#include "base/fsx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/strv.h"
#include "base/tm.h"
#include "cmd/inputs.h"
#include "cmd/jobset.h"
#include "jobs/image.h"
#include "jobs/launch.h"
#include "jobs/proc.h"
#include "jobs/sandbox.h"

#define TYPE         "processing-job"
#define LOG_GROUP    "/aws/sagemaker/ProcessingJobs"
#define MAX_LOG_LINE (256 * 1024)
#define STOP_GRACE   10.0
#define METRICS_FILE "/opt/ml/output/metrics/cloudwatch"
#define MAX_METRICS  100000
#define METRIC_LINE  65536

struct processor {
    struct meta *meta;
    struct objstore *store;
    char *root; /* <data>/processing: each job's directory */
    char exe[4096];
    char *region;
    char *bwrap;    /* script processing's sandbox */
    char *data_dir; /* images/ is there */
    struct jobset *jobs;
    struct jobset_records records;
};

/* One instance, algo-<n>: a container of its own. */
struct host {
    char tree[4096]; /* stands for its container's "/" */
    char stream[256];
    char last[1024]; /* its last line */
};

struct run {
    struct job *job;
    struct processor *p;
    json_t *doc;
    struct kiln_diag d;
    int n;                 /* instances: InstanceCount (1 for the analyzer) */
    struct host *hosts;    /* n of them */
    int failed;            /* the instance that failed first (0-based) */
    char hosts_file[4096]; /* a script's or image's /etc/hosts */
    int slot;              /* and its addresses' slot, or -1 */
    int netns;             /* the network isolated instances share, or -1 */
    double start;
};

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void save(struct run *r, const char *status, const char *expect)
{
    json_object_set_new(r->doc, "ProcessingJobStatus", json_string(status));
    json_object_set_new(r->doc, "LastModifiedTime", json_real(tm_now()));
    char *body = json_dumps(r->doc, JSON_COMPACT);
    struct meta_res m = {.account = r->job->account,
                         .type = TYPE,
                         .name = r->job->name,
                         .status = status,
                         .modified = tm_now(),
                         .body = body,
                         .expect = expect};
    meta_res_save(r->p->meta, &m);
    mem_free(body);
}

/* A line of instance h's output (0-based) in its log stream. */
static void log_line(struct run *r, int h, const char *line, size_t len)
{
    char *text = xstrndup(line, len);
    str_utf8_fix(text, len);
    meta_log_append(r->p->meta, r->job->account, LOG_GROUP, r->hosts[h].stream,
                    (int64_t)(tm_now() * 1000), text);
    if (len)
        str_copy(r->hosts[h].last, text, sizeof(r->hosts[h].last));
    mem_free(text);
}

/* The host path of container path `local` (checked at Create) in
 * instance h's tree. */
static void host_path(struct run *r, int h, const char *local, struct buf *out)
{
    buf_reset(out);
    buf_addf(out, "%s%s", r->hosts[h].tree, local);
}

/* Links every object of each S3Input under its LocalPath: in every
 * instance's tree, or with ShardedByS3Key in one instance's each, dealt
 * round robin as training channels are. */
static int place_inputs(struct run *r)
{
    struct inputs_src src = {r->p->meta, r->p->store, r->job->account, true};
    struct buf dest = BUF_INIT(8192);
    size_t i;
    json_t *in;
    int rc = 0;

    json_array_foreach(json_object_get(r->doc, "ProcessingInputs"), i, in)
    {
        json_t *s3 = json_object_get(in, "S3Input");
        const char *dist = jstr(s3, "S3DataDistributionType");
        bool sharded = dist && strcmp(dist, "ShardedByS3Key") == 0;
        struct keylist l = {0};
        char bucket[64];
        rc = inputs_resolve(&src, s3, &l, bucket, sizeof(bucket), &r->d);
        for (size_t k = 0; !rc && k < l.n * (size_t)r->n; k++) {
            size_t key = k / (size_t)r->n;
            int h = (int)(k % (size_t)r->n);
            if (!fsx_safe_relpath(l.rel[key]) ||
                (sharded && launch_shard_host(key, l.n, r->n) != h))
                continue;
            host_path(r, h, jstr(s3, "LocalPath"), &dest);
            buf_addf(&dest, "/%s", l.rel[key]);
            fsx_make_parents(dest.data, strlen(r->hosts[h].tree));
            rc = objstore_link_object(r->p->store, bucket, l.keys[key],
                                      buf_cstr(&dest), &r->d);
        }
        keys_free(&l);
        if (rc) {
            diag_wrap(&r->d, rc, "");
            break;
        }
        log_info("event=processing_input job=%s input=%s", r->job->name,
                 jstr(in, "InputName"));
    }
    buf_release(&dest);
    return rc;
}

/* Puts each output's files under its S3Uri (S3UploadMode EndOfJob; a
 * Continuous output is uploaded at the end too), every instance's in
 * turn: a later instance's file replaces an earlier one's of the same
 * name, as the instances of a SageMaker job write to one prefix. */
static int upload_outputs(struct run *r)
{
    struct inputs_src src = {r->p->meta, r->p->store, r->job->account, false};
    struct buf dir = BUF_INIT(8192);
    size_t i;
    json_t *o;
    int rc = 0;

    json_array_foreach(
        json_object_get(json_object_get(r->doc, "ProcessingOutputConfig"),
                        "Outputs"),
        i, o)
    {
        json_t *s3 = json_object_get(o, "S3Output");
        size_t files = 0;
        for (int h = 0; !rc && h < r->n; h++) {
            host_path(r, h, jstr(s3, "LocalPath"), &dir);
            rc = inputs_upload_dir(&src, buf_cstr(&dir), jstr(s3, "S3Uri"),
                                   NULL, NULL, &files, &r->d);
        }
        if (rc)
            break;
        log_info("event=processing_output job=%s output=%s files=%zu",
                 r->job->name, jstr(o, "OutputName"), files);
    }
    buf_release(&dir);
    return rc;
}

/* Dimension `name` of a metrics-file datum, or NULL. */
static const char *dimension(json_t *datum, const char *name)
{
    size_t i;
    json_t *dim;
    json_array_foreach(json_object_get(datum, "Dimensions"), i, dim)
    {
        if (json_is_string(json_object_get(dim, "Name")) &&
            strcmp(jstr(dim, "Name"), name) == 0)
            return jstr(dim, "Value");
    }
    return NULL;
}

/* One datum of the metrics file as the row CloudWatch keeps; false when
 * the line is not a datum with both dimensions. */
static bool metric_row(json_t *m, struct meta_emetric *e)
{
    json_t *sv = json_object_get(m, "StatisticValues");
    const char *when = jstr(m, "Timestamp");
    double ts = 0;

    e->name = jstr(m, "MetricName");
    e->endpoint = dimension(m, "Endpoint");
    e->variant = dimension(m, "MonitoringSchedule");
    if (!e->name || !*e->name || strlen(e->name) > 255 || !e->endpoint ||
        !e->variant || !when || tm_parse_iso(when, &ts) != 0)
        return false;
    e->minute = (int64_t)(ts / 60);
    if (json_is_number(json_object_get(m, "Value"))) {
        e->n = 1;
        e->sum = e->min = e->max =
            json_number_value(json_object_get(m, "Value"));
        return true;
    }
    e->n = json_number_value(json_object_get(sv, "SampleCount"));
    e->sum = json_number_value(json_object_get(sv, "Sum"));
    e->min = json_number_value(json_object_get(sv, "Minimum"));
    e->max = json_number_value(json_object_get(sv, "Maximum"));
    return json_is_object(sv) && e->n > 0 && e->min <= e->max;
}

/*
 * Publishes what the image wrote to /opt/ml/output/metrics/cloudwatch, as
 * SageMaker does for Model Monitor: each line a PutMetricData datum with
 * the Endpoint and MonitoringSchedule dimensions, kept in CloudWatch's
 * aws/sagemaker/Endpoints/data-metrics namespace. A line that is not one
 * is skipped.
 */
static void publish_metrics(struct run *r)
{
    struct buf path = BUF_INIT(4096);
    char *line = xmalloc(METRIC_LINE);
    size_t added = 0, skipped = 0;

    host_path(r, 0, METRICS_FILE, &path);
    FILE *f = fopen(buf_cstr(&path), "r");
    buf_release(&path);
    while (f && fgets(line, METRIC_LINE, f) && added + skipped < MAX_METRICS) {
        json_t *m = json_loads(line, 0, NULL);
        struct meta_emetric e = {.account = r->job->account,
                                 .ns = META_DATA_METRICS_NS};
        if (metric_row(m, &e) && meta_emetric_add(r->p->meta, &e) == 0)
            added++;
        else
            skipped++;
        json_decref(m);
    }
    mem_free(line);
    if (!f)
        return;
    fclose(f);
    char msg[160];
    snprintf(msg, sizeof(msg),
             "Published %zu CloudWatch metric(s) to " META_DATA_METRICS_NS "%s",
             added, skipped ? "; skipped lines that were not metrics" : "");
    log_line(r, 0, msg, strlen(msg));
}

/* Why the analyzer must stop now: "Stopped" (asked to, or kiln stops) or
 * "MaxRuntimeExceeded"; NULL while it may run. */
static const char *must_stop(void *ctx)
{
    struct run *r = ctx;
    double max_runtime = json_number_value(json_object_get(
        json_object_get(r->doc, "StoppingCondition"), "MaxRuntimeInSeconds"));
    if (jobset_stopping(r->job) || jobset_shutdown(r->job))
        return "Stopped";
    if (max_runtime > 0 && tm_now() - r->start > max_runtime)
        return "MaxRuntimeExceeded";
    return NULL;
}

static void on_line(void *ctx, size_t child, const char *line, size_t len)
{
    log_line(ctx, (int)child, line, len);
}

/* The files SageMaker gives every processing container:
 * /opt/ml/config/processingjobconfig.json (the job's description) and
 * resourceconfig.json (which instance it is, of which). */
static int write_config(struct run *r, int h)
{
    struct buf p = BUF_INIT(8192);
    json_t *res = json_object(), *hosts = json_array();
    char name[32];
    int rc = 0;

    for (int k = 1; k <= r->n; k++) {
        snprintf(name, sizeof(name), "algo-%d", k);
        json_array_append_new(hosts, json_string(name));
    }
    snprintf(name, sizeof(name), "algo-%d", h + 1);
    json_object_set_new(res, "current_host", json_string(name));
    json_object_set_new(res, "hosts", hosts);
    buf_addf(&p, "%s/opt/ml/config/", r->hosts[h].tree);
    fsx_make_parents(p.data, strlen(r->hosts[h].tree));
    buf_adds(&p, "processingjobconfig.json");
    if (json_dump_file(r->doc, buf_cstr(&p), JSON_INDENT(2)) != 0)
        rc = KILN_EIO;
    buf_reset(&p);
    buf_addf(&p, "%s/opt/ml/config/resourceconfig.json", r->hosts[h].tree);
    if (!rc && json_dump_file(res, buf_cstr(&p), 0) != 0)
        rc = KILN_EIO;
    if (rc)
        diag_set(&r->d, rc, "cannot write %s", buf_cstr(&p));
    json_decref(res);
    buf_release(&p);
    return rc;
}

/*
 * A processing container: the job's ContainerEntrypoint (else the image's
 * ENTRYPOINT) and ContainerArguments (else the image's CMD) under
 * bubblewrap, with the job's /opt/ml (inputs and config read-only: input
 * files are links to the object store's blobs) and either a loaded
 * image's root file system (image: its Env first) or this machine's
 * programs.
 */
static int script_argv(struct run *r, int h, const struct image *image,
                       struct strv *argv)
{
    json_t *app = json_object_get(r->doc, "AppSpecification");
    json_t *net = json_object_get(r->doc, "NetworkConfig");
    json_t *cfg = image ? image->config : NULL;
    json_t *entry = json_object_get(app, "ContainerEntrypoint");
    json_t *args = json_object_get(app, "ContainerArguments");
    const char *workdir = json_string_value(json_object_get(cfg, "WorkingDir"));
    struct strv cmd = STRV_INIT, ro = STRV_INIT;
    struct buf tree = BUF_INIT(8192);
    char **out = NULL, hostname[32];
    size_t i;
    json_t *x;
    int rc;

    json_array_foreach(entry ? entry : json_object_get(cfg, "Entrypoint"), i, x)
        strv_add(&cmd, json_string_value(x));
    json_array_foreach(args ? args : json_object_get(cfg, "Cmd"), i, x)
        strv_add(&cmd, json_string_value(x));

    strv_add(&ro, "config");
    json_array_foreach(json_object_get(r->doc, "ProcessingInputs"), i, x)
    {
        /* LocalPath is under /opt/ml/processing/ (checked at Create). */
        const char *local = jstr(json_object_get(x, "S3Input"), "LocalPath");
        if (local && str_starts(local, SANDBOX_ROOT "/"))
            strv_add(&ro, local + strlen(SANDBOX_ROOT "/"));
    }
    buf_addf(&tree, "%s" SANDBOX_ROOT, r->hosts[h].tree);
    for (i = 0; i < ro.n; i++) {
        struct buf dir = BUF_INIT(8192);
        buf_addf(&dir, "%s/%s/", buf_cstr(&tree), ro.items[i]);
        fsx_make_parents(dir.data, strlen(r->hosts[h].tree));
        buf_release(&dir);
    }
    snprintf(hostname, sizeof(hostname), "algo-%d", h + 1);
    struct sandbox_plan plan = {
        .bwrap = r->p->bwrap,
        .rootfs = image ? buf_cstr(&image->rootfs) : NULL,
        .tree = buf_cstr(&tree),
        .read_only = strv_argv(&ro),
        .hostname = hostname,
        .hosts_file = r->hosts_file[0] ? r->hosts_file : NULL,
        .chdir = workdir && *workdir ? workdir : "/",
        .network =
            !json_is_true(json_object_get(net, "EnableNetworkIsolation")) ||
            r->netns >= 0,
        .cmd = strv_argv(&cmd),
    };
    rc = sandbox_argv(&plan, &out);
    if (rc)
        diag_set(&r->d, rc,
                 "ClientError: the job has no ContainerEntrypoint and its "
                 "image no ENTRYPOINT or CMD");
    else
        strv_addv(argv, (const char *const *)out);
    strv_free_argv(out);
    strv_release(&cmd);
    strv_release(&ro);
    buf_release(&tree);
    return rc;
}

/* Runs the built-in analyzer, or the script or image on every instance,
 * the first to fail stopping the others; 0, or the diag says why it
 * failed. */
static int run_image(struct run *r, const char *dir, const char **why)
{
    json_t *app = json_object_get(r->doc, "AppSpecification");
    bool script = !processing_builtin_image(jstr(app, "ImageUri"));
    struct strv env = STRV_INIT;
    struct image image = {0};
    bool loaded = script && image_find(r->p->data_dir, jstr(app, "ImageUri"),
                                       &image, NULL) == 0;
    struct proc *ps = xcalloc((size_t)r->n, sizeof(*ps));
    size_t n = (size_t)r->n, failed = n;
    const char *k;
    json_t *v;
    int rc = 0;

    for (size_t h = 0; h < n; h++)
        proc_init(&ps[h]);
    if (script && !loaded && !json_object_get(app, "ContainerEntrypoint"))
        rc = diag_set(&r->d, KILN_EINVAL,
                      "ClientError: kiln has no image %s: load it with `kiln "
                      "admin images load` (a `docker save` archive), or give "
                      "a ContainerEntrypoint to run with this machine's "
                      "programs.",
                      jstr(app, "ImageUri"));
    strv_addf(&env, "PROCESSING_JOB_NAME=%s", r->job->name);
    strv_addf(&env, "AWS_REGION=%s", r->p->region);
    strv_add(&env, "PATH=/usr/local/bin:/usr/bin:/bin");
    if (rc) {
        /* reported below */
    } else if (script) {
        strv_addv(&env,
                  (const char *const[]){loaded ? "HOME=/root" : "HOME=/tmp",
                                        "PYTHONUNBUFFERED=TRUE", NULL});
        /* The image's Env over ours, the request's over both. */
        json_t *x;
        size_t i;
        json_array_foreach(json_object_get(image.config, "Env"), i, x)
        {
            if (json_is_string(x) && strchr(json_string_value(x), '='))
                strv_setenv(&env, json_string_value(x));
        }
        if (access(r->p->bwrap, X_OK) != 0)
            rc = diag_set(&r->d, KILN_EIO,
                          "InternalServerError: script processing needs "
                          "bubblewrap at %s (apt-get install bubblewrap)",
                          r->p->bwrap);
        if (!rc)
            rc = sandbox_hosts_prepare(
                dir, r->n, loaded ? buf_cstr(&image.rootfs) : NULL, &r->slot,
                r->hosts_file, sizeof(r->hosts_file), &r->d);
        /* Isolated instances still reach each other: one network for
         * all of them (without CAP_SYS_ADMIN, one each). */
        if (!rc && n > 1 &&
            json_is_true(
                json_object_get(json_object_get(r->doc, "NetworkConfig"),
                                "EnableNetworkIsolation")) &&
            (r->netns = sandbox_netns_new()) < 0)
            log_warn("event=processing_netns_failed job=%s err=%s",
                     r->job->name, strerror(errno));
    } else {
        strv_addf(&env, "KILN_PROCESSING_ROOT=%s", r->hosts[0].tree);
    }
    json_object_foreach(json_object_get(r->doc, "Environment"), k, v)
    {
        struct buf kv = BUF_INIT(64 * 1024);
        buf_addf(&kv, "%s=%s", k, json_string_value(v));
        strv_setenv(&env, buf_cstr(&kv));
        buf_release(&kv);
    }
    for (size_t h = 0; !rc && h < n; h++) {
        struct strv argv = STRV_INIT;
        if (script)
            rc = script_argv(r, (int)h, loaded ? &image : NULL, &argv);
        else
            strv_addv(&argv,
                      (const char *const[]){r->p->exe, "algo", "model-monitor",
                                            "analyze", NULL});
        if (!rc)
            rc = write_config(r, (int)h);
        ps[h].netns_fd = r->netns;
        if (!rc)
            rc = proc_start(&ps[h], strv_argv(&argv), strv_argv(&env),
                            r->hosts[h].tree, &r->d);
        strv_release(&argv);
    }
    if (!rc) {
        struct proc_pump o = {.max_line = MAX_LOG_LINE,
                              .grace = STOP_GRACE,
                              .check = must_stop,
                              .line = on_line,
                              .ctx = r,
                              .fail_together = true,
                              .first_failure = &failed};
        proc_pump(ps, n, &o, why);
        failed = proc_wait_all(ps, n, failed);
        const char *last = failed < n ? r->hosts[failed].last : "";
        if (*why && strcmp(*why, "MaxRuntimeExceeded") == 0)
            rc = diag_set(&r->d, KILN_EINVAL,
                          "ClientError: The processing job ran past its "
                          "MaxRuntimeInSeconds.");
        else if (failed < n && !*why)
            rc = diag_set(
                &r->d, KILN_EINVAL, "%s%s",
                str_starts(last, "ClientError: ") ? "" : "AlgorithmError: ",
                last[0] ? last : "the container exited with an error");
        r->failed = failed < n ? (int)failed : 0;
    }
    for (size_t h = 0; h < n; h++)
        proc_release(&ps[h]);
    mem_free(ps);
    if (r->netns >= 0)
        close(r->netns);
    strv_release(&env);
    image_release(&image);
    return rc;
}

static void run_job(struct job *job)
{
    struct processor *p = job->ctx;
    struct run r = {.job = job, .p = p, .slot = -1, .netns = -1};
    struct buf dir = BUF_INIT(4096), out = BUF_INIT(8192);
    const char *why = NULL;
    char *body = NULL;
    size_t i;
    json_t *o;

    if (meta_res_get(p->meta, job->account, TYPE, job->name, &body) != 0)
        return;
    r.doc = json_loads(body, 0, NULL);
    mem_free(body);
    if (!r.doc)
        return;
    r.start = tm_now();
    json_object_set_new(r.doc, "ProcessingStartTime", json_real(r.start));
    save(&r, "InProgress", "InProgress");
    log_info("event=processing_start job=%s", job->name);

    json_t *cluster = json_object_get(
        json_object_get(r.doc, "ProcessingResources"), "ClusterConfig");
    int count =
        (int)json_integer_value(json_object_get(cluster, "InstanceCount"));
    /* The analyzer reads all it needs once, on one instance. */
    r.n = count < 1 ||
                  processing_builtin_image(jstr(
                      json_object_get(r.doc, "AppSpecification"), "ImageUri"))
              ? 1
              : count;
    r.hosts = xcalloc((size_t)r.n, sizeof(*r.hosts));
    buf_addf(&dir, "%s/%s-%s", p->root, job->account, job->name);
    fsx_remove_tree(buf_cstr(&dir));
    mkdir(buf_cstr(&dir), 0700);
    for (int h = 0; h < r.n; h++) {
        snprintf(r.hosts[h].tree, sizeof(r.hosts[h].tree), "%s/algo-%d",
                 buf_cstr(&dir), h + 1);
        mkdir(r.hosts[h].tree, 0755);
        snprintf(r.hosts[h].stream, sizeof(r.hosts[h].stream),
                 "%s/algo-%d-%lld", job->name, h + 1, (long long)r.start);
    }
    int rc = place_inputs(&r);
    json_array_foreach(
        json_object_get(json_object_get(r.doc, "ProcessingOutputConfig"),
                        "Outputs"),
        i, o)
    {
        for (int h = 0; h < r.n; h++) {
            host_path(&r, h, jstr(json_object_get(o, "S3Output"), "LocalPath"),
                      &out);
            buf_adds(&out, "/");
            fsx_make_parents(out.data, strlen(r.hosts[h].tree));
        }
    }
    if (!rc)
        rc = run_image(&r, buf_cstr(&dir), &why);
    if (!rc && !why)
        rc = upload_outputs(&r);
    if (!rc && !why)
        publish_metrics(&r);
    double end = tm_now();

    const char *status = "Completed";
    if (jobset_shutdown(job)) {
        status = NULL; /* runs again at the next start */
    } else if (jobset_stopping(job)) {
        status = "Stopped";
    } else if (rc) {
        status = "Failed";
        str_utf8_fix(r.d.msg, strlen(r.d.msg));
        json_object_set_new(r.doc, "FailureReason", json_string(r.d.msg));
        json_object_set_new(r.doc, "ExitMessage", json_string(r.d.msg));
        log_line(&r, r.failed, r.d.msg, strlen(r.d.msg));
    }
    if (status) {
        int64_t secs = (int64_t)(end - r.start + 0.5);
        struct meta_usage u = {
            .account = job->account,
            .arn = jstr(r.doc, "ProcessingJobArn"),
            .kind = "processing",
            .instance_type = jstr(cluster, "InstanceType"),
            .instance_count = count,
            .start = r.start,
            .end = end,
            .billable_seconds = (secs < 1 ? 1 : secs) * count,
        };
        meta_usage_add(p->meta, &u);
        json_object_set_new(r.doc, "ProcessingEndTime", json_real(end));
        save(&r, status, NULL);
    }
    log_info("event=processing_end job=%s status=%s", job->name,
             status ? status : "interrupted");
    fsx_remove_tree(buf_cstr(&dir));
    sandbox_slot_give(r.slot);
    mem_free(r.hosts);
    buf_release(&dir);
    buf_release(&out);
    json_decref(r.doc);
}

int processor_start(void *pv, const char *account, const char *name)
{
    struct processor *p = pv;
    return jobset_start(p->jobs, account, name);
}

int processor_stop(void *pv, const char *account, const char *name)
{
    struct processor *p = pv;
    return jobset_stop_recorded(p->jobs, &p->records, account, name);
}

int processor_new(struct meta *meta, struct objstore *store,
                  const char *data_dir, const char *region, const char *bwrap,
                  struct processor **out, struct kiln_diag *d)
{
    struct processor *p = xcalloc(1, sizeof(*p));
    struct buf b = BUF_INIT(4096);

    ssize_t n = readlink("/proc/self/exe", p->exe, sizeof(p->exe) - 1);
    if (n <= 0) {
        mem_free(p);
        return diag_set(d, KILN_EIO, "cannot find kiln's own executable");
    }
    p->exe[n] = '\0';
    p->meta = meta;
    p->store = store;
    p->region = xstrdup(region);
    p->bwrap = xstrdup(bwrap ? bwrap : "/usr/bin/bwrap");
    p->data_dir = xstrdup(data_dir);
    buf_addf(&b, "%s/processing", data_dir);
    p->root = buf_detach(&b, NULL);
    fsx_remove_tree(p->root);
    mkdir(p->root, 0700);
    p->jobs = jobset_new(p, run_job);
    *out = p;
    p->records = (struct jobset_records){meta, TYPE, "ProcessingJobStatus",
                                         "ProcessingEndTime"};
    jobset_recover(p->jobs, &p->records);
    return 0;
}

void processor_free(struct processor *p)
{
    if (!p)
        return;
    jobset_free(p->jobs);
    fsx_remove_tree(p->root);
    mem_free(p->root);
    mem_free(p->region);
    mem_free(p->bwrap);
    mem_free(p->data_dir);
    mem_free(p);
}
