/*
 * kmeans.c - the algorithm.
 *
 * Streaming step, per batch: ws->idx = nearest center of each row (sgemm
 * when the batch is large); per-center counts and sums accumulated in
 * double; then w_j += n_j and c_j += (s_j - n_j c_j) / w_j, which is the
 * documented (1 - p) c + p mean with p = n_j / w_j. A center that never
 * receives a point keeps weight 0 and is dropped when the state is
 * finalised.
 *
 * Finalisation works on the K weighted points only (K = 100 for k = 10),
 * so its cost is independent of the data size.
 */
#include "algos/kmeans/kmeans.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <strings.h>

#include "base/mem.h"
#include "base/str.h"
#include "formats/csv.h"

#define AUTO_FACTOR 10
#define AUTO_TRIALS 10

/* ---- hyperparameters ------------------------------------------------ */

static const char *const internal_keys[] = {"_disable_wait_to_read",
                                            "_enable_profiler",
                                            "_kvstore",
                                            "_log_level",
                                            "_num_gpus",
                                            "_num_kv_servers",
                                            "_num_slices",
                                            "_tuning_objective_metric",
                                            "_seed"};

static const char *const known_keys[] = {"k",
                                         "feature_dim",
                                         "mini_batch_size",
                                         "epochs",
                                         "init_method",
                                         "extra_center_factor",
                                         "local_lloyd_init_method",
                                         "local_lloyd_max_iter",
                                         "local_lloyd_num_trials",
                                         "local_lloyd_tol",
                                         "half_life_time_size",
                                         "eval_metrics",
                                         "force_dense"};

static int positive(const char *name, const char *v, size_t *out,
                    struct kiln_diag *d)
{
    int64_t x;
    if (parse_i64_str(v, 1, INT32_MAX, &x) != 0)
        return diag_set(d, KILN_EINVAL,
                        "hyperparameter '%s' must be a positive integer, not "
                        "'%.64s'",
                        name, v);
    *out = (size_t)x;
    return 0;
}

static int init_kind(const char *name, const char *v, enum kmeans_init *out,
                     struct kiln_diag *d)
{
    if (strcmp(v, "random") == 0)
        *out = KMEANS_RANDOM;
    else if (strcmp(v, "kmeans++") == 0)
        *out = KMEANS_PLUSPLUS;
    else
        return diag_set(d, KILN_EINVAL,
                        "hyperparameter '%s' must be 'random' or 'kmeans++', "
                        "not '%.64s'",
                        name, v);
    return 0;
}

/* "[\"msd\", \"ssd\"]", "[msd, ssd]" or "msd". */
static int eval_metrics(const char *v, struct kmeans_hp *hp,
                        struct kiln_diag *d)
{
    const char *p = v;
    hp->eval_msd = hp->eval_ssd = false;
    while (*p) {
        while (*p && strchr("[]\"' ,", *p))
            p++;
        size_t n = strcspn(p, "[]\"' ,");
        if (n == 0)
            break;
        if (n == 3 && strncmp(p, "msd", 3) == 0)
            hp->eval_msd = true;
        else if (n == 3 && strncmp(p, "ssd", 3) == 0)
            hp->eval_ssd = true;
        else
            return diag_set(d, KILN_EINVAL,
                            "hyperparameter 'eval_metrics' may only list "
                            "'msd' and 'ssd', not '%.*s'",
                            (int)(n > 32 ? 32 : n), p);
        p += n;
    }
    if (!hp->eval_msd && !hp->eval_ssd)
        return diag_set(d, KILN_EINVAL,
                        "hyperparameter 'eval_metrics' must list 'msd' "
                        "and/or 'ssd'");
    return 0;
}

int kmeans_hp_parse(json_t *map, struct kmeans_hp *hp, struct kiln_diag *d)
{
    const char *key;
    json_t *val;
    int rc = 0;

    memset(hp, 0, sizeof(*hp));
    hp->mini_batch_size = 5000;
    hp->epochs = 1;
    hp->init_method = KMEANS_RANDOM;
    hp->local_init_method = KMEANS_PLUSPLUS;
    hp->local_lloyd_max_iter = 300;
    hp->local_lloyd_tol = 1e-4;
    hp->eval_msd = true;
    hp->force_dense = true;
    hp->center_factor_auto = hp->trials_auto = true;

    if (!json_is_object(map))
        return diag_set(d, KILN_EINVAL,
                        "hyperparameters must be a JSON "
                        "object of strings");
    json_object_foreach(map, key, val)
    {
        const char *v = json_string_value(val);
        bool known = false;
        for (size_t i = 0; i < KILN_ARRAY_LEN(known_keys); i++)
            known |= strcmp(key, known_keys[i]) == 0;
        for (size_t i = 0; i < KILN_ARRAY_LEN(internal_keys); i++)
            if (strcmp(key, internal_keys[i]) == 0)
                goto next;
        if (!known)
            return diag_set(d, KILN_EINVAL,
                            "unknown hyperparameter '%.64s' for the k-means "
                            "algorithm",
                            key);
        if (!v)
            return diag_set(d, KILN_EINVAL,
                            "hyperparameter '%s' must be a string", key);
        if (strcmp(key, "k") == 0)
            rc = positive(key, v, &hp->k, d);
        else if (strcmp(key, "feature_dim") == 0)
            rc = positive(key, v, &hp->feature_dim, d);
        else if (strcmp(key, "mini_batch_size") == 0)
            rc = positive(key, v, &hp->mini_batch_size, d);
        else if (strcmp(key, "epochs") == 0)
            rc = positive(key, v, &hp->epochs, d);
        else if (strcmp(key, "init_method") == 0)
            rc = init_kind(key, v, &hp->init_method, d);
        else if (strcmp(key, "local_lloyd_init_method") == 0)
            rc = init_kind(key, v, &hp->local_init_method, d);
        else if (strcmp(key, "extra_center_factor") == 0) {
            hp->center_factor_auto = strcmp(v, "auto") == 0;
            if (!hp->center_factor_auto)
                rc = positive(key, v, &hp->extra_center_factor, d);
        } else if (strcmp(key, "local_lloyd_num_trials") == 0) {
            hp->trials_auto = strcmp(v, "auto") == 0;
            if (!hp->trials_auto)
                rc = positive(key, v, &hp->local_lloyd_num_trials, d);
        } else if (strcmp(key, "local_lloyd_max_iter") == 0)
            rc = positive(key, v, &hp->local_lloyd_max_iter, d);
        else if (strcmp(key, "local_lloyd_tol") == 0) {
            float t;
            if (csv_parse_float(v, strlen(v), false, &t) != 0 || t < 0 || t > 1)
                rc = diag_set(d, KILN_EINVAL,
                              "hyperparameter 'local_lloyd_tol' must be a "
                              "number between 0 and 1, not '%.64s'",
                              v);
            else
                hp->local_lloyd_tol = t;
        } else if (strcmp(key, "half_life_time_size") == 0) {
            int64_t x;
            if (parse_i64_str(v, 0, INT32_MAX, &x) != 0)
                rc = diag_set(d, KILN_EINVAL,
                              "hyperparameter 'half_life_time_size' must be "
                              "a non-negative integer, not '%.64s'",
                              v);
            else
                hp->half_life_time_size = (size_t)x;
        } else if (strcmp(key, "eval_metrics") == 0)
            rc = eval_metrics(v, hp, d);
        else if (strcmp(key, "force_dense") == 0) {
            if (strcasecmp(v, "true") == 0)
                hp->force_dense = true;
            else if (strcasecmp(v, "false") == 0)
                hp->force_dense = false;
            else
                rc = diag_set(d, KILN_EINVAL,
                              "hyperparameter 'force_dense' must be 'true' "
                              "or 'false', not '%.64s'",
                              v);
        }
        if (rc)
            return rc;
    next:;
    }
    if (hp->k == 0)
        return diag_set(d, KILN_EINVAL,
                        "the required hyperparameter 'k' is missing");
    if (hp->feature_dim == 0)
        return diag_set(d, KILN_EINVAL,
                        "the required hyperparameter 'feature_dim' is "
                        "missing");
    if (hp->center_factor_auto)
        hp->extra_center_factor = AUTO_FACTOR;
    if (hp->trials_auto)
        hp->local_lloyd_num_trials = AUTO_TRIALS;
    if (hp->k > (1u << 20) || hp->feature_dim > (1u << 24) ||
        hp->k * hp->extra_center_factor > (1u << 22))
        return diag_set(d, KILN_EINVAL,
                        "k x extra_center_factor x feature_dim is too "
                        "large");
    return 0;
}

void kmeans_hp_json(const struct kmeans_hp *hp, struct buf *out)
{
    static const char *const init[] = {"random", "kmeans++"};
    buf_addf(out,
             "{\"k\": \"%zu\", \"feature_dim\": \"%zu\", "
             "\"mini_batch_size\": \"%zu\", \"epochs\": \"%zu\", "
             "\"init_method\": \"%s\", \"extra_center_factor\": \"%zu\", "
             "\"local_lloyd_init_method\": \"%s\", "
             "\"local_lloyd_max_iter\": \"%zu\", "
             "\"local_lloyd_num_trials\": \"%zu\", "
             "\"local_lloyd_tol\": \"%g\", \"half_life_time_size\": \"%zu\", "
             "\"eval_metrics\": \"[%s%s%s]\", \"force_dense\": \"%s\"}",
             hp->k, hp->feature_dim, hp->mini_batch_size, hp->epochs,
             init[hp->init_method], hp->extra_center_factor,
             init[hp->local_init_method], hp->local_lloyd_max_iter,
             hp->local_lloyd_num_trials, hp->local_lloyd_tol,
             hp->half_life_time_size, hp->eval_msd ? "'msd'" : "",
             hp->eval_msd && hp->eval_ssd ? ", " : "",
             hp->eval_ssd ? "'ssd'" : "", hp->force_dense ? "true" : "false");
}

/* ---- state and workspace ------------------------------------------- */

int kmeans_state_init(struct kmeans_state *s, size_t K, size_t d)
{
    size_t n;
    memset(s, 0, sizeof(*s));
    if (mem_mul(K, d, &n) || mem_mul(n, sizeof(float), &n))
        return KILN_ETOOBIG;
    if (mem_try_alloc(n, (void **)&s->centers) != 0)
        return KILN_ENOMEM;
    s->weight = xcalloc(K, sizeof(double));
    s->K = K;
    s->d = d;
    return 0;
}

void kmeans_state_release(struct kmeans_state *s)
{
    mem_free(s->centers);
    mem_free(s->weight);
    memset(s, 0, sizeof(*s));
}

int kmeans_ws_init(struct kmeans_ws *ws, size_t max_rows, size_t K, size_t d)
{
    size_t nd, kd;
    memset(ws, 0, sizeof(*ws));
    if (mem_mul(max_rows, K, &nd) || mem_mul(K, d, &kd))
        return KILN_ETOOBIG;
    if (mem_try_alloc((nd ? nd : 1) * sizeof(float), (void **)&ws->dots))
        return KILN_ENOMEM;
    ws->dist2 = xmalloc((max_rows ? max_rows : 1) * sizeof(float));
    ws->idx = xmalloc((max_rows ? max_rows : 1) * sizeof(uint32_t));
    ws->cnorm = xmalloc(K * sizeof(float));
    /* sums, count and the row total: one block, one collective. */
    if (kd > SIZE_MAX / sizeof(double) - K - 1 ||
        mem_try_alloc((kd + K + 1) * sizeof(double), (void **)&ws->stats)) {
        kmeans_ws_release(ws);
        return KILN_ENOMEM;
    }
    ws->nparts = omp_get_max_threads();
    if (mem_try_alloc((size_t)ws->nparts * (kd + K) * sizeof(double),
                      (void **)&ws->part)) {
        kmeans_ws_release(ws);
        return KILN_ENOMEM;
    }
    ws->nstats = kd + K + 1;
    ws->sums = ws->stats;
    ws->count = ws->stats + kd;
    ws->rows = ws->count + K;
    ws->max_rows = max_rows;
    ws->K = K;
    ws->d = d;
    return 0;
}

void kmeans_ws_release(struct kmeans_ws *ws)
{
    mem_free(ws->dots);
    mem_free(ws->dist2);
    mem_free(ws->idx);
    mem_free(ws->cnorm);
    mem_free(ws->stats);
    mem_free(ws->part);
    memset(ws, 0, sizeof(*ws));
}

static struct mat centers_of(const struct kmeans_state *s)
{
    struct mat m = {s->K, s->d, s->d, s->centers, false};
    return m;
}

/* Weighted D^2 seeding of k centers from points P (weights w, may be
 * NULL for 1) into out. */
static void plusplus(const struct mat *P, const double *w, size_t k,
                     struct rng *rng, float *out, double *best)
{
    size_t n = P->rows, d = P->cols;
    double total = 0;
    size_t first = 0;

    /* First center drawn in proportion to weight. */
    for (size_t i = 0; i < n; i++)
        total += w ? w[i] : 1;
    double u = rng_uniform(rng) * total;
    for (size_t i = 0; i < n; i++) {
        u -= w ? w[i] : 1;
        if (u <= 0) {
            first = i;
            break;
        }
    }
    memcpy(out, P->data + first * P->ld, d * sizeof(float));
    for (size_t i = 0; i < n; i++)
        best[i] = INFINITY;
    for (size_t c = 1; c <= k; c++) {
        const float *prev = out + (c - 1) * d;
        double sum = 0;
        /* The distances on threads (big seeding batches), the sum in row
         * order. */
#pragma omp parallel for schedule(static) if (n * d > 1000000)
        for (size_t i = 0; i < n; i++) {
            double s = linalg_sqdist(P->data + i * P->ld, prev, d);
            if (s < best[i])
                best[i] = s;
        }
        for (size_t i = 0; i < n; i++)
            sum += best[i] * (w ? w[i] : 1);
        if (c == k)
            break;
        size_t pick = rng_below(rng, n);
        if (sum > 0) {
            double r = rng_uniform(rng) * sum;
            for (size_t i = 0; i < n; i++) {
                r -= best[i] * (w ? w[i] : 1);
                if (r <= 0) {
                    pick = i;
                    break;
                }
            }
        }
        memcpy(out + c * d, P->data + pick * P->ld, d * sizeof(float));
    }
}

int kmeans_state_seed(struct kmeans_state *s, const struct mat *X,
                      enum kmeans_init how, struct rng *rng,
                      struct kmeans_ws *ws)
{
    size_t n = X->rows, K = s->K, d = s->d;

    if (X->cols != d || n == 0)
        return KILN_EDIM;
    if (how == KMEANS_PLUSPLUS && n > 1) {
        double *best = xmalloc(n * sizeof(double));
        plusplus(X, NULL, K, rng, s->centers, best);
        mem_free(best);
    } else {
        /* K distinct rows by a partial Fisher-Yates over indices; when
         * n < K, all rows and then re-sampled ones. */
        uint32_t *perm = xmalloc(n * sizeof(uint32_t));
        for (size_t i = 0; i < n; i++)
            perm[i] = (uint32_t)i;
        for (size_t j = 0; j < K; j++) {
            size_t pick;
            if (j < n) {
                size_t r = j + rng_below(rng, n - j);
                uint32_t t = perm[j];
                perm[j] = perm[r];
                perm[r] = t;
                pick = perm[j];
            } else {
                pick = rng_below(rng, n);
            }
            memcpy(s->centers + j * d, X->data + pick * X->ld,
                   d * sizeof(float));
        }
        mem_free(perm);
    }
    memset(s->weight, 0, K * sizeof(double));
    s->seeded = true;
    (void)ws;
    return 0;
}

/* Rows per block when assigning a batch (kmeans_assign) and when summing
 * it (kmeans_batch_stats): the unit of work of one thread. */
#define ASSIGN_ROWS 1024

int kmeans_assign(const struct mat *X, const struct mat *C, const float *cnorm,
                  float *dots, uint32_t *idx, float *dist2)
{
    size_t n = X->rows, K = C->rows;
    int failed = 0;

#pragma omp parallel for schedule(dynamic) reduction(| : failed)
    for (size_t lo = 0; lo < n; lo += ASSIGN_ROWS) {
        size_t m = n - lo < ASSIGN_ROWS ? n - lo : ASSIGN_ROWS;
        struct mat part = mat_view_rows(X, lo, m);
        if (linalg_nearest(&part, C, cnorm, dots + lo * K, idx + lo,
                           dist2 ? dist2 + lo : NULL) != 0)
            failed = 1;
    }
    return failed ? KILN_EDIM : 0;
}

int kmeans_batch_stats(const struct kmeans_state *s, const struct mat *X,
                       struct kmeans_ws *ws)
{
    size_t n = X->rows, K = s->K, d = s->d, kd = K * d;
    size_t blocks = (n + ASSIGN_ROWS - 1) / ASSIGN_ROWS;
    struct mat C = centers_of(s);
    int failed = 0;

    if (X->cols != d || n > ws->max_rows || K > ws->K)
        return KILN_EDIM;
    memset(ws->stats, 0, (kd + K + 1) * sizeof(double));
    ws->rows[0] = (double)n;
    if (n == 0)
        return 0;
    linalg_row_sqnorms(&C, ws->cnorm);
    /*
     * One pass: each block of rows is assigned and summed into a thread's
     * partial (each row added while it is in cache), and the partials
     * join the statistic in block order. The blocks are fixed, so the
     * sums do not depend on the thread count.
     */
#pragma omp parallel num_threads(ws->nparts) reduction(| : failed)
    {
        double *psum = ws->part + (size_t)omp_get_thread_num() * (kd + K);
        double *pcount = psum + kd;
        memset(psum, 0, (kd + K) * sizeof(double));
#pragma omp for ordered schedule(dynamic, 1)
        for (size_t b = 0; b < blocks; b++) {
            size_t lo = b * ASSIGN_ROWS;
            size_t m = n - lo < ASSIGN_ROWS ? n - lo : ASSIGN_ROWS;
            struct mat part = mat_view_rows(X, lo, m);
            if (linalg_nearest_sum(&part, &C, ws->cnorm, ws->dots + lo * K,
                                   ws->idx + lo, psum) != 0)
                failed = 1;
            for (size_t i = 0; i < m; i++)
                pcount[ws->idx[lo + i]] += 1;
#pragma omp ordered
            for (size_t j = 0; j < K; j++) {
                if (pcount[j] == 0)
                    continue;
                double *from = psum + j * d, *to = ws->sums + j * d;
                for (size_t u = 0; u < d; u++)
                    to[u] += from[u];
                memset(from, 0, d * sizeof(double));
                ws->count[j] += pcount[j];
                pcount[j] = 0;
            }
        }
    }
    return failed ? KILN_EDIM : 0;
}

void kmeans_state_apply(struct kmeans_state *s, double decay,
                        const struct kmeans_ws *ws)
{
    size_t K = s->K, d = s->d;

    if (decay != 1.0)
        for (size_t j = 0; j < K; j++)
            s->weight[j] *= decay;
    for (size_t j = 0; j < K; j++) {
        double nj = ws->count[j];
        if (nj == 0)
            continue;
        s->weight[j] += nj;
        float *c = s->centers + j * d;
        const double *sum = ws->sums + j * d;
        double inv = 1.0 / s->weight[j];
        for (size_t t = 0; t < d; t++)
            c[t] = (float)(c[t] + (sum[t] - nj * c[t]) * inv);
    }
}

int kmeans_state_update(struct kmeans_state *s, const struct mat *X,
                        double decay, struct kmeans_ws *ws)
{
    int rc = kmeans_batch_stats(s, X, ws);
    if (!rc)
        kmeans_state_apply(s, decay, ws);
    return rc;
}

int kmeans_state_merge(struct kmeans_state *dst, const struct kmeans_state *src)
{
    size_t K = dst->K + src->K, n;

    if (dst->d != src->d)
        return KILN_EDIM;
    if (mem_mul(K, dst->d, &n))
        return KILN_ETOOBIG;
    dst->centers = xrealloc(dst->centers, n * sizeof(float));
    dst->weight = xrealloc(dst->weight, K * sizeof(double));
    memcpy(dst->centers + dst->K * dst->d, src->centers,
           src->K * src->d * sizeof(float));
    memcpy(dst->weight + dst->K, src->weight, src->K * sizeof(double));
    dst->K = K;
    return 0;
}

/* ---- finalisation: local weighted Lloyd ---------------------------- */

/* One local Lloyd attempt's workspace. */
struct trial {
    float *cur;    /* k x d: the attempt's centers */
    double *best;  /* n: kmeans++ distances */
    double *sums;  /* k x d */
    double *cnt;   /* k */
    uint32_t *idx; /* n */
    float *dist;   /* n */
    float *cn;     /* k */
    float *dots;   /* n x k */
};

static void trial_init(struct trial *t, size_t n, size_t k, size_t d)
{
    t->cur = xmalloc(k * d * sizeof(float));
    t->best = xmalloc(n * sizeof(double));
    t->sums = xmalloc(k * d * sizeof(double));
    t->cnt = xmalloc(k * sizeof(double));
    t->idx = xmalloc(n * sizeof(uint32_t));
    t->dist = xmalloc(n * sizeof(float));
    t->cn = xmalloc(k * sizeof(float));
    t->dots = xmalloc(n * k * sizeof(float));
}

static void trial_release(struct trial *t)
{
    mem_free(t->cur);
    mem_free(t->best);
    mem_free(t->sums);
    mem_free(t->cnt);
    mem_free(t->idx);
    mem_free(t->dist);
    mem_free(t->cn);
    mem_free(t->dots);
}

/* The weighted mean squared distance of the points to t->cur. */
static double trial_loss(const struct mat *PM, const double *w, double wsum,
                         size_t k, struct trial *t)
{
    struct mat CM = {k, PM->cols, PM->cols, t->cur, false};
    double l = 0;
    linalg_row_sqnorms(&CM, t->cn);
    linalg_nearest(PM, &CM, t->cn, t->dots, t->idx, t->dist);
    for (size_t i = 0; i < PM->rows; i++)
        l += w[i] * t->dist[i];
    return l / wsum;
}

/* One weighted Lloyd run from a seeding drawn with seed; leaves its
 * centers in t->cur and returns their loss. */
static double lloyd_trial(const struct mat *PM, const double *w, double wsum,
                          const struct kmeans_hp *hp, uint64_t seed,
                          struct trial *t)
{
    size_t n = PM->rows, d = PM->cols, k = hp->k;
    const float *P = PM->data;
    double prev = INFINITY, l;
    struct rng rng;

    rng_seed(&rng, seed);
    if (hp->local_init_method == KMEANS_PLUSPLUS) {
        plusplus(PM, w, k, &rng, t->cur, t->best);
    } else {
        for (size_t c = 0; c < k; c++) {
            size_t pick = c + rng_below(&rng, n - c);
            memcpy(t->cur + c * d, P + pick * d, d * sizeof(float));
        }
    }
    for (size_t it = 0; it < hp->local_lloyd_max_iter; it++) {
        l = trial_loss(PM, w, wsum, k, t);
        memset(t->sums, 0, k * d * sizeof(double));
        memset(t->cnt, 0, k * sizeof(double));
        for (size_t i = 0; i < n; i++) {
            t->cnt[t->idx[i]] += w[i];
            linalg_axpy(d, w[i], P + i * d, t->sums + (size_t)t->idx[i] * d);
        }
        for (size_t c = 0; c < k; c++)
            if (t->cnt[c] > 0)
                for (size_t q = 0; q < d; q++)
                    t->cur[c * d + q] = (float)(t->sums[c * d + q] / t->cnt[c]);
        if (prev < INFINITY &&
            (prev <= 0 || (prev - l) / prev < hp->local_lloyd_tol))
            break;
        prev = l;
    }
    /* The loss of the centers as finally moved. */
    return trial_loss(PM, w, wsum, k, t);
}

int kmeans_finalize(const struct kmeans_state *s, const struct kmeans_hp *hp,
                    struct rng *rng, float *out, double *msd,
                    kmeans_trial_fn on_trial, void *ctx)
{
    size_t k = hp->k, d = s->d, n = 0, trials = hp->local_lloyd_num_trials;
    float *P = NULL;
    double *w = NULL, wsum = 0;

    /* The weighted points: centers that absorbed something. */
    P = xmalloc((s->K ? s->K : 1) * d * sizeof(float));
    w = xmalloc((s->K ? s->K : 1) * sizeof(double));
    for (size_t j = 0; j < s->K; j++)
        if (s->weight[j] > 0) {
            memcpy(P + n * d, s->centers + j * d, d * sizeof(float));
            w[n] = s->weight[j];
            wsum += w[n];
            n++;
        }
    if (n == 0) {
        mem_free(P);
        mem_free(w);
        return KILN_EINVAL;
    }
    if (n <= k) {
        for (size_t c = 0; c < k; c++)
            memcpy(out + c * d, P + (c % n) * d, d * sizeof(float));
        *msd = 0;
        mem_free(P);
        mem_free(w);
        return 0;
    }
    /*
     * The attempts are independent: each gets a seed drawn here in order
     * and runs on whichever thread is free; the best is chosen in attempt
     * order, so the result does not depend on the thread count.
     */
    struct mat PM = {n, d, d, P, false};
    uint64_t *seeds = xmalloc(trials * sizeof(uint64_t));
    double *loss = xmalloc(trials * sizeof(double));
    int threads = omp_get_max_threads();
    struct trial *ws = xcalloc((size_t)threads, sizeof(*ws));
    float *found = xmalloc(trials * k * d * sizeof(float));
    for (size_t t = 0; t < trials; t++)
        seeds[t] = rng_next(rng);
#pragma omp parallel num_threads(threads)
    {
        struct trial *tw = &ws[omp_get_thread_num()];
        trial_init(tw, n, k, d);
#pragma omp for schedule(dynamic, 1)
        for (size_t t = 0; t < trials; t++) {
            loss[t] = lloyd_trial(&PM, w, wsum, hp, seeds[t], tw);
            memcpy(found + t * k * d, tw->cur, k * d * sizeof(float));
        }
        trial_release(tw);
    }
    size_t best = 0;
    for (size_t t = 0; t < trials; t++) {
        if (on_trial)
            on_trial(ctx, t, loss[t]);
        if (loss[t] < loss[best])
            best = t;
    }
    memcpy(out, found + best * k * d, k * d * sizeof(float));
    *msd = loss[best];
    mem_free(found);
    mem_free(ws);
    mem_free(seeds);
    mem_free(loss);
    mem_free(P);
    mem_free(w);
    return 0;
}

int kmeans_predict(const struct mat *C, const float *cnorm, const struct mat *X,
                   struct kmeans_ws *ws, uint32_t *cluster, float *distance)
{
    int rc;
    if (X->rows > ws->max_rows || C->rows > ws->K)
        return KILN_EDIM;
    rc = linalg_nearest(X, C, cnorm, ws->dots, cluster, distance);
    if (rc)
        return rc;
    for (size_t i = 0; i < X->rows; i++)
        distance[i] = sqrtf(distance[i]);
    return 0;
}
