/*
 * linalg.c - nearest-center search. With many centers the dot products
 * dominate and sgemm wins; with few (the hosting case: k = 10, a handful
 * of rows) a direct loop avoids BLAS's fixed costs.
 */
#include "ml/linalg.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>

struct mat mat_view_rows(const struct mat *m, size_t r0, size_t n)
{
    struct mat v = {n, m->cols, m->ld, m->data + r0 * m->ld, false};
    return v;
}

void linalg_row_sqnorms(const struct mat *m, float *out)
{
    for (size_t i = 0; i < m->rows; i++) {
        const float *x = m->data + i * m->ld;
        double s = 0;
        for (size_t j = 0; j < m->cols; j++)
            s += (double)x[j] * x[j];
        out[i] = (float)s;
    }
}

static bool fits_int(size_t v)
{
    return v <= (size_t)INT_MAX;
}

void linalg_blas_threads(int n)
{
    openblas_set_num_threads(n);
}

int linalg_nearest(const struct mat *X, const struct mat *C, const float *cnorm,
                   float *ws, uint32_t *idx, float *dist2)
{
    size_t n = X->rows, k = C->rows, d = X->cols;

    if (C->cols != d || k == 0)
        return KILN_EDIM;
    if (!fits_int(n) || !fits_int(k) || !fits_int(d) || !fits_int(X->ld) ||
        !fits_int(C->ld))
        return KILN_EDIM;
    if (n * k * d < 200000) {
        for (size_t i = 0; i < n; i++) {
            const float *x = X->data + i * X->ld;
            float best = INFINITY;
            uint32_t bj = 0;
            for (size_t j = 0; j < k; j++) {
                const float *c = C->data + j * C->ld;
                float s = 0;
                for (size_t t = 0; t < d; t++) {
                    float diff = x[t] - c[t];
                    s += diff * diff;
                }
                if (s < best) {
                    best = s;
                    bj = (uint32_t)j;
                }
            }
            idx[i] = bj;
            if (dist2)
                dist2[i] = best;
        }
        return 0;
    }
    /* ws = X . C^T (n x k) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)k, (int)d,
                1.0f, X->data, (int)X->ld, C->data, (int)C->ld, 0.0f, ws,
                (int)k);
    for (size_t i = 0; i < n; i++) {
        const float *x = X->data + i * X->ld;
        const float *dot = ws + i * k;
        float xn = 0;
        for (size_t t = 0; dist2 && t < d; t++)
            xn += x[t] * x[t];
        float best = INFINITY;
        uint32_t bj = 0;
        for (size_t j = 0; j < k; j++) {
            float s = cnorm[j] - 2.0f * dot[j];
            if (s < best) {
                best = s;
                bj = (uint32_t)j;
            }
        }
        idx[i] = bj;
        best += xn;
        if (dist2)
            dist2[i] = best > 0 ? best : 0;
    }
    return 0;
}
