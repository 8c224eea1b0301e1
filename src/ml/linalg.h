/*
 * linalg.h - the dense kernels kiln's algorithms share, over CBLAS
 * (OpenBLAS). Matrices are row-major float32 with a leading dimension
 * (STYLE.md K11). Sizes are checked and converted to BLAS ints with an
 * overflow check (KILN_EDIM). Nothing allocates: callers pass workspaces.
 * Thread-safe (OpenBLAS threads internally).
 */
#ifndef KILN_ML_LINALG_H
#define KILN_ML_LINALG_H

#include "base/err.h"

struct mat {
    size_t rows, cols, ld; /* ld >= cols, in elements */
    float *data;           /* borrowed unless owner */
    bool owner;
};

/* A view of rows [r0, r0+n) of m (never owns). */
struct mat mat_view_rows(const struct mat *m, size_t r0, size_t n);

/*
 * Threads BLAS may use inside one call. Code that runs its own threads
 * (OpenMP) sets 1, so each thread's sgemm runs on that thread alone and
 * no BLAS thread spins between calls. Process-wide.
 */
void linalg_blas_threads(int n);

/* out[i] = sum_j m[i][j]^2 (float accumulation in double). */
void linalg_row_sqnorms(const struct mat *m, float *out);

/* The squared Euclidean distance of x and y, accumulated in double
 * (vectorised where the CPU allows, so the last bits depend on it). */
double linalg_sqdist(const float *x, const float *y, size_t d);

/*
 * y[t] += a * x[t] for t < d, each a fused multiply-add in double (so
 * a = 1 adds exactly as y + x would). Vectorised where the CPU allows;
 * the same result either way.
 */
void linalg_axpy(size_t d, double a, const float *x, double *y);

/*
 * Whether linalg_nearest uses its AVX-512 kernel (the CPU has it and it is
 * not turned off). on: 0 turns it off, 1 turns it back on where the CPU
 * allows, -1 only asks. Returns the state before the call. Process-wide;
 * for tests and benchmarks that compare the two paths.
 */
bool linalg_simd(int on);

/*
 * For each row i of X, the index of the nearest row of C (squared
 * Euclidean, ties to the lowest index) and that squared distance (>= 0).
 * ws must hold X.rows * C.rows floats; cnorm holds C's squared row norms
 * (linalg_row_sqnorms). dist2 may be NULL when only the index is wanted
 * (that skips the rows' norms). Uses the AVX-512 kernel where the CPU
 * has it, else sgemm (||x||^2 - 2 x.c + ||c||^2) when the work is large
 * and a direct loop otherwise; ws is only used by sgemm. KILN_EDIM on size
 * mismatch.
 */
int linalg_nearest(const struct mat *X, const struct mat *C, const float *cnorm,
                   float *ws, uint32_t *idx, float *dist2);

/*
 * linalg_nearest without the distances, and each row of X added to its
 * center's row of sums (C.rows x C.cols doubles), in row order: k-means'
 * pass, which adds each row while it is still in cache.
 */
int linalg_nearest_sum(const struct mat *X, const struct mat *C,
                       const float *cnorm, float *ws, uint32_t *idx,
                       double *sums);

#endif
