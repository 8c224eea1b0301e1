/*
 * ndarray.c - a bounds-checked cursor over little-endian fields.
 */
#include "formats/ndarray.h"

#include <math.h>

#include "base/mem.h"

#define LIST_MAGIC 0x112u
#define V1_MAGIC   0xF993FAC8u
#define V2_MAGIC   0xF993FAC9u
#define V3_MAGIC   0xF993FACAu

static int put(struct buf *out, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    return buf_add(out, b, (size_t)bytes);
}

int ndarray_write(struct buf *out, const float *data, size_t rows, size_t cols)
{
    size_t n;
    int rc = mem_mul(rows, cols, &n);

    if (!rc)
        rc = put(out, LIST_MAGIC, 8);
    if (!rc)
        rc = put(out, 0, 8);
    if (!rc)
        rc = put(out, 1, 8);
    if (!rc)
        rc = put(out, V2_MAGIC, 4);
    if (!rc)
        rc = put(out, 0, 4); /* dense storage */
    if (!rc)
        rc = put(out, 2, 4);
    if (!rc)
        rc = put(out, rows, 8);
    if (!rc)
        rc = put(out, cols, 8);
    if (!rc)
        rc = put(out, 1, 4); /* cpu */
    if (!rc)
        rc = put(out, 0, 4);
    if (!rc)
        rc = put(out, 0, 4); /* float32 */
    for (size_t i = 0; i < n && !rc; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        rc = put(out, u, 4);
    }
    if (!rc)
        rc = put(out, 0, 8); /* no names */
    return rc;
}

struct cur {
    const uint8_t *p;
    size_t n, at;
};

static bool get(struct cur *c, int bytes, uint64_t *v)
{
    if (c->n - c->at < (size_t)bytes)
        return false;
    *v = 0;
    for (int i = 0; i < bytes; i++)
        *v |= (uint64_t)c->p[c->at + (size_t)i] << (8 * i);
    c->at += (size_t)bytes;
    return true;
}

static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0    ? ldexpf((float)m, -24)
              : e == 31 ? (m ? NAN : INFINITY)
                        : ldexpf((float)(m | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

int ndarray_read(const uint8_t *p, size_t n, float **data, size_t *rows,
                 size_t *cols, struct kiln_diag *d)
{
    static const int dsize[] = {4, 8, 2, 1, 4, 1, 8};
    struct cur c = {p, n, 0};
    uint64_t v, count, magic, ndim, dims[8], dtype, total = 1;
    float *out = NULL;
    bool legacy = false;

    if (!get(&c, 8, &v) || v != LIST_MAGIC)
        return diag_set(d, KILN_EINVAL,
                        "not an MXNet NDArray file (bad list magic)");
    if (!get(&c, 8, &v) || !get(&c, 8, &count) || count == 0)
        return diag_set(d, KILN_EINVAL, "the NDArray file holds no array");
    if (!get(&c, 4, &magic))
        goto truncated;
    if (magic == V2_MAGIC || magic == V3_MAGIC) {
        if (!get(&c, 4, &v))
            goto truncated;
        if (v != 0)
            return diag_set(d, KILN_EINVAL,
                            "sparse NDArrays are not supported as models");
    }
    if (magic == V1_MAGIC || magic == V2_MAGIC || magic == V3_MAGIC) {
        if (!get(&c, 4, &ndim))
            goto truncated;
    } else {
        ndim = magic; /* legacy: the first word is ndim, dims are u32 */
        legacy = true;
    }
    if (ndim == 0 || ndim > 8)
        return diag_set(d, KILN_EINVAL, "NDArray has %llu dimensions",
                        (unsigned long long)ndim);
    for (uint64_t i = 0; i < ndim; i++) {
        if (!get(&c, legacy ? 4 : 8, &dims[i]))
            goto truncated;
        if (dims[i] && total > UINT64_MAX / dims[i])
            return diag_set(d, KILN_EINVAL, "NDArray shape overflows");
        total *= dims[i];
    }
    if (ndim > 2)
        return diag_set(d, KILN_EINVAL,
                        "model NDArray has %llu dimensions; expected 2",
                        (unsigned long long)ndim);
    if (!get(&c, 4, &v) || !get(&c, 4, &v) || !get(&c, 4, &dtype))
        goto truncated;
    if (dtype >= KILN_ARRAY_LEN(dsize))
        return diag_set(d, KILN_EINVAL, "NDArray has unknown dtype %llu",
                        (unsigned long long)dtype);
    if (total > (c.n - c.at) / (uint64_t)dsize[dtype])
        goto truncated;
    if (total == 0)
        return diag_set(d, KILN_EINVAL, "the NDArray is empty");
    out = xmalloc((size_t)total * sizeof(float));
    for (uint64_t i = 0; i < total; i++) {
        const uint8_t *q = c.p + c.at + i * (uint64_t)dsize[dtype];
        uint64_t raw = 0;
        for (int k = 0; k < dsize[dtype]; k++)
            raw |= (uint64_t)q[k] << (8 * k);
        float f;
        switch (dtype) {
        case 0: {
            uint32_t u = (uint32_t)raw;
            memcpy(&f, &u, 4);
            break;
        }
        case 1: {
            double x;
            memcpy(&x, &raw, 8);
            f = (float)x;
            break;
        }
        case 2:
            f = half_to_float((uint16_t)raw);
            break;
        case 3:
            f = (float)(uint8_t)raw;
            break;
        case 4:
            f = (float)(int32_t)(uint32_t)raw;
            break;
        case 5:
            f = (float)(int8_t)(uint8_t)raw;
            break;
        default:
            f = (float)(int64_t)raw;
        }
        out[i] = f;
    }
    *data = out;
    *rows = ndim == 2 ? (size_t)dims[0] : 1;
    *cols = (size_t)dims[ndim - 1];
    return 0;
truncated:
    return diag_set(d, KILN_EINVAL, "the NDArray file is truncated");
}
