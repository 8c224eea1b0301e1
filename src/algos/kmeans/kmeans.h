/*
 * kmeans.h - SageMaker's built-in K-Means (kmeans-and-recordio.md §2, §3):
 * hyperparameters, the streaming "web-scale" phase over K = k * x weighted
 * centers, its mergeable state, the local weighted Lloyd that shrinks the
 * state to k centers, and nearest-center assignment for evaluation and
 * inference.
 *
 * Shaped like GSL (STYLE.md K11): options in a struct filled by
 * kmeans_hp_parse(), a state and a workspace created once, an update step
 * that allocates nothing, an explicit seeded generator. The state is the
 * sufficient statistic of the streaming phase: K centers and their
 * weights; two states merge by union, so states from several hosts (MPI
 * ranks) or a resumed run combine without the data. A state or workspace
 * has one owner; kmeans_predict() only reads its model and is safe from
 * many threads when each brings its own workspace.
 */
#ifndef KILN_ALGOS_KMEANS_H
#define KILN_ALGOS_KMEANS_H

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "ml/linalg.h"
#include "ml/rng.h"

enum kmeans_init { KMEANS_RANDOM, KMEANS_PLUSPLUS };

struct kmeans_hp {
    size_t k;                           /* clusters, >= 1 */
    size_t feature_dim;                 /* row width */
    size_t mini_batch_size;             /* default 5000 */
    size_t epochs;                      /* default 1 */
    enum kmeans_init init_method;       /* default random */
    size_t extra_center_factor;         /* "auto" resolves to 10 */
    enum kmeans_init local_init_method; /* default kmeans++ */
    size_t local_lloyd_max_iter;        /* default 300 */
    size_t local_lloyd_num_trials;      /* "auto" resolves to 10 */
    double local_lloyd_tol;             /* default 1e-4, in [0, 1] */
    size_t half_life_time_size;         /* 0: no decay */
    bool eval_msd, eval_ssd;            /* eval_metrics; default msd */
    bool force_dense;                   /* accepted; data is densified */
    bool center_factor_auto, trials_auto;
};

/*
 * Validates a map of string hyperparameters with SageMaker's rules and
 * fills hp (defaults for what is absent). KILN_EINVAL with a message such
 * as "hyperparameter 'k' must be a positive integer, not 'ten'".
 */
int kmeans_hp_parse(json_t *map, struct kmeans_hp *hp, struct kiln_diag *d);

/* The effective configuration as JSON (the "Final configuration" log). */
void kmeans_hp_json(const struct kmeans_hp *hp, struct buf *out);

/* The streaming phase's mergeable state. */
struct kmeans_state {
    size_t K, d;    /* centers and width */
    float *centers; /* K x d, row-major */
    double *weight; /* K: points absorbed (decayed), 0 = never used */
    bool seeded;
};

/* Workspace for batches of up to max_rows rows against up to K centers. */
struct kmeans_ws {
    size_t max_rows, K, d;
    float *dots;   /* max_rows x K */
    float *dist2;  /* max_rows */
    uint32_t *idx; /* max_rows */
    float *cnorm;  /* K */
    /* The batch statistic, one block of nstats = K*d + K + 1 doubles so
     * that ranks can sum it in one collective: */
    double *stats;
    size_t nstats;
    double *sums;  /* K x d: per center, the sum of its rows */
    double *count; /* K: per center, its rows */
    double *rows;  /* 1: rows in the batch */
    /* Per OpenMP thread, one block's sums (K x d) and counts (K) before
     * they join stats in block order. */
    double *part;
    int nparts;
};

int kmeans_state_init(struct kmeans_state *s, size_t K, size_t d);
void kmeans_state_release(struct kmeans_state *s);

int kmeans_ws_init(struct kmeans_ws *ws, size_t max_rows, size_t K, size_t d);
void kmeans_ws_release(struct kmeans_ws *ws);

/*
 * Seeds the K centers from the first batch X (random: K distinct rows;
 * kmeans++: D^2 sampling). With fewer than K rows, all are used and the
 * rest re-sampled. Weights start at 0.
 */
int kmeans_state_seed(struct kmeans_state *s, const struct mat *X,
                      enum kmeans_init how, struct rng *rng,
                      struct kmeans_ws *ws);

/*
 * One streaming step over batch X: decay the weights by `decay` (1 = none),
 * assign each row to its nearest center, and move each center toward the
 * mean of its new rows by n_j / w_j. Allocates nothing.
 */
int kmeans_state_update(struct kmeans_state *s, const struct mat *X,
                        double decay, struct kmeans_ws *ws);

/*
 * Nearest row of C for every row of X, on OpenMP threads: blocks of
 * rows, one single-threaded sgemm each (linalg_nearest; dist2 may be
 * NULL). A row's result depends on its block only, not on the thread
 * count. dots holds X.rows x C.rows floats.
 */
int kmeans_assign(const struct mat *X, const struct mat *C, const float *cnorm,
                  float *dots, uint32_t *idx, float *dist2);

/*
 * The two halves of kmeans_state_update(), for several hosts: the batch
 * statistic of X against the current centers into ws (sums, counts,
 * rows), which ranks add up; then the move of every center by the
 * (summed) statistic, after decaying the weights by `decay`. Applying the
 * sum of the hosts' statistics to the same state on every host keeps the
 * hosts' states identical. X may have no rows. Allocate nothing.
 */
int kmeans_batch_stats(const struct kmeans_state *s, const struct mat *X,
                       struct kmeans_ws *ws);
void kmeans_state_apply(struct kmeans_state *s, double decay,
                        const struct kmeans_ws *ws);

/* Appends src's weighted centers to dst (union); both stay valid. */
int kmeans_state_merge(struct kmeans_state *dst,
                       const struct kmeans_state *src);

/* Called after each local Lloyd attempt (for the container's log). */
typedef void (*kmeans_trial_fn)(void *ctx, size_t trial, double msd);

/*
 * Shrinks the state to hp->k centers with local_lloyd_num_trials weighted
 * Lloyd runs and keeps the best (lowest weighted mean squared distance,
 * written to *msd). out holds k x d floats.
 */
int kmeans_finalize(const struct kmeans_state *s, const struct kmeans_hp *hp,
                    struct rng *rng, float *out, double *msd,
                    kmeans_trial_fn on_trial, void *ctx);

/*
 * Nearest center and Euclidean distance (not squared) of every row of X
 * against model C (k x d), the inference computation. ws sized for X.rows
 * and k.
 */
int kmeans_predict(const struct mat *C, const float *cnorm, const struct mat *X,
                   struct kmeans_ws *ws, uint32_t *cluster, float *distance);

#endif
