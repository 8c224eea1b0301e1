/*
 * dataproc.c - batch transform's DataProcessing (see dataproc.h).
 *
 * A parsed path is a list of segments, each a list of selectors: a name,
 * an index, a slice or the wildcard. Values are jansson values throughout;
 * a CSV row is an array of its fields' text, so a CSV record written back
 * keeps its fields exactly as they were read.
 */
#include "formats/dataproc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

enum sel_kind { SEL_NAME, SEL_INDEX, SEL_SLICE, SEL_ALL };

struct sel {
    enum sel_kind kind;
    char *name;
    long index, start, end;
    bool has_start, has_end;
};

struct segment {
    struct sel *sels;
    size_t n;
    bool many; /* selects a container of values, not one value */
};

struct jsonpath {
    struct segment *segs;
    size_t n;
};

void jsonpath_free(struct jsonpath *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        for (size_t k = 0; k < p->segs[i].n; k++)
            mem_free(p->segs[i].sels[k].name);
        mem_free(p->segs[i].sels);
    }
    mem_free(p->segs);
    mem_free(p);
}

static struct sel *add_sel(struct segment *s)
{
    s->sels = xrealloc(s->sels, (s->n + 1) * sizeof(*s->sels));
    memset(&s->sels[s->n], 0, sizeof(*s->sels));
    return &s->sels[s->n++];
}

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* An optionally signed integer at *p; false when there is none. */
static bool number(const char **p, long *out)
{
    const char *s = *p;
    char *end;
    if (*s == '-' || *s == '+')
        s++;
    if (!isdigit((unsigned char)*s))
        return false;
    long v = strtol(*p, &end, 10);
    if (v > 1000000000L || v < -1000000000L)
        return false;
    *out = v;
    *p = end;
    return true;
}

static void skip_spaces(const char **p)
{
    while (**p == ' ')
        (*p)++;
}

/* One bracketed list, *p just past '['. */
static int parse_brackets(const char **p, struct segment *seg)
{
    for (;;) {
        skip_spaces(p);
        struct sel *s = add_sel(seg);
        char q = **p;
        if (q == '*') {
            s->kind = SEL_ALL;
            (*p)++;
        } else if (q == '\'' || q == '"') {
            const char *start = ++(*p), *close = strchr(start, q);
            if (!close)
                return KILN_EINVAL;
            s->kind = SEL_NAME;
            s->name = xstrndup(start, (size_t)(close - start));
            *p = close + 1;
        } else {
            s->has_start = number(p, &s->start);
            skip_spaces(p);
            if (**p == ':') {
                (*p)++;
                skip_spaces(p);
                s->kind = SEL_SLICE;
                s->has_end = number(p, &s->end);
            } else if (s->has_start) {
                s->kind = SEL_INDEX;
                s->index = s->start;
            } else {
                return KILN_EINVAL;
            }
        }
        skip_spaces(p);
        if (**p == ']') {
            (*p)++;
            break;
        }
        if (**p != ',')
            return KILN_EINVAL;
        (*p)++;
    }
    seg->many = seg->n > 1 || seg->sels[0].kind == SEL_SLICE ||
                seg->sels[0].kind == SEL_ALL;
    return 0;
}

int jsonpath_parse(const char *expr, struct jsonpath **out, struct kiln_diag *d)
{
    struct jsonpath *jp = xcalloc(1, sizeof(*jp));
    const char *p = expr;
    int rc = 0;

    skip_spaces(&p);
    if (*p != '$')
        rc = KILN_EINVAL;
    else
        p++;
    while (!rc && *p) {
        jp->segs = xrealloc(jp->segs, (jp->n + 1) * sizeof(*jp->segs));
        struct segment *seg = &jp->segs[jp->n++];
        memset(seg, 0, sizeof(*seg));
        if (*p == '.') {
            p++;
            struct sel *s = add_sel(seg);
            if (*p == '*') {
                s->kind = SEL_ALL;
                seg->many = true;
                p++;
            } else {
                const char *start = p;
                while (is_name_char(*p))
                    p++;
                if (p == start) {
                    rc = KILN_EINVAL;
                    break;
                }
                s->kind = SEL_NAME;
                s->name = xstrndup(start, (size_t)(p - start));
            }
        } else if (*p == '[') {
            p++;
            rc = parse_brackets(&p, seg);
        } else if (*p == ' ') {
            skip_spaces(&p);
            jp->n--;
            if (*p)
                rc = KILN_EINVAL;
        } else {
            rc = KILN_EINVAL;
        }
    }
    if (rc) {
        jsonpath_free(jp);
        return diag_set(d, KILN_EINVAL,
                        "'%.63s' is not a JSONPath expression batch "
                        "transform supports: $ followed by .name, .*, "
                        "['name', ...], [*], [index, ...] or [start:end].",
                        expr);
    }
    *out = jp;
    return 0;
}

static int missing_index(long i, size_t size, struct kiln_diag *d)
{
    return diag_set(d, KILN_EINVAL,
                    "Index %ld is out of range for a record of %zu "
                    "values.",
                    i, size);
}

/* Appends to `arr` what selector s picks from v. */
static int pick(const struct sel *s, json_t *v, json_t *arr,
                struct kiln_diag *d)
{
    if (s->kind == SEL_ALL) {
        if (json_is_array(v)) {
            json_array_extend(arr, v);
        } else if (json_is_object(v)) {
            const char *k;
            json_t *x;
            json_object_foreach(v, k, x) json_array_append(arr, x);
        } else {
            return diag_set(d, KILN_EINVAL,
                            "[*] selects from an array or an object, not "
                            "from a single value.");
        }
        return 0;
    }
    if (s->kind == SEL_NAME) {
        json_t *x = json_object_get(v, s->name);
        if (!x)
            return diag_set(d, KILN_EINVAL, "The record has no member '%s'.",
                            s->name);
        json_array_append(arr, x);
        return 0;
    }
    if (!json_is_array(v))
        return diag_set(d, KILN_EINVAL,
                        "An index or a slice selects from an array; the "
                        "record is not one.");
    long size = (long)json_array_size(v);
    if (s->kind == SEL_INDEX) {
        long i = s->index < 0 ? s->index + size : s->index;
        if (i < 0 || i >= size)
            return missing_index(s->index, (size_t)size, d);
        json_array_append(arr, json_array_get(v, (size_t)i));
        return 0;
    }
    long from = s->has_start ? s->start : 0, to = s->has_end ? s->end : size;
    if (from < 0)
        from += size;
    if (to < 0)
        to += size;
    from = from < 0 ? 0 : from > size ? size : from;
    to = to < 0 ? 0 : to > size ? size : to;
    for (long i = from; i < to; i++)
        json_array_append(arr, json_array_get(v, (size_t)i));
    return 0;
}

static int apply_segment(const struct segment *seg, json_t *v, json_t **out,
                         struct kiln_diag *d)
{
    json_t *arr = json_array();
    int rc = 0;
    for (size_t i = 0; !rc && i < seg->n; i++)
        rc = pick(&seg->sels[i], v, arr, d);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    if (!seg->many) {
        *out = json_incref(json_array_get(arr, 0));
        json_decref(arr);
        return 0;
    }
    bool names = json_is_object(v);
    for (size_t i = 0; names && i < seg->n; i++)
        names = seg->sels[i].kind == SEL_NAME;
    if (names) {
        /* ['id', 'SageMakerOutput']: the object of those members. */
        json_t *o = json_object();
        for (size_t i = 0; i < seg->n; i++)
            json_object_set(o, seg->sels[i].name, json_array_get(arr, i));
        json_decref(arr);
        *out = o;
        return 0;
    }
    *out = arr;
    return 0;
}

int jsonpath_apply(const struct jsonpath *p, json_t *in, json_t **out,
                   struct kiln_diag *d)
{
    json_t *v = json_incref(in);
    for (size_t i = 0; p && i < p->n; i++) {
        json_t *next = NULL;
        int rc = apply_segment(&p->segs[i], v, &next, d);
        json_decref(v);
        if (rc)
            return rc;
        v = next;
    }
    *out = v;
    return 0;
}

/* ---- records --------------------------------------------------------- */

int dataproc_csv_fields(const char *line, size_t len, json_t **out,
                        struct kiln_diag *d)
{
    json_t *arr = json_array();
    struct buf f = BUF_INIT(len + 1);
    size_t i = 0;

    if (len && line[len - 1] == '\r')
        len--;
    for (;;) {
        buf_reset(&f);
        if (i < len && line[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) {
                    buf_release(&f);
                    json_decref(arr);
                    return diag_set(d, KILN_EINVAL,
                                    "A CSV record has a quoted field "
                                    "with no closing quote.");
                }
                if (line[i] == '"' && i + 1 < len && line[i + 1] == '"') {
                    buf_addc(&f, '"');
                    i += 2;
                } else if (line[i] == '"') {
                    i++;
                    break;
                } else {
                    buf_addc(&f, line[i++]);
                }
            }
            /* Anything between the closing quote and the comma is kept. */
        }
        while (i < len && line[i] != ',')
            buf_addc(&f, line[i++]);
        /* Kept as bytes: a CSV record is written back as it came. */
        json_array_append_new(
            arr, json_stringn_nocheck(f.data ? f.data : "", f.len));
        if (i >= len)
            break;
        i++; /* the comma */
    }
    buf_release(&f);
    *out = arr;
    return 0;
}

static void csv_field(struct buf *out, const char *s, size_t n)
{
    bool quote = false;
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) {
        buf_add(out, s, n);
        return;
    }
    buf_addc(out, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            buf_addc(out, '"');
        buf_addc(out, s[i]);
    }
    buf_addc(out, '"');
}

static void csv_value(struct buf *out, json_t *v)
{
    if (json_is_string(v)) {
        csv_field(out, json_string_value(v), json_string_length(v));
        return;
    }
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (text)
        csv_field(out, text, strlen(text));
    mem_free(text);
}

/* Appends v in the records' format and '\n'. */
static int write_record(const struct dataproc *p, json_t *v, struct buf *out,
                        struct kiln_diag *d)
{
    int rc = 0;
    if (p->csv_in && json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            if (i)
                rc = buf_addc(out, ',');
            csv_value(out, x);
        }
    } else if (p->csv_in) {
        csv_value(out, v);
    } else {
        char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        rc = text ? buf_adds(out, text) : KILN_EINVAL;
        mem_free(text);
    }
    if (!rc)
        rc = buf_addc(out, '\n');
    return rc ? diag_set(d, KILN_EINVAL, "an output record is too large") : 0;
}

static int read_record(const struct dataproc *p, const char *rec, size_t len,
                       json_t **out, struct kiln_diag *d)
{
    if (p->csv_in)
        return dataproc_csv_fields(rec, len, out, d);
    json_error_t e;
    *out = json_loadb(rec, len, JSON_DECODE_ANY, &e);
    if (!*out)
        return diag_set(d, KILN_EINVAL, "A record is not JSON: %s", e.text);
    return 0;
}

int dataproc_init(struct dataproc *p, const char *input_filter,
                  const char *output_filter, bool join, bool csv_in,
                  bool csv_out, struct kiln_diag *d)
{
    memset(p, 0, sizeof(*p));
    p->join = join;
    p->csv_in = csv_in;
    p->csv_out = csv_out;
    if (input_filter && *input_filter && strcmp(input_filter, "$") != 0 &&
        jsonpath_parse(input_filter, &p->input, d) != 0)
        return diag_wrap(d, KILN_EINVAL, "InputFilter: ");
    if (output_filter && *output_filter && strcmp(output_filter, "$") != 0 &&
        jsonpath_parse(output_filter, &p->output, d) != 0) {
        jsonpath_free(p->input);
        p->input = NULL;
        return diag_wrap(d, KILN_EINVAL, "OutputFilter: ");
    }
    return 0;
}

void dataproc_release(struct dataproc *p)
{
    jsonpath_free(p->input);
    jsonpath_free(p->output);
    memset(p, 0, sizeof(*p));
}

bool dataproc_rewrites_output(const struct dataproc *p)
{
    return p->join || p->output;
}

int dataproc_input(const struct dataproc *p, const char *rec, size_t len,
                   struct buf *out, struct kiln_diag *d)
{
    json_t *v, *sel;
    int rc = read_record(p, rec, len, &v, d);
    if (rc)
        return rc;
    rc = jsonpath_apply(p->input, v, &sel, d);
    json_decref(v);
    if (rc)
        return diag_wrap(d, rc, "InputFilter: ");
    rc = write_record(p, sel, out, d);
    json_decref(sel);
    return rc;
}

int dataproc_output(const struct dataproc *p, const char *rec, size_t len,
                    const char *ans, size_t alen, struct buf *out,
                    struct kiln_diag *d)
{
    json_t *answer = NULL, *v = NULL, *sel = NULL;
    int rc = 0;

    if (alen && ans[alen - 1] == '\r')
        alen--;
    if (p->csv_out && p->csv_in) {
        rc = dataproc_csv_fields(ans, alen, &answer, d);
    } else if (!p->csv_in) {
        answer = json_loadb(ans, alen, JSON_DECODE_ANY, NULL);
        if (!answer)
            answer = json_stringn(ans, alen);
    } else {
        answer = json_stringn_nocheck(ans, alen); /* one CSV field */
    }
    if (!answer && !rc)
        rc = diag_set(d, KILN_EINVAL, "The model's answer is not UTF-8.");
    if (!rc && p->join) {
        json_t *in;
        rc = read_record(p, rec, len, &in, d);
        if (!rc && p->csv_in) {
            v = in;
            if (json_is_array(answer))
                json_array_extend(v, answer);
            else
                json_array_append(v, answer);
        } else if (!rc && json_is_object(in)) {
            v = in;
            json_object_set(v, "SageMakerOutput", answer);
        } else if (!rc) {
            v = json_object();
            json_object_set_new(v, "SageMakerInput", in);
            json_object_set(v, "SageMakerOutput", answer);
        }
    } else if (!rc) {
        v = json_incref(answer);
    }
    if (!rc) {
        rc = jsonpath_apply(p->output, v, &sel, d);
        if (rc)
            diag_wrap(d, rc, "OutputFilter: ");
    }
    if (!rc)
        rc = write_record(p, sel, out, d);
    json_decref(sel);
    json_decref(v);
    json_decref(answer);
    return rc;
}
