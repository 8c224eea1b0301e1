/*
 * idx.c - zlib's gzread reads plain files too, so one path serves both.
 */
#include "formats/idx.h"

#include <zlib.h>

#include "base/mem.h"

static bool read_all(gzFile f, void *p, size_t n)
{
    uint8_t *q = p;
    while (n) {
        unsigned want = n > (1u << 30) ? (1u << 30) : (unsigned)n;
        int got = gzread(f, q, want);
        if (got <= 0)
            return false;
        q += got;
        n -= (size_t)got;
    }
    return true;
}

int idx_read(const char *path, size_t max_rows, struct idx *out,
             struct kiln_diag *d)
{
    gzFile f = gzopen(path, "rb");
    uint8_t head[4], dimb[4];
    uint32_t dims[4];
    size_t cols = 1, rows, total;
    uint8_t *raw = NULL;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!f)
        return diag_set(d, KILN_EIO, "cannot open '%s'", path);
    if (!read_all(f, head, 4) || head[0] || head[1] || head[2] != 0x08 ||
        head[3] < 1 || head[3] > 4) {
        rc = diag_set(d, KILN_EINVAL, "'%s' is not an unsigned-byte IDX file",
                      path);
        goto out;
    }
    for (int i = 0; i < head[3]; i++) {
        if (!read_all(f, dimb, 4)) {
            rc = diag_set(d, KILN_EINVAL, "'%s' is truncated", path);
            goto out;
        }
        dims[i] = (uint32_t)dimb[0] << 24 | (uint32_t)dimb[1] << 16 |
                  (uint32_t)dimb[2] << 8 | dimb[3];
        if (i > 0)
            cols *= dims[i];
    }
    rows = dims[0];
    if (max_rows && rows > max_rows)
        rows = max_rows;
    if (cols == 0 || cols > (1u << 24) || mem_mul(rows, cols, &total)) {
        rc = diag_set(d, KILN_EINVAL, "'%s' has an unusable shape", path);
        goto out;
    }
    raw = xmalloc(total ? total : 1);
    if (!read_all(f, raw, total)) {
        rc = diag_set(d, KILN_EINVAL, "'%s' is truncated", path);
        goto out;
    }
    out->data = xmalloc((total ? total : 1) * sizeof(float));
    for (size_t i = 0; i < total; i++)
        out->data[i] = head[3] == 1 ? (float)raw[i] : (float)raw[i] / 255.0f;
    out->rows = rows;
    out->cols = cols;
out:
    mem_free(raw);
    gzclose(f);
    return rc;
}

void idx_release(struct idx *x)
{
    mem_free(x->data);
    memset(x, 0, sizeof(*x));
}
