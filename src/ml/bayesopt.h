/*
 * bayesopt.h - the next point to try, by Bayesian optimization: a
 * Gaussian process over the points tried so far (Matern 5/2 kernel, its
 * length scale chosen by marginal likelihood from a few), and the
 * candidate of highest expected improvement among random points and
 * points near the best. Minimizes. Points live in the unit cube.
 * Any thread; no state.
 */
#ifndef KILN_ML_BAYESOPT_H
#define KILN_ML_BAYESOPT_H

#include <stddef.h>

#include "ml/rng.h"

/*
 * x: n points of dim coordinates in [0, 1] (row-major), y: their values,
 * n >= 1. Writes the suggestion to out (dim coordinates in [0, 1)).
 */
void bayesopt_suggest(const double *x, const double *y, size_t n, size_t dim,
                      struct rng *g, double *out);

#endif
