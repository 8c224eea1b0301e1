/*
 * rng.h - a small seeded generator (xoshiro256**) so every random choice
 * in kiln's algorithms is reproducible from one seed (STYLE.md K11).
 * A struct rng is a value owned by one thread.
 */
#ifndef KILN_ML_RNG_H
#define KILN_ML_RNG_H

#include "base/kiln.h"

struct rng {
    uint64_t s[4];
};

/* Seeds from a 64-bit value (splitmix64 expansion). */
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform in [0, 1). */
double rng_uniform(struct rng *r);
/* Uniform integer in [0, n), n > 0. */
uint64_t rng_below(struct rng *r, uint64_t n);

#endif
