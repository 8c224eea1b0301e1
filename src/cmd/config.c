/*
 * config.c - the option table and the four sources that fill it.
 *
 * Each option has a field offset into struct kiln_config, so one setter
 * serves file, environment and flags alike; strings are owned copies.
 */
#include "cmd/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"

enum opt_type { OPT_STRING, OPT_INT };

struct cfg_option {
    const char *name; /* flag without dashes, config-file key */
    enum opt_type type;
    const char *def; /* default as text; NULL for none */
    long min, max;   /* range for OPT_INT */
    const char *env; /* environment variable */
    bool runtime;    /* may change while the server runs (none yet) */
    size_t offset;   /* into struct kiln_config */
    const char *help;
};

#define OFF(f) offsetof(struct kiln_config, f)

static const struct cfg_option options[] = {
    {.name = "bind",
     .type = OPT_STRING,
     .def = "127.0.0.1",
     .env = "KILN_BIND",
     .offset = OFF(bind),
     .help = "IP address the server listens on."},
    {.name = "port",
     .type = OPT_INT,
     .def = "9000",
     .min = 0,
     .max = 65535,
     .env = "KILN_PORT",
     .offset = OFF(port),
     .help = "TCP port of the one API port (0 picks a free port)."},
    {.name = "data-dir",
     .type = OPT_STRING,
     .def = "./var",
     .env = "KILN_DATA_DIR",
     .offset = OFF(data_dir),
     .help = "Directory holding kiln.db, objects, jobs and endpoints."},
    {.name = "region",
     .type = OPT_STRING,
     .def = "us-east-1",
     .env = "KILN_REGION",
     .offset = OFF(region),
     .help = "Region written into ARNs; requests signed for any region are "
             "accepted."},
    {.name = "s3-domain",
     .type = OPT_STRING,
     .def = "localhost",
     .env = "KILN_S3_DOMAIN",
     .offset = OFF(s3_domain),
     .help = "Requests whose Host is <bucket>.<s3-domain> address that "
             "bucket (virtual-hosted style); path style always works."},
    {.name = "account-id",
     .type = OPT_STRING,
     .def = "000000000000",
     .env = "KILN_ACCOUNT_ID",
     .offset = OFF(account_id),
     .help = "12-digit account id given to keys created without --account."},
    {.name = "log-level",
     .type = OPT_STRING,
     .def = "info",
     .env = "KILN_LOG_LEVEL",
     .offset = OFF(log_level),
     .help = "Lowest level logged: debug, info, warn or error."},
    {.name = "threads",
     .type = OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1024,
     .env = "KILN_THREADS",
     .offset = OFF(threads),
     .help = "HTTP worker threads; 0 means a thread per connection for the "
             "server and two for a model server."},
    {.name = "max-jobs",
     .type = OPT_INT,
     .def = "2",
     .min = 1,
     .max = 256,
     .env = "KILN_MAX_JOBS",
     .offset = OFF(max_jobs),
     .help = "Training jobs that run at the same time; more wait."},
    {.name = "max-training-instances",
     .type = OPT_INT,
     .def = "16",
     .min = 1,
     .max = 4096,
     .env = "KILN_MAX_TRAINING_INSTANCES",
     .offset = OFF(max_training_instances),
     .help = "Most hosts (InstanceCount) of one training job; more is "
             "refused with ResourceLimitExceeded. Without a hostfile each "
             "host is a process on this machine."},
    {.name = "max-endpoint-instances",
     .type = OPT_INT,
     .def = "0",
     .min = 0,
     .max = 100000,
     .env = "KILN_MAX_ENDPOINT_INSTANCES",
     .offset = OFF(max_endpoint_instances),
     .help = "Model-server instances of all endpoints at once; more are "
             "refused with ResourceLimitExceeded. 0 allows one per 64 MiB "
             "of memory (at least 8)."},
    {.name = "stop-grace-seconds",
     .type = OPT_INT,
     .def = "120",
     .min = 0,
     .max = 3600,
     .env = "KILN_STOP_GRACE_SECONDS",
     .offset = OFF(stop_grace),
     .help = "After StopTrainingJob or MaxRuntimeInSeconds, how long a job "
             "has between SIGTERM and SIGKILL (SageMaker gives 120 s)."},
    {.name = "keep-job-dirs",
     .type = OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1,
     .env = "KILN_KEEP_JOB_DIRS",
     .offset = OFF(keep_job_dirs),
     .help = "1 keeps each finished training job's working tree "
             "(<data-dir>/jobs/) for debugging; 0 removes it."},
    {.name = "serve-socket",
     .type = OPT_STRING,
     .def = NULL,
     .env = "KILN_SERVE_SOCKET",
     .offset = OFF(serve_socket),
     .help = "Model servers (`kiln algo NAME serve`): the Unix socket to "
             "answer GET /ping and POST /invocations on."},
    {.name = "serve-port",
     .type = OPT_INT,
     .def = "8080",
     .min = 1,
     .max = 65535,
     .env = "SAGEMAKER_BIND_TO_PORT",
     .offset = OFF(serve_port),
     .help = "Model servers: the loopback port used when no serve-socket "
             "is given (SageMaker's containers listen on 8080)."},
    {.name = "input-dir",
     .type = OPT_STRING,
     .def = "/opt/ml/input",
     .env = "SM_INPUT_DIR",
     .offset = OFF(input_dir),
     .help = "Algorithms (`kiln algo`): the container contract's input "
             "directory (config/ and data/<channel>/)."},
    {.name = "model-dir",
     .type = OPT_STRING,
     .def = "/opt/ml/model",
     .env = "SM_MODEL_DIR",
     .offset = OFF(model_dir),
     .help = "Algorithms: where the model is written (training) or read "
             "(serving)."},
    {.name = "program",
     .type = OPT_STRING,
     .def = NULL,
     .env = "SAGEMAKER_PROGRAM",
     .offset = OFF(program),
     .help = "Script-mode model servers (`kiln algo script serve`): the "
             "entry point whose model_fn, input_fn, predict_fn, output_fn "
             "or transform_fn answer, e.g. train.py."},
    {.name = "submit-directory",
     .type = OPT_STRING,
     .def = "/opt/ml/code",
     .env = "SAGEMAKER_SUBMIT_DIRECTORY",
     .offset = OFF(submit_directory),
     .help = "Script-mode model servers: the directory that holds the "
             "entry point."},
    {.name = "default-invocations-accept",
     .type = OPT_STRING,
     .def = "application/json",
     .env = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT",
     .offset = OFF(default_accept),
     .help = "Script-mode model servers: the answer's type when a request "
             "has no Accept."},
    {.name = "output-dir",
     .type = OPT_STRING,
     .def = "/opt/ml/output",
     .env = "SM_OUTPUT_DIR",
     .offset = OFF(output_dir),
     .help = "Algorithms: where the failure file and output data go."},
    {.name = "mpirun",
     .type = OPT_STRING,
     .def = "/usr/bin/mpirun",
     .env = "KILN_MPIRUN",
     .offset = OFF(mpirun),
     .help = "Training jobs with InstanceCount > 1 run as the ranks of one "
             "Open MPI job started with this mpirun."},
    {.name = "bwrap",
     .type = OPT_STRING,
     .def = "/usr/bin/bwrap",
     .env = "KILN_BWRAP",
     .offset = OFF(bwrap),
     .help = "Script-mode training jobs (a framework estimator's "
             "entry point) run under this bubblewrap, which shows them "
             "only the host's programs and the job's /opt/ml."},
    {.name = "python",
     .type = OPT_STRING,
     .def = "/usr/bin/python3",
     .env = "KILN_PYTHON",
     .offset = OFF(python),
     .help = "The Python that runs script-mode entry points (*.py), "
             "with the packages installed on this machine."},
    {.name = "hostfile",
     .type = OPT_STRING,
     .def = NULL,
     .env = "KILN_HOSTFILE",
     .offset = OFF(hostfile),
     .help = "Open MPI hostfile (one line per worker host, `host "
             "slots=N`): multi-instance jobs run their ranks on those "
             "hosts. Unset: every instance runs on this machine. See "
             "docs/distributed.md."},
    {.name = "mpi-options",
     .type = OPT_STRING,
     .def = NULL,
     .env = "KILN_MPI_OPTIONS",
     .offset = OFF(mpi_options),
     .help = "Extra mpirun options for multi-instance jobs, separated by "
             "blanks, e.g. `--mca btl_tcp_if_include 10.0.0.0/24`."},
    {.name = "cluster-url",
     .type = OPT_STRING,
     .def = NULL,
     .env = "KILN_CLUSTER_URL",
     .offset = OFF(cluster_url),
     .help = "With a hostfile: the URL at which the worker hosts reach this "
             "server (e.g. http://10.0.0.1:9000). Set, each host fetches "
             "its configuration and shard with presigned URLs and sends its "
             "model back, so workers need no shared file system; unset, "
             "workers must see the data directory at the same path."},
    {.name = "host-spec",
     .type = OPT_STRING,
     .def = NULL,
     .env = "KILN_HOST_SPEC",
     .offset = OFF(host_spec),
     .help = "Algorithms: presigned URL of this host's spec on a cluster "
             "machine (set by kiln's launcher)."},
    {.name = "mpi",
     .type = OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1,
     .env = "KILN_MPI",
     .offset = OFF(mpi),
     .help = "Algorithms: 1 when the process is one rank of a "
             "multi-instance job (set by kiln's launcher)."},
    {.name = "price-list",
     .type = OPT_STRING,
     .def = NULL,
     .env = "KILN_PRICE_LIST",
     .offset = OFF(price_list),
     .help = "JSON file of prices in USD per instance-hour, by instance "
             "type: a number, or {\"training\": n, \"hosting\": n, "
             "\"transform\": n, \"processing\": n}. Cost Explorer's "
             "GetCostAndUsage prices "
             "usage with it; a type it does not list costs 0."},
    {.name = "processing-root",
     .type = OPT_STRING,
     .def = NULL,
     .env = "KILN_PROCESSING_ROOT",
     .offset = OFF(processing_root),
     .help = "The Model Monitor analyzer (`kiln algo model-monitor "
             "analyze`): the directory that stands for the container's /, "
             "under which its /opt/ml/processing/ paths are read (set by "
             "kiln's processing jobs)."},
    {.name = "dataset-format",
     .type = OPT_STRING,
     .def = "{\"csv\": {\"header\": true}}",
     .env = "dataset_format",
     .offset = OFF(dataset_format),
     .help = "The analyzer: the dataset's format, {\"csv\": {\"header\": "
             "true|false}} or {\"sagemakerCaptureJson\": {}}."},
    {.name = "dataset-source",
     .type = OPT_STRING,
     .def = NULL,
     .env = "dataset_source",
     .offset = OFF(dataset_source),
     .help = "The analyzer: the directory (every file under it) or file "
             "of the dataset."},
    {.name = "output-path",
     .type = OPT_STRING,
     .def = NULL,
     .env = "output_path",
     .offset = OFF(output_path),
     .help = "The analyzer: the directory statistics.json, "
             "constraints.json or constraint_violations.json go to."},
    {.name = "baseline-statistics",
     .type = OPT_STRING,
     .def = NULL,
     .env = "baseline_statistics",
     .offset = OFF(baseline_statistics),
     .help = "The analyzer: a baseline's statistics.json; with "
             "baseline-constraints, the dataset is checked against it."},
    {.name = "baseline-constraints",
     .type = OPT_STRING,
     .def = NULL,
     .env = "baseline_constraints",
     .offset = OFF(baseline_constraints),
     .help = "The analyzer: a baseline's constraints.json; unset, a "
             "baseline is suggested from the dataset."},
    {.name = "start-time",
     .type = OPT_STRING,
     .def = NULL,
     .env = "start_time",
     .offset = OFF(start_time),
     .help = "The analyzer: the first inference time (ISO 8601) of the "
             "capture records to read."},
    {.name = "end-time",
     .type = OPT_STRING,
     .def = NULL,
     .env = "end_time",
     .offset = OFF(end_time),
     .help = "The analyzer: the inference time (ISO 8601) capture records "
             "must come before."},
    {.name = "publish-cloudwatch-metrics",
     .type = OPT_STRING,
     .def = "Enabled",
     .env = "publish_cloudwatch_metrics",
     .offset = OFF(publish_cloudwatch_metrics),
     .help = "The analyzer: Enabled or Disabled. Enabled, a check of an "
             "endpoint's data against a baseline whose monitoring_config "
             "does not disable emit_metrics writes Model Monitor's "
             "per-feature CloudWatch metrics to "
             "/opt/ml/output/metrics/cloudwatch."},
    {.name = "sagemaker-endpoint-name",
     .type = OPT_STRING,
     .def = NULL,
     .env = "sagemaker_endpoint_name",
     .offset = OFF(sagemaker_endpoint_name),
     .help = "The analyzer: the endpoint whose data it checks (the "
             "metrics' Endpoint dimension)."},
    {.name = "sagemaker-monitoring-schedule-name",
     .type = OPT_STRING,
     .def = NULL,
     .env = "sagemaker_monitoring_schedule_name",
     .offset = OFF(sagemaker_monitoring_schedule_name),
     .help = "The analyzer: the monitoring schedule it runs for (the "
             "metrics' MonitoringSchedule dimension)."},
    {.name = "config",
     .type = OPT_STRING,
     .def = NULL,
     .env = "KILN_CONFIG",
     .offset = OFF(config_file),
     .help = "Configuration file of `key = value` lines."},
};

#define MAX_CONFIG_FILE (1 << 20)

static const struct cfg_option *find(const char *name, size_t len)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(options); i++)
        if (strlen(options[i].name) == len &&
            memcmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

static int validate_value(const struct cfg_option *o, const char *value,
                          struct kiln_diag *d)
{
    if (strcmp(o->name, "account-id") == 0) {
        bool ok = strlen(value) == 12;
        for (const char *p = value; *p && ok; p++)
            ok = *p >= '0' && *p <= '9';
        if (!ok)
            return diag_set(d, KILN_EINVAL,
                            "account-id must be 12 digits, not '%s'", value);
    }
    if (strcmp(o->name, "log-level") == 0 && log_level_parse(value) < 0)
        return diag_set(d, KILN_EINVAL,
                        "log-level must be debug, info, warn or error, not "
                        "'%s'",
                        value);
    if (strcmp(o->name, "region") == 0) {
        bool ok = *value && strlen(value) < 64;
        for (const char *p = value; *p && ok; p++)
            ok = isalnum((unsigned char)*p) || *p == '-';
        if (!ok)
            return diag_set(d, KILN_EINVAL, "region '%s' is not valid", value);
    }
    return 0;
}

static int set_option(struct kiln_config *c, const struct cfg_option *o,
                      const char *value, struct kiln_diag *d)
{
    char *field = (char *)c + o->offset;
    int64_t v;
    int rc;

    if (o->type == OPT_INT) {
        if (parse_i64_str(value, o->min, o->max, &v) != 0)
            return diag_set(d, KILN_EINVAL,
                            "%s must be a whole number from %ld to %ld, not "
                            "'%s'",
                            o->name, o->min, o->max, value);
        *(int *)(void *)field = (int)v;
        return 0;
    }
    rc = validate_value(o, value, d);
    if (rc)
        return rc;
    char **s = (char **)(void *)field;
    mem_free(*s);
    *s = xstrdup(value);
    return 0;
}

void config_init(struct kiln_config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < KILN_ARRAY_LEN(options); i++)
        if (options[i].def)
            KILN_ASSERT(set_option(c, &options[i], options[i].def, NULL) == 0);
}

void config_release(struct kiln_config *c)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(options); i++)
        if (options[i].type == OPT_STRING) {
            char **s = (char **)(void *)((char *)c + options[i].offset);
            mem_free(*s);
            *s = NULL;
        }
}

int config_set(struct kiln_config *c, const char *name, const char *value,
               struct kiln_diag *d)
{
    const struct cfg_option *o = find(name, strlen(name));
    if (!o)
        return diag_set(d, KILN_EINVAL, "unknown option '%s'", name);
    return set_option(c, o, value, d);
}

static size_t trim_len(const char *s, size_t n)
{
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return n;
}

int config_parse_text(struct kiln_config *c, const char *text, size_t len,
                      const char *origin, struct kiln_diag *d)
{
    const char *p = text, *end = text + len;
    int line = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        const char *eq, *k = p;
        char value[4096];
        size_t klen, vlen;
        int rc;

        line++;
        p = nl ? nl + 1 : end;
        while (k < stop && isspace((unsigned char)*k))
            k++;
        if (k == stop || *k == '#')
            continue;
        if (memchr(k, '\0', (size_t)(stop - k)))
            return diag_set(d, KILN_EINVAL, "%s:%d: NUL byte in line", origin,
                            line);
        eq = memchr(k, '=', (size_t)(stop - k));
        if (!eq)
            return diag_set(d, KILN_EINVAL, "%s:%d: expected 'key = value'",
                            origin, line);
        klen = trim_len(k, (size_t)(eq - k));
        const char *v = eq + 1;
        while (v < stop && isspace((unsigned char)*v))
            v++;
        vlen = trim_len(v, (size_t)(stop - v));
        const struct cfg_option *o = find(k, klen);
        if (!o)
            return diag_set(d, KILN_EINVAL, "%s:%d: unknown option '%.*s'",
                            origin, line, (int)(klen > 64 ? 64 : klen), k);
        if (vlen >= sizeof(value))
            return diag_set(d, KILN_EINVAL, "%s:%d: value too long", origin,
                            line);
        memcpy(value, v, vlen);
        value[vlen] = '\0';
        rc = set_option(c, o, value, d);
        if (rc) {
            char inner[sizeof(d->msg)];
            str_copy(inner, d ? d->msg : "", sizeof(inner));
            return diag_set(d, rc, "%s:%d: %s", origin, line, inner);
        }
    }
    return 0;
}

static int load_file(struct kiln_config *c, const char *path,
                     struct kiln_diag *d)
{
    struct buf text = BUF_INIT(MAX_CONFIG_FILE);
    char chunk[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return diag_set(d, KILN_EIO, "cannot read config file '%s': %s", path,
                        strerror(errno));
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        if (buf_add(&text, chunk, (size_t)n) != 0) {
            rc = diag_set(d, KILN_ETOOBIG, "config file '%s' is too large",
                          path);
            break;
        }
    if (n < 0 && !rc)
        rc = diag_set(d, KILN_EIO, "cannot read config file '%s': %s", path,
                      strerror(errno));
    close(fd);
    if (!rc)
        rc = config_parse_text(c, buf_cstr(&text), text.len, path, d);
    buf_release(&text);
    return rc;
}

/* Finds `--name value` or `--name=value` at argv[*i]; advances *i. */
static int flag_at(int argc, char **argv, int *i, const struct cfg_option **o,
                   const char **value, struct kiln_diag *d)
{
    const char *a = argv[*i];
    const char *eq;

    *o = NULL;
    if (!str_starts(a, "--"))
        return 0;
    a += 2;
    eq = strchr(a, '=');
    *o = find(a, eq ? (size_t)(eq - a) : strlen(a));
    if (!*o)
        return 0;
    if (eq) {
        *value = eq + 1;
    } else if (*i + 1 < argc) {
        *value = argv[++*i];
    } else {
        return diag_set(d, KILN_EINVAL, "option --%s needs a value",
                        (*o)->name);
    }
    return 0;
}

int config_load(struct kiln_config *c, int argc, char **argv, int *rest,
                int *nrest, struct kiln_diag *d)
{
    const char *file = getenv("KILN_CONFIG");
    const struct cfg_option *o;
    const char *value;
    int rc;

    *nrest = 0;
    /* The config file named by a flag wins over KILN_CONFIG. */
    for (int i = 0; i < argc; i++) {
        rc = flag_at(argc, argv, &i, &o, &value, d);
        if (rc)
            return rc;
        if (o && strcmp(o->name, "config") == 0)
            file = value;
    }
    if (file) {
        rc = set_option(c, find("config", 6), file, d);
        if (!rc)
            rc = load_file(c, file, d);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < KILN_ARRAY_LEN(options); i++) {
        const char *env = getenv(options[i].env);
        if (!env || strcmp(options[i].name, "config") == 0)
            continue;
        rc = set_option(c, &options[i], env, d);
        if (rc) {
            char inner[sizeof(d->msg)];
            str_copy(inner, d ? d->msg : "", sizeof(inner));
            return diag_set(d, rc, "%s: %s", options[i].env, inner);
        }
    }
    for (int i = 0; i < argc; i++) {
        int at = i;
        rc = flag_at(argc, argv, &i, &o, &value, d);
        if (rc)
            return rc;
        if (!o) {
            rest[(*nrest)++] = at;
            continue;
        }
        rc = set_option(c, o, value, d);
        if (rc)
            return rc;
    }
    return 0;
}

void config_show(const struct kiln_config *c, struct buf *out)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(options); i++) {
        const char *field = (const char *)c + options[i].offset;
        if (options[i].type == OPT_INT) {
            buf_addf(out, "%s = %d\n", options[i].name,
                     *(const int *)(const void *)field);
        } else {
            const char *s = *(char *const *)(const void *)field;
            buf_addf(out, "%s = %s\n", options[i].name, s ? s : "");
        }
    }
}

void config_doc(struct buf *out)
{
    buf_adds(out, "| option | environment | default | description |\n"
                  "| --- | --- | --- | --- |\n");
    for (size_t i = 0; i < KILN_ARRAY_LEN(options); i++) {
        const struct cfg_option *o = &options[i];
        buf_addf(out, "| `--%s` | `%s` | %s%s%s | %s", o->name, o->env,
                 o->def ? "`" : "", o->def ? o->def : "(none)",
                 o->def ? "`" : "", o->help);
        if (o->type == OPT_INT)
            buf_addf(out, " Range %ld to %ld.", o->min, o->max);
        buf_adds(out, " |\n");
    }
}
