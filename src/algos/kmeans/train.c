/*
 * train.c - the training entry point: configuration, the streaming epochs
 * over mini-batches, finalisation, test metrics and the model file.
 *
 * Memory is one mini-batch (mini_batch_size x feature_dim floats), the
 * state (K x feature_dim) and the workspace; the data is streamed from the
 * channel files, the next batch parsed on a thread of its own while the
 * current one is computed (algos/feed.c). Only with several epochs over
 * files does epoch 0 keep its batches (up to a quarter of the machine's
 * memory), so that the later epochs replay them instead of parsing the
 * files again.
 *
 * On several hosts (ranks of an MPI job, kiln's launcher) every host
 * streams its own shard. Rank 0 seeds the centers and broadcasts them;
 * then, round after round, each host computes its mini-batch's statistic
 * (per-center sums and counts) against the shared centers, the hosts add
 * the statistics up (one allreduce of K x feature_dim doubles: the cost
 * of a round does not grow with the data), and every host applies the
 * sum to its copy of the state, so all copies stay the same. An epoch
 * ends when no host has rows left. Rank 0 shrinks the state to k centers,
 * broadcasts them and writes the model; test metrics sum over all hosts.
 */
#include "algos/kmeans/train.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "algos/feed.h"
#include "algos/kmeans/kmeans.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "formats/dataset.h"
#include "formats/ndarray.h"
#include "ml/comm.h"

#define DEFAULT_SEED 0x6b6d65616e73ull /* "kmeans" */

struct run {
    const struct algo_args *a;
    struct kmeans_hp hp;
    json_t *hyper, *inputs, *resources;
    const char *host;
    enum content_type train_ct, test_ct;
    size_t train_label, test_label;
    char **train_paths, **test_paths;
    size_t ntrain, ntest;
    bool has_test;
    bool train_pipe, test_pipe; /* channels arrive as FIFOs */
    bool test_sharded;          /* hosts hold different test rows */
    struct comm *comm;          /* the hosts of the job */
    struct kiln_diag d;
};

static const char *ext_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && (strcmp(dot, ".csv") == 0))
        return "text/csv";
    return "application/x-recordio-protobuf";
}

/* Reads the channel's ContentType from inputdataconfig.json. */
static bool channel_pipe(struct run *r, const char *channel)
{
    json_t *c = json_object_get(r->inputs, channel);
    const char *m = json_string_value(json_object_get(c, "TrainingInputMode"));
    return m && strcmp(m, "Pipe") == 0;
}

static int channel_type(struct run *r, const char *channel,
                        enum content_type *ct, size_t *label)
{
    const char *t = "application/x-recordio-protobuf";
    json_t *c = json_object_get(r->inputs, channel);
    if (c && json_is_string(json_object_get(c, "ContentType")))
        t = json_string_value(json_object_get(c, "ContentType"));
    return content_type_parse(t, ct, label, &r->d);
}

static int configure(struct run *r)
{
    const struct algo_args *a = r->a;
    struct buf p = BUF_INIT(8192);
    int rc = 0;

    r->host = "algo-1";
    if (a->data) {
        r->hyper = json_incref(a->hyperparameters);
        rc = content_type_parse(a->content_type ? a->content_type
                                                : ext_type(a->data),
                                &r->train_ct, &r->train_label, &r->d);
        r->test_ct = r->train_ct;
        r->test_label = r->train_label;
        if (!rc) {
            r->train_paths = xcalloc(1, sizeof(char *));
            r->train_paths[0] = xstrdup(a->data);
            r->ntrain = 1;
            if (a->test) {
                r->test_paths = xcalloc(1, sizeof(char *));
                r->test_paths[0] = xstrdup(a->test);
                r->ntest = 1;
                r->has_test = true;
            }
        }
        goto out;
    }
    buf_addf(&p, "%s/config/hyperparameters.json", a->input_dir);
    rc = algo_read_json(buf_cstr(&p), &r->hyper, &r->d);
    if (rc)
        goto out;
    buf_reset(&p);
    buf_addf(&p, "%s/config/inputdataconfig.json", a->input_dir);
    if (algo_read_json(buf_cstr(&p), &r->inputs, &r->d) != 0)
        r->inputs = json_object();
    buf_reset(&p);
    buf_addf(&p, "%s/config/resourceconfig.json", a->input_dir);
    if (algo_read_json(buf_cstr(&p), &r->resources, &r->d) == 0) {
        const char *h =
            json_string_value(json_object_get(r->resources, "current_host"));
        if (h)
            r->host = h;
    }
    const char *k;
    json_t *v;
    json_object_foreach(r->inputs, k, v)
    {
        if (strcmp(k, "train") != 0 && strcmp(k, "test") != 0) {
            rc = diag_set(&r->d, KILN_EINVAL,
                          "channel '%.64s' is not supported: k-means reads "
                          "'train' and optionally 'test'",
                          k);
            goto out;
        }
    }
    rc = channel_type(r, "train", &r->train_ct, &r->train_label);
    if (!rc)
        rc = channel_type(r, "test", &r->test_ct, &r->test_label);
    r->train_pipe = channel_pipe(r, "train");
    r->test_pipe = channel_pipe(r, "test");
    if (!rc && r->train_pipe) {
        r->has_test = json_object_get(r->inputs, "test") != NULL;
        goto out;
    }
    if (!rc)
        rc = algo_channel_files(a->input_dir, "train", &r->train_paths,
                                &r->ntrain, &r->d);
    /* With several hosts, a host whose shard is empty still takes part. */
    if (!rc && r->ntrain == 0 && r->comm->size == 1)
        rc = diag_set(&r->d, KILN_EINVAL,
                      "the 'train' channel has no data files");
    if (!rc && (json_object_get(r->inputs, "test") ||
                algo_channel_files(a->input_dir, "test", &r->test_paths,
                                   &r->ntest, NULL) == 0)) {
        if (!r->test_paths)
            algo_channel_files(a->input_dir, "test", &r->test_paths, &r->ntest,
                               NULL);
        r->has_test = r->ntest > 0;
    }
    if (r->comm->size > 1) { /* the same answers on every host */
        json_t *t = json_object_get(r->inputs, "test");
        const char *dist =
            json_string_value(json_object_get(t, "S3DistributionType"));
        r->has_test = t != NULL;
        r->test_sharded = dist && strcmp(dist, "ShardedByS3Key") == 0;
    }
out:
    buf_release(&p);
    return rc;
}

static void on_trial(void *ctx, size_t t, double msd)
{
    (void)ctx;
    algo_log("INFO",
             "local kmeans attempt #%zu. Current mean square "
             "distance %.6f",
             t, msd);
}

/* Writes model_algo-1 atomically into the model directory. */
static int save_model(struct run *r, const float *centers)
{
    struct buf file = BUF_INIT((size_t)1 << 31), path = BUF_INIT(8192),
               tmp = BUF_INIT(8192);
    int fd = -1, rc;

    rc = ndarray_write(&file, centers, r->hp.k, r->hp.feature_dim);
    if (rc)
        goto out;
    mkdir(r->a->model_dir, 0755);
    buf_addf(&path, "%s/model_algo-1", r->a->model_dir);
    buf_addf(&tmp, "%s/.model_algo-1.tmp", r->a->model_dir);
    fd = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, file.data, file.len) != (ssize_t)file.len ||
        fsync(fd) != 0 || rename(buf_cstr(&tmp), buf_cstr(&path)) != 0)
        rc = diag_set(&r->d, KILN_EIO, "cannot write %s: %s", buf_cstr(&path),
                      strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    buf_release(&file);
    buf_release(&path);
    buf_release(&tmp);
    return rc;
}

/* A channel's files as one stream; messages name a file by its path in
 * the channel ("train/part-0.csv"). */
static int open_files(struct run *r, char **paths, size_t n,
                      const char *channel, enum content_type ct,
                      size_t label_size, struct dataset **ds)
{
    struct buf root = BUF_INIT(4096);
    if (!r->a->data)
        buf_addf(&root, "%s/data/%s", r->a->input_dir, channel);
    int rc = dataset_open((const char *const *)paths, n,
                          r->a->data ? NULL : buf_cstr(&root), channel, ct,
                          r->hp.feature_dim, label_size, ds, &r->d);
    buf_release(&root);
    return rc;
}

/* The test channel's stream: its files, or its FIFO in Pipe mode. */
static int test_dataset(struct run *r, struct dataset **ds)
{
    if (r->test_pipe) {
        struct buf dir = BUF_INIT(4096);
        buf_addf(&dir, "%s/data", r->a->input_dir);
        int rc = dataset_open_pipe(buf_cstr(&dir), "test", r->test_ct,
                                   r->hp.feature_dim, r->test_label, ds, &r->d);
        buf_release(&dir);
        return rc;
    }
    return open_files(r, r->test_paths, r->ntest, "test", r->test_ct,
                      r->test_label, ds);
}

static int evaluate(struct run *r, const float *centers, float *batch,
                    struct kmeans_ws *ws)
{
    struct dataset *ds = NULL;
    struct mat C = {r->hp.k, r->hp.feature_dim, r->hp.feature_dim,
                    (float *)(uintptr_t)centers, false};
    double ssd = 0, sum[2];
    uint64_t n = 0;
    size_t got;
    int rc = 0;

    /* A host of several may hold no test shard. */
    if (r->test_pipe || r->ntest > 0 || r->comm->size == 1)
        rc = test_dataset(r, &ds);
    linalg_row_sqnorms(&C, ws->cnorm);
    while (!rc && ds) {
        rc = dataset_next(ds, batch, NULL, r->hp.mini_batch_size, &got, &r->d);
        if (rc || got == 0)
            break;
        struct mat X = {got, r->hp.feature_dim, r->hp.feature_dim, batch,
                        false};
        rc = kmeans_assign(&X, &C, ws->cnorm, ws->dots, ws->idx, ws->dist2);
        for (size_t i = 0; !rc && i < got; i++)
            ssd += ws->dist2[i];
        n += got;
    }
    dataset_close(ds);
    if (rc)
        return rc;
    /* Sharded test rows add up over the hosts; replicated ones are the
     * same on every host. */
    sum[0] = ssd;
    sum[1] = (double)n;
    if (r->test_sharded && comm_sum(r->comm, sum, 2) != 0)
        return diag_set(&r->d, KILN_EIO, "the hosts lost each other");
    ssd = sum[0];
    n = (uint64_t)sum[1];
    if (n == 0)
        return diag_set(&r->d, KILN_EINVAL, "the 'test' channel is empty");
    if (r->hp.eval_msd)
        algo_log("INFO", "#quality_metric: host=%s, test msd <loss>=%.17g",
                 r->host, ssd / (double)n);
    if (r->hp.eval_ssd)
        algo_log("INFO", "#quality_metric: host=%s, test ssd <loss>=%.17g",
                 r->host, ssd);
    return 0;
}

/* Seeds the state from the first batch of the training stream, which
 * stays pending as epoch 0's first batch. */
static int seed_state(struct run *r, struct feed *f, struct kmeans_state *st,
                      struct kmeans_ws *ws, struct rng *rng)
{
    const struct kmeans_hp *hp = &r->hp;
    const float *batch;
    size_t got = 0;
    int rc;

    rc = feed_first(f, &batch, &got, &r->d);
    if (rc)
        return rc;
    if (got == 0)
        return diag_set(&r->d, KILN_EINVAL,
                        "the 'train' channel holds no records%s",
                        r->comm->size > 1 ? " on host algo-1" : "");
    if (got < hp->mini_batch_size)
        algo_log("WARNING",
                 "Batch size %zu is bigger than the first batch "
                 "data. Effective batch size used to initialize "
                 "is %zu",
                 hp->mini_batch_size, got);
    if (got < hp->k)
        return diag_set(&r->d, KILN_EINVAL,
                        "k=%zu is larger than the %zu records available to "
                        "initialise the centers",
                        hp->k, got);
    struct mat X = {got, hp->feature_dim, hp->feature_dim,
                    (float *)(uintptr_t)batch, false};
    return kmeans_state_seed(st, &X, hp->init_method, rng, ws);
}

static int train(struct run *r)
{
    struct kmeans_hp *hp = &r->hp;
    struct dataset *ds = NULL;
    struct feed *feed = NULL;
    struct kmeans_state st = {0};
    struct kmeans_ws ws = {0};
    struct rng rng;
    float *batch = NULL, *centers = NULL;
    size_t K, got, bytes, rounds = 0;
    double t0 = tm_monotonic(), msd = 0;
    uint64_t total = 0;
    struct buf conf = BUF_INIT(8192);
    int rc;

    rc = kmeans_hp_parse(r->hyper, hp, &r->d);
    if (rc)
        return rc;
    /* The batch steps thread themselves (OpenMP, OMP_NUM_THREADS); each
     * thread's sgemm stays on its thread. */
    linalg_blas_threads(1);
    kmeans_hp_json(hp, &conf);
    algo_log("INFO", "Final configuration: %s", buf_cstr(&conf));
    buf_release(&conf);
    if (hp->center_factor_auto)
        algo_log("INFO",
                 "'extra_center_factor' was set to 'auto', "
                 "evaluated to %zu.",
                 hp->extra_center_factor);
    K = hp->k * hp->extra_center_factor;
    if (mem_mul(hp->mini_batch_size, hp->feature_dim, &bytes) ||
        mem_mul(bytes, sizeof(float), &bytes) ||
        mem_try_alloc(bytes, (void **)&batch))
        return diag_set(&r->d, KILN_ETOOBIG,
                        "mini_batch_size x feature_dim is too large");
    rc = kmeans_state_init(&st, K, hp->feature_dim);
    if (!rc)
        rc = kmeans_ws_init(&ws, hp->mini_batch_size, K, hp->feature_dim);
    if (rc) {
        rc = diag_set(&r->d, rc, "not enough memory for k=%zu x %zu centers",
                      hp->k, hp->extra_center_factor);
        goto out;
    }
    json_t *seed = json_object_get(r->hyper, "_seed");
    int64_t sv = DEFAULT_SEED;
    if (json_is_string(seed))
        parse_i64_str(json_string_value(seed), INT64_MIN, INT64_MAX, &sv);
    rng_seed(&rng, (uint64_t)sv);

    if (r->train_pipe) {
        struct buf dir = BUF_INIT(4096);
        buf_addf(&dir, "%s/data", r->a->input_dir);
        rc = dataset_open_pipe(buf_cstr(&dir), "train", r->train_ct,
                               hp->feature_dim, r->train_label, &ds, &r->d);
        buf_release(&dir);
    } else if (r->ntrain > 0) {
        rc = open_files(r, r->train_paths, r->ntrain, "train", r->train_ct,
                        r->train_label, &ds);
    }
    if (rc)
        goto out;
    algo_log("INFO",
             "Loaded iterator creator %s for content type ('%s', "
             "'1.0')",
             content_type_name(r->train_ct), content_type_name(r->train_ct));
    /* Several epochs over files replay epoch 0's batches from memory. */
    feed = feed_new(ds, hp->mini_batch_size, hp->feature_dim,
                    hp->epochs > 1 && !r->train_pipe, feed_default_budget());
    /* Rank 0 initialises from its first batch. */
    if (r->comm->rank == 0) {
        rc = seed_state(r, feed, &st, &ws, &rng);
        if (rc)
            goto out;
    }
    if (comm_bcast_floats(r->comm, st.centers, K * hp->feature_dim, 0) != 0) {
        rc = diag_set(&r->d, KILN_EIO, "the hosts lost each other");
        goto out;
    }
    st.seeded = true;
    double t_epochs = tm_monotonic();
    for (size_t e = 0; e < hp->epochs && !rc; e++) {
        bool more = true;
        uint64_t rows = 0;
        double te = tm_monotonic();
        rc = feed_epoch(feed, e, &r->d);
        while (!rc) {
            const float *rowp = NULL;
            got = 0;
            if (more)
                rc = feed_next(feed, &rowp, &got, &r->d);
            if (rc)
                break;
            more = got > 0;
            rows += got;
            struct mat X = {got, hp->feature_dim, hp->feature_dim,
                            (float *)(uintptr_t)rowp, false};
            rc = kmeans_batch_stats(&st, &X, &ws);
            if (!rc && comm_sum(r->comm, ws.stats, ws.nstats) != 0)
                rc = diag_set(&r->d, KILN_EIO, "the hosts lost each other");
            if (rc || ws.rows[0] == 0)
                break; /* no host has rows left: the epoch is over */
            double decay =
                hp->half_life_time_size
                    ? pow(0.5, ws.rows[0] / (double)hp->half_life_time_size)
                    : 1.0;
            kmeans_state_apply(&st, decay, &ws);
            total += got;
            rounds++;
        }
        if (!rc) {
            algo_log("INFO", "epoch %zu: %llu records in %.6f s%s", e,
                     (unsigned long long)rows, tm_monotonic() - te,
                     feed_replaying(feed) ? " (from memory)" : "");
            algo_log("INFO",
                     "#progress_metric: host=%s, completed %.1f %% "
                     "of epochs",
                     r->host, 100.0 * (double)(e + 1) / (double)hp->epochs);
        }
    }
    feed_free(feed);
    feed = NULL;
    if (rc)
        goto out;
    double secs = tm_monotonic() - t_epochs;
    algo_log("INFO", "processed a total of %llu examples",
             (unsigned long long)total);
    algo_log("INFO",
             "#throughput_metric: host=%s, train throughput=%.17g "
             "records/second",
             r->host, (double)total / (secs > 1e-9 ? secs : 1e-9));
    centers = xmalloc(hp->k * hp->feature_dim * sizeof(float));
    if (r->comm->rank == 0) {
        algo_log("INFO", "shrinking %zu centers into %zu", K, hp->k);
        rc = kmeans_finalize(&st, hp, &rng, centers, &msd, on_trial, NULL);
        if (rc) {
            rc = diag_set(&r->d, rc, "no center received any training record");
            goto out;
        }
        algo_log("INFO",
                 "finished shrinking process. Mean Square Distance = %g", msd);
    }
    if (comm_bcast_floats(r->comm, centers, hp->k * hp->feature_dim, 0) ||
        comm_bcast_doubles(r->comm, &msd, 1, 0)) {
        rc = diag_set(&r->d, KILN_EIO, "the hosts lost each other");
        goto out;
    }
    algo_log("INFO", "#quality_metric: host=%s, train msd <loss>=%.17g",
             r->host, msd);
    if (r->comm->size > 1)
        algo_log("INFO",
                 "host %s of %d: %zu rounds, %zu collectives took %.3f s of "
                 "%.3f s of training, %zu bytes sent per round",
                 r->host, r->comm->size, rounds, r->comm->calls,
                 r->comm->seconds, tm_monotonic() - t0,
                 ws.nstats * sizeof(double));
    if (r->has_test) {
        rc = evaluate(r, centers, batch, &ws);
        if (rc)
            goto out;
    } else {
        algo_log("INFO", "Test data is not provided.");
    }
    if (r->comm->rank == 0) {
        rc = save_model(r, centers);
        if (!rc)
            algo_log("INFO",
                     "wrote the model (%zu x %zu) to %s/model_algo-1 in "
                     "%.3f s in total",
                     hp->k, hp->feature_dim, r->a->model_dir,
                     tm_monotonic() - t0);
    }
out:
    feed_free(feed);
    dataset_close(ds);
    kmeans_state_release(&st);
    kmeans_ws_release(&ws);
    mem_free(batch);
    mem_free(centers);
    return rc;
}

int kmeans_train(const struct algo_args *a)
{
    struct run r = {.a = a};
    struct comm one;
    int rc, status = 0;

    comm_init(&one, false, NULL);
    r.comm = a->comm ? a->comm : &one;
    rc = configure(&r);
    if (!rc)
        rc = train(&r);
    if (rc) {
        bool client = rc == KILN_EINVAL || rc == KILN_EDIM ||
                      rc == KILN_ENOTFOUND || rc == KILN_ETOOBIG;
        status = algo_fail(a, client, r.d.msg[0] ? r.d.msg : kiln_strerror(rc));
    }
    json_decref(r.hyper);
    json_decref(r.inputs);
    json_decref(r.resources);
    algo_free_paths(r.train_paths, r.ntrain);
    algo_free_paths(r.test_paths, r.ntest);
    return status;
}
