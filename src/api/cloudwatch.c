/*
 * cloudwatch.c - the endpoint metrics of CloudWatch's AWS/SageMaker
 * namespace: ListMetrics and GetMetricStatistics over the per-minute
 * figures the hoster records (meta_emetric_*).
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

/* The query's Dimensions.member.N: EndpointName and VariantName (NULL if
 * not given); false when another dimension is named. */
struct dims {
    struct buf endpoint, variant;
    bool has_endpoint, has_variant;
};

static bool read_dims(const char *params, size_t len, struct dims *dm)
{
    struct buf name = BUF_INIT(256), value = BUF_INIT(1024);
    char key[64];
    bool ok = true;

    for (int i = 1; i <= MAX_DIMENSION; i++) {
        snprintf(key, sizeof(key), "Dimensions.member.%d.Name", i);
        if (!query_param(params, len, key, &name))
            break;
        snprintf(key, sizeof(key), "Dimensions.member.%d.Value", i);
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
    ours &= read_dims(params, len, &dm);
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

/* ---- GetMetricStatistics ------------------------------------------- */

struct point {
    double n, sum, min, max;
};

struct stats_query {
    int64_t start; /* seconds */
    int64_t period;
    struct point *points;
    size_t npoints;
};

static int add_row(void *ctx, const struct meta_emetric *e)
{
    struct stats_query *q = ctx;
    int64_t at = e->minute * 60 - q->start;
    if (at < 0)
        return 0;
    size_t i = (size_t)(at / q->period);
    if (i >= q->npoints)
        return 0;
    struct point *p = &q->points[i];
    if (p->n == 0 || e->min < p->min)
        p->min = e->min;
    if (p->n == 0 || e->max > p->max)
        p->max = e->max;
    p->n += e->n;
    p->sum += e->sum;
    return 0;
}

static int missing(const char *param, struct kiln_diag *d)
{
    return diag_set(d, KILN_EINVAL, "The parameter %s is required.", param);
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
    else if (!query_param(params, len, "StartTime", &v))
        rc = missing("StartTime", d);
    else if (tm_parse_iso(buf_cstr(&v), &start) != 0)
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter StartTime must be an ISO 8601 time.");
    else if (!query_param(params, len, "EndTime", &v))
        rc = missing("EndTime", d);
    else if (tm_parse_iso(buf_cstr(&v), &end) != 0)
        rc = diag_set(d, KILN_EINVAL,
                      "The parameter EndTime must be an ISO 8601 time.");
    else if (!query_param(params, len, "Period", &v))
        rc = missing("Period", d);
    if (!rc) {
        char *stop;
        period = strtoll(buf_cstr(&v), &stop, 10);
        if (*stop || period < 60 || period % 60 != 0)
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter Period must be a multiple of 60 "
                          "(kiln keeps metrics by the minute).");
        else if (end <= start)
            rc = diag_set(d, KILN_EINVAL,
                          "The parameter StartTime must be less than the "
                          "parameter EndTime.");
    }
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

    const char *unit = unit_of(buf_cstr(&name));
    struct stats_query q = {.start = first, .period = period};
    /* SageMaker's endpoint metrics have both dimensions: a query naming
     * fewer or others matches nothing, as in CloudWatch. */
    if (unit && strcmp(buf_cstr(&ns), NAMESPACE) == 0 &&
        read_dims(params, len, &dm) && dm.has_endpoint && dm.has_variant) {
        q.npoints = (size_t)npoints;
        q.points = xcalloc(q.npoints ? q.npoints : 1, sizeof(*q.points));
        struct meta_emetric w = {.account = c->account,
                                 .name = buf_cstr(&name),
                                 .endpoint = buf_cstr(&dm.endpoint),
                                 .variant = buf_cstr(&dm.variant)};
        meta_emetric_each(c->meta, &w, first / 60,
                          ((int64_t)ceil(end) + 59) / 60, add_row, &q);
    }
    buf_adds(out, "<GetMetricStatisticsResponse xmlns=\"" XMLNS "\">"
                  "<GetMetricStatisticsResult><Datapoints>");
    for (size_t i = 0; i < q.npoints; i++) {
        const struct point *p = &q.points[i];
        char when[TM_ISO_LEN];
        if (p->n <= 0)
            continue;
        tm_format_iso((double)(first + (int64_t)i * period), when);
        buf_addf(out, "<member><Timestamp>%s</Timestamp>", when);
        double vals[] = {p->n, p->sum / p->n, p->sum, p->min, p->max};
        for (size_t k = 0; k < KILN_ARRAY_LEN(statistics); k++)
            if (want[k])
                buf_addf(out, "<%s>%.17g</%s>", statistics[k], vals[k],
                         statistics[k]);
        buf_addf(out, "<Unit>%s</Unit></member>", unit);
    }
    buf_adds(out, "</Datapoints><Label>");
    awserr_xml_escape(out, buf_cstr(&name));
    buf_addf(out,
             "</Label></GetMetricStatisticsResult><ResponseMetadata>"
             "<RequestId>%s</RequestId></ResponseMetadata>"
             "</GetMetricStatisticsResponse>",
             c->request_id);
    mem_free(q.points);
out:
    buf_release(&ns);
    buf_release(&name);
    buf_release(&v);
    dims_release(&dm);
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
    else
        rc = diag_set(d, KILN_EUNKNOWNOP,
                      "Could not find operation %.64s for version 2010-08-01",
                      buf_cstr(&action));
    buf_release(&action);
    return rc;
}
