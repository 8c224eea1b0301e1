/*
 * bayesopt.c - Bayesian optimization's next point (see bayesopt.h).
 *
 * The values are standardized, the kernel matrix K + noise I is
 * factored once per length scale (Cholesky), and the scale with the
 * highest log marginal likelihood is kept. Each candidate's posterior
 * mean and variance then give its expected improvement over the best
 * value seen. A few hundred points at most: plain loops are enough.
 */
#include "ml/bayesopt.h"

#include <math.h>
#include <string.h>

#include "base/mem.h"

#define NOISE      1e-3
#define CANDIDATES 2000
#define LOCAL      400 /* of them, near the best point */

static double matern52(const double *a, const double *b, size_t dim,
                       double scale)
{
    double d2 = 0;
    for (size_t i = 0; i < dim; i++)
        d2 += (a[i] - b[i]) * (a[i] - b[i]);
    double r = sqrt(5 * d2) / scale;
    return (1 + r + r * r / 3) * exp(-r);
}

/* L L^T = A (n x n, lower triangle written to L); false if not positive
 * definite. */
static bool cholesky(const double *A, double *L, size_t n)
{
    memset(L, 0, n * n * sizeof(*L));
    for (size_t j = 0; j < n; j++) {
        double s = A[j * n + j];
        for (size_t k = 0; k < j; k++)
            s -= L[j * n + k] * L[j * n + k];
        if (s <= 0)
            return false;
        L[j * n + j] = sqrt(s);
        for (size_t i = j + 1; i < n; i++) {
            double t = A[i * n + j];
            for (size_t k = 0; k < j; k++)
                t -= L[i * n + k] * L[j * n + k];
            L[i * n + j] = t / L[j * n + j];
        }
    }
    return true;
}

/* Solves L z = b (forward) into z. */
static void forward(const double *L, const double *b, double *z, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double s = b[i];
        for (size_t k = 0; k < i; k++)
            s -= L[i * n + k] * z[k];
        z[i] = s / L[i * n + i];
    }
}

/* Solves L^T z = b (backward) into z. */
static void backward(const double *L, const double *b, double *z, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        double s = b[i];
        for (size_t k = i + 1; k < n; k++)
            s -= L[k * n + i] * z[k];
        z[i] = s / L[i * n + i];
    }
}

struct gp {
    double scale;
    double *L, *alpha; /* K = L L^T, alpha = K^-1 y */
};

/* Fits the GP at one length scale; its log marginal likelihood, or
 * -INFINITY. */
static double fit(const double *x, const double *y, size_t n, size_t dim,
                  double scale, struct gp *gp)
{
    double *K = xcalloc(n * n, sizeof(*K)), *z = xcalloc(n, sizeof(*z));
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            K[i * n + j] = matern52(x + i * dim, x + j * dim, dim, scale) +
                           (i == j ? NOISE : 0);
    gp->scale = scale;
    double ll = -INFINITY;
    if (cholesky(K, gp->L, n)) {
        forward(gp->L, y, z, n);
        backward(gp->L, z, gp->alpha, n);
        ll = 0;
        for (size_t i = 0; i < n; i++)
            ll -= 0.5 * y[i] * gp->alpha[i] + log(gp->L[i * n + i]);
    }
    mem_free(K);
    mem_free(z);
    return ll;
}

/* Expected improvement over `best` (minimizing) at point p. */
static double expected_improvement(const struct gp *gp, const double *x,
                                   size_t n, size_t dim, const double *p,
                                   double best, double *k, double *v)
{
    double mu = 0;
    for (size_t i = 0; i < n; i++) {
        k[i] = matern52(p, x + i * dim, dim, gp->scale);
        mu += k[i] * gp->alpha[i];
    }
    forward(gp->L, k, v, n);
    double var = 1 + NOISE;
    for (size_t i = 0; i < n; i++)
        var -= v[i] * v[i];
    double sd = sqrt(var > 1e-12 ? var : 1e-12);
    double gain = best - mu - 0.01, z = gain / sd;
    double cdf = 0.5 * erfc(-z / sqrt(2)),
           pdf = exp(-z * z / 2) / sqrt(2 * M_PI);
    return gain * cdf + sd * pdf;
}

void bayesopt_suggest(const double *x, const double *y, size_t n, size_t dim,
                      struct rng *g, double *out)
{
    double mean = 0, sd = 0, best = INFINITY;
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        mean += y[i] / (double)n;
    for (size_t i = 0; i < n; i++)
        sd += (y[i] - mean) * (y[i] - mean) / (double)n;
    sd = sd > 0 ? sqrt(sd) : 1;
    double *ys = xcalloc(n, sizeof(*ys));
    for (size_t i = 0; i < n; i++) {
        ys[i] = (y[i] - mean) / sd;
        if (ys[i] < best) {
            best = ys[i];
            at = i;
        }
    }
    static const double scales[] = {0.05, 0.1, 0.2, 0.4, 0.8, 1.6};
    struct gp gp = {0}, tryit = {0};
    gp.L = xcalloc(n * n, sizeof(double));
    gp.alpha = xcalloc(n, sizeof(double));
    tryit.L = xcalloc(n * n, sizeof(double));
    tryit.alpha = xcalloc(n, sizeof(double));
    double best_ll = -INFINITY;
    for (size_t s = 0; s < sizeof(scales) / sizeof(scales[0]); s++) {
        double ll = fit(x, ys, n, dim, scales[s], &tryit);
        if (ll > best_ll) {
            struct gp swap = gp;
            best_ll = ll;
            gp = tryit;
            tryit = swap;
        }
    }
    double *p = xcalloc(dim, sizeof(*p)), *k = xcalloc(n, sizeof(*k));
    double *v = xcalloc(n, sizeof(*v)), best_ei = -1;
    for (size_t d = 0; d < dim; d++)
        out[d] = rng_uniform(g);
    for (size_t c = 0; best_ll > -INFINITY && c < CANDIDATES; c++) {
        for (size_t d = 0; d < dim; d++) {
            double u = rng_uniform(g);
            if (c < LOCAL) { /* near the best point so far */
                u = x[at * dim + d] + (u - 0.5) * 0.2;
                u = u < 0 ? 0 : u >= 1 ? 0.999999 : u;
            }
            p[d] = u;
        }
        double ei = expected_improvement(&gp, x, n, dim, p, best, k, v);
        if (ei > best_ei) {
            best_ei = ei;
            memcpy(out, p, dim * sizeof(*p));
        }
    }
    mem_free(p);
    mem_free(k);
    mem_free(v);
    mem_free(ys);
    mem_free(gp.L);
    mem_free(gp.alpha);
    mem_free(tryit.L);
    mem_free(tryit.alpha);
}
