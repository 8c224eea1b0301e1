/*
 * analyze.c - `kiln algo model-monitor analyze`: the built-in
 * "sagemaker-model-monitor-analyzer" image of processing jobs, configured
 * as Model Monitor's container is, by environment variables:
 *
 *   dataset_format        {"csv": {"header": true}} or
 *                         {"sagemakerCaptureJson": {...}}
 *   dataset_source        the directory (or file) of the dataset
 *   output_path           where statistics.json and the rest go
 *   baseline_statistics   with baseline_constraints: monitor the dataset
 *   baseline_constraints    against that baseline; without: suggest one
 *   start_time, end_time  capture records to analyze (ISO 8601)
 *   publish_cloudwatch_metrics      Enabled (the default) or Disabled
 *   sagemaker_endpoint_name,        the dimensions of the metrics a
 *   sagemaker_monitoring_schedule_name  check writes to
 *                         /opt/ml/output/metrics/cloudwatch, one JSON
 *                         datum per line (see publish_metrics)
 *
 * Paths are the container's (/opt/ml/processing/...); the runner passes
 * the directory that stands for "/" in KILN_PROCESSING_ROOT.
 */
#include "algos/monitor/analyze.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "algos/algo.h"
#include "algos/monitor/monitor.h"
#include "base/buf.h"
#include "base/fsx.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"

#define FILE_MAX ((size_t)1 << 30)

struct files {
    char **paths;
    size_t n, cap;
};

/* Under a root, a path must stay in it: absolute, no ".." component. */
static int confined(const char *root, const char *name, const char *p,
                    struct kiln_diag *d)
{
    if (!root || !*root || !p)
        return 0;
    bool ok = p[0] == '/';
    for (const char *s = p; ok && (s = strstr(s, "..")) != NULL; s += 2)
        ok = !((s == p || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'));
    return ok ? 0
              : diag_set(d, KILN_EINVAL,
                         "%s must be an absolute path in the container "
                         "without \"..\": '%.200s'",
                         name, p);
}

/* Where container path p is on this host. */
static void host_path(const char *root, const char *p, struct buf *out)
{
    buf_reset(out);
    if (root && *root && p[0] == '/')
        buf_adds(out, root);
    buf_adds(out, p);
}

static void add_file(void *ctx, const char *path, const char *rel)
{
    struct files *f = ctx;
    (void)rel;
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 16;
        f->paths = xrealloc(f->paths, f->cap * sizeof(*f->paths));
    }
    f->paths[f->n++] = xstrdup(path);
}

static int read_file(const char *path, struct buf *out, struct kiln_diag *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char chunk[65536];
    ssize_t n;

    buf_reset(out);
    if (fd < 0)
        return diag_set(d, KILN_EIO, "cannot read %s: %s", path,
                        strerror(errno));
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        if (buf_add(out, chunk, (size_t)n) != 0) {
            close(fd);
            return diag_set(d, KILN_EINVAL, "%s is larger than 1 GiB", path);
        }
    close(fd);
    return n < 0 ? diag_set(d, KILN_EIO, "cannot read %s", path) : 0;
}

static json_t *load_json(const char *root, const char *path,
                         struct kiln_diag *d)
{
    struct buf p = BUF_INIT(8192);
    json_error_t e;
    host_path(root, path, &p);
    json_t *doc = json_load_file(buf_cstr(&p), 0, &e);
    if (!doc)
        diag_set(d, KILN_EINVAL, "cannot read %s: %s", path, e.text);
    buf_release(&p);
    return doc;
}

static int write_json(const char *dir, const char *name, json_t *doc,
                      struct kiln_diag *d)
{
    struct buf p = BUF_INIT(8192);
    buf_addf(&p, "%s/%s", dir, name);
    int rc = json_dump_file(doc, buf_cstr(&p), JSON_INDENT(4)) == 0
                 ? 0
                 : diag_set(d, KILN_EIO, "cannot write %s", name);
    buf_release(&p);
    return rc;
}

static double iso_time(const char *v)
{
    double t = 0;
    return v && tm_parse_iso(v, &t) == 0 ? t : 0;
}

#define METRICS_FILE "/opt/ml/output/metrics/cloudwatch"

/*
 * Writes the check's CloudWatch metrics as Model Monitor's container does
 * for a schedule on an endpoint: unless publish_cloudwatch_metrics or the
 * baseline's emit_metrics is Disabled, one PutMetricData datum per line,
 * stamped with the end of the analysis window (else now) and dimensioned
 * Endpoint and MonitoringSchedule. The processing job publishes them.
 */
static int publish_metrics(const struct monitor_opts *o,
                           const struct mon_table *t, json_t *stats,
                           json_t *cons, struct kiln_diag *d)
{
    const char *emit = json_string_value(json_object_get(
        json_object_get(cons, "monitoring_config"), "emit_metrics"));
    if ((o->publish && strcmp(o->publish, "Disabled") == 0) ||
        (emit && strcmp(emit, "Disabled") == 0) || !o->endpoint ||
        !*o->endpoint || !o->schedule || !*o->schedule)
        return 0;

    char when[TM_ISO_LEN];
    double end = iso_time(o->end_time);
    tm_format_iso(end > 0 ? end : tm_now(), when);
    json_t *dims = json_pack("[{s:s,s:s},{s:s,s:s}]", "Name", "Endpoint",
                             "Value", o->endpoint, "Name", "MonitoringSchedule",
                             "Value", o->schedule);
    json_t *list = mon_metrics(t, stats, cons), *m;
    struct buf p = BUF_INIT(4096);
    size_t i;
    int rc = 0;

    host_path(o->root, METRICS_FILE, &p);
    fsx_make_parents(p.data, o->root ? strlen(o->root) : 0);
    FILE *f = fopen(buf_cstr(&p), "w");
    if (!f)
        rc = diag_set(d, KILN_EIO, "cannot write %s: %s", METRICS_FILE,
                      strerror(errno));
    json_array_foreach(list, i, m)
    {
        if (rc)
            break;
        json_object_set_new(m, "Timestamp", json_string(when));
        json_object_set(m, "Dimensions", dims);
        char *line = json_dumps(m, JSON_COMPACT);
        if (fprintf(f, "%s\n", line) < 0)
            rc = diag_set(d, KILN_EIO, "cannot write %s", METRICS_FILE);
        mem_free(line);
    }
    if (f && fclose(f) != 0 && !rc)
        rc = diag_set(d, KILN_EIO, "cannot write %s", METRICS_FILE);
    if (!rc)
        algo_log("INFO", "Wrote %zu CloudWatch metric(s)",
                 json_array_size(list));
    json_decref(list);
    json_decref(dims);
    buf_release(&p);
    return rc;
}

/* The dataset's format: CSV (with or without header) or capture JSON. */
static int dataset_format(const char *text, bool *capture, bool *header,
                          struct kiln_diag *d)
{
    json_error_t e;
    json_t *f =
        json_loads(text ? text : "{\"csv\": {\"header\": true}}", 0, &e);
    int rc = 0;
    *capture = false;
    *header = true;
    if (json_object_get(f, "sagemakerCaptureJson")) {
        *capture = true;
    } else if (json_is_object(json_object_get(f, "csv"))) {
        json_t *h = json_object_get(json_object_get(f, "csv"), "header");
        *header = h ? json_is_true(h) : true;
    } else {
        rc = diag_set(d, KILN_EINVAL,
                      "dataset_format %s: kiln's analyzer reads \"csv\" "
                      "datasets and \"sagemakerCaptureJson\" capture files.",
                      f ? "is not one kiln reads" : "is not JSON");
    }
    json_decref(f);
    return rc;
}

int monitor_analyze(const struct monitor_opts *o, struct kiln_diag *d)
{
    const char *root = o->root;
    const char *source = o->source;
    const char *output = o->output;
    const char *stats_path = o->statistics;
    const char *cons_path = o->constraints;
    bool capture, header, monitoring = cons_path && *cons_path;
    struct mon_table t;
    struct files files = {0};
    struct buf p = BUF_INIT(8192), data = BUF_INIT(FILE_MAX);
    json_t *stats = NULL, *cons = NULL, *doc = NULL;
    char **names = NULL;
    size_t nnames = 0;
    int rc;

    mon_table_init(&t);
    if (!source || !output) {
        rc = diag_set(d, KILN_EINVAL,
                      "The environment must set dataset_source and "
                      "output_path.");
        goto out;
    }
    rc = confined(root, "dataset_source", source, d);
    if (!rc)
        rc = confined(root, "output_path", output, d);
    if (!rc)
        rc = confined(root, "baseline_statistics", stats_path, d);
    if (!rc)
        rc = confined(root, "baseline_constraints", cons_path, d);
    if (rc)
        goto out;
    rc = dataset_format(o->format, &capture, &header, d);
    if (!rc && monitoring) {
        if (!stats_path || !*stats_path) {
            rc = diag_set(d, KILN_EINVAL,
                          "baseline_constraints wants baseline_statistics "
                          "too.");
            goto out;
        }
        stats = load_json(root, stats_path, d);
        cons = stats ? load_json(root, cons_path, d) : NULL;
        rc = cons ? mon_baseline_names(stats, &names, &nnames, d) : KILN_EINVAL;
        if (!rc)
            mon_table_names(&t, (const char *const *)names, nnames);
    }
    if (rc)
        goto out;
    host_path(root, source, &p);
    fsx_walk(buf_cstr(&p), add_file, &files);
    algo_log("INFO", "Analyzing %zu file(s) of %s (%s)", files.n, source,
             capture  ? "data capture"
             : header ? "CSV with header"
                      : "CSV");
    double start = iso_time(o->start_time), end = iso_time(o->end_time);
    for (size_t i = 0; !rc && i < files.n; i++) {
        rc = read_file(files.paths[i], &data, d);
        if (!rc && capture)
            rc = mon_read_capture(&t, data.data ? data.data : "", data.len,
                                  start, end, d);
        else if (!rc)
            rc = mon_read_csv(&t, data.data ? data.data : "", data.len, header,
                              d);
        if (rc)
            diag_wrap(d, rc, files.paths[i] + (root ? strlen(root) : 0));
    }
    if (rc)
        goto out;
    algo_log("INFO",
             "Read %llu row(s) of %zu column(s); %llu record(s) "
             "skipped",
             (unsigned long long)t.rows, t.ncols,
             (unsigned long long)t.skipped);
    if (t.rows == 0) {
        rc = diag_set(d, KILN_EINVAL, "Job inputs had no data.");
        goto out;
    }
    host_path(root, output, &p);
    mkdir(buf_cstr(&p), 0755);
    doc = mon_statistics(&t);
    rc = write_json(buf_cstr(&p), "statistics.json", doc, d);
    json_decref(doc);
    doc = NULL;
    if (!rc && !monitoring) {
        doc = mon_constraints(&t);
        rc = write_json(buf_cstr(&p), "constraints.json", doc, d);
    } else if (!rc) {
        rc = mon_violations(&t, stats, cons, &doc, d);
        if (!rc)
            rc = write_json(buf_cstr(&p), "constraint_violations.json", doc, d);
        if (!rc)
            algo_log("INFO", "Found %zu violation(s)",
                     json_array_size(json_object_get(doc, "violations")));
        if (!rc)
            rc = publish_metrics(o, &t, stats, cons, d);
    }
    if (!rc)
        algo_log("INFO", "Completed");
out:
    json_decref(doc);
    json_decref(stats);
    json_decref(cons);
    for (size_t i = 0; i < nnames; i++)
        mem_free(names[i]);
    mem_free(names);
    for (size_t i = 0; i < files.n; i++)
        mem_free(files.paths[i]);
    mem_free(files.paths);
    mon_table_release(&t);
    buf_release(&p);
    buf_release(&data);
    return rc;
}
