/*
 * linalg.c - nearest-center search.
 *
 * On a CPU with AVX-512 a fused kernel does it: tiles of 6 rows by 4
 * centers, 24 dot products accumulated across d in registers, then
 * ||c||^2 - 2 x.c and the running minimum, so each row block is read
 * once per pass over the centers and nothing goes to memory in between.
 * It beats BLAS here both for many centers (no packing, no n x k matrix
 * written and read back) and for few (the hosting case: k = 10, one row,
 * where a call into BLAS costs more than the arithmetic).
 *
 * Elsewhere: sgemm (||x||^2 - 2 x.c + ||c||^2) when the work is large, a
 * direct loop when it is small.
 */
#include "ml/linalg.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>

#include "base/cpu.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_AVX512_KERNEL 1
#endif

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

#ifdef HAVE_AVX512_KERNEL

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))

enum { TILE_ROWS = 6, TILE_CENTERS = 4 };

/*
 * dot[r * TILE_CENTERS + s] = x_r . c_s for R rows from x and S centers
 * from c. R and S are constants where this is inlined, so the R x S
 * accumulators live in registers (24 of the 32 zmm at 6 x 4). d's tail
 * (d % 16) is read with a masked load, which touches no byte past it.
 */
static inline __attribute__((always_inline)) AVX512 void
dot_tile(const float *x, size_t ldx, const float *c, size_t ldc, size_t d,
         int R, int S, float *dot)
{
    __m512 acc[TILE_ROWS][TILE_CENTERS];
    __m512 xv[TILE_ROWS];
    size_t full = d & ~(size_t)15, t;
    __mmask16 tail = (__mmask16)((1u << (d & 15)) - 1);

    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++)
            acc[r][s] = _mm512_setzero_ps();
    for (t = 0; t < full; t += 16) {
        for (int r = 0; r < R; r++)
            xv[r] = _mm512_loadu_ps(x + r * ldx + t);
        for (int s = 0; s < S; s++) {
            __m512 cv = _mm512_loadu_ps(c + s * ldc + t);
            for (int r = 0; r < R; r++)
                acc[r][s] = _mm512_fmadd_ps(xv[r], cv, acc[r][s]);
        }
    }
    if (tail) {
        for (int r = 0; r < R; r++)
            xv[r] = _mm512_maskz_loadu_ps(tail, x + r * ldx + t);
        for (int s = 0; s < S; s++) {
            __m512 cv = _mm512_maskz_loadu_ps(tail, c + s * ldc + t);
            for (int r = 0; r < R; r++)
                acc[r][s] = _mm512_fmadd_ps(xv[r], cv, acc[r][s]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++)
            dot[r * TILE_CENTERS + s] = _mm512_reduce_add_ps(acc[r][s]);
}

/* One specialisation per (R, S) the kernel meets: full tiles, and the
 * leftover centers and rows at the ends. */
#define DOT_TILE_FN(R, S)                                                      \
    static AVX512 void dot_tile_##R##_##S(const float *x, size_t ldx,          \
                                          const float *c, size_t ldc,          \
                                          size_t d, float *dot)                \
    {                                                                          \
        dot_tile(x, ldx, c, ldc, d, R, S, dot);                                \
    }
DOT_TILE_FN(6, 1)
DOT_TILE_FN(6, 2)
DOT_TILE_FN(6, 3)
DOT_TILE_FN(6, 4)
DOT_TILE_FN(1, 1)
DOT_TILE_FN(1, 2)
DOT_TILE_FN(1, 3)
DOT_TILE_FN(1, 4)

typedef void dot_tile_fn(const float *, size_t, const float *, size_t, size_t,
                         float *);
static dot_tile_fn *const tiles6[TILE_CENTERS] = {dot_tile_6_1, dot_tile_6_2,
                                                  dot_tile_6_3, dot_tile_6_4};
static dot_tile_fn *const tiles1[TILE_CENTERS] = {dot_tile_1_1, dot_tile_1_2,
                                                  dot_tile_1_3, dot_tile_1_4};

static AVX512 float sqnorm_avx512(const float *x, size_t d)
{
    __m512 a = _mm512_setzero_ps();
    size_t t = 0;
    for (; t + 16 <= d; t += 16) {
        __m512 v = _mm512_loadu_ps(x + t);
        a = _mm512_fmadd_ps(v, v, a);
    }
    if (t < d) {
        __m512 v =
            _mm512_maskz_loadu_ps((__mmask16)((1u << (d - t)) - 1), x + t);
        a = _mm512_fmadd_ps(v, v, a);
    }
    return _mm512_reduce_add_ps(a);
}

static AVX512 void axpy_avx512(size_t d, double a, const float *x, double *y)
{
    __m512d av = _mm512_set1_pd(a);
    size_t t = 0;
    for (; t + 8 <= d; t += 8) {
        __m512d xv = _mm512_cvtps_pd(_mm256_loadu_ps(x + t));
        _mm512_storeu_pd(y + t,
                         _mm512_fmadd_pd(av, xv, _mm512_loadu_pd(y + t)));
    }
    for (; t < d; t++)
        y[t] = fma(a, (double)x[t], y[t]);
}

static AVX512 void nearest_avx512(const struct mat *X, const struct mat *C,
                                  const float *cnorm, uint32_t *idx,
                                  float *dist2, double *sums)
{
    size_t n = X->rows, k = C->rows, d = X->cols;
    float dot[TILE_ROWS * TILE_CENTERS];

    for (size_t i = 0; i < n; i += TILE_ROWS) {
        size_t R = n - i < TILE_ROWS ? n - i : TILE_ROWS;
        const float *x = X->data + i * X->ld;
        float best[TILE_ROWS];
        uint32_t bj[TILE_ROWS] = {0};

        for (size_t r = 0; r < R; r++)
            best[r] = INFINITY;
        for (size_t j = 0; j < k; j += TILE_CENTERS) {
            size_t S = k - j < TILE_CENTERS ? k - j : TILE_CENTERS;
            const float *c = C->data + j * C->ld;
            if (R == TILE_ROWS)
                tiles6[S - 1](x, X->ld, c, C->ld, d, dot);
            else
                for (size_t r = 0; r < R; r++)
                    tiles1[S - 1](x + r * X->ld, X->ld, c, C->ld, d,
                                  dot + r * TILE_CENTERS);
            for (size_t r = 0; r < R; r++)
                for (size_t s = 0; s < S; s++) {
                    float v = cnorm[j + s] - 2.0f * dot[r * TILE_CENTERS + s];
                    if (v < best[r]) {
                        best[r] = v;
                        bj[r] = (uint32_t)(j + s);
                    }
                }
        }
        for (size_t r = 0; r < R; r++) {
            idx[i + r] = bj[r];
            if (sums) /* while the row is in L1 */
                axpy_avx512(d, 1.0, x + r * X->ld, sums + (size_t)bj[r] * d);
            if (dist2) {
                float v = best[r] + sqnorm_avx512(x + r * X->ld, d);
                dist2[i + r] = v > 0 ? v : 0;
            }
        }
    }
}

static AVX512 double sqdist_avx512(const float *x, const float *y, size_t d)
{
    __m512d a = _mm512_setzero_pd(), b = _mm512_setzero_pd();
    size_t t = 0;
    for (; t + 16 <= d; t += 16) {
        __m512d u = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x + t)),
                                  _mm512_cvtps_pd(_mm256_loadu_ps(y + t)));
        __m512d v = _mm512_sub_pd(_mm512_cvtps_pd(_mm256_loadu_ps(x + t + 8)),
                                  _mm512_cvtps_pd(_mm256_loadu_ps(y + t + 8)));
        a = _mm512_fmadd_pd(u, u, a);
        b = _mm512_fmadd_pd(v, v, b);
    }
    double s = _mm512_reduce_add_pd(_mm512_add_pd(a, b));
    for (; t < d; t++) {
        double u = (double)x[t] - y[t];
        s += u * u;
    }
    return s;
}

static bool avx512_probe(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
}

static struct cpu_switch avx512 = CPU_SWITCH_INIT(avx512_probe);

bool linalg_simd(int on)
{
    return cpu_switch_set(&avx512, on);
}

#else

bool linalg_simd(int on)
{
    (void)on;
    return false;
}

#endif

double linalg_sqdist(const float *x, const float *y, size_t d)
{
    double s = 0;
#ifdef HAVE_AVX512_KERNEL
    if (cpu_switch_on(&avx512))
        return sqdist_avx512(x, y, d);
#endif
    for (size_t t = 0; t < d; t++) {
        double u = (double)x[t] - y[t];
        s += u * u;
    }
    return s;
}

void linalg_axpy(size_t d, double a, const float *x, double *y)
{
#ifdef HAVE_AVX512_KERNEL
    if (cpu_switch_on(&avx512)) {
        axpy_avx512(d, a, x, y);
        return;
    }
#endif
    for (size_t t = 0; t < d; t++)
        y[t] = fma(a, (double)x[t], y[t]);
}

/* sgemm for large work, a direct loop for small. */
static int nearest_portable(const struct mat *X, const struct mat *C,
                            const float *cnorm, float *ws, uint32_t *idx,
                            float *dist2)
{
    size_t n = X->rows, k = C->rows, d = X->cols;

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

static int nearest(const struct mat *X, const struct mat *C, const float *cnorm,
                   float *ws, uint32_t *idx, float *dist2, double *sums)
{
    size_t n = X->rows, k = C->rows, d = X->cols;

    if (C->cols != d || k == 0)
        return KILN_EDIM;
    if (!fits_int(n) || !fits_int(k) || !fits_int(d) || !fits_int(X->ld) ||
        !fits_int(C->ld))
        return KILN_EDIM;
#ifdef HAVE_AVX512_KERNEL
    if (cpu_switch_on(&avx512)) {
        nearest_avx512(X, C, cnorm, idx, dist2, sums);
        return 0;
    }
#endif
    int rc = nearest_portable(X, C, cnorm, ws, idx, dist2);
    for (size_t i = 0; !rc && sums && i < n; i++)
        linalg_axpy(d, 1.0, X->data + i * X->ld, sums + (size_t)idx[i] * d);
    return rc;
}

int linalg_nearest(const struct mat *X, const struct mat *C, const float *cnorm,
                   float *ws, uint32_t *idx, float *dist2)
{
    return nearest(X, C, cnorm, ws, idx, dist2, NULL);
}

int linalg_nearest_sum(const struct mat *X, const struct mat *C,
                       const float *cnorm, float *ws, uint32_t *idx,
                       double *sums)
{
    return nearest(X, C, cnorm, ws, idx, NULL, sums);
}
