/*
 * monitor.c - Model Monitor's data-quality analysis (see monitor.h).
 *
 * A numeric distribution is MON_BUCKETS equal-width buckets between the
 * column's extremes. Drift is measured as Model Monitor's "Simple" method
 * does: the largest gap between the baseline's cumulative distribution and
 * the current data's, read at the baseline's bucket bounds (numeric), or
 * between the two frequency tables (strings, L-infinity).
 */
#include "algos/monitor/monitor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "formats/dataproc.h"

#define MON_MAX_VALUES ((size_t)1 << 24) /* per column, for distributions */

void mon_table_init(struct mon_table *t)
{
    memset(t, 0, sizeof(*t));
    t->min_fields = SIZE_MAX;
}

void mon_table_release(struct mon_table *t)
{
    for (size_t i = 0; i < t->ncols; i++) {
        struct mon_col *c = &t->cols[i];
        mem_free(c->name);
        mem_free(c->vals);
        for (size_t k = 0; k < c->ncats; k++)
            mem_free(c->cats[k].value);
        mem_free(c->cats);
        mem_free(c->slots);
    }
    mem_free(t->cols);
    memset(t, 0, sizeof(*t));
}

static void add_column(struct mon_table *t, const char *name)
{
    char def[32];
    t->cols = xrealloc(t->cols, (t->ncols + 1) * sizeof(*t->cols));
    struct mon_col *c = &t->cols[t->ncols];
    memset(c, 0, sizeof(*c));
    if (!name) {
        snprintf(def, sizeof(def), "_c%zu", t->ncols);
        name = def;
    }
    c->name = xstrdup(name);
    t->ncols++;
}

void mon_table_names(struct mon_table *t, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        add_column(t, names[i]);
    t->fixed = true;
}

/* A field's number, when the whole field is one (finite). */
static bool number(const char *s, size_t n, double *v, bool *integral)
{
    char tmp[64], *end;
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (!n || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    *v = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(*v))
        return false;
    size_t i = (tmp[0] == '-' || tmp[0] == '+') ? 1 : 0;
    *integral = i < n;
    for (; i < n; i++)
        if (tmp[i] < '0' || tmp[i] > '9')
            *integral = false;
    return true;
}

static uint32_t bytes_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* The slot of c->slots where the value with hash h and bytes s[0..n) is,
 * or the free slot where it would go. */
static size_t cat_slot(const struct mon_col *c, uint32_t h, const char *s,
                       size_t n)
{
    size_t mask = c->nslots - 1, i = h & mask;
    for (; c->slots[i]; i = (i + 1) & mask) {
        const struct mon_cat *k = &c->cats[c->slots[i] - 1];
        if (k->hash == h && k->len == n && memcmp(k->value, s, n) == 0)
            break;
    }
    return i;
}

/* Counts one more of value s[0..n): each distinct value is found through
 * a hash index, not by comparing it with every value kept so far. */
static void add_category(struct mon_col *c, const char *s, size_t n)
{
    uint32_t h = bytes_hash(s, n);
    if (!c->slots) {
        c->nslots = 16;
        c->slots = xcalloc(c->nslots, sizeof(*c->slots));
    }
    size_t i = cat_slot(c, h, s, n);
    if (c->slots[i]) {
        c->cats[c->slots[i] - 1].count++;
        return;
    }
    if (c->ncats == MON_MAX_CATEGORIES) {
        c->cats_overflow = true;
        return;
    }
    if (c->ncats == c->catcap) {
        c->catcap = c->catcap ? 2 * c->catcap : 8;
        c->cats = xrealloc(c->cats, c->catcap * sizeof(*c->cats));
    }
    char *v = xmalloc(n + 1);
    memcpy(v, s, n);
    v[n] = '\0';
    str_utf8_fix(v, n); /* the value goes into JSON */
    c->cats[c->ncats] = (struct mon_cat){v, n, h, 1};
    c->slots[i] = (uint32_t)++c->ncats;
    if (2 * c->ncats > c->nslots) { /* grow and index every value again */
        mem_free(c->slots);
        c->nslots *= 2;
        c->slots = xcalloc(c->nslots, sizeof(*c->slots));
        for (size_t k = 0; k < c->ncats; k++) {
            size_t j = c->cats[k].hash & (c->nslots - 1);
            while (c->slots[j])
                j = (j + 1) & (c->nslots - 1);
            c->slots[j] = (uint32_t)k + 1;
        }
    }
}

static void add_field(struct mon_col *c, const char *s, size_t n)
{
    double v;
    bool integral;
    if (n == 0) {
        c->missing++;
        return;
    }
    c->present++;
    if (number(s, n, &v, &integral)) {
        if (c->numeric == 0 || v < c->min)
            c->min = v;
        if (c->numeric == 0 || v > c->max)
            c->max = v;
        c->numeric++;
        c->integral += integral;
        c->sum += v;
        c->sumsq += v * v;
        if (c->nvals < MON_MAX_VALUES) {
            if (c->nvals == c->valcap) {
                c->valcap = c->valcap ? 2 * c->valcap : 64;
                c->vals = xrealloc(c->vals, c->valcap * sizeof(*c->vals));
            }
            c->vals[c->nvals++] = v;
        }
    }
    add_category(c, s, n);
}

/* One CSV row: its fields into the columns. */
static int add_row(struct mon_table *t, const char *line, size_t len,
                   bool names, struct kiln_diag *d)
{
    json_t *fields = NULL;
    int rc = dataproc_csv_fields(line, len, &fields, d);
    if (rc)
        return rc;
    size_t n = json_array_size(fields);
    if (n > MON_MAX_COLUMNS) {
        json_decref(fields);
        return diag_set(d, KILN_EINVAL,
                        "A row has %zu columns; at most %d are analyzed.", n,
                        MON_MAX_COLUMNS);
    }
    if (names) {
        for (size_t i = 0; i < n; i++)
            add_column(t, json_string_value(json_array_get(fields, i)));
        t->fixed = true;
        json_decref(fields);
        return 0;
    }
    if (!t->fixed)
        while (t->ncols < n)
            add_column(t, NULL);
    for (size_t i = 0; i < t->ncols; i++) {
        json_t *f = json_array_get(fields, i);
        if (f)
            add_field(&t->cols[i], json_string_value(f), json_string_length(f));
        else
            t->cols[i].missing++;
    }
    if (n > t->max_fields)
        t->max_fields = n;
    if (n < t->min_fields)
        t->min_fields = n;
    t->rows++;
    json_decref(fields);
    return 0;
}

int mon_read_csv(struct mon_table *t, const char *data, size_t len, bool header,
                 struct kiln_diag *d)
{
    size_t pos = 0;
    bool first = header && t->ncols == 0;
    bool skip = header && !first; /* named already: skip the header */

    while (pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len;
        const char *line = data + pos;
        size_t n = end - pos;
        pos = nl ? end + 1 : len;
        if (n && line[n - 1] == '\r')
            n--;
        if (n == 0)
            continue;
        if (skip) {
            skip = false;
            continue;
        }
        int rc = add_row(t, line, n, first, d);
        first = false;
        if (rc)
            return rc;
    }
    return 0;
}

/* The bytes of a capture's data: as they are (CSV, JSON) or base64. */
static int capture_data(json_t *io, struct buf *out, struct kiln_diag *d)
{
    const char *data = json_string_value(json_object_get(io, "data"));
    const char *enc = json_string_value(json_object_get(io, "encoding"));
    if (!data)
        return diag_set(d, KILN_EINVAL, "A capture record has no data.");
    size_t n = json_string_length(json_object_get(io, "data"));
    if (!enc || strcmp(enc, "BASE64") != 0) {
        buf_add(out, data, n);
        return 0;
    }
    if (n % 4 != 0 || n > ((size_t)1 << 30))
        return diag_set(d, KILN_EINVAL,
                        "A capture record's BASE64 data is malformed.");
    if (buf_reserve(out, n / 4 * 3 + 1) != 0)
        return diag_set(d, KILN_ETOOBIG, "A capture record is too large.");
    int got = EVP_DecodeBlock((unsigned char *)out->data + out->len,
                              (const unsigned char *)data, (int)n);
    if (got < 0)
        return diag_set(d, KILN_EINVAL,
                        "A capture record's BASE64 data is malformed.");
    /* EVP_DecodeBlock counts the padding's bytes too. */
    while (n && data[n - 1] == '=' && got > 0) {
        n--;
        got--;
    }
    out->len += (size_t)got;
    return 0;
}

int mon_read_capture(struct mon_table *t, const char *data, size_t len,
                     double start, double end, struct kiln_diag *d)
{
    size_t pos = 0;
    struct buf bytes = BUF_INIT((size_t)1 << 30);
    int rc = 0;

    while (!rc && pos < len) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t stop = nl ? (size_t)(nl - data) : len;
        const char *line = data + pos;
        size_t n = stop - pos;
        pos = nl ? stop + 1 : len;
        if (n == 0 || (n == 1 && line[0] == '\r'))
            continue;
        json_error_t e;
        json_t *rec = json_loadb(line, n, 0, &e);
        json_t *in = json_object_get(json_object_get(rec, "captureData"),
                                     "endpointInput");
        if (!json_is_object(in)) {
            json_decref(rec);
            rc = diag_set(d, KILN_EINVAL,
                          "A line of a capture file is not a data capture "
                          "record with captureData.endpointInput.");
            break;
        }
        const char *when = json_string_value(json_object_get(
            json_object_get(rec, "eventMetadata"), "inferenceTime"));
        double at = 0;
        bool in_window = end <= 0 || (when && tm_parse_iso(when, &at) == 0 &&
                                      at >= start && at < end);
        const char *ct =
            json_string_value(json_object_get(in, "observedContentType"));
        if (!in_window || !ct || !str_starts(ct, "text/csv")) {
            t->skipped++;
            json_decref(rec);
            continue;
        }
        buf_reset(&bytes);
        rc = capture_data(in, &bytes, d);
        if (!rc)
            rc = mon_read_csv(t, bytes.data ? bytes.data : "", bytes.len, false,
                              d);
        json_decref(rec);
    }
    buf_release(&bytes);
    return rc;
}

/* ---- statistics and constraints ---------------------------------------- */

static const char *inferred_type(const struct mon_col *c)
{
    if (c->present == 0)
        return "Unknown";
    if (c->numeric < c->present)
        return "String";
    return c->integral == c->present ? "Integral" : "Fractional";
}

static bool is_numeric(const char *type)
{
    return type &&
           (strcmp(type, "Integral") == 0 || strcmp(type, "Fractional") == 0);
}

static json_t *common(const struct mon_col *c)
{
    return json_pack("{s:I,s:I}", "num_present", (json_int_t)c->present,
                     "num_missing", (json_int_t)c->missing);
}

/* Equal-width buckets between min and max ([lower, upper), the last one
 * closed). */
static json_t *buckets(const struct mon_col *c)
{
    uint64_t counts[MON_BUCKETS] = {0};
    double w = (c->max - c->min) / MON_BUCKETS;
    int nb = w > 0 ? MON_BUCKETS : 1;
    for (size_t i = 0; i < c->nvals; i++) {
        int b = w > 0 ? (int)((c->vals[i] - c->min) / w) : 0;
        counts[b < 0 ? 0 : b >= nb ? nb - 1 : b]++;
    }
    json_t *arr = json_array();
    for (int b = 0; b < nb; b++) {
        double lo = c->min + b * w;
        double hi = b == nb - 1 ? c->max : c->min + (b + 1) * w;
        json_array_append_new(arr, json_pack("{s:f,s:f,s:I}", "lower_bound", lo,
                                             "upper_bound", hi, "count",
                                             (json_int_t)counts[b]));
    }
    return arr;
}

static json_t *numerical(const struct mon_col *c)
{
    double n = (double)c->numeric;
    double mean = n ? c->sum / n : 0;
    double var = n ? c->sumsq / n - mean * mean : 0;
    json_t *dist = json_pack("{s:{s:o,s:{s:{s:f,s:i},s:[]}}}", "kll", "buckets",
                             buckets(c), "sketch", "parameters", "c", 0.64, "k",
                             2048, "data");
    return json_pack("{s:o,s:f,s:f,s:f,s:f,s:f,s:o}", "common", common(c),
                     "mean", mean, "sum", c->sum, "std_dev",
                     var > 0 ? sqrt(var) : 0.0, "min", c->min, "max", c->max,
                     "distribution", dist);
}

static json_t *categorical(const struct mon_col *c)
{
    json_t *arr = json_array();
    for (size_t k = 0; k < c->ncats; k++)
        json_array_append_new(arr,
                              json_pack("{s:s,s:I}", "value", c->cats[k].value,
                                        "count", (json_int_t)c->cats[k].count));
    return json_pack("{s:o,s:I,s:{s:{s:o}}}", "common", common(c),
                     "distinct_count", (json_int_t)c->ncats, "distribution",
                     "categorical", "buckets", arr);
}

json_t *mon_statistics(const struct mon_table *t)
{
    json_t *features = json_array();
    for (size_t i = 0; i < t->ncols; i++) {
        const struct mon_col *c = &t->cols[i];
        const char *type = inferred_type(c);
        json_t *f =
            json_pack("{s:s,s:s}", "name", c->name, "inferred_type", type);
        if (is_numeric(type))
            json_object_set_new(f, "numerical_statistics", numerical(c));
        else
            json_object_set_new(f, "string_statistics", categorical(c));
        json_array_append_new(features, f);
    }
    return json_pack("{s:i,s:{s:I},s:o}", "version", 0, "dataset", "item_count",
                     (json_int_t)t->rows, "features", features);
}

json_t *mon_constraints(const struct mon_table *t)
{
    json_t *features = json_array();
    for (size_t i = 0; i < t->ncols; i++) {
        const struct mon_col *c = &t->cols[i];
        const char *type = inferred_type(c);
        uint64_t all = c->present + c->missing;
        json_t *f = json_pack("{s:s,s:s,s:f}", "name", c->name, "inferred_type",
                              type, "completeness",
                              all ? (double)c->present / (double)all : 1.0);
        if (is_numeric(type))
            json_object_set_new(
                f, "num_constraints",
                json_pack("{s:b}", "is_non_negative", c->min >= 0));
        else if (!c->cats_overflow && c->ncats <= MON_MAX_DOMAIN) {
            json_t *dom = json_array();
            for (size_t k = 0; k < c->ncats; k++)
                json_array_append_new(dom, json_string(c->cats[k].value));
            json_object_set_new(f, "string_constraints",
                                json_pack("{s:o}", "domains", dom));
        }
        json_array_append_new(features, f);
    }
    json_t *config = json_pack(
        "{s:s,s:s,s:f,s:f,s:{s:s,s:f,s:s,s:f,s:s}}", "evaluate_constraints",
        "Enabled", "emit_metrics", "Enabled", "datatype_check_threshold", 0.1,
        "domain_content_threshold", 0.1, "distribution_constraints",
        "perform_comparison", "Enabled", "comparison_threshold", 0.1,
        "comparison_method", "Simple", "categorical_comparison_threshold", 0.1,
        "categorical_drift_method", "LInfinity");
    return json_pack("{s:i,s:o,s:o}", "version", 0, "features", features,
                     "monitoring_config", config);
}

int mon_baseline_names(json_t *stats, char ***names, size_t *n,
                       struct kiln_diag *d)
{
    json_t *features = json_object_get(stats, "features");
    size_t count = json_array_size(features);
    if (!json_is_array(features) || count > MON_MAX_COLUMNS)
        return diag_set(d, KILN_EINVAL,
                        "The baseline statistics have no features list.");
    char **out = xcalloc(count + 1, sizeof(*out));
    for (size_t i = 0; i < count; i++) {
        const char *name = json_string_value(
            json_object_get(json_array_get(features, i), "name"));
        if (!name) {
            for (size_t k = 0; k < i; k++)
                mem_free(out[k]);
            mem_free(out);
            return diag_set(d, KILN_EINVAL,
                            "Feature %zu of the baseline statistics has no "
                            "name.",
                            i);
        }
        out[i] = xstrdup(name);
    }
    *names = out;
    *n = count;
    return 0;
}

/* ---- violations -------------------------------------------------------- */

static double num(json_t *o, const char *key, double def)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

static void violation(json_t *list, const char *feature, const char *check,
                      const char *fmt, ...) KILN_PRINTF(4, 5);
static void violation(json_t *list, const char *feature, const char *check,
                      const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "feature_name",
                                          feature, "constraint_check_type",
                                          check, "description", msg));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The share of sorted values[0..n) at most x (below x with strict). */
static double cdf(const double *v, size_t n, double x, bool strict)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strict ? v[mid] < x : v[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return n ? (double)lo / (double)n : 0;
}

/* Largest gap between the baseline's bucket CDF and the current values'. */
static double numeric_drift(json_t *base_buckets, const struct mon_col *c)
{
    double total = 0, acc = 0, dist = 0;
    size_t i;
    json_t *b;
    json_array_foreach(base_buckets, i, b) total += num(b, "count", 0);
    if (total <= 0 || c->nvals == 0)
        return 0;
    double *v = xmalloc(c->nvals * sizeof(*v));
    memcpy(v, c->vals, c->nvals * sizeof(*v));
    qsort(v, c->nvals, sizeof(*v), cmp_double);
    size_t last = json_array_size(base_buckets) - 1;
    json_array_foreach(base_buckets, i, b)
    {
        if (i == 0)
            dist = fabs(cdf(v, c->nvals, num(b, "lower_bound", 0), true));
        acc += num(b, "count", 0);
        /* Buckets are [lower, upper), the last one closed. */
        double gap =
            fabs(acc / total -
                 cdf(v, c->nvals, num(b, "upper_bound", 0), i != last));
        if (gap > dist)
            dist = gap;
    }
    mem_free(v);
    return dist;
}

/* L-infinity distance between the baseline's and the current frequencies. */
static double categorical_drift(json_t *base_buckets, const struct mon_col *c)
{
    double total = 0, dist = 0;
    size_t i;
    json_t *b;
    json_array_foreach(base_buckets, i, b) total += num(b, "count", 0);
    if (total <= 0 || c->present == 0)
        return 0;
    json_array_foreach(base_buckets, i, b)
    {
        const char *value = json_string_value(json_object_get(b, "value"));
        double mine = 0;
        for (size_t k = 0; value && k < c->ncats; k++)
            if (strcmp(c->cats[k].value, value) == 0)
                mine = (double)c->cats[k].count / (double)c->present;
        double gap = fabs(num(b, "count", 0) / total - mine);
        if (gap > dist)
            dist = gap;
    }
    for (size_t k = 0; k < c->ncats; k++) {
        bool known = false;
        json_array_foreach(base_buckets, i, b)
        {
            const char *value = json_string_value(json_object_get(b, "value"));
            known = known || (value && strcmp(value, c->cats[k].value) == 0);
        }
        double share = (double)c->cats[k].count / (double)c->present;
        if (!known && share > dist)
            dist = share;
    }
    return dist;
}

static json_t *find_feature(json_t *doc, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(doc, "features"), i, f)
    {
        const char *n = json_string_value(json_object_get(f, "name"));
        if (n && strcmp(n, name) == 0)
            return f;
    }
    return NULL;
}

static bool in_domain(json_t *domains, const char *value)
{
    size_t i;
    json_t *v;
    json_array_foreach(domains, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), value) == 0)
            return true;
    }
    return false;
}

/* The drift distance of column c from baseline feature bf, numeric or
 * categorical; false when bf has neither distribution. */
static bool feature_drift(const struct mon_col *c, json_t *bf, double *d)
{
    json_t *ns = json_object_get(bf, "numerical_statistics");
    json_t *ss = json_object_get(bf, "string_statistics");
    if (ns)
        *d = numeric_drift(
            json_object_get(
                json_object_get(json_object_get(ns, "distribution"), "kll"),
                "buckets"),
            c);
    else if (ss)
        *d = categorical_drift(
            json_object_get(json_object_get(json_object_get(ss, "distribution"),
                                            "categorical"),
                            "buckets"),
            c);
    return ns || ss;
}

static void check_feature(const struct mon_col *c, json_t *bf, json_t *cf,
                          json_t *config, json_t *out)
{
    const char *type = json_string_value(json_object_get(cf, "inferred_type"));
    json_t *dist = json_object_get(config, "distribution_constraints");
    uint64_t all = c->present + c->missing;

    if (is_numeric(type) && c->present) {
        double want = strcmp(type, "Integral") == 0 ? (double)c->integral
                                                    : (double)c->numeric;
        double share = want / (double)c->present;
        if (1.0 - share > num(config, "datatype_check_threshold", 0.1))
            violation(out, c->name, "data_type_check",
                      "Data type match requirement is not met. Expected data "
                      "type: %s, Expected match: %.1f%%. Observed: Only %.1f%% "
                      "of data is %s.",
                      type,
                      100.0 *
                          (1.0 - num(config, "datatype_check_threshold", 0.1)),
                      100.0 * share, type);
    }
    double completeness = num(cf, "completeness", 0);
    double got = all ? (double)c->present / (double)all : 1.0;
    if (all && got + 1e-9 < completeness)
        violation(out, c->name, "completeness_check",
                  "Data completeness requirement is not met. Expected: "
                  "%.1f%%. Observed: Only %.1f%% of data is complete.",
                  100.0 * completeness, 100.0 * got);
    json_t *domains =
        json_object_get(json_object_get(cf, "string_constraints"), "domains");
    if (json_is_array(domains) && c->present && !c->cats_overflow) {
        uint64_t inside = 0;
        for (size_t k = 0; k < c->ncats; k++)
            if (in_domain(domains, c->cats[k].value))
                inside += c->cats[k].count;
        double share = (double)inside / (double)c->present;
        double thr = num(config, "domain_content_threshold", 0.1);
        if (1.0 - share > thr)
            violation(out, c->name, "categorical_values_check",
                      "Data does not meet the domain content requirement. "
                      "Expected: %.1f%%, Observed: Only %.1f%% of data is in "
                      "the domain.",
                      100.0 * (1.0 - thr), 100.0 * share);
    }
    const char *compare =
        json_string_value(json_object_get(dist, "perform_comparison"));
    if (compare && strcmp(compare, "Enabled") != 0)
        return;
    double d;
    if (feature_drift(c, bf, &d)) {
        double thr = json_object_get(bf, "numerical_statistics")
                         ? num(dist, "comparison_threshold", 0.1)
                         : num(dist, "categorical_comparison_threshold", 0.1);
        if (d > thr)
            violation(out, c->name, "baseline_drift_check",
                      "Baseline drift distance: %.4g exceeds threshold: %g", d,
                      thr);
    }
}

int mon_violations(const struct mon_table *t, json_t *stats, json_t *cons,
                   json_t **out, struct kiln_diag *d)
{
    json_t *features = json_object_get(cons, "features");
    json_t *config = json_object_get(cons, "monitoring_config");
    if (!json_is_array(features))
        return diag_set(d, KILN_EINVAL,
                        "The baseline constraints have no features list.");
    json_t *list = json_array();
    const char *eval =
        json_string_value(json_object_get(config, "evaluate_constraints"));
    size_t want = json_array_size(features);

    if (t->rows && t->min_fields < want)
        violation(list, "", "missing_column_check",
                  "There are missing columns in current dataset. Number of "
                  "columns in current dataset: %zu, Number of columns in "
                  "baseline constraints: %zu",
                  t->min_fields, want);
    if (t->rows && t->max_fields > want)
        violation(list, "", "extra_column_check",
                  "There are extra columns in current dataset. Number of "
                  "columns in current dataset: %zu, Number of columns in "
                  "baseline constraints: %zu",
                  t->max_fields, want);
    for (size_t i = 0;
         t->rows && !(eval && strcmp(eval, "Enabled") != 0) && i < t->ncols;
         i++) {
        const struct mon_col *c = &t->cols[i];
        json_t *cf = find_feature(cons, c->name);
        if (cf)
            check_feature(c, find_feature(stats, c->name), cf, config, list);
    }
    *out = json_pack("{s:o}", "violations", list);
    return 0;
}

/* Appends {"MetricName": "<prefix><feature>"} to list, or NULL when the
 * name would pass CloudWatch's 255 characters. */
static json_t *metric(json_t *list, const char *prefix, const char *feature)
{
    char name[256];
    int n = snprintf(name, sizeof(name), "%s%s", prefix, feature);
    if (n < 0 || (size_t)n >= sizeof(name))
        return NULL;
    json_t *m = json_pack("{s:s}", "MetricName", name);
    json_array_append_new(list, m);
    return m;
}

json_t *mon_metrics(const struct mon_table *t, json_t *stats, json_t *cons)
{
    json_t *list = json_array();

    for (size_t i = 0; i < t->ncols; i++) {
        const struct mon_col *c = &t->cols[i];
        json_t *cf = find_feature(cons, c->name);
        const char *type =
            json_string_value(json_object_get(cf, "inferred_type"));
        uint64_t all = c->present + c->missing;
        json_t *m;
        double d;

        if (!cf)
            continue;
        if (is_numeric(type ? type : "") && c->numeric &&
            (m = metric(list, "feature_data_", c->name)))
            json_object_set_new(m, "StatisticValues",
                                json_pack("{s:f,s:f,s:f,s:f}", "SampleCount",
                                          (double)c->numeric, "Sum", c->sum,
                                          "Minimum", c->min, "Maximum",
                                          c->max));
        if (all && (m = metric(list, "feature_non_null_", c->name)))
            json_object_set_new(m, "Value",
                                json_real((double)c->present / (double)all));
        if (feature_drift(c, find_feature(stats, c->name), &d) &&
            (m = metric(list, "feature_baseline_drift_", c->name)))
            json_object_set_new(m, "Value", json_real(d));
    }
    return list;
}
