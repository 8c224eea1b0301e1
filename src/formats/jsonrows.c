/*
 * jsonrows.c - jansson for the parse; every instance form is reduced to a
 * (values, keys, shape) triple and written as a dense row.
 */
#include "formats/jsonrows.h"

#include <jansson.h>
#include <math.h>

#include "base/mem.h"

static int row_from(json_t *inst, size_t dim, size_t index, struct buf *rows,
                    struct kiln_diag *d)
{
    json_t *values = NULL, *keys = NULL, *shape = NULL;
    float *row;
    size_t i;
    json_t *v;

    if (json_is_array(inst)) {
        values = inst;
    } else if (json_is_object(inst)) {
        values = json_object_get(inst, "features");
        if (!values) {
            json_t *f =
                json_object_get(json_object_get(inst, "data"), "features");
            values = json_object_get(f, "values");
            keys = json_object_get(f, "keys");
            shape = json_object_get(f, "shape");
        }
    }
    if (!json_is_array(values))
        return diag_set(d, KILN_EINVAL,
                        "instance %zu has no features: expected "
                        "{\"features\": [...]}, {\"data\": {\"features\": "
                        "{\"values\": [...]}}} or a list of numbers",
                        index);
    if (buf_add(rows, NULL, 0) || rows->len + dim * sizeof(float) > rows->max)
        return diag_set(d, KILN_ETOOBIG, "too many rows");
    size_t at = rows->len;
    if (buf_addzeros(rows, dim * sizeof(float)))
        return diag_set(d, KILN_ETOOBIG, "too many rows");
    row = (float *)(void *)(rows->data + at);
    if (keys) {
        if (!json_is_array(keys) ||
            json_array_size(keys) != json_array_size(values))
            return diag_set(d, KILN_EINVAL,
                            "instance %zu: keys and values differ in length",
                            index);
        if (shape &&
            json_integer_value(json_array_get(shape, 0)) != (json_int_t)dim)
            return diag_set(
                d, KILN_EDIM,
                "instance %zu has shape %lld, but the model "
                "expects %zu features",
                index, (long long)json_integer_value(json_array_get(shape, 0)),
                dim);
        json_array_foreach(keys, i, v)
        {
            json_t *x = json_array_get(values, i);
            json_int_t k = json_integer_value(v);
            if (!json_is_integer(v) || k < 0 || (size_t)k >= dim ||
                !json_is_number(x))
                return diag_set(d, KILN_EDIM,
                                "instance %zu: key %lld is outside the %zu "
                                "features",
                                index, (long long)k, dim);
            row[k] = (float)json_number_value(x);
        }
        return 0;
    }
    if (json_array_size(values) != dim)
        return diag_set(d, KILN_EDIM,
                        "instance %zu has %zu features, but the model "
                        "expects %zu",
                        index, json_array_size(values), dim);
    json_array_foreach(values, i, v)
    {
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            return diag_set(d, KILN_EINVAL,
                            "instance %zu, feature %zu is not a number", index,
                            i);
        row[i] = (float)json_number_value(v);
    }
    return 0;
}

static int one_doc(json_t *doc, size_t dim, struct buf *rows, size_t *n,
                   struct kiln_diag *d)
{
    json_t *list =
        json_is_object(doc) ? json_object_get(doc, "instances") : doc;
    size_t i;
    json_t *inst;
    int rc;

    if (json_is_object(doc) && !list)
        return row_from(doc, dim, (*n)++, rows, d);
    if (!json_is_array(list))
        return diag_set(d, KILN_EINVAL,
                        "expected {\"instances\": [...]} or a list");
    /* A bare list of numbers is one row. */
    if (json_array_size(list) && json_is_number(json_array_get(list, 0)))
        return row_from(list, dim, (*n)++, rows, d);
    json_array_foreach(list, i, inst)
    {
        rc = row_from(inst, dim, (*n)++, rows, d);
        if (rc)
            return rc;
    }
    return 0;
}

int jsonrows_parse(const char *body, size_t len, bool lines, size_t dim,
                   struct buf *rows, size_t *n, struct kiln_diag *d)
{
    json_error_t e;
    int rc = 0;

    *n = 0;
    if (!lines) {
        json_t *doc = json_loadb(body, len, 0, &e);
        if (!doc)
            return diag_set(d, KILN_EINVAL, "the request is not JSON: %s",
                            e.text);
        rc = one_doc(doc, dim, rows, n, d);
        json_decref(doc);
        return rc;
    }
    const char *p = body, *end = body + len;
    while (p < end && !rc) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        const char *q = p;
        while (q < stop && (*q == ' ' || *q == '\r' || *q == '\t'))
            q++;
        if (q < stop) {
            json_t *doc = json_loadb(q, (size_t)(stop - q), 0, &e);
            if (!doc)
                return diag_set(d, KILN_EINVAL,
                                "JSON Lines line %zu is not JSON: %s", *n + 1,
                                e.text);
            rc = one_doc(doc, dim, rows, n, d);
            json_decref(doc);
        }
        p = nl ? nl + 1 : end;
    }
    if (!rc && *n == 0)
        rc = diag_set(d, KILN_EINVAL, "the request holds no instances");
    return rc;
}
