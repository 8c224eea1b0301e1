/*
 * cost.c - Cost Explorer's GetCostAndUsage and
 * GetCostAndUsageWithResources over kiln's usage records.
 *
 * Every training job, transform job and endpoint variant leaves usage
 * rows: instance type, instance count and a span of time (an endpoint's
 * a minute at a time). A row's instance-hours fall into the periods of
 * the answer in proportion to its overlap with each, and cost its
 * instance type's price per hour from the server's price list (none, or
 * a type it does not list: 0). The answer has Cost Explorer's shape:
 * ResultsByTime with Total, or Groups keyed by up to two dimensions (or
 * tags), each metric an Amount string and a Unit.
 *
 * Dimensions: SERVICE ("Amazon SageMaker"), USAGE_TYPE ("USE1-Train:
 * ml.m5.large", as SageMaker's usage types read), INSTANCE_TYPE, REGION,
 * OPERATION (Training, Hosting, Transform, Processing), and RESOURCE_ID (the
 * job's or endpoint's ARN) with resources. Filters: Dimensions, Tags, And, Or,
 * Not.
 */
#include "api/cost.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "meta/meta.h"

#define MAX_PERIODS 2000

static const char *const granularities[] = {"DAILY", "MONTHLY", "HOURLY", NULL};
static const char *const group_types[] = {"DIMENSION", "TAG", "COST_CATEGORY",
                                          NULL};
static const struct vshape date = {
    .type = VT_STRING,
    .flags = V_MAX,
    .max = 40,
    .pattern = "(\\d{4}-\\d{2}-\\d{2})(T\\d{2}:\\d{2}:\\d{2}Z)?"};
static const struct vmember interval_members[] = {
    {"Start", &date, true}, {"End", &date, true}, {NULL, NULL, false}};
static const struct vshape interval = {.type = VT_STRUCTURE,
                                       .members = interval_members};
static const struct vshape e_granularity = {.type = VT_STRING,
                                            .enums = granularities};
static const struct vshape str1024 = {
    .type = VT_STRING, .flags = V_MAX, .max = 1024};
static const struct vshape metric_names = {.type = VT_LIST, .item = &str1024};
static const struct vshape e_group_type = {.type = VT_STRING,
                                           .enums = group_types};
static const struct vmember group_members[] = {{"Type", &e_group_type, false},
                                               {"Key", &str1024, false},
                                               {NULL, NULL, false}};
static const struct vshape group = {.type = VT_STRUCTURE,
                                    .members = group_members};
static const struct vshape group_list = {.type = VT_LIST, .item = &group};
static const struct vshape token = {
    .type = VT_STRING, .flags = V_MAX, .max = 8192};
/* Filter expressions nest; their members are checked by expr_match. */
static const struct vshape expression = {.type = VT_STRUCTURE, .members = NULL};
static const struct vmember usage_members[] = {
    {"TimePeriod", &interval, true},
    {"Granularity", &e_granularity, true},
    {"Filter", &expression, false},
    {"Metrics", &metric_names, true},
    {"GroupBy", &group_list, false},
    {"NextPageToken", &token, false},
    {NULL, NULL, false}};
const struct vshape cost_usage_input = {.type = VT_STRUCTURE,
                                        .members = usage_members};
static const struct vmember resources_members[] = {
    {"TimePeriod", &interval, true},
    {"Granularity", &e_granularity, true},
    {"Filter", &expression, true},
    {"Metrics", &metric_names, false},
    {"GroupBy", &group_list, false},
    {"NextPageToken", &token, false},
    {NULL, NULL, false}};
const struct vshape cost_usage_resources_input = {.type = VT_STRUCTURE,
                                                  .members = resources_members};

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- one usage row, as the dimensions see it ---------------------- */

struct row {
    char *arn, *kind, *itype;
    int count;
    double start, end;
    json_t *tags; /* {key: value} */
};

struct rows {
    struct row *v;
    size_t n;
};

static int collect(void *ctx, const struct meta_usage *u)
{
    struct rows *l = ctx;
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    struct row *r = &l->v[l->n++];
    r->arn = xstrdup(u->arn);
    r->kind = xstrdup(u->kind);
    r->itype = xstrdup(u->instance_type);
    r->count = u->instance_count;
    r->start = u->start;
    r->end = u->end;
    r->tags = NULL;
    return 0;
}

static int add_tag(void *ctx, const char *key, const char *value)
{
    json_object_set_new(ctx, key, json_string(value));
    return 0;
}

static const char *operation(const struct row *r)
{
    return strcmp(r->kind, "training") == 0     ? "Training"
           : strcmp(r->kind, "transform") == 0  ? "Transform"
           : strcmp(r->kind, "processing") == 0 ? "Processing"
                                                : "Hosting";
}

/* SageMaker's usage type: "<region code>-Train:ml.m5.large". */
static void usage_type(const struct api_ctx *c, const struct row *r, char *out,
                       size_t size)
{
    static const char *const codes[][2] = {
        {"us-east-1", "USE1"},      {"us-east-2", "USE2"},
        {"us-west-1", "USW1"},      {"us-west-2", "USW2"},
        {"eu-west-1", "EU"},        {"eu-west-2", "EUW2"},
        {"eu-central-1", "EUC1"},   {"ap-northeast-1", "APN1"},
        {"ap-southeast-1", "APS1"}, {"ap-southeast-2", "APS2"}};
    const char *code = c->region;
    for (size_t i = 0; i < KILN_ARRAY_LEN(codes); i++)
        if (strcmp(codes[i][0], c->region) == 0)
            code = codes[i][1];
    const char *what = strcmp(r->kind, "training") == 0     ? "Train"
                       : strcmp(r->kind, "transform") == 0  ? "Tsform"
                       : strcmp(r->kind, "processing") == 0 ? "Processing"
                                                            : "Host";
    snprintf(out, size, "%s-%s:%s", code, what, r->itype);
}

/* The row's value of dimension `key` (NULL: not a dimension kiln knows),
 * in buf. */
static const char *dimension(const struct api_ctx *c, const struct row *r,
                             const char *key, char *buf, size_t size)
{
    if (strcmp(key, "SERVICE") == 0)
        return "Amazon SageMaker";
    if (strcmp(key, "INSTANCE_TYPE") == 0)
        return r->itype;
    if (strcmp(key, "REGION") == 0)
        return c->region;
    if (strcmp(key, "OPERATION") == 0)
        return operation(r);
    if (strcmp(key, "RESOURCE_ID") == 0)
        return r->arn;
    if (strcmp(key, "USAGE_TYPE") == 0) {
        usage_type(c, r, buf, size);
        return buf;
    }
    return NULL;
}

static bool listed(json_t *values, const char *v)
{
    size_t i;
    json_t *x;
    json_array_foreach(values, i,
                       x) if (json_is_string(x) &&
                              strcmp(json_string_value(x), v) == 0) return true;
    return false;
}

/* Whether row r passes filter e; KILN_EVALIDATION in *rc for a filter
 * kiln cannot evaluate. */
static bool expr_match(const struct api_ctx *c, json_t *e, const struct row *r,
                       bool resources, int *rc, struct kiln_diag *d)
{
    json_t *x;
    size_t i, set = 0;
    const char *keys[] = {"And",        "Or",   "Not",
                          "Dimensions", "Tags", "CostCategories"};
    for (i = 0; i < KILN_ARRAY_LEN(keys); i++)
        set += json_object_get(e, keys[i]) != NULL;
    if (!json_is_object(e) || set != 1 || json_object_size(e) != 1) {
        *rc = diag_set(d, KILN_EVALIDATION,
                       "A filter expression must have exactly one of And, "
                       "Or, Not, Dimensions, Tags or CostCategories.");
        return false;
    }
    if ((x = json_object_get(e, "And")) || (x = json_object_get(e, "Or"))) {
        bool and = json_object_get(e, "And") != NULL, all = true, any = false;
        if (!json_is_array(x) || json_array_size(x) < 2) {
            *rc = diag_set(d, KILN_EVALIDATION,
                           "And and Or take a list of at least two "
                           "expressions.");
            return false;
        }
        json_t *sub;
        json_array_foreach(x, i, sub)
        {
            bool m = expr_match(c, sub, r, resources, rc, d);
            if (*rc)
                return false;
            all = all && m;
            any = any || m;
        }
        return and? all : any;
    }
    if ((x = json_object_get(e, "Not"))) {
        bool m = expr_match(c, x, r, resources, rc, d);
        return !*rc && !m;
    }
    if (json_object_get(e, "CostCategories")) {
        *rc = diag_set(d, KILN_EVALIDATION,
                       "kiln has no cost categories to filter by.");
        return false;
    }
    json_t *dv = json_object_get(e, "Dimensions"), *tv;
    json_t *match =
        json_object_get(dv ? dv : json_object_get(e, "Tags"), "MatchOptions");
    json_array_foreach(match, i,
                       x) if (!json_is_string(x) ||
                              strcmp(json_string_value(x), "EQUALS") != 0)
    {
        *rc = diag_set(d, KILN_EVALIDATION,
                       "kiln matches filter values with EQUALS only.");
        return false;
    }
    if (dv) {
        char buf[256];
        const char *key = str(dv, "Key");
        const char *v = key ? dimension(c, r, key, buf, sizeof(buf)) : NULL;
        if (!v || (strcmp(key, "RESOURCE_ID") == 0 && !resources)) {
            *rc = diag_set(d, KILN_EVALIDATION,
                           "Dimension %s is not available in this "
                           "operation; kiln knows SERVICE, USAGE_TYPE, "
                           "INSTANCE_TYPE, REGION, OPERATION and (with "
                           "resources) RESOURCE_ID.",
                           key ? key : "(none)");
            return false;
        }
        return listed(json_object_get(dv, "Values"), v);
    }
    tv = json_object_get(e, "Tags");
    const char *v = str(r->tags, str(tv, "Key") ? str(tv, "Key") : "");
    json_t *values = json_object_get(tv, "Values");
    if (json_array_size(values) == 0)
        return v != NULL;
    return listed(values, v ? v : "");
}

/* ---- periods ------------------------------------------------------- */

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ" as epoch seconds. */
static int parse_date(const char *s, double *out)
{
    int y, mo, da, h = 0, mi = 0, se = 0, n = 0;
    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &da, &n) != 3)
        return KILN_EINVAL;
    if (s[n] == 'T' && sscanf(s + n, "T%2d:%2d:%2dZ", &h, &mi, &se) != 3)
        return KILN_EINVAL;
    if (mo < 1 || mo > 12 || da < 1 || da > 31 || h > 23 || mi > 59 || se > 59)
        return KILN_EINVAL;
    *out = (double)(tm_days_from_civil(y, (unsigned)mo, (unsigned)da) * 86400 +
                    h * 3600 + mi * 60 + se);
    return 0;
}

static void format_date(double t, bool hourly, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, size, hourly ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d", &tm);
}

/* The end of the period that starts at t. */
static double period_end(double t, const char *granularity)
{
    if (strcmp(granularity, "HOURLY") == 0)
        return t + 3600;
    if (strcmp(granularity, "DAILY") == 0)
        return t + 86400;
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    int y = tm.tm_year + 1900, m = tm.tm_mon + 2;
    if (m > 12) {
        m = 1;
        y++;
    }
    return (double)(tm_days_from_civil(y, (unsigned)m, 1) * 86400);
}

/* ---- the answer ---------------------------------------------------- */

static bool is_cost(const char *metric)
{
    static const char *const costs[] = {"UnblendedCost", "BlendedCost",
                                        "AmortizedCost", "NetUnblendedCost",
                                        "NetAmortizedCost"};
    for (size_t i = 0; i < KILN_ARRAY_LEN(costs); i++)
        if (strcmp(metric, costs[i]) == 0)
            return true;
    return false;
}

/* The row's instance type's price per hour. */
static double price(const struct api_ctx *c, const struct row *r)
{
    json_t *p = c->jobs ? json_object_get(c->jobs->prices, r->itype) : NULL;
    if (json_is_object(p))
        p = json_object_get(p, r->kind);
    return json_is_number(p) ? json_number_value(p) : 0;
}

static json_t *amount(double v, const char *unit)
{
    char text[64];
    /* Decimal, as Cost Explorer writes amounts, to the nano-dollar and
     * beyond: a job of seconds costs a few millionths. */
    snprintf(text, sizeof(text), "%.15f", v);
    size_t n = strlen(text);
    while (n > 2 && text[n - 1] == '0' && text[n - 2] != '.')
        text[--n] = '\0';
    json_t *o = json_object();
    json_object_set_new(o, "Amount", json_string(text));
    json_object_set_new(o, "Unit", json_string(unit));
    return o;
}

/* Adds hours and their cost to the metrics object m ({metric: [hours,
 * cost]}). */
static void accumulate(json_t *m, json_t *metrics, double hours, double cost)
{
    size_t i;
    json_t *name;
    json_array_foreach(metrics, i, name)
    {
        const char *n = json_string_value(name);
        json_t *v = json_object_get(m, n);
        double add = is_cost(n) ? cost : hours;
        json_object_set_new(m, n,
                            json_real((v ? json_real_value(v) : 0) + add));
    }
}

static json_t *metric_values(json_t *sums, json_t *metrics)
{
    json_t *o = json_object();
    size_t i;
    json_t *name;
    json_array_foreach(metrics, i, name)
    {
        const char *n = json_string_value(name);
        double v = json_real_value(json_object_get(sums, n));
        json_object_set_new(o, n, amount(v, is_cost(n) ? "USD" : "Hrs"));
    }
    return o;
}

/* The group key of row r: one value per GroupBy entry. */
static json_t *group_keys(const struct api_ctx *c, json_t *group_by,
                          const struct row *r)
{
    json_t *keys = json_array(), *g;
    size_t i;
    json_array_foreach(group_by, i, g)
    {
        char buf[256];
        const char *key = str(g, "Key");
        if (strcmp(str(g, "Type"), "TAG") == 0) {
            const char *v = str(r->tags, key);
            char text[1100];
            snprintf(text, sizeof(text), "%s$%s", key, v ? v : "");
            json_array_append_new(keys, json_string(text));
        } else {
            json_array_append_new(
                keys, json_string(dimension(c, r, key, buf, sizeof(buf))));
        }
    }
    return keys;
}

static int check_request(const struct api_ctx *c, json_t *in, bool resources,
                         double *from, double *to, struct kiln_diag *d)
{
    json_t *tp = json_object_get(in, "TimePeriod"), *x;
    size_t i;
    if (parse_date(str(tp, "Start"), from) != 0 ||
        parse_date(str(tp, "End"), to) != 0)
        return diag_set(d, KILN_EVALIDATION,
                        "TimePeriod Start and End are dates, YYYY-MM-DD, "
                        "with THH:MM:SSZ for hours.");
    if (*from >= *to)
        return diag_set(d, KILN_EVALIDATION,
                        "Start date (and hour) should be before end date "
                        "(and hour)");
    json_t *metrics = json_object_get(in, "Metrics");
    if (json_array_size(metrics) == 0)
        return diag_set(d, KILN_EVALIDATION,
                        "Metrics must name at least one metric.");
    json_array_foreach(metrics, i, x)
    {
        const char *m = json_string_value(x);
        if (!is_cost(m) && strcmp(m, "UsageQuantity") != 0)
            return diag_set(d, KILN_EVALIDATION,
                            "Metric %.64s is not one kiln reports: "
                            "UnblendedCost, BlendedCost, AmortizedCost, "
                            "NetUnblendedCost, NetAmortizedCost or "
                            "UsageQuantity.",
                            m);
    }
    json_t *gb = json_object_get(in, "GroupBy");
    if (json_array_size(gb) > 2)
        return diag_set(d, KILN_EVALIDATION,
                        "GroupBy takes at most two groups.");
    json_array_foreach(gb, i, x)
    {
        const char *type = str(x, "Type"), *key = str(x, "Key");
        char buf[256], none[1] = "";
        struct row probe = {.arn = none, .kind = none, .itype = none};
        if (!type || !key)
            return diag_set(d, KILN_EVALIDATION,
                            "A group needs a Type and a Key.");
        if (strcmp(type, "COST_CATEGORY") == 0)
            return diag_set(d, KILN_EVALIDATION,
                            "kiln has no cost categories to group by.");
        if (strcmp(type, "DIMENSION") == 0 &&
            (!dimension(c, &probe, key, buf, sizeof(buf)) ||
             (strcmp(key, "RESOURCE_ID") == 0 && !resources)))
            return diag_set(d, KILN_EVALIDATION,
                            "Group Definition dimension %s is not supported "
                            "in this operation; kiln groups by SERVICE, "
                            "USAGE_TYPE, INSTANCE_TYPE, REGION, OPERATION "
                            "and (with resources) RESOURCE_ID.",
                            key);
    }
    return 0;
}

static int report(const struct api_ctx *c, json_t *in, bool resources,
                  json_t **out, struct kiln_diag *d)
{
    double from, to;
    int rc = check_request(c, in, resources, &from, &to, d);
    if (rc)
        return rc;
    const char *granularity = str(in, "Granularity");
    bool hourly = strcmp(granularity, "HOURLY") == 0;
    if (hourly && to - from > 14 * 86400.0)
        return diag_set(d, KILN_EVALIDATION,
                        "Hourly data is available for at most 14 days at "
                        "a time.");
    json_t *metrics = json_object_get(in, "Metrics");
    json_t *group_by = json_object_get(in, "GroupBy");
    json_t *filter = json_object_get(in, "Filter");

    struct rows rows = {0};
    rc = meta_usage_each(c->meta, c->account, from, to, collect, &rows);
    for (size_t i = 0; !rc && i < rows.n; i++) {
        rows.v[i].tags = json_object();
        meta_tag_each(c->meta, rows.v[i].arn, add_tag, rows.v[i].tags);
    }
    /* A filter is checked even when there is no usage to apply it to. */
    char none[1] = "";
    struct row probe = {.arn = none, .kind = none, .itype = none};
    if (!rc && filter)
        expr_match(c, filter, &probe, resources, &rc, d);

    json_t *results = json_array();
    int periods = 0;
    for (double p = from; !rc && p < to; p = period_end(p, granularity)) {
        double pend = period_end(p, granularity);
        if (pend > to)
            pend = to;
        if (++periods > MAX_PERIODS) {
            rc = diag_set(d, KILN_EVALIDATION,
                          "The time period has more than %d periods of "
                          "this granularity.",
                          MAX_PERIODS);
            break;
        }
        json_t *total = json_object(), *by_key = json_object();
        json_t *order = json_array();
        for (size_t i = 0; !rc && i < rows.n; i++) {
            const struct row *r = &rows.v[i];
            double lo = r->start > p ? r->start : p;
            double hi = r->end < pend ? r->end : pend;
            if (hi <= lo ||
                (filter && !expr_match(c, filter, r, resources, &rc, d)))
                continue;
            double hours = (hi - lo) / 3600.0 * r->count;
            double cost = hours * price(c, r);
            if (json_array_size(group_by) == 0) {
                accumulate(total, metrics, hours, cost);
                continue;
            }
            json_t *keys = group_keys(c, group_by, r);
            char *k = json_dumps(keys, JSON_COMPACT);
            json_t *sums = json_object_get(by_key, k);
            if (!sums) {
                sums = json_object();
                json_object_set_new(by_key, k, sums);
                json_array_append(order, keys);
            }
            accumulate(sums, metrics, hours, cost);
            mem_free(k);
            json_decref(keys);
        }
        json_t *res = json_object(), *tp = json_object();
        char a[32], b[32];
        format_date(p, hourly, a, sizeof(a));
        format_date(pend, hourly, b, sizeof(b));
        json_object_set_new(tp, "Start", json_string(a));
        json_object_set_new(tp, "End", json_string(b));
        json_object_set_new(res, "TimePeriod", tp);
        json_t *groups = json_array();
        if (json_array_size(group_by) == 0) {
            json_object_set_new(res, "Total", metric_values(total, metrics));
        } else {
            json_object_set_new(res, "Total", json_object());
            size_t i;
            json_t *keys;
            json_array_foreach(order, i, keys)
            {
                char *k = json_dumps(keys, JSON_COMPACT);
                json_t *g = json_object();
                json_object_set(g, "Keys", keys);
                json_object_set_new(
                    g, "Metrics",
                    metric_values(json_object_get(by_key, k), metrics));
                json_array_append_new(groups, g);
                mem_free(k);
            }
        }
        json_object_set_new(res, "Groups", groups);
        json_object_set_new(res, "Estimated", json_boolean(pend > tm_now()));
        json_array_append_new(results, res);
        json_decref(total);
        json_decref(by_key);
        json_decref(order);
    }
    for (size_t i = 0; i < rows.n; i++) {
        mem_free(rows.v[i].arn);
        mem_free(rows.v[i].kind);
        mem_free(rows.v[i].itype);
        json_decref(rows.v[i].tags);
    }
    mem_free(rows.v);
    if (rc) {
        json_decref(results);
        return rc;
    }
    *out = json_object();
    json_object_set_new(*out, "GroupDefinitions",
                        group_by ? json_deep_copy(group_by) : json_array());
    json_object_set_new(*out, "ResultsByTime", results);
    json_object_set_new(*out, "DimensionValueAttributes", json_array());
    return 0;
}

int cost_usage(const struct api_ctx *c, json_t *in, json_t **out,
               struct kiln_diag *d)
{
    return report(c, in, false, out, d);
}

int cost_usage_resources(const struct api_ctx *c, json_t *in, json_t **out,
                         struct kiln_diag *d)
{
    /* Metrics are optional here; UnblendedCost then, as AWS answers. */
    json_t *copy = json_deep_copy(in);
    if (!json_object_get(copy, "Metrics")) {
        json_t *m = json_array();
        json_array_append_new(m, json_string("UnblendedCost"));
        json_object_set_new(copy, "Metrics", m);
    }
    int rc = report(c, copy, true, out, d);
    json_decref(copy);
    return rc;
}
