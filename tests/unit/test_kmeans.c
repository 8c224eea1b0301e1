/*
 * test_kmeans.c - the algorithm on data with known answers: exact recovery
 * of well-separated blobs, deterministic seeding, the mergeable state's
 * sufficient statistics, sparse == dense input, every hyperparameter's
 * validation message, and the model file read back.
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <unistd.h>

#include "algos/feed.h"
#include "algos/kmeans/kmeans.h"
#include "formats/ndarray.h"
#include "formats/record.h"
#include "formats/recordio.h"
#include "harness.h"
#include "ml/bayesopt.h"
#include "ml/rng.h"

/* n points around each of `k` centers at (10c, -10c, 10c, ...), noise
 * below 0.5, in a deterministic interleaved order. */
static float *blobs(size_t k, size_t per, size_t d, struct rng *rng)
{
    float *x = xmalloc(k * per * d * sizeof(float));
    for (size_t i = 0; i < k * per; i++) {
        size_t c = i % k;
        for (size_t t = 0; t < d; t++)
            x[i * d + t] = (float)(10.0 * (double)c * (t % 2 ? -1 : 1) +
                                   rng_uniform(rng) - 0.5);
    }
    return x;
}

static json_t *hp_map(const char *const *kv)
{
    json_t *m = json_object();
    for (; *kv; kv += 2)
        json_object_set_new(m, kv[0], json_string(kv[1]));
    return m;
}

/* Trains on X (n rows) with hp, returns centers (k x d, owned). */
static float *fit(const struct kmeans_hp *hp, const float *X, size_t n,
                  uint64_t seed, double *msd)
{
    struct kmeans_state st;
    struct kmeans_ws ws;
    struct rng rng;
    size_t d = hp->feature_dim, K = hp->k * hp->extra_center_factor;
    float *out = xmalloc(hp->k * d * sizeof(float));

    rng_seed(&rng, seed);
    kmeans_state_init(&st, K, d);
    kmeans_ws_init(&ws, hp->mini_batch_size, K, d);
    size_t first = n < hp->mini_batch_size ? n : hp->mini_batch_size;
    struct mat F = {first, d, d, (float *)(uintptr_t)X, false};
    kmeans_state_seed(&st, &F, hp->init_method, &rng, &ws);
    for (size_t e = 0; e < hp->epochs; e++)
        for (size_t i = 0; i < n; i += hp->mini_batch_size) {
            size_t m =
                n - i < hp->mini_batch_size ? n - i : hp->mini_batch_size;
            struct mat B = {m, d, d, (float *)(uintptr_t)(X + i * d), false};
            kmeans_state_update(&st, &B, 1.0, &ws);
        }
    kmeans_finalize(&st, hp, &rng, out, msd, NULL, NULL);
    kmeans_state_release(&st);
    kmeans_ws_release(&ws);
    return out;
}

static void test_blobs_exact(void)
{
    static const char *const kv[] = {
        "k", "4", "feature_dim", "3", "mini_batch_size", "100", NULL};
    struct kmeans_hp hp;
    struct kiln_diag d = {0};
    struct rng rng;
    json_t *m = hp_map(kv);
    double msd;

    ASSERT_EQ(kmeans_hp_parse(m, &hp, &d), 0);
    json_decref(m);
    rng_seed(&rng, 1);
    float *X = blobs(4, 250, 3, &rng);
    float *C = fit(&hp, X, 1000, 42, &msd);
    /* Every true center is matched by a found one within 0.1. */
    for (size_t c = 0; c < 4; c++) {
        bool found = false;
        for (size_t j = 0; j < 4; j++) {
            double e = 0;
            for (size_t t = 0; t < 3; t++) {
                double want = 10.0 * (double)c * (t % 2 ? -1 : 1);
                e += fabs(C[j * 3 + t] - want);
            }
            found |= e < 0.1;
        }
        ASSERT_TRUE(found);
    }
    ASSERT_TRUE(msd < 1.0);
    mem_free(X);
    mem_free(C);
}

static void test_seed_determinism(void)
{
    static const char *const kv[] = {
        "k",           "3",        "feature_dim",     "5",
        "init_method", "kmeans++", "mini_batch_size", "64",
        NULL};
    struct kmeans_hp hp;
    struct kiln_diag d = {0};
    struct rng rng;
    json_t *m = hp_map(kv);
    double m1, m2, m3;

    ASSERT_EQ(kmeans_hp_parse(m, &hp, &d), 0);
    json_decref(m);
    rng_seed(&rng, 9);
    float *X = blobs(3, 100, 5, &rng);
    float *a = fit(&hp, X, 300, 7, &m1);
    float *b = fit(&hp, X, 300, 7, &m2);
    float *c = fit(&hp, X, 300, 8, &m3);
    ASSERT_TRUE(memcmp(a, b, 3 * 5 * sizeof(float)) == 0);
    ASSERT_TRUE(m1 == m2);
    (void)c;
    mem_free(X);
    mem_free(a);
    mem_free(b);
    mem_free(c);
}

/* The streaming phase's sufficient statistics: total weight = points seen,
 * sum_j w_j c_j = sum of the points; a merged state of two halves has the
 * statistics of training on the union. */
static void test_merge_statistics(void)
{
    const size_t d = 4, K = 6, n = 400;
    struct kmeans_state a, b, whole;
    struct kmeans_ws ws;
    struct rng rng;
    double sum[4] = {0};

    rng_seed(&rng, 3);
    float *X = blobs(3, n / 3 + 1, d, &rng);
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < d; t++)
            sum[t] += X[i * d + t];
    kmeans_ws_init(&ws, n, K, d);
    kmeans_state_init(&a, K, d);
    kmeans_state_init(&b, K, d);
    kmeans_state_init(&whole, K, d);
    struct mat H1 = {n / 2, d, d, X, false};
    struct mat H2 = {n - n / 2, d, d, X + (n / 2) * d, false};
    struct mat ALL = {n, d, d, X, false};
    kmeans_state_seed(&a, &H1, KMEANS_RANDOM, &rng, &ws);
    kmeans_state_seed(&b, &H2, KMEANS_RANDOM, &rng, &ws);
    kmeans_state_seed(&whole, &ALL, KMEANS_RANDOM, &rng, &ws);
    kmeans_state_update(&a, &H1, 1.0, &ws);
    kmeans_state_update(&b, &H2, 1.0, &ws);
    kmeans_state_update(&whole, &ALL, 1.0, &ws);
    ASSERT_EQ(kmeans_state_merge(&a, &b), 0);
    ASSERT_EQ(a.K, 2 * K);
    double wa = 0, ww = 0, sa[4] = {0}, sw[4] = {0};
    for (size_t j = 0; j < a.K; j++) {
        wa += a.weight[j];
        for (size_t t = 0; t < d; t++)
            sa[t] += a.weight[j] * a.centers[j * d + t];
    }
    for (size_t j = 0; j < whole.K; j++) {
        ww += whole.weight[j];
        for (size_t t = 0; t < d; t++)
            sw[t] += whole.weight[j] * whole.centers[j * d + t];
    }
    ASSERT_REL(wa, (double)n, 1e-12);
    ASSERT_REL(ww, (double)n, 1e-12);
    for (size_t t = 0; t < d; t++) {
        ASSERT_REL(sa[t], sum[t], 1e-4);
        ASSERT_REL(sw[t], sum[t], 1e-4);
    }
    kmeans_state_release(&a);
    kmeans_state_release(&b);
    kmeans_state_release(&whole);
    kmeans_ws_release(&ws);
    mem_free(X);
}

/* The same rows as dense and as sparse RecordIO train to the same model. */
static void test_sparse_equals_dense(void)
{
    static const char *const kv[] = {
        "k", "2", "feature_dim", "6", "mini_batch_size", "50", NULL};
    struct buf dense = BUF_INIT(1 << 20), sparse = BUF_INIT(1 << 20);
    struct kiln_diag d = {0};
    struct kmeans_hp hp;
    json_t *m = hp_map(kv);
    struct rng rng;
    float rows[2][100 * 6];

    ASSERT_EQ(kmeans_hp_parse(m, &hp, &d), 0);
    json_decref(m);
    rng_seed(&rng, 5);
    for (size_t i = 0; i < 100; i++) {
        float v[6] = {0};
        uint64_t keys[6];
        float vals[6];
        size_t nk = 0;
        for (size_t t = 0; t < 6; t++)
            if (rng_uniform(&rng) < 0.4) {
                v[t] = (float)(i % 2 ? 5 : -5) + (float)rng_uniform(&rng);
                keys[nk] = t;
                vals[nk++] = v[t];
            }
        record_write_dense(&dense, v, 6, NULL);
        record_write_sparse(&sparse, vals, keys, nk, 6, NULL);
    }
    struct buf *src[2] = {&dense, &sparse};
    struct record_ws *ws = record_ws_new();
    for (int s = 0; s < 2; s++) {
        struct recordio_reader r;
        struct record_view v;
        const uint8_t *p;
        size_t n, i = 0;
        recordio_reader_init_mem(&r, src[s]->data, src[s]->len);
        while (recordio_next(&r, &p, &n, &d) == 0) {
            ASSERT_EQ(record_decode(ws, p, n, &v, &d), 0);
            ASSERT_EQ(record_to_dense(&v.features, rows[s] + i * 6, 6, &d), 0);
            i++;
        }
        ASSERT_EQ(i, 100);
        recordio_reader_release(&r);
    }
    record_ws_free(ws);
    ASSERT_TRUE(memcmp(rows[0], rows[1], sizeof(rows[0])) == 0);
    double m1, m2;
    float *a = fit(&hp, rows[0], 100, 1, &m1);
    float *b = fit(&hp, rows[1], 100, 1, &m2);
    ASSERT_TRUE(memcmp(a, b, 2 * 6 * sizeof(float)) == 0);
    mem_free(a);
    mem_free(b);
    buf_release(&dense);
    buf_release(&sparse);
}

static void test_hp_validation(void)
{
    static const struct {
        const char *kv[8];
        const char *msg;
    } cases[] = {
        {{"feature_dim", "3", NULL}, "required hyperparameter 'k' is missing"},
        {{"k", "3", NULL}, "required hyperparameter 'feature_dim' is missing"},
        {{"k", "ten", "feature_dim", "3", NULL},
         "hyperparameter 'k' must be a positive integer, not 'ten'"},
        {{"k", "0", "feature_dim", "3", NULL},
         "hyperparameter 'k' must be a positive integer, not '0'"},
        {{"k", "2", "feature_dim", "3", "init_method", "best", NULL},
         "hyperparameter 'init_method' must be 'random' or 'kmeans++'"},
        {{"k", "2", "feature_dim", "3", "local_lloyd_tol", "2", NULL},
         "hyperparameter 'local_lloyd_tol' must be a number between 0 and 1"},
        {{"k", "2", "feature_dim", "3", "eval_metrics", "[\"mse\"]", NULL},
         "may only list 'msd' and 'ssd', not 'mse'"},
        {{"k", "2", "feature_dim", "3", "force_dense", "yes", NULL},
         "hyperparameter 'force_dense' must be 'true' or 'false'"},
        {{"k", "2", "feature_dim", "3", "half_life_time_size", "-1", NULL},
         "'half_life_time_size' must be a non-negative integer"},
        {{"k", "2", "feature_dim", "3", "extra_center_factor", "x", NULL},
         "'extra_center_factor' must be a positive integer, not 'x'"},
        {{"k", "2", "feature_dim", "3", "learning_rate", "1", NULL},
         "unknown hyperparameter 'learning_rate'"},
    };
    struct kmeans_hp hp;
    struct kiln_diag d = {0};

    for (size_t i = 0; i < KILN_ARRAY_LEN(cases); i++) {
        json_t *m = hp_map(cases[i].kv);
        ASSERT_EQ(kmeans_hp_parse(m, &hp, &d), KILN_EINVAL);
        json_decref(m);
        ASSERT_CONTAINS(d.msg, cases[i].msg);
    }
    /* What the SDK sends, plus internal keys and the Spark SDK's list. */
    static const char *const ok[] = {"force_dense",
                                     "True",
                                     "k",
                                     "10",
                                     "feature_dim",
                                     "784",
                                     "eval_metrics",
                                     "[ssd, msd]",
                                     "_kvstore",
                                     "auto",
                                     "local_lloyd_tol",
                                     "1.0",
                                     "extra_center_factor",
                                     "auto",
                                     NULL};
    json_t *m = hp_map(ok);
    ASSERT_EQ(kmeans_hp_parse(m, &hp, &d), 0);
    json_decref(m);
    ASSERT_TRUE(hp.eval_msd && hp.eval_ssd && hp.force_dense);
    ASSERT_EQ(hp.extra_center_factor, 10);
    ASSERT_EQ(hp.local_lloyd_num_trials, 10);
    ASSERT_EQ(hp.mini_batch_size, 5000);
    ASSERT_TRUE(hp.local_lloyd_tol == 1.0);
}

static void test_predict_and_model_file(void)
{
    const float C[2 * 2] = {0, 0, 3, 4};
    const float X[3 * 2] = {0, 1, 3, 3, 6, 8};
    struct kmeans_ws ws;
    struct mat CM = {2, 2, 2, (float *)(uintptr_t)C, false};
    struct mat XM = {3, 2, 2, (float *)(uintptr_t)X, false};
    float cn[2], dist[3];
    uint32_t idx[3];
    struct buf b = BUF_INIT(4096);
    struct kiln_diag d = {0};
    float *back;
    size_t r, c;

    kmeans_ws_init(&ws, 3, 2, 2);
    linalg_row_sqnorms(&CM, cn);
    ASSERT_EQ(kmeans_predict(&CM, cn, &XM, &ws, idx, dist), 0);
    ASSERT_TRUE(idx[0] == 0 && idx[1] == 1 && idx[2] == 1);
    ASSERT_REL(dist[0], 1.0, 1e-6);
    ASSERT_REL(dist[1], 1.0, 1e-6);
    ASSERT_REL(dist[2], 5.0, 1e-6);
    kmeans_ws_release(&ws);
    ASSERT_EQ(ndarray_write(&b, C, 2, 2), 0);
    ASSERT_EQ(ndarray_read((const uint8_t *)b.data, b.len, &back, &r, &c, &d),
              0);
    ASSERT_TRUE(r == 2 && c == 2 && memcmp(back, C, sizeof(C)) == 0);
    mem_free(back);
    buf_release(&b);
}

/* The model does not depend on how many threads train it: the batch
 * statistic sums each center's rows in row order, and the local Lloyd
 * attempts draw their seeds in order and are compared in order. */
static void test_threads_same_model(void)
{
    static const char *const kv[] = {"k",
                                     "5",
                                     "feature_dim",
                                     "16",
                                     "mini_batch_size",
                                     "2500",
                                     "local_lloyd_num_trials",
                                     "7",
                                     NULL};
    struct kmeans_hp hp;
    struct kiln_diag d = {0};
    struct rng rng;
    json_t *m = hp_map(kv);
    double msd1, msd3;
    /* Several blocks of rows per batch. */

    ASSERT_EQ(kmeans_hp_parse(m, &hp, &d), 0);
    json_decref(m);
    rng_seed(&rng, 3);
    float *X = blobs(5, 1000, 16, &rng);
    int was = omp_get_max_threads();
    linalg_blas_threads(1); /* as kmeans_train runs */
    omp_set_num_threads(1);
    float *C1 = fit(&hp, X, 5000, 9, &msd1);
    omp_set_num_threads(3);
    float *C3 = fit(&hp, X, 5000, 9, &msd3);
    omp_set_num_threads(was);
    ASSERT_TRUE(msd1 == msd3);
    ASSERT_TRUE(memcmp(C1, C3, 5 * 16 * sizeof(float)) == 0);
    mem_free(X);
    mem_free(C1);
    mem_free(C3);
}

/* The AVX-512 kernel (where the CPU has it) against the portable path
 * (sgemm or the direct loop) on shapes with every kind of remainder: rows
 * not a multiple of 6, centers not of 4, d not of 16, a leading
 * dimension wider than d. Same nearest center (up to float ties) and
 * distances within float rounding; the fused sums match the rows added
 * one by one. */
static void test_simd_kernel_matches(void)
{
    static const size_t shapes[][3] = {
        {1, 1, 1},  {1, 10, 784},   {7, 5, 17},    {13, 9, 33},
        {6, 4, 16}, {100, 10, 784}, {61, 100, 45}, {1024, 3, 5}};
    struct rng rng;
    rng_seed(&rng, 17);
    bool had = linalg_simd(-1);
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        size_t n = shapes[s][0], k = shapes[s][1], d = shapes[s][2];
        size_t ld = d + 3;
        float *X = xcalloc(n * ld, sizeof(float));
        float *C = xmalloc(k * d * sizeof(float));
        for (size_t i = 0; i < n * ld; i++)
            X[i] = (float)rng_uniform(&rng);
        for (size_t i = 0; i < k * d; i++)
            C[i] = (float)rng_uniform(&rng);
        struct mat XM = {n, d, ld, X, false}, CM = {k, d, d, C, false};
        float *cn = xmalloc(k * sizeof(float)), *ws = xmalloc(n * k * 4);
        float *d1 = xmalloc(n * 4), *d2 = xmalloc(n * 4);
        uint32_t *i1 = xmalloc(n * 4), *i2 = xmalloc(n * 4);
        double *s1 = xcalloc(k * d, sizeof(double));
        double *s2 = xcalloc(k * d, sizeof(double));
        linalg_row_sqnorms(&CM, cn);
        linalg_simd(1);
        ASSERT_EQ(linalg_nearest(&XM, &CM, cn, ws, i1, d1), 0);
        ASSERT_EQ(linalg_nearest_sum(&XM, &CM, cn, ws, i1, s1), 0);
        linalg_simd(0);
        ASSERT_EQ(linalg_nearest(&XM, &CM, cn, ws, i2, d2), 0);
        for (size_t i = 0; i < n; i++) {
            double tol = 1e-4 * (1 + d2[i]);
            if (i1[i] != i2[i]) { /* only a near tie may differ */
                float a = linalg_sqdist(X + i * ld, C + i1[i] * d, d);
                float b = linalg_sqdist(X + i * ld, C + i2[i] * d, d);
                ASSERT_TRUE(fabs(a - b) <= tol);
            }
            ASSERT_TRUE(fabs(d1[i] - d2[i]) <= tol);
            ASSERT_TRUE(fabs(d1[i] - linalg_sqdist(X + i * ld, C + i1[i] * d,
                                                   d)) <= tol);
            linalg_axpy(d, 1.0, X + i * ld, s2 + (size_t)i1[i] * d);
        }
        ASSERT_TRUE(memcmp(s1, s2, k * d * sizeof(double)) == 0);
        mem_free(X);
        mem_free(C);
        mem_free(cn);
        mem_free(ws);
        mem_free(d1);
        mem_free(d2);
        mem_free(i1);
        mem_free(i2);
        mem_free(s1);
        mem_free(s2);
    }
    linalg_simd(had ? 1 : 0);
}

/* Reads every epoch of a 1,000-row CSV file through a feed and checks
 * each row arrives once per epoch, in order, whether the epochs replay
 * from memory (budget: all), fall back to the files part way (budget:
 * two batches) or stream (no keeping). */
static void test_feed_epochs(void)
{
    char path[] = "/tmp/kiln-feed-XXXXXX";
    int fd = mkstemp(path);
    struct buf csv = BUF_INIT(1 << 20);
    const size_t rows = 1000, dim = 3, batch = 64;
    struct kiln_diag d = {0};

    ASSERT_TRUE(fd >= 0);
    for (size_t i = 0; i < rows; i++)
        buf_addf(&csv, "%zu,%zu,%zu\n", i, i + 1, 2 * i);
    ASSERT_EQ(write(fd, csv.data, csv.len), (ssize_t)csv.len);
    close(fd);
    const size_t budgets[] = {SIZE_MAX, 2 * batch * dim * sizeof(float), 0};
    for (int b = 0; b < 3; b++) {
        const char *paths[] = {path};
        struct dataset *ds = NULL;
        ASSERT_EQ(
            dataset_open(paths, 1, NULL, "train", CT_CSV, dim, 0, &ds, &d), 0);
        struct feed *f = feed_new(ds, batch, dim, b < 2, budgets[b]);
        const float *X;
        size_t got, seen;
        ASSERT_EQ(feed_first(f, &X, &got, &d), 0);
        ASSERT_TRUE(got == batch && X[0] == 0 && X[3] == 1);
        for (size_t e = 0; e < 3; e++) {
            ASSERT_EQ(feed_epoch(f, e, &d), 0);
            seen = 0;
            for (;;) {
                ASSERT_EQ(feed_next(f, &X, &got, &d), 0);
                if (got == 0)
                    break;
                for (size_t i = 0; i < got; i++) {
                    size_t r = seen + i;
                    ASSERT_TRUE(X[i * dim] == (float)r &&
                                X[i * dim + 1] == (float)(r + 1) &&
                                X[i * dim + 2] == (float)(2 * r));
                }
                seen += got;
            }
            ASSERT_EQ(seen, rows);
            ASSERT_TRUE(feed_replaying(f) == (b == 0 && e > 0));
        }
        feed_free(f);
        dataset_close(ds);
    }
    unlink(path);
    buf_release(&csv);
}

/* Bayesian optimization finds the minimum of a smooth function of two
 * variables in a few dozen evaluations, where random points do worse. */
static double bowl(const double *u)
{
    return (u[0] - 0.7) * (u[0] - 0.7) + 2 * (u[1] - 0.2) * (u[1] - 0.2);
}

static void test_bayesopt_finds_the_minimum(void)
{
    double x[64 * 2], y[64];
    struct rng g;
    size_t n = 0;
    rng_seed(&g, 7);
    for (; n < 3; n++) {
        x[2 * n] = rng_uniform(&g);
        x[2 * n + 1] = rng_uniform(&g);
        y[n] = bowl(x + 2 * n);
    }
    for (; n < 25; n++) {
        bayesopt_suggest(x, y, n, 2, &g, x + 2 * n);
        ASSERT_TRUE(x[2 * n] >= 0 && x[2 * n] < 1);
        ASSERT_TRUE(x[2 * n + 1] >= 0 && x[2 * n + 1] < 1);
        y[n] = bowl(x + 2 * n);
    }
    double best = INFINITY, random_best = INFINITY;
    for (size_t i = 0; i < n; i++)
        best = y[i] < best ? y[i] : best;
    for (size_t i = 0; i < n; i++) {
        double u[2] = {rng_uniform(&g), rng_uniform(&g)};
        random_best = bowl(u) < random_best ? bowl(u) : random_best;
    }
    ASSERT_TRUE(best < 1e-3);
    ASSERT_TRUE(best < random_best);
}

static const struct test tests[] = {
    {"Bayesian optimization finds a minimum", test_bayesopt_finds_the_minimum},
    {"the AVX-512 kernel agrees with the portable path",
     test_simd_kernel_matches},
    {"a feed reads each epoch whole: replayed, fallen back, streamed",
     test_feed_epochs},
    {"one thread or three, the same model", test_threads_same_model},
    {"well-separated blobs are recovered", test_blobs_exact},
    {"same seed, same model", test_seed_determinism},
    {"merged states keep the sufficient statistics", test_merge_statistics},
    {"sparse input trains like dense", test_sparse_equals_dense},
    {"hyperparameter validation", test_hp_validation},
    {"prediction and the model file", test_predict_and_model_file},
};

HARNESS_MAIN(tests)
