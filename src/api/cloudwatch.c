/*
 * cloudwatch.c - the endpoint metrics of CloudWatch's AWS/SageMaker
 * namespace: ListMetrics, GetMetricStatistics and GetMetricData over the
 * per-minute figures the hoster records (meta_emetric_*).
 */
#include "api/cloudwatch.h"

#include <math.h>
#include <stdlib.h>

#include "api/query.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "http/awserr.h"
#include "meta/meta.h"

#define NAMESPACE     "AWS/SageMaker"
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

struct dims {
    struct buf endpoint, variant;
    bool has_endpoint, has_variant;
};

/* The query's <prefix>Dimensions.member.N: EndpointName and VariantName;
 * false when another dimension is named. */
static bool read_dims(const char *params, size_t len, const char *prefix,
                      struct dims *dm)
{
    struct buf name = BUF_INIT(256), value = BUF_INIT(1024);
    char key[160];
    bool ok = true;

    for (int i = 1; i <= MAX_DIMENSION; i++) {
        snprintf(key, sizeof(key), "%sDimensions.member.%d.Name", prefix, i);
        if (!query_param(params, len, key, &name))
            break;
        snprintf(key, sizeof(key), "%sDimensions.member.%d.Value", prefix, i);
        bool has_value = query_param(params, len, key, &value);
        if (strcmp(buf_cstr(&name), "EndpointName") == 0) {
            dm->has_endpoint = has_value;
            buf_adds(&dm->endpoint, buf_cstr(&value));
        } else if (strcmp(buf_cstr(&name), "VariantName") == 0) {
            dm->has_variant = has_value;
            buf_adds(&dm->variant, buf_cstr(&value));
        } else {
            ok = false;
        }
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

static const char *unit_of(const char *metric)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(metrics); i++)
        if (strcmp(metrics[i].name, metric) == 0)
            return metrics[i].unit;
    return NULL;
}

/* ---- ListMetrics ---------------------------------------------------- */

struct listing {
    struct buf *out;
    char last[256];
};

static int list_row(void *ctx, const struct meta_emetric *e)
{
    struct listing *l = ctx;
    char id[256];
    snprintf(id, sizeof(id), "%s\n%s\n%s", e->name, e->endpoint, e->variant);
    if (strcmp(id, l->last) == 0)
        return 0;
    str_copy(l->last, id, sizeof(l->last));
    buf_adds(l->out,
             "<member><Namespace>" NAMESPACE "</Namespace><MetricName>");
    awserr_xml_escape(l->out, e->name);
    buf_adds(l->out, "</MetricName><Dimensions><member><Name>EndpointName"
                     "</Name><Value>");
    awserr_xml_escape(l->out, e->endpoint);
    buf_adds(l->out, "</Value></member><member><Name>VariantName</Name>"
                     "<Value>");
    awserr_xml_escape(l->out, e->variant);
    buf_adds(l->out, "</Value></member></Dimensions></member>");
    return 0;
}

static int list_metrics(const struct api_ctx *c, const char *params, size_t len,
                        struct buf *out, struct kiln_diag *d)
{
    struct buf ns = BUF_INIT(1024), name = BUF_INIT(1024);
    struct dims dm = {BUF_INIT(1024), BUF_INIT(1024), false, false};
    bool ours = !query_param(params, len, "Namespace", &ns) ||
                strcmp(buf_cstr(&ns), NAMESPACE) == 0;
    bool named = query_param(params, len, "MetricName", &name);
    struct listing l = {.out = out};

    (void)d;
    ours &= read_dims(params, len, "", &dm);
    buf_adds(out, "<ListMetricsResponse xmlns=\"" XMLNS "\">"
                  "<ListMetricsResult><Metrics>");
    if (ours) {
        int64_t now = (int64_t)(tm_now() / 60);
        struct meta_emetric want = {
            .account = c->account,
            .name = named ? buf_cstr(&name) : NULL,
            .endpoint = dm.has_endpoint ? buf_cstr(&dm.endpoint) : NULL,
            .variant = dm.has_variant ? buf_cstr(&dm.variant) : NULL};
        meta_emetric_each(c->meta, &want, now - LIST_DAYS * 24 * 60, now + 1,
                          list_row, &l);
    }
    buf_addf(out,
             "</Metrics></ListMetricsResult><ResponseMetadata><RequestId>%s"
             "</RequestId></ResponseMetadata></ListMetricsResponse>",
             c->request_id);
    buf_release(&ns);
    buf_release(&name);
    dims_release(&dm);
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
 * the dimensions dm. SageMaker's endpoint metrics have both dimensions: a
 * query naming fewer or others matches nothing, as in CloudWatch. */
static void series_each(const struct api_ctx *c, const char *ns,
                        const char *name, const struct dims *dm, int64_t first,
                        double end, int64_t period, point_fn fn, void *ctx)
{
    struct series s = {first, period, -1, {0, 0, 0, 0}, fn, ctx};

    if (!unit_of(name) || strcmp(ns, NAMESPACE) != 0 || !dm->has_endpoint ||
        !dm->has_variant)
        return;
    struct meta_emetric w = {.account = c->account,
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

    struct stats_out o = {out, want, unit_of(buf_cstr(&name))};
    buf_adds(out, "<GetMetricStatisticsResponse xmlns=\"" XMLNS "\">"
                  "<GetMetricStatisticsResult><Datapoints>");
    if (read_dims(params, len, "", &dm))
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
    bool unit_ok = !PARAM("MetricStat.Unit", &v) ||
                   (unit_of(buf_cstr(&name)) &&
                    strcmp(buf_cstr(&v), unit_of(buf_cstr(&name))) == 0);
    snprintf(key, sizeof(key), "%sMetricStat.Metric.", prefix);
    if (!rc && unit_ok && read_dims(params, len, key, &dm))
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

    if (!rc && query_param(params, len, "ScanBy", &v)) {
        ascending = strcmp(buf_cstr(&v), "TimestampAscending") == 0;
        if (!ascending && strcmp(buf_cstr(&v), "TimestampDescending") != 0)
            rc = diag_set(d, KILN_EVALIDATION,
                          "The parameter ScanBy must be TimestampDescending "
                          "or TimestampAscending.");
    }
    if (!rc && query_param(params, len, "MaxDatapoints", &v)) {
        max = strtoll(buf_cstr(&v), &stop, 10);
        if (*stop || !buf_cstr(&v)[0] || max < 1)
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter MaxDatapoints must be a positive "
                          "integer.");
        if (max > DEFAULT_DATAPOINTS) /* a call's most, as in CloudWatch */
            max = DEFAULT_DATAPOINTS;
    }
    if (!rc && query_param(params, len, "NextToken", &v)) {
        const char *t = buf_cstr(&v);
        offset = str_starts(t, TOKEN_PREFIX)
                     ? strtoll(t + strlen(TOKEN_PREFIX), &stop, 10)
                     : -1;
        if (offset < 0 || *stop)
            rc = diag_set(d, KILN_EBADTOKEN, "The NextToken is not valid.");
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

int cloudwatch_handle(const struct api_ctx *c, const char *params, size_t len,
                      struct buf *out, struct kiln_diag *d)
{
    struct buf action = BUF_INIT(256);
    int rc;

    if (!query_param(params, len, "Action", &action))
        rc = diag_set(d, KILN_EUNKNOWNOP, "Missing Action parameter.");
    else if (strcmp(buf_cstr(&action), "ListMetrics") == 0)
        rc = list_metrics(c, params, len, out, d);
    else if (strcmp(buf_cstr(&action), "GetMetricStatistics") == 0)
        rc = get_statistics(c, params, len, out, d);
    else if (strcmp(buf_cstr(&action), "GetMetricData") == 0)
        rc = get_data(c, params, len, out, d);
    else
        rc = diag_set(d, KILN_EUNKNOWNOP,
                      "Could not find operation %.64s for version 2010-08-01",
                      buf_cstr(&action));
    buf_release(&action);
    return rc;
}
