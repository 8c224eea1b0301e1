/*
 * cloudwatch.c - the endpoint metrics of CloudWatch's AWS/SageMaker
 * namespace: ListMetrics, GetMetricStatistics and GetMetricData over the
 * per-minute figures the hoster records (meta_emetric_*).
 */
#include "api/cloudwatch.h"

#include <math.h>
#include <stdlib.h>

#include "api/hosting.h"
#include "api/query.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "http/awserr.h"
#include "meta/meta.h"

#define XMLNS         "http://monitoring.amazonaws.com/doc/2010-08-01/"
#define MAX_POINTS    1440
#define LIST_DAYS     14 /* ListMetrics: metrics with data this recent */
#define MAX_DIMENSION 10

static const struct {
    const char *name, *unit;
} metrics[] = {
    {"Invocations", "None"},          {"Invocation4XXErrors", "None"},
    {"Invocation5XXErrors", "None"},  {"InvocationsPerInstance", "None"},
    {"ModelLatency", "Microseconds"}, {"OverheadLatency", "Microseconds"},
};

static const char *const statistics[] = {"SampleCount", "Average", "Sum",
                                         "Minimum", "Maximum"};

/* The namespaces kiln keeps, and the two dimensions every metric of one
 * has: the endpoint's metrics, and the data-quality metrics Model Monitor
 * publishes for a monitoring schedule's executions. */
static const struct space {
    const char *ns, *dim1, *dim2;
} spaces[] = {
    {META_EMETRIC_NS, "EndpointName", "VariantName"},
    {META_DATA_METRICS_NS, "Endpoint", "MonitoringSchedule"},
};

static const struct space *space_of(const char *ns)
{
    for (size_t i = 0; ns && i < KILN_ARRAY_LEN(spaces); i++)
        if (strcmp(spaces[i].ns, ns) == 0)
            return &spaces[i];
    return NULL;
}

/* A metric's two dimensions (endpoint: the first, variant: the second). */
struct dims {
    struct buf endpoint, variant;
    bool has_endpoint, has_variant;
};

/* Files dimension `name` = value under the space's two; false for any
 * other name. */
static bool dims_add(struct dims *dm, const struct space *sp, const char *name,
                     const char *value, bool has_value)
{
    if (strcmp(name, sp->dim1) == 0) {
        dm->has_endpoint = has_value;
        buf_adds(&dm->endpoint, value);
    } else if (strcmp(name, sp->dim2) == 0) {
        dm->has_variant = has_value;
        buf_adds(&dm->variant, value);
    } else {
        return false;
    }
    return true;
}

/* The query's <prefix>Dimensions.member.N, the two of namespace sp; false
 * when another dimension is named, or sp is NULL. */
static bool read_dims(const char *params, size_t len, const char *prefix,
                      const struct space *sp, struct dims *dm)
{
    struct buf name = BUF_INIT(256), value = BUF_INIT(1024);
    char key[160];
    bool ok = sp != NULL;

    for (int i = 1; ok && i <= MAX_DIMENSION; i++) {
        snprintf(key, sizeof(key), "%sDimensions.member.%d.Name", prefix, i);
        if (!query_param(params, len, key, &name))
            break;
        snprintf(key, sizeof(key), "%sDimensions.member.%d.Value", prefix, i);
        bool has_value = query_param(params, len, key, &value);
        ok = dims_add(dm, sp, buf_cstr(&name), buf_cstr(&value), has_value);
    }
    buf_release(&name);
    buf_release(&value);
    return ok;
}

static void dims_release(struct dims *dm)
{
    buf_release(&dm->endpoint);
    buf_release(&dm->variant);
}

/* The unit of a metric of namespace sp; NULL for a metric kiln has none
 * of. Model Monitor's feature metrics have no unit. */
static const char *unit_of(const struct space *sp, const char *metric)
{
    if (sp && strcmp(sp->ns, META_DATA_METRICS_NS) == 0)
        return strncmp(metric, "feature_", 8) == 0 ? "None" : NULL;
    for (size_t i = 0; sp && i < KILN_ARRAY_LEN(metrics); i++)
        if (strcmp(metrics[i].name, metric) == 0)
            return metrics[i].unit;
    return NULL;
}

/* ---- ListMetrics ---------------------------------------------------- */

struct listing {
    struct buf *out;
    struct buf last; /* the metric listed last */
};

static int list_row(void *ctx, const struct meta_emetric *e)
{
    struct listing *l = ctx;
    const struct space *sp = space_of(e->ns);
    size_t mark = l->out->len;

    if (!sp)
        return 0;
    buf_addf(l->out, "<member><Namespace>%s</Namespace><MetricName>", sp->ns);
    awserr_xml_escape(l->out, e->name);
    buf_addf(l->out, "</MetricName><Dimensions><member><Name>%s</Name><Value>",
             sp->dim1);
    awserr_xml_escape(l->out, e->endpoint);
    buf_addf(l->out, "</Value></member><member><Name>%s</Name><Value>",
             sp->dim2);
    awserr_xml_escape(l->out, e->variant);
    buf_adds(l->out, "</Value></member></Dimensions></member>");
    /* One member per metric, not per minute: drop a repeat. */
    if (l->last.len == l->out->len - mark &&
        memcmp(l->last.data, l->out->data + mark, l->last.len) == 0) {
        l->out->len = mark;
        l->out->data[mark] = '\0';
    } else {
        buf_reset(&l->last);
        buf_add(&l->last, l->out->data + mark, l->out->len - mark);
    }
    return 0;
}

static int list_metrics(const struct api_ctx *c, const char *params, size_t len,
                        struct buf *out, struct kiln_diag *d)
{
    struct buf ns = BUF_INIT(1024), name = BUF_INIT(1024);
    bool any_ns = !query_param(params, len, "Namespace", &ns);
    bool named = query_param(params, len, "MetricName", &name);
    struct listing l = {.out = out, .last = BUF_INIT(1024)};

    (void)d;
    buf_adds(out, "<ListMetricsResponse xmlns=\"" XMLNS "\">"
                  "<ListMetricsResult><Metrics>");
    for (size_t i = 0; i < KILN_ARRAY_LEN(spaces); i++) {
        const struct space *sp = &spaces[i];
        struct dims dm = {BUF_INIT(1024), BUF_INIT(1024), false, false};
        int64_t now = (int64_t)(tm_now() / 60);
        /* Dimensions of the other namespace's metrics match none here. */
        if ((any_ns || strcmp(buf_cstr(&ns), sp->ns) == 0) &&
            read_dims(params, len, "", sp, &dm)) {
            struct meta_emetric want = {
                .account = c->account,
                .ns = sp->ns,
                .name = named ? buf_cstr(&name) : NULL,
                .endpoint = dm.has_endpoint ? buf_cstr(&dm.endpoint) : NULL,
                .variant = dm.has_variant ? buf_cstr(&dm.variant) : NULL};
            meta_emetric_each(c->meta, &want, now - LIST_DAYS * 24 * 60,
                              now + 1, list_row, &l);
        }
        dims_release(&dm);
    }
    buf_addf(out,
             "</Metrics></ListMetricsResult><ResponseMetadata><RequestId>%s"
             "</RequestId></ResponseMetadata></ListMetricsResponse>",
             c->request_id);
    buf_release(&ns);
    buf_release(&name);
    buf_release(&l.last);
    return 0;
}

/* ---- one metric's points, period by period ------------------------- */

struct point {
    double n, sum, min, max;
};

static double stat_value(const struct point *p, size_t stat)
{
    double vals[] = {p->n, p->sum / p->n, p->sum, p->min, p->max};
    return vals[stat];
}

typedef void (*point_fn)(void *ctx, int64_t at, const struct point *p);

struct series {
    int64_t first, period; /* seconds */
    int64_t index;         /* the period `cur` sums, -1 before the first */
    struct point cur;
    point_fn fn;
    void *ctx;
};

static int series_row(void *ctx, const struct meta_emetric *e)
{
    struct series *s = ctx;
    int64_t at = e->minute * 60 - s->first;
    if (at < 0)
        return 0;
    int64_t i = at / s->period;
    if (i != s->index) {
        if (s->index >= 0)
            s->fn(s->ctx, s->first + s->index * s->period, &s->cur);
        s->index = i;
        s->cur = (struct point){e->n, e->sum, e->min, e->max};
        return 0;
    }
    if (e->min < s->cur.min)
        s->cur.min = e->min;
    if (e->max > s->cur.max)
        s->cur.max = e->max;
    s->cur.n += e->n;
    s->cur.sum += e->sum;
    return 0;
}

/* Calls fn, oldest first, for each period from `first` (seconds, a whole
 * minute) to `end` in which metric `name` of namespace `ns` has data for
 * the dimensions dm. The metrics kiln keeps have both dimensions: a query
 * naming fewer or others matches nothing, as in CloudWatch. */
static void series_each(const struct api_ctx *c, const char *ns,
                        const char *name, const struct dims *dm, int64_t first,
                        double end, int64_t period, point_fn fn, void *ctx)
{
    struct series s = {first, period, -1, {0, 0, 0, 0}, fn, ctx};
    const struct space *sp = space_of(ns);

    if (!unit_of(sp, name) || !dm->has_endpoint || !dm->has_variant)
        return;
    struct meta_emetric w = {.account = c->account,
                             .ns = sp->ns,
                             .name = name,
                             .endpoint = buf_cstr(&dm->endpoint),
                             .variant = buf_cstr(&dm->variant)};
    meta_emetric_each(c->meta, &w, first / 60, ((int64_t)ceil(end) + 59) / 60,
                      series_row, &s);
    if (s.index >= 0)
        fn(ctx, first + s.index * period, &s.cur);
}

static int missing(const char *param, struct kiln_diag *d)
{
    return diag_set(d, KILN_EMISSINGPARAM, "The parameter %s is required.",
                    param);
}

/* StartTime and EndTime, both required, the first before the second. */
static int read_times(const char *params, size_t len, double *start,
                      double *end, struct kiln_diag *d)
{
    struct buf v = BUF_INIT(256);
    int rc = 0;

    if (!query_param(params, len, "StartTime", &v))
        rc = missing("StartTime", d);
    else if (tm_parse_iso(buf_cstr(&v), start) != 0)
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter StartTime must be an ISO 8601 time.");
    else if (!query_param(params, len, "EndTime", &v))
        rc = missing("EndTime", d);
    else if (tm_parse_iso(buf_cstr(&v), end) != 0)
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter EndTime must be an ISO 8601 time.");
    else if (*end <= *start)
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter StartTime must be less than the "
                      "parameter EndTime.");
    buf_release(&v);
    return rc;
}

/* A period in seconds: whole minutes only, as kiln keeps them. */
static int read_period(const char *params, size_t len, const char *param,
                       int64_t *period, struct kiln_diag *d)
{
    struct buf v = BUF_INIT(64);
    char *stop;
    int rc = 0;

    if (!query_param(params, len, param, &v)) {
        rc = missing(param, d);
    } else {
        *period = strtoll(buf_cstr(&v), &stop, 10);
        if (*stop || !buf_cstr(&v)[0] || *period < 60 || *period % 60 != 0)
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter %s must be a multiple of 60 (kiln "
                          "keeps metrics by the minute).",
                          param);
    }
    buf_release(&v);
    return rc;
}

/* ---- GetMetricStatistics ------------------------------------------- */

struct stats_out {
    struct buf *out;
    const bool *want;
    const char *unit;
};

static void stats_point(void *ctx, int64_t at, const struct point *p)
{
    struct stats_out *o = ctx;
    char when[TM_ISO_LEN];

    tm_format_iso((double)at, when);
    buf_addf(o->out, "<member><Timestamp>%s</Timestamp>", when);
    for (size_t k = 0; k < KILN_ARRAY_LEN(statistics); k++)
        if (o->want[k])
            buf_addf(o->out, "<%s>%.17g</%s>", statistics[k], stat_value(p, k),
                     statistics[k]);
    buf_addf(o->out, "<Unit>%s</Unit></member>", o->unit);
}

static int get_statistics(const struct api_ctx *c, const char *params,
                          size_t len, struct buf *out, struct kiln_diag *d)
{
    struct buf ns = BUF_INIT(1024), name = BUF_INIT(1024), v = BUF_INIT(1024);
    struct dims dm = {BUF_INIT(1024), BUF_INIT(1024), false, false};
    bool want[KILN_ARRAY_LEN(statistics)] = {false};
    double start = 0, end = 0;
    int64_t period = 0;
    char key[64];
    int rc = 0;

    if (!query_param(params, len, "Namespace", &ns))
        rc = missing("Namespace", d);
    else if (!query_param(params, len, "MetricName", &name))
        rc = missing("MetricName", d);
    else if (!(rc = read_times(params, len, &start, &end, d)))
        rc = read_period(params, len, "Period", &period, d);
    bool any = false;
    for (int i = 1; !rc && i <= 5; i++) {
        snprintf(key, sizeof(key), "Statistics.member.%d", i);
        if (!query_param(params, len, key, &v))
            break;
        bool known = false;
        for (size_t k = 0; k < KILN_ARRAY_LEN(statistics); k++)
            if (strcmp(buf_cstr(&v), statistics[k]) == 0)
                want[k] = known = true;
        if (!known)
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter Statistics.member.%d must be one of "
                          "SampleCount, Average, Sum, Minimum, Maximum.",
                          i);
        any = true;
    }
    if (!rc && !any)
        rc = diag_set(d, KILN_EINVAL,
                      "Must specify either Statistics or ExtendedStatistics "
                      "(kiln keeps no percentiles, so Statistics).");
    int64_t first = (int64_t)floor(start / 60) * 60;
    int64_t npoints =
        rc ? 0 : ((int64_t)ceil(end) - first + period - 1) / period;
    if (!rc && npoints > MAX_POINTS)
        rc = diag_set(d, KILN_EINVAL,
                      "You have requested up to %lld datapoints, which "
                      "exceeds the limit of %d. You may reduce the "
                      "datapoints requested by increasing Period, or "
                      "decreasing the time range.",
                      (long long)npoints, MAX_POINTS);
    if (rc)
        goto out;

    const struct space *sp = space_of(buf_cstr(&ns));
    struct stats_out o = {out, want, unit_of(sp, buf_cstr(&name))};
    buf_adds(out, "<GetMetricStatisticsResponse xmlns=\"" XMLNS "\">"
                  "<GetMetricStatisticsResult><Datapoints>");
    if (read_dims(params, len, "", sp, &dm))
        series_each(c, buf_cstr(&ns), buf_cstr(&name), &dm, first, end, period,
                    stats_point, &o);
    buf_adds(out, "</Datapoints><Label>");
    awserr_xml_escape(out, buf_cstr(&name));
    buf_addf(out,
             "</Label></GetMetricStatisticsResult><ResponseMetadata>"
             "<RequestId>%s</RequestId></ResponseMetadata>"
             "</GetMetricStatisticsResponse>",
             c->request_id);
out:
    buf_release(&ns);
    buf_release(&name);
    buf_release(&v);
    dims_release(&dm);
    return rc;
}

/* ---- GetMetricData ------------------------------------------------- */

#define MAX_QUERIES        500
#define DEFAULT_DATAPOINTS 100800
#define TOKEN_PREFIX       "kiln-offset-"

/* ScanBy (TimestampDescending unless TimestampAscending) and NextToken
 * (a position in the answer's items, 0 without one) of GetMetricData and
 * DescribeAlarmHistory. */
static int read_paging(const char *params, size_t len, bool *ascending,
                       long long *offset, struct kiln_diag *d)
{
    struct buf v = BUF_INIT(256);
    char *stop = NULL;
    int rc = 0;

    if (query_param(params, len, "ScanBy", &v)) {
        *ascending = strcmp(buf_cstr(&v), "TimestampAscending") == 0;
        if (!*ascending && strcmp(buf_cstr(&v), "TimestampDescending") != 0)
            rc = diag_set(d, KILN_EVALIDATION,
                          "The parameter ScanBy must be TimestampDescending "
                          "or TimestampAscending.");
    }
    if (!rc && query_param(params, len, "NextToken", &v)) {
        const char *t = buf_cstr(&v);
        *offset = str_starts(t, TOKEN_PREFIX)
                      ? strtoll(t + strlen(TOKEN_PREFIX), &stop, 10)
                      : -1;
        if (*offset < 0 || !stop || *stop)
            rc = diag_set(d, KILN_EBADTOKEN, "The NextToken is not valid.");
    }
    buf_release(&v);
    return rc;
}

/* One of MetricDataQueries, with its points oldest first. */
struct mdq {
    char id[256];
    struct buf label;
    size_t stat; /* index in statistics */
    bool returned;
    size_t n, cap;
    int64_t *at;
    double *v;
};

static void mdq_point(void *ctx, int64_t at, const struct point *p)
{
    struct mdq *q = ctx;
    if (q->n == q->cap) {
        q->cap = q->cap ? 2 * q->cap : 64;
        q->at = xrealloc(q->at, q->cap * sizeof(*q->at));
        q->v = xrealloc(q->v, q->cap * sizeof(*q->v));
    }
    q->at[q->n] = at;
    q->v[q->n++] = stat_value(p, q->stat);
}

static bool id_valid(const char *id)
{
    size_t n = strlen(id);
    return n > 0 && n <= 255 && id[0] >= 'a' && id[0] <= 'z' &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789_") == n;
}

/* Reads MetricDataQueries.member.<i> into q and gathers its points. */
static int read_query(const struct api_ctx *c, const char *params, size_t len,
                      int i, double start, double end, struct mdq *q,
                      const struct mdq *before, struct kiln_diag *d)
{
    struct buf ns = BUF_INIT(1024), name = BUF_INIT(1024), v = BUF_INIT(1024);
    struct dims dm = {BUF_INIT(1024), BUF_INIT(1024), false, false};
    char prefix[64], key[160];
    int64_t period = 0;
    int rc = 0;

    snprintf(prefix, sizeof(prefix), "MetricDataQueries.member.%d.", i);
#define PARAM(suffix, out)                                                     \
    (snprintf(key, sizeof(key), "%s%s", prefix, suffix),                       \
     query_param(params, len, key, out))
    PARAM("Id", &v);
    str_copy(q->id, buf_cstr(&v), sizeof(q->id));
    if (!id_valid(buf_cstr(&v)))
        rc = diag_set(d, KILN_EVALIDATION,
                      "The value %.255s for parameter %sId is not matching "
                      "the expected pattern ^[a-z][a-zA-Z0-9_]*$.",
                      buf_cstr(&v), prefix);
    for (const struct mdq *o = before; !rc && o < q; o++)
        if (strcmp(o->id, q->id) == 0)
            rc = diag_set(d, KILN_EVALIDATION,
                          "The value %s for parameter MetricDataQueries is "
                          "not unique.",
                          q->id);
    if (!rc && PARAM("Expression", &v))
        rc = diag_set(d, KILN_EVALIDATION,
                      "The parameter %sExpression is not supported: kiln "
                      "does not evaluate metric math; use MetricStat.",
                      prefix);
    if (!rc && !PARAM("MetricStat.Metric.Namespace", &ns))
        rc = missing("MetricStat.Metric.Namespace", d);
    if (!rc && !PARAM("MetricStat.Metric.MetricName", &name))
        rc = missing("MetricStat.Metric.MetricName", d);
    if (!rc) {
        snprintf(key, sizeof(key), "%sMetricStat.Period", prefix);
        rc = read_period(params, len, key, &period, d);
    }
    if (!rc && !PARAM("MetricStat.Stat", &v))
        rc = missing("MetricStat.Stat", d);
    if (!rc) {
        q->stat = KILN_ARRAY_LEN(statistics);
        for (size_t k = 0; k < KILN_ARRAY_LEN(statistics); k++)
            if (strcmp(buf_cstr(&v), statistics[k]) == 0)
                q->stat = k;
        if (q->stat == KILN_ARRAY_LEN(statistics))
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter %sMetricStat.Stat must be one of "
                          "SampleCount, Average, Sum, Minimum, Maximum (kiln "
                          "keeps no percentiles).",
                          prefix);
    }
    q->returned = true;
    if (!rc && PARAM("ReturnData", &v))
        q->returned = strcmp(buf_cstr(&v), "false") != 0;
    if (!rc && !PARAM("Label", &q->label))
        buf_adds(&q->label, buf_cstr(&name));
    /* A unit other than the metric's matches no data, as in CloudWatch. */
    const struct space *sp = space_of(buf_cstr(&ns));
    const char *unit = unit_of(sp, buf_cstr(&name));
    bool unit_ok = !PARAM("MetricStat.Unit", &v) ||
                   (unit && strcmp(buf_cstr(&v), unit) == 0);
    snprintf(key, sizeof(key), "%sMetricStat.Metric.", prefix);
    if (!rc && unit_ok && read_dims(params, len, key, sp, &dm))
        series_each(c, buf_cstr(&ns), buf_cstr(&name), &dm,
                    (int64_t)floor(start / 60) * 60, end, period, mdq_point, q);
#undef PARAM
    buf_release(&ns);
    buf_release(&name);
    buf_release(&v);
    dims_release(&dm);
    return rc;
}

static int get_data(const struct api_ctx *c, const char *params, size_t len,
                    struct buf *out, struct kiln_diag *d)
{
    struct buf v = BUF_INIT(256);
    struct mdq *q = xcalloc(MAX_QUERIES, sizeof(*q));
    double start = 0, end = 0;
    long long max = DEFAULT_DATAPOINTS, offset = 0, total = 0;
    bool ascending = false;
    char key[64], *stop;
    int nq = 0, rc = read_times(params, len, &start, &end, d);

    if (!rc)
        rc = read_paging(params, len, &ascending, &offset, d);
    if (!rc && query_param(params, len, "MaxDatapoints", &v)) {
        max = strtoll(buf_cstr(&v), &stop, 10);
        if (*stop || !buf_cstr(&v)[0] || max < 1)
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter MaxDatapoints must be a positive "
                          "integer.");
        if (max > DEFAULT_DATAPOINTS) /* a call's most, as in CloudWatch */
            max = DEFAULT_DATAPOINTS;
    }
    for (int i = 1; !rc && i <= MAX_QUERIES + 1; i++) {
        snprintf(key, sizeof(key), "MetricDataQueries.member.%d.Id", i);
        if (!query_param(params, len, key, &v))
            break;
        if (i > MAX_QUERIES) {
            rc = diag_set(d, KILN_EVALIDATION,
                          "The collection MetricDataQueries must not have "
                          "more than %d members.",
                          MAX_QUERIES);
            break;
        }
        buf_init(&q[nq].label, 1024);
        rc = read_query(c, params, len, i, start, end, &q[nq], q, d);
        nq++;
    }
    if (!rc && nq == 0)
        rc = missing("MetricDataQueries", d);
    if (rc)
        goto out;

    for (int i = 0; i < nq; i++)
        total += q[i].returned ? (long long)q[i].n : 0;
    if (offset > total) {
        rc = diag_set(d, KILN_EBADTOKEN, "The NextToken is not valid.");
        goto out;
    }
    /* The page is points [offset, offset + max) of the returned queries'
     * points in order, each query's in ScanBy's order. */
    long long seen = 0, page_end = offset + max;
    buf_adds(out, "<GetMetricDataResponse xmlns=\"" XMLNS "\">"
                  "<GetMetricDataResult><MetricDataResults>");
    for (int i = 0; i < nq; i++) {
        if (!q[i].returned)
            continue;
        struct buf ts = BUF_INIT(64u << 20), vals = BUF_INIT(64u << 20);
        for (size_t k = 0; k < q[i].n; k++, seen++) {
            if (seen < offset || seen >= page_end)
                continue;
            size_t j = ascending ? k : q[i].n - 1 - k;
            char when[TM_ISO_LEN];
            tm_format_iso((double)q[i].at[j], when);
            buf_addf(&ts, "<member>%s</member>", when);
            buf_addf(&vals, "<member>%.17g</member>", q[i].v[j]);
        }
        buf_addf(out, "<member><Id>%s</Id><Label>", q[i].id);
        awserr_xml_escape(out, buf_cstr(&q[i].label));
        buf_addf(out,
                 "</Label><Timestamps>%s</Timestamps><Values>%s</Values>"
                 "<StatusCode>%s</StatusCode><Messages/></member>",
                 buf_cstr(&ts), buf_cstr(&vals),
                 seen > page_end ? "PartialData" : "Complete");
        buf_release(&ts);
        buf_release(&vals);
    }
    buf_adds(out, "</MetricDataResults>");
    if (page_end < total)
        buf_addf(out, "<NextToken>" TOKEN_PREFIX "%lld</NextToken>", page_end);
    buf_addf(out,
             "<Messages/></GetMetricDataResult><ResponseMetadata><RequestId>"
             "%s</RequestId></ResponseMetadata></GetMetricDataResponse>",
             c->request_id);
out:
    for (int i = 0; i < nq; i++) {
        buf_release(&q[i].label);
        mem_free(q[i].at);
        mem_free(q[i].v);
    }
    mem_free(q);
    buf_release(&v);
    return rc;
}

/* ---- alarms ---------------------------------------------------------- */

#define ALARM           "alarm" /* the meta_res type */
#define MAX_ALARM_NAMES 100
#define ALARM_TOKEN     "kiln-after:"

static const char *const states[] = {"OK", "ALARM", "INSUFFICIENT_DATA"};
static const char *const operators[] = {
    "GreaterThanOrEqualToThreshold", "GreaterThanThreshold",
    "LessThanThreshold", "LessThanOrEqualToThreshold"};
static const char *const treatments[] = {"missing", "breaching", "notBreaching",
                                         "ignore"};

static int index_of(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return (int)i;
    return -1;
}

/* An integer parameter in [min, max]: 0 with *out set (left alone when
 * absent and not required), or the error. */
static int read_int(const char *params, size_t len, const char *param,
                    bool required, long long min, long long max, long long *out,
                    struct kiln_diag *d)
{
    struct buf v = BUF_INIT(64);
    char *stop;
    int rc = 0;

    if (!query_param(params, len, param, &v)) {
        rc = required ? missing(param, d) : 0;
    } else {
        long long n = strtoll(buf_cstr(&v), &stop, 10);
        if (*stop || !buf_cstr(&v)[0] || n < min || n > max)
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter %s must be an integer from %lld to "
                          "%lld.",
                          param, min, max);
        else
            *out = n;
    }
    buf_release(&v);
    return rc;
}

/* Parameters kiln does not act on, refused by name rather than kept and
 * ignored. */
static int alarm_unsupported(const char *params, size_t len,
                             struct kiln_diag *d)
{
    static const char *const refused[][2] = {
        {"Metrics.member.1.Id", "metric math alarms (Metrics)"},
        {"ExtendedStatistic", "percentiles (ExtendedStatistic): kiln keeps "
                              "none"},
        {"ThresholdMetricId", "anomaly detection (ThresholdMetricId)"},
        {"AlarmActions.member.1", "AlarmActions: kiln has no SNS, Auto "
                                  "Scaling or EC2 actions"},
        {"OKActions.member.1", "OKActions: kiln has no SNS, Auto Scaling or "
                               "EC2 actions"},
        {"InsufficientDataActions.member.1",
         "InsufficientDataActions: kiln has no SNS, Auto Scaling or EC2 "
         "actions"},
        {"Tags.member.1.Key", "tags on alarms"},
    };
    struct buf v = BUF_INIT(4096);
    int rc = 0;

    for (size_t i = 0; !rc && i < KILN_ARRAY_LEN(refused); i++)
        if (query_param(params, len, refused[i][0], &v))
            rc = diag_set(d, KILN_EVALIDATION,
                          "kiln does not support %s; alarms here change "
                          "state, are listed and roll back endpoint "
                          "deployments.",
                          refused[i][1]);
    buf_release(&v);
    return rc;
}

static json_t *alarm_load(struct meta *m, const char *account, const char *name)
{
    return hosting_doc(m, account, ALARM, name);
}

static const char *jtext(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int alarm_store(struct meta *m, const char *account, json_t *doc,
                       const char *expect, bool insert, struct kiln_diag *d)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    double now = tm_now();
    struct meta_res r = {.account = account,
                         .type = ALARM,
                         .name = jtext(doc, "AlarmName"),
                         .arn = jtext(doc, "AlarmArn"),
                         .status = jtext(doc, "StateValue"),
                         .created = now,
                         .modified = now,
                         .body = body,
                         .expect = expect};
    int rc = insert ? meta_res_insert(m, &r, d) : meta_res_save(m, &r);
    mem_free(body);
    return rc;
}

/* An alarm keeps its last HISTORY_MAX history items in its document
 * ("History"), for DescribeAlarmHistory; `data` is the item's
 * HistoryData (stolen). */
#define HISTORY_MAX 100
static void history_add(json_t *doc, const char *type, const char *summary,
                        json_t *data)
{
    json_t *list = json_object_get(doc, "History"), *item = json_object();
    char when[TM_ISO_LEN], *text = json_dumps(data, JSON_COMPACT);

    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(doc, "History", list);
    }
    tm_format_iso(tm_now(), when);
    json_object_set_new(item, "Timestamp", json_string(when));
    json_object_set_new(item, "HistoryItemType", json_string(type));
    json_object_set_new(item, "HistorySummary", json_string(summary));
    json_object_set_new(item, "HistoryData", json_string(text ? text : "{}"));
    json_array_append_new(list, item);
    while (json_array_size(list) > HISTORY_MAX)
        json_array_remove(list, 0);
    mem_free(text);
    json_decref(data);
}

static json_t *state_of(const char *value, const char *reason)
{
    json_t *o = json_object();
    json_object_set_new(o, "stateValue", json_string(value));
    json_object_set_new(o, "stateReason", json_string(reason));
    return o;
}

static void set_state(json_t *doc, const char *state, const char *reason,
                      const char *data)
{
    char when[TM_ISO_LEN];
    tm_format_iso(tm_now(), when);
    if (strcmp(jtext(doc, "StateValue"), state) != 0 &&
        json_object_get(doc, "StateValue")) {
        char summary[128];
        json_t *h = json_object();
        json_object_set_new(h, "version", json_string("1.0"));
        json_object_set_new(
            h, "oldState",
            state_of(jtext(doc, "StateValue"), jtext(doc, "StateReason")));
        json_object_set_new(h, "newState", state_of(state, reason));
        snprintf(summary, sizeof(summary), "Alarm updated from %s to %s",
                 jtext(doc, "StateValue"), state);
        history_add(doc, "StateUpdate", summary, h);
    }
    if (strcmp(jtext(doc, "StateValue"), state) != 0)
        json_object_set_new(doc, "StateTransitionedTimestamp",
                            json_string(when));
    json_object_set_new(doc, "StateValue", json_string(state));
    json_object_set_new(doc, "StateReason", json_string(reason));
    if (data)
        json_object_set_new(doc, "StateReasonData", json_string(data));
    else
        json_object_del(doc, "StateReasonData");
    json_object_set_new(doc, "StateUpdatedTimestamp", json_string(when));
}

/* A ConfigurationUpdate history item: `type` "Create" or "Update". */
static void config_history(json_t *doc, const char *type)
{
    char summary[320];
    json_t *h = json_object();
    json_object_set_new(h, "version", json_string("1.0"));
    json_object_set_new(h, "type", json_string(type));
    snprintf(summary, sizeof(summary), "Alarm \"%.255s\" %s",
             jtext(doc, "AlarmName"),
             strcmp(type, "Create") == 0 ? "created" : "updated");
    history_add(doc, "ConfigurationUpdate", summary, h);
}

static int put_alarm(const struct api_ctx *c, const char *params, size_t len,
                     struct buf *out, struct kiln_diag *d)
{
    struct buf name = BUF_INIT(1024), ns = BUF_INIT(1024),
               metric = BUF_INIT(1024), v = BUF_INIT(2048), w = BUF_INIT(2048);
    long long periods = 0, to_alarm = 0;
    int64_t period = 0;
    double threshold = 0;
    char key[64], *stop;
    json_t *doc = NULL, *dims = json_array(), *old = NULL;
    int rc = alarm_unsupported(params, len, d);

    if (rc)
        goto out;
    if (!query_param(params, len, "AlarmName", &name))
        rc = missing("AlarmName", d);
    else if (name.len > 255 || !str_utf8_valid(name.data, name.len))
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter AlarmName must be 1 to 255 characters.");
    else if (!query_param(params, len, "Namespace", &ns))
        rc = missing("Namespace", d);
    else if (!query_param(params, len, "MetricName", &metric))
        rc = missing("MetricName", d);
    else if (!query_param(params, len, "Statistic", &v))
        rc = missing("Statistic", d);
    else if (index_of(buf_cstr(&v), statistics, KILN_ARRAY_LEN(statistics)) < 0)
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter Statistic must be one of SampleCount, "
                      "Average, Sum, Minimum, Maximum.");
    else if (!(rc = read_period(params, len, "Period", &period, d)) &&
             !(rc = read_int(params, len, "EvaluationPeriods", true, 1, 100000,
                             &periods, d))) {
        to_alarm = periods;
        rc = read_int(params, len, "DatapointsToAlarm", false, 1, periods,
                      &to_alarm, d);
    }
    if (!rc && periods * period > (period >= 3600 ? 604800 : 86400))
        rc = diag_set(d, KILN_EVALIDATION,
                      "The evaluation period (Period times "
                      "EvaluationPeriods) must be at most %d seconds.",
                      period >= 3600 ? 604800 : 86400);
    if (!rc && !query_param(params, len, "Threshold", &w))
        rc = missing("Threshold", d);
    if (!rc) {
        threshold = strtod(buf_cstr(&w), &stop);
        if (*stop || !w.len || !isfinite(threshold))
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter Threshold must be a number.");
    }
    if (!rc && !query_param(params, len, "ComparisonOperator", &w))
        rc = missing("ComparisonOperator", d);
    if (!rc && index_of(buf_cstr(&w), operators, KILN_ARRAY_LEN(operators)) < 0)
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter ComparisonOperator must be one of "
                      "GreaterThanOrEqualToThreshold, GreaterThanThreshold, "
                      "LessThanThreshold, LessThanOrEqualToThreshold (kiln "
                      "has no anomaly detection).");
    if (rc)
        goto out;

    char arn[512], when[TM_ISO_LEN];
    snprintf(arn, sizeof(arn), "arn:aws:cloudwatch:%s:%s:alarm:%s", c->region,
             c->account, buf_cstr(&name));
    tm_format_iso(tm_now(), when);
    doc = json_object();
    json_object_set_new(doc, "AlarmName", json_string(buf_cstr(&name)));
    json_object_set_new(doc, "AlarmArn", json_string(arn));
    json_object_set_new(doc, "AlarmConfigurationUpdatedTimestamp",
                        json_string(when));
    json_object_set_new(doc, "Namespace", json_string(buf_cstr(&ns)));
    json_object_set_new(doc, "MetricName", json_string(buf_cstr(&metric)));
    json_object_set_new(doc, "Statistic", json_string(buf_cstr(&v)));
    json_object_set_new(doc, "Period", json_integer(period));
    json_object_set_new(doc, "EvaluationPeriods", json_integer(periods));
    json_object_set_new(doc, "DatapointsToAlarm", json_integer(to_alarm));
    json_object_set_new(doc, "Threshold", json_real(threshold));
    json_object_set_new(doc, "ComparisonOperator", json_string(buf_cstr(&w)));
    json_object_set_new(doc, "TreatMissingData", json_string("missing"));
    json_object_set_new(doc, "ActionsEnabled", json_true());
    if (query_param(params, len, "TreatMissingData", &v)) {
        if (index_of(buf_cstr(&v), treatments, KILN_ARRAY_LEN(treatments)) <
            0) {
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter TreatMissingData must be one of "
                          "missing, breaching, notBreaching, ignore.");
            goto out;
        }
        json_object_set_new(doc, "TreatMissingData", json_string(buf_cstr(&v)));
    }
    if (query_param(params, len, "ActionsEnabled", &v))
        json_object_set_new(doc, "ActionsEnabled",
                            json_boolean(strcmp(buf_cstr(&v), "false") != 0));
    static const struct {
        const char *name;
        size_t max;
    } texts[] = {{"AlarmDescription", 1024}, {"Unit", 64}};
    for (size_t i = 0; i < KILN_ARRAY_LEN(texts); i++) {
        if (!query_param(params, len, texts[i].name, &v))
            continue;
        if (v.len > texts[i].max || !str_utf8_valid(v.data, v.len)) {
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter %s must be at most %zu characters.",
                          texts[i].name, texts[i].max);
            goto out;
        }
        json_object_set_new(doc, texts[i].name, json_string(buf_cstr(&v)));
    }
    for (int i = 1; i <= 31; i++) {
        snprintf(key, sizeof(key), "Dimensions.member.%d.Name", i);
        if (!query_param(params, len, key, &v))
            break;
        snprintf(key, sizeof(key), "Dimensions.member.%d.Value", i);
        if (i == 31 || !query_param(params, len, key, &w) ||
            !str_utf8_valid(v.data, v.len) || !str_utf8_valid(w.data, w.len)) {
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter Dimensions must be at most 30 "
                          "name and value pairs.");
            goto out;
        }
        json_t *dim = json_object();
        json_object_set_new(dim, "Name", json_string(buf_cstr(&v)));
        json_object_set_new(dim, "Value", json_string(buf_cstr(&w)));
        json_array_append_new(dims, dim);
    }
    json_object_set(doc, "Dimensions", dims);

    /* A new alarm starts INSUFFICIENT_DATA; an update keeps its state. */
    old = alarm_load(c->meta, c->account, buf_cstr(&name));
    if (old) {
        static const char *const kept[] = {"StateValue",
                                           "StateReason",
                                           "StateReasonData",
                                           "StateUpdatedTimestamp",
                                           "StateTransitionedTimestamp",
                                           "History"};
        for (size_t i = 0; i < KILN_ARRAY_LEN(kept); i++)
            if (json_object_get(old, kept[i]))
                json_object_set(doc, kept[i], json_object_get(old, kept[i]));
        config_history(doc, "Update");
        rc = alarm_store(c->meta, c->account, doc, NULL, false, d);
    } else {
        set_state(doc, "INSUFFICIENT_DATA", "Unchecked: Initial alarm creation",
                  NULL);
        config_history(doc, "Create");
        rc = alarm_store(c->meta, c->account, doc, NULL, true, d);
        if (rc == KILN_EINUSE) /* created meanwhile: this one wins */
            rc = alarm_store(c->meta, c->account, doc, NULL, false, d);
    }
    if (!rc)
        buf_addf(out,
                 "<PutMetricAlarmResponse xmlns=\"" XMLNS
                 "\"><ResponseMetadata>"
                 "<RequestId>%s</RequestId></ResponseMetadata>"
                 "</PutMetricAlarmResponse>",
                 c->request_id);
out:
    json_decref(doc);
    json_decref(dims);
    json_decref(old);
    buf_release(&name);
    buf_release(&ns);
    buf_release(&metric);
    buf_release(&v);
    buf_release(&w);
    return rc;
}

/* The AlarmNames.member.N of a request, in `names` (a JSON array):
 * KILN_EINVAL past the most a call takes. */
static int read_names(const char *params, size_t len, json_t *names,
                      struct kiln_diag *d)
{
    struct buf v = BUF_INIT(1024);
    char key[64];
    int rc = 0;

    for (int i = 1;; i++) {
        snprintf(key, sizeof(key), "AlarmNames.member.%d", i);
        if (!query_param(params, len, key, &v))
            break;
        if (i > MAX_ALARM_NAMES) {
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter AlarmNames must have at most %d "
                          "members.",
                          MAX_ALARM_NAMES);
            break;
        }
        json_array_append_new(names, json_string(buf_cstr(&v)));
    }
    buf_release(&v);
    return rc;
}

static void xml_text(struct buf *out, const char *tag, const char *value)
{
    buf_addf(out, "<%s>", tag);
    awserr_xml_escape(out, value);
    buf_addf(out, "</%s>", tag);
}

static void alarm_xml(struct buf *out, json_t *a)
{
    static const char *const texts[] = {"AlarmName",
                                        "AlarmArn",
                                        "AlarmDescription",
                                        "AlarmConfigurationUpdatedTimestamp",
                                        "StateValue",
                                        "StateReason",
                                        "StateReasonData",
                                        "StateUpdatedTimestamp",
                                        "StateTransitionedTimestamp",
                                        "MetricName",
                                        "Namespace",
                                        "Statistic",
                                        "Unit",
                                        "ComparisonOperator",
                                        "TreatMissingData"};
    size_t i;
    json_t *dim;

    buf_adds(out, "<member>");
    for (i = 0; i < KILN_ARRAY_LEN(texts); i++)
        if (json_object_get(a, texts[i]))
            xml_text(out, texts[i], jtext(a, texts[i]));
    buf_addf(out,
             "<ActionsEnabled>%s</ActionsEnabled><OKActions/><AlarmActions/>"
             "<InsufficientDataActions/><Dimensions>",
             json_is_false(json_object_get(a, "ActionsEnabled")) ? "false"
                                                                 : "true");
    json_array_foreach(json_object_get(a, "Dimensions"), i, dim)
    {
        buf_adds(out, "<member>");
        xml_text(out, "Name", jtext(dim, "Name"));
        xml_text(out, "Value", jtext(dim, "Value"));
        buf_adds(out, "</member>");
    }
    buf_addf(
        out,
        "</Dimensions><Period>%lld</Period><EvaluationPeriods>%lld"
        "</EvaluationPeriods><DatapointsToAlarm>%lld</DatapointsToAlarm>"
        "<Threshold>%.17g</Threshold></member>",
        (long long)json_integer_value(json_object_get(a, "Period")),
        (long long)json_integer_value(json_object_get(a, "EvaluationPeriods")),
        (long long)json_integer_value(json_object_get(a, "DatapointsToAlarm")),
        json_number_value(json_object_get(a, "Threshold")));
}

struct alarm_list {
    struct meta *meta;
    const char *account;
    json_t *found; /* name -> document */
};

static int list_alarm(void *ctx, const char *account, const char *name)
{
    struct alarm_list *l = ctx;
    json_t *doc;
    if (strcmp(account, l->account) != 0)
        return 0;
    if ((doc = alarm_load(l->meta, account, name)))
        json_object_set_new(l->found, name, doc);
    return 0;
}

static int name_order(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Loads the account's alarms named in `names` (a JSON array; empty or
 * NULL: all of them) into l->found, and returns their names sorted
 * (*n of them; mem_free the array, not the names). */
static const char **load_alarms(const struct api_ctx *c, json_t *names,
                                struct alarm_list *l, size_t *n)
{
    const char **order, *k;
    json_t *nm, *doc;
    size_t i;

    if (json_array_size(names)) {
        json_array_foreach(names, i, nm)
            list_alarm(l, c->account, json_string_value(nm));
    } else {
        for (i = 0; i < KILN_ARRAY_LEN(states); i++)
            meta_res_each_status(c->meta, ALARM, states[i], list_alarm, l);
    }
    order = xcalloc(json_object_size(l->found) + 1, sizeof(*order));
    *n = 0;
    json_object_foreach(l->found, k, doc) order[(*n)++] = k;
    qsort(order, *n, sizeof(*order), name_order);
    return order;
}

static int describe_alarms(const struct api_ctx *c, const char *params,
                           size_t len, struct buf *out, struct kiln_diag *d)
{
    struct buf state = BUF_INIT(64), prefix = BUF_INIT(1024),
               token = BUF_INIT(2048), v = BUF_INIT(1024);
    json_t *names = json_array();
    struct alarm_list l = {c->meta, c->account, json_object()};
    long long max = 50;
    const char **order = NULL;
    bool metric_alarms = true;
    int rc = read_names(params, len, names, d);
    size_t n = 0, i;

    if (!rc && query_param(params, len, "StateValue", &state) &&
        index_of(buf_cstr(&state), states, KILN_ARRAY_LEN(states)) < 0)
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter StateValue must be one of OK, ALARM, "
                      "INSUFFICIENT_DATA.");
    if (!rc)
        rc = read_int(params, len, "MaxRecords", false, 1, 100, &max, d);
    if (!rc && query_param(params, len, "NextToken", &token) &&
        !str_starts(buf_cstr(&token), ALARM_TOKEN))
        rc = diag_set(d, KILN_EBADTOKEN, "The NextToken is not valid.");
    if (rc)
        goto out;
    /* AlarmTypes without MetricAlarm, or an ActionPrefix (no alarm here
     * has actions), match none of kiln's alarms. */
    if (query_param(params, len, "AlarmTypes.member.1", &v)) {
        metric_alarms = false;
        for (int k = 1; k <= 2; k++) {
            char key[40];
            snprintf(key, sizeof(key), "AlarmTypes.member.%d", k);
            if (query_param(params, len, key, &v) &&
                strcmp(buf_cstr(&v), "MetricAlarm") == 0)
                metric_alarms = true;
        }
    }
    if (query_param(params, len, "ActionPrefix", &v))
        metric_alarms = false;
    query_param(params, len, "AlarmNamePrefix", &prefix);

    order = load_alarms(c, names, &l, &n);
    json_t *doc;
    buf_adds(out, "<DescribeAlarmsResponse xmlns=\"" XMLNS "\">"
                  "<DescribeAlarmsResult><MetricAlarms>");
    const char *after =
        token.len ? buf_cstr(&token) + strlen(ALARM_TOKEN) : NULL;
    long long shown = 0;
    const char *last = NULL;
    bool more = false;
    for (i = 0; metric_alarms && i < n; i++) {
        doc = json_object_get(l.found, order[i]);
        if ((after && strcmp(order[i], after) <= 0) ||
            !str_starts(order[i], buf_cstr(&prefix)) ||
            (state.len && strcmp(jtext(doc, "StateValue"), buf_cstr(&state))))
            continue;
        if (shown == max) {
            more = true;
            break;
        }
        alarm_xml(out, doc);
        last = order[i];
        shown++;
    }
    buf_adds(out, "</MetricAlarms><CompositeAlarms/>");
    if (more) {
        buf_adds(out, "<NextToken>" ALARM_TOKEN);
        awserr_xml_escape(out, last);
        buf_adds(out, "</NextToken>");
    }
    buf_addf(out,
             "</DescribeAlarmsResult><ResponseMetadata><RequestId>%s"
             "</RequestId></ResponseMetadata></DescribeAlarmsResponse>",
             c->request_id);
out:
    mem_free(order);
    json_decref(l.found);
    json_decref(names);
    buf_release(&state);
    buf_release(&prefix);
    buf_release(&token);
    buf_release(&v);
    return rc;
}

static int delete_alarms(const struct api_ctx *c, const char *params,
                         size_t len, struct buf *out, struct kiln_diag *d)
{
    json_t *names = json_array(), *nm;
    char *body = NULL;
    size_t i;
    int rc = read_names(params, len, names, d);

    if (!rc && json_array_size(names) == 0)
        rc = missing("AlarmNames", d);
    /* All or nothing: an unknown name deletes none. */
    json_array_foreach(names, i, nm)
    {
        if (rc)
            break;
        if (meta_res_get(c->meta, c->account, ALARM, json_string_value(nm),
                         &body) != 0)
            rc = diag_set(d, KILN_ENOALARM, "%.255s not found",
                          json_string_value(nm));
        mem_free(body);
        body = NULL;
    }
    json_array_foreach(names, i, nm)
    {
        if (rc)
            break;
        meta_res_delete(c->meta, c->account, ALARM, json_string_value(nm));
    }
    if (!rc)
        buf_addf(out,
                 "<DeleteAlarmsResponse xmlns=\"" XMLNS "\"><ResponseMetadata>"
                 "<RequestId>%s</RequestId></ResponseMetadata>"
                 "</DeleteAlarmsResponse>",
                 c->request_id);
    json_decref(names);
    return rc;
}

static int set_alarm_state(const struct api_ctx *c, const char *params,
                           size_t len, struct buf *out, struct kiln_diag *d)
{
    struct buf name = BUF_INIT(1024), state = BUF_INIT(64),
               reason = BUF_INIT(1024), data = BUF_INIT(4000);
    json_t *doc = NULL;
    int rc = 0;

    if (!query_param(params, len, "AlarmName", &name))
        rc = missing("AlarmName", d);
    else if (!query_param(params, len, "StateValue", &state))
        rc = missing("StateValue", d);
    else if (index_of(buf_cstr(&state), states, KILN_ARRAY_LEN(states)) < 0)
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter StateValue must be one of OK, ALARM, "
                      "INSUFFICIENT_DATA.");
    else if (!query_param(params, len, "StateReason", &reason))
        rc = missing("StateReason", d);
    else if (!str_utf8_valid(reason.data, reason.len))
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter StateReason must be at most 1023 "
                      "characters.");
    else if (!(doc = alarm_load(c->meta, c->account, buf_cstr(&name))))
        rc = diag_set(d, KILN_ENOALARM, "Alarm %.255s not found",
                      buf_cstr(&name));
    if (!rc && query_param(params, len, "StateReasonData", &data)) {
        json_t *j = json_loadb(data.data, data.len, 0, NULL);
        if (!j)
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter StateReasonData must be JSON.");
        json_decref(j);
    }
    if (!rc) {
        set_state(doc, buf_cstr(&state), buf_cstr(&reason),
                  data.len ? buf_cstr(&data) : NULL);
        rc = alarm_store(c->meta, c->account, doc, NULL, false, d);
        if (rc == KILN_ENOTFOUND) /* deleted meanwhile */
            rc = diag_set(d, KILN_ENOALARM, "Alarm %.255s not found",
                          buf_cstr(&name));
    }
    if (!rc) {
        log_info("event=alarm_state alarm=%s state=%s by=SetAlarmState",
                 buf_cstr(&name), buf_cstr(&state));
        buf_addf(out,
                 "<SetAlarmStateResponse xmlns=\"" XMLNS "\"><ResponseMetadata>"
                 "<RequestId>%s</RequestId></ResponseMetadata>"
                 "</SetAlarmStateResponse>",
                 c->request_id);
    }
    json_decref(doc);
    buf_release(&name);
    buf_release(&state);
    buf_release(&reason);
    buf_release(&data);
    return rc;
}

static int history_order(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    return strcmp(jtext(x, "Timestamp"), jtext(y, "Timestamp"));
}

/* DescribeAlarmHistory: the items the alarms keep (HISTORY_MAX each),
 * newest first unless ScanBy says otherwise. An alarm's history goes
 * with it when it is deleted. */
static int alarm_history(const struct api_ctx *c, const char *params,
                         size_t len, struct buf *out, struct kiln_diag *d)
{
    struct buf name = BUF_INIT(1024), type = BUF_INIT(64), v = BUF_INIT(256);
    struct alarm_list l = {c->meta, c->account, json_object()};
    double from = 0, to = 0;
    long long max = 100, offset = 0;
    bool ascending = false;
    json_t **items = NULL;
    size_t n = 0, cap = 0, i;
    int rc = read_int(params, len, "MaxRecords", false, 1, 100, &max, d);

    if (!rc)
        rc = read_paging(params, len, &ascending, &offset, d);
    if (!rc && query_param(params, len, "StartDate", &v) &&
        tm_parse_iso(buf_cstr(&v), &from) != 0)
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter StartDate must be an ISO 8601 time.");
    if (!rc && query_param(params, len, "EndDate", &v) &&
        tm_parse_iso(buf_cstr(&v), &to) != 0)
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter EndDate must be an ISO 8601 time.");
    if (!rc && query_param(params, len, "HistoryItemType", &type) &&
        strcmp(buf_cstr(&type), "ConfigurationUpdate") != 0 &&
        strcmp(buf_cstr(&type), "StateUpdate") != 0 &&
        strcmp(buf_cstr(&type), "Action") != 0)
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter HistoryItemType must be one of "
                      "ConfigurationUpdate, StateUpdate, Action.");
    if (rc)
        goto out;
    json_t *only = json_array();
    if (query_param(params, len, "AlarmName", &name))
        json_array_append_new(only, json_string_nocheck(buf_cstr(&name)));
    mem_free(load_alarms(c, only, &l, &n));
    json_decref(only);
    n = 0;

    const char *key;
    json_t *doc, *item;
    json_object_foreach(l.found, key, doc)
    {
        json_array_foreach(json_object_get(doc, "History"), i, item)
        {
            double at = 0;
            tm_parse_iso(jtext(item, "Timestamp"), &at);
            if ((type.len &&
                 strcmp(jtext(item, "HistoryItemType"), buf_cstr(&type))) ||
                (from > 0 && at < from) || (to > 0 && at > to))
                continue;
            json_object_set_new(item, "AlarmName", json_string(key));
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                items = xrealloc(items, cap * sizeof(*items));
            }
            items[n++] = item;
        }
    }
    if (n) /* items is NULL without any */
        qsort(items, n, sizeof(*items), history_order);
    buf_adds(out, "<DescribeAlarmHistoryResponse xmlns=\"" XMLNS "\">"
                  "<DescribeAlarmHistoryResult><AlarmHistoryItems>");
    for (long long k = offset; k < (long long)n && k < offset + max; k++) {
        item = items[ascending ? k : (long long)n - 1 - k];
        buf_adds(out, "<member>");
        xml_text(out, "AlarmName", jtext(item, "AlarmName"));
        buf_adds(out, "<AlarmType>MetricAlarm</AlarmType>");
        static const char *const fields[] = {"Timestamp", "HistoryItemType",
                                             "HistorySummary", "HistoryData"};
        for (size_t f = 0; f < KILN_ARRAY_LEN(fields); f++)
            xml_text(out, fields[f], jtext(item, fields[f]));
        buf_adds(out, "</member>");
    }
    buf_adds(out, "</AlarmHistoryItems>");
    if (offset + max < (long long)n)
        buf_addf(out, "<NextToken>" TOKEN_PREFIX "%lld</NextToken>",
                 offset + max);
    buf_addf(out,
             "</DescribeAlarmHistoryResult><ResponseMetadata><RequestId>%s"
             "</RequestId></ResponseMetadata></DescribeAlarmHistoryResponse>",
             c->request_id);
out:
    mem_free(items);
    json_decref(l.found);
    buf_release(&name);
    buf_release(&type);
    buf_release(&v);
    return rc;
}

/* EnableAlarmActions, DisableAlarmActions: ActionsEnabled, kept and
 * shown (kiln's alarms have no actions to run). Names of no alarm are
 * passed over, as CloudWatch does. */
static int alarm_actions(const struct api_ctx *c, const char *params,
                         size_t len, bool enable, struct buf *out,
                         struct kiln_diag *d)
{
    json_t *names = json_array(), *nm;
    size_t i;
    int rc = read_names(params, len, names, d);

    if (!rc && json_array_size(names) == 0)
        rc = missing("AlarmNames", d);
    json_array_foreach(names, i, nm)
    {
        json_t *doc =
            rc ? NULL : alarm_load(c->meta, c->account, json_string_value(nm));
        if (!doc)
            continue;
        json_object_set_new(doc, "ActionsEnabled", json_boolean(enable));
        rc = alarm_store(c->meta, c->account, doc, NULL, false, d);
        if (rc == KILN_ENOTFOUND) /* deleted meanwhile */
            rc = 0;
        json_decref(doc);
    }
    if (!rc)
        buf_addf(out,
                 "<%sAlarmActionsResponse xmlns=\"" XMLNS
                 "\"><ResponseMetadata>"
                 "<RequestId>%s</RequestId></ResponseMetadata>"
                 "</%sAlarmActionsResponse>",
                 enable ? "Enable" : "Disable", c->request_id,
                 enable ? "Enable" : "Disable");
    json_decref(names);
    return rc;
}

static int enable_actions(const struct api_ctx *c, const char *params,
                          size_t len, struct buf *out, struct kiln_diag *d)
{
    return alarm_actions(c, params, len, true, out, d);
}

static int disable_actions(const struct api_ctx *c, const char *params,
                           size_t len, struct buf *out, struct kiln_diag *d)
{
    return alarm_actions(c, params, len, false, out, d);
}

/* DescribeAlarmsForMetric: the alarms on one metric, narrowed by
 * Statistic, Period, Unit and the exact Dimensions when given. */
static int alarms_for_metric(const struct api_ctx *c, const char *params,
                             size_t len, struct buf *out, struct kiln_diag *d)
{
    struct buf ns = BUF_INIT(1024), metric = BUF_INIT(1024), v = BUF_INIT(1024),
               w = BUF_INIT(1024);
    struct alarm_list l = {c->meta, c->account, json_object()};
    const char **order = NULL;
    size_t n = 0, i;
    int rc = 0;

    if (!query_param(params, len, "Namespace", &ns))
        rc = missing("Namespace", d);
    else if (!query_param(params, len, "MetricName", &metric))
        rc = missing("MetricName", d);
    if (rc)
        goto out;
    order = load_alarms(c, NULL, &l, &n);
    json_t *doc;
    buf_adds(out, "<DescribeAlarmsForMetricResponse xmlns=\"" XMLNS "\">"
                  "<DescribeAlarmsForMetricResult><MetricAlarms>");
    for (i = 0; i < n; i++) {
        doc = json_object_get(l.found, order[i]);
        bool match = strcmp(jtext(doc, "Namespace"), buf_cstr(&ns)) == 0 &&
                     strcmp(jtext(doc, "MetricName"), buf_cstr(&metric)) == 0;
        static const char *const narrow[] = {"Statistic", "Unit"};
        for (size_t f = 0; f < KILN_ARRAY_LEN(narrow) && match; f++)
            if (query_param(params, len, narrow[f], &v))
                match = strcmp(jtext(doc, narrow[f]), buf_cstr(&v)) == 0;
        if (match && query_param(params, len, "Period", &v))
            match = json_integer_value(json_object_get(doc, "Period")) ==
                    strtoll(buf_cstr(&v), NULL, 10);
        json_t *dims = json_object_get(doc, "Dimensions");
        if (match && query_param(params, len, "Dimensions.member.1.Name", &v)) {
            size_t given = 0;
            for (int m = 1; m <= 31; m++) {
                char key[64];
                snprintf(key, sizeof(key), "Dimensions.member.%d.Name", m);
                if (!query_param(params, len, key, &v))
                    break;
                snprintf(key, sizeof(key), "Dimensions.member.%d.Value", m);
                query_param(params, len, key, &w);
                bool found = false;
                json_t *dim;
                size_t j;
                json_array_foreach(dims, j, dim)
                {
                    found |= strcmp(jtext(dim, "Name"), buf_cstr(&v)) == 0 &&
                             strcmp(jtext(dim, "Value"), buf_cstr(&w)) == 0;
                }
                match &= found;
                given++;
            }
            match &= given == json_array_size(dims);
        }
        if (match)
            alarm_xml(out, doc);
    }
    buf_addf(out,
             "</MetricAlarms></DescribeAlarmsForMetricResult>"
             "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>"
             "</DescribeAlarmsForMetricResponse>",
             c->request_id);
out:
    mem_free(order);
    json_decref(l.found);
    buf_release(&ns);
    buf_release(&metric);
    buf_release(&v);
    buf_release(&w);
    return rc;
}

/* ---- alarm evaluation ------------------------------------------------ */

struct window {
    int64_t first, period;
    size_t n, stat;
    double *v;
    bool *have;
};

static void window_point(void *ctx, int64_t at, const struct point *p)
{
    struct window *w = ctx;
    size_t i = (size_t)((at - w->first) / w->period);
    if (i < w->n) {
        w->v[i] = stat_value(p, w->stat);
        w->have[i] = true;
    }
}

static bool breaches(double v, const char *op, double threshold)
{
    switch (index_of(op, operators, KILN_ARRAY_LEN(operators))) {
    case 0:
        return v >= threshold;
    case 1:
        return v > threshold;
    case 2:
        return v < threshold;
    default:
        return v <= threshold;
    }
}

static int evaluate(void *ctx, const char *account, const char *name)
{
    struct meta *m = ctx;
    json_t *a = alarm_load(m, account, name);
    if (!a)
        return 0;
    int64_t period = json_integer_value(json_object_get(a, "Period"));
    size_t n =
        (size_t)json_integer_value(json_object_get(a, "EvaluationPeriods"));
    size_t need =
        (size_t)json_integer_value(json_object_get(a, "DatapointsToAlarm"));
    double threshold = json_number_value(json_object_get(a, "Threshold"));
    const char *op = jtext(a, "ComparisonOperator");
    const char *treat = jtext(a, "TreatMissingData");
    double now = tm_now();
    struct window w = {.period = period > 0 ? period : 60, .n = n};
    w.first =
        ((int64_t)floor(now / (double)w.period) - (int64_t)n + 1) * w.period;
    w.stat = (size_t)index_of(jtext(a, "Statistic"), statistics,
                              KILN_ARRAY_LEN(statistics));
    w.v = xcalloc(n ? n : 1, sizeof(*w.v));
    w.have = xcalloc(n ? n : 1, sizeof(*w.have));

    /* The metric's dimensions, if they are the two its namespace's metrics
     * have; other alarms never find data. */
    struct dims dm = {BUF_INIT(1024), BUF_INIT(1024), false, false};
    const struct space *sp = space_of(jtext(a, "Namespace"));
    const char *unit = unit_of(sp, jtext(a, "MetricName"));
    size_t i, others = 0;
    json_t *dim;
    json_array_foreach(json_object_get(a, "Dimensions"), i, dim)
    {
        if (!sp ||
            !dims_add(&dm, sp, jtext(dim, "Name"), jtext(dim, "Value"), true))
            others++;
    }
    struct api_ctx c = {.meta = m, .account = account};
    if (!others && w.stat < KILN_ARRAY_LEN(statistics) &&
        (!json_object_get(a, "Unit") ||
         strcmp(jtext(a, "Unit"), unit ? unit : "") == 0))
        series_each(&c, jtext(a, "Namespace"), jtext(a, "MetricName"), &dm,
                    w.first, now, w.period, window_point, &w);

    /* Of the last EvaluationPeriods periods (the current one included),
     * DatapointsToAlarm breaching ones set ALARM; missing ones count as
     * TreatMissingData says. */
    size_t breaching = 0, judged = 0, present = 0;
    double latest = 0;
    for (i = 0; i < n; i++) {
        bool bad;
        if (w.have[i]) {
            bad = breaches(w.v[i], op, threshold);
            latest = w.v[i];
            present++;
        } else if (strcmp(treat, "breaching") == 0) {
            bad = true;
        } else if (strcmp(treat, "notBreaching") == 0) {
            bad = false;
        } else {
            continue;
        }
        judged++;
        breaching += bad;
    }
    const char *state = breaching >= need              ? "ALARM"
                        : judged                       ? "OK"
                        : strcmp(treat, "ignore") == 0 ? jtext(a, "StateValue")
                                                       : "INSUFFICIENT_DATA";
    char reason[512];
    if (!judged)
        snprintf(reason, sizeof(reason),
                 "Insufficient Data: %zu datapoints were unknown.", n);
    else
        snprintf(reason, sizeof(reason),
                 "Threshold Crossed: %zu out of the last %zu datapoints "
                 "%s %s the threshold (%g)%s%g.",
                 breaching, n, breaching == 1 ? "was" : "were",
                 index_of(op, operators, KILN_ARRAY_LEN(operators)) < 2
                     ? "greater than or equal to"
                     : "less than or equal to",
                 threshold,
                 present ? "; the most recent datapoint: " : "; no datapoint",
                 present ? latest : 0.0);
    if (strcmp(state, jtext(a, "StateValue")) != 0) {
        char was[32];
        struct kiln_diag d = {0};
        str_copy(was, jtext(a, "StateValue"), sizeof(was));
        set_state(a, state, reason, NULL);
        /* Only over the state read: a SetAlarmState or an update in
         * between wins this round. */
        if (alarm_store(m, account, a, was, false, &d) == 0)
            log_info("event=alarm_state alarm=%s state=%s account=%s", name,
                     state, account);
    }
    dims_release(&dm);
    mem_free(w.v);
    mem_free(w.have);
    json_decref(a);
    return 0;
}

void cloudwatch_alarms_evaluate(struct meta *m)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(states); i++)
        meta_res_each_status(m, ALARM, states[i], evaluate, m);
}

bool cloudwatch_alarm_firing(struct meta *m, const char *account,
                             const char *name)
{
    json_t *a = alarm_load(m, account, name);
    bool firing = a && strcmp(jtext(a, "StateValue"), "ALARM") == 0;
    json_decref(a);
    return firing;
}

bool cloudwatch_alarm_exists(struct meta *m, const char *account,
                             const char *name)
{
    char *body = NULL;
    bool found = meta_res_get(m, account, ALARM, name, &body) == 0;
    mem_free(body);
    return found;
}

typedef int (*action_fn)(const struct api_ctx *c, const char *params,
                         size_t len, struct buf *out, struct kiln_diag *d);

static const struct {
    const char *name;
    action_fn fn;
} actions[] = {
    {"ListMetrics", list_metrics},
    {"GetMetricStatistics", get_statistics},
    {"GetMetricData", get_data},
    {"PutMetricAlarm", put_alarm},
    {"DescribeAlarms", describe_alarms},
    {"DeleteAlarms", delete_alarms},
    {"SetAlarmState", set_alarm_state},
    {"DescribeAlarmHistory", alarm_history},
    {"EnableAlarmActions", enable_actions},
    {"DisableAlarmActions", disable_actions},
    {"DescribeAlarmsForMetric", alarms_for_metric},
};

int cloudwatch_handle(const struct api_ctx *c, const char *params, size_t len,
                      struct buf *out, struct kiln_diag *d)
{
    struct buf action = BUF_INIT(256);
    int rc;

    if (!query_param(params, len, "Action", &action)) {
        rc = diag_set(d, KILN_EUNKNOWNOP, "Missing Action parameter.");
    } else {
        size_t i = 0;
        while (i < KILN_ARRAY_LEN(actions) &&
               strcmp(buf_cstr(&action), actions[i].name) != 0)
            i++;
        rc = i < KILN_ARRAY_LEN(actions)
                 ? actions[i].fn(c, params, len, out, d)
                 : diag_set(d, KILN_EUNKNOWNOP,
                            "Could not find operation %.64s for version "
                            "2010-08-01",
                            buf_cstr(&action));
    }
    buf_release(&action);
    return rc;
}
