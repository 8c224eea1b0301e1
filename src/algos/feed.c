/*
 * feed.c - one read-ahead thread per feed. The caller and the thread hand
 * one request back and forth under a mutex: the caller asks for the next
 * batch into a buffer and goes on computing; the thread reads it and
 * signals. Only one read is ever in flight, and none at an epoch's end
 * (the read that returned no rows asks for nothing more), so rewinding
 * needs no lock on the dataset.
 */
#include "algos/feed.h"

#include <pthread.h>
#include <unistd.h>

#include "algos/algo.h"
#include "base/mem.h"

struct feed {
    struct dataset *ds;
    size_t max_rows, dim, budget;
    float *buf[2];  /* streaming buffers, alternating */
    int cur;        /* the one the caller holds */
    size_t pending; /* rows of feed_first's batch, not yet returned */
    float **kept;   /* epoch 0's batches */
    size_t *kept_rows;
    size_t nkept, cap, bytes, next;
    bool keeping, replay;

    /* The read in flight (guarded by mu). */
    pthread_t thread;
    bool started, stop, asked, done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    float *dst;
    size_t got;
    int rc;
    struct kiln_diag d;
};

size_t feed_default_budget(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0)
        return 0;
    return (size_t)pages / 4 * (size_t)size;
}

static size_t batch_bytes(const struct feed *f)
{
    return f->max_rows * f->dim * sizeof(float);
}

static void *reader(void *arg)
{
    struct feed *f = arg;

    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->asked && !f->stop)
            pthread_cond_wait(&f->cv, &f->mu);
        if (f->stop)
            break;
        f->asked = false;
        float *dst = f->dst;
        pthread_mutex_unlock(&f->mu);
        size_t got = 0;
        struct kiln_diag d = {0};
        int rc = dataset_next(f->ds, dst, NULL, f->max_rows, &got, &d);
        pthread_mutex_lock(&f->mu);
        f->got = got;
        f->rc = rc;
        f->d = d;
        f->done = true;
        pthread_cond_broadcast(&f->cv);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

struct feed *feed_new(struct dataset *ds, size_t max_rows, size_t dim,
                      bool keep, size_t budget)
{
    struct feed *f = xcalloc(1, sizeof(*f));
    f->ds = ds;
    f->max_rows = max_rows;
    f->dim = dim;
    f->budget = budget;
    f->keeping = keep && ds != NULL;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    return f;
}

static void drop_kept(struct feed *f)
{
    for (size_t i = 0; i < f->nkept; i++)
        mem_free(f->kept[i]);
    mem_free(f->kept);
    mem_free(f->kept_rows);
    f->kept = NULL;
    f->kept_rows = NULL;
    f->nkept = f->cap = f->bytes = 0;
    f->keeping = f->replay = false;
}

/* Waits for the read in flight, if any. */
static void settle(struct feed *f)
{
    pthread_mutex_lock(&f->mu);
    while (f->started && f->dst && !f->done)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

void feed_free(struct feed *f)
{
    if (!f)
        return;
    if (f->started) {
        settle(f);
        pthread_mutex_lock(&f->mu);
        f->stop = true;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
    }
    drop_kept(f);
    mem_free(f->buf[0]);
    mem_free(f->buf[1]);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    mem_free(f);
}

/* A streaming buffer (allocated on first use). */
static int stream_buf(struct feed *f, int i, float **out)
{
    if (!f->buf[i] && mem_try_alloc(batch_bytes(f), (void **)&f->buf[i]))
        return KILN_ENOMEM;
    *out = f->buf[i];
    return 0;
}

/*
 * Stops keeping: frees the kept batches but `held` (the one the caller is
 * being given, or NULL), which becomes streaming buffer 0.
 */
static void stop_keeping(struct feed *f, float *held)
{
    algo_log("INFO", "the training data does not fit in memory: every "
                     "epoch reads it from the files");
    for (size_t i = 0; i < f->nkept; i++)
        if (f->kept[i] != held)
            mem_free(f->kept[i]);
    f->nkept = 0;
    drop_kept(f);
    if (held) {
        mem_free(f->buf[0]);
        f->buf[0] = held;
        f->cur = 0;
    }
}

/* Appends buffer p (rows: its batch so far) to the kept batches. */
static void keep(struct feed *f, float *p, size_t rows)
{
    if (f->nkept == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 16;
        f->kept = xrealloc(f->kept, f->cap * sizeof(*f->kept));
        f->kept_rows = xrealloc(f->kept_rows, f->cap * sizeof(size_t));
    }
    f->kept[f->nkept] = p;
    f->kept_rows[f->nkept++] = rows;
    f->bytes += batch_bytes(f);
}

/* Where the next batch goes: a kept buffer of its own in epoch 0 while
 * keeping, else the streaming buffer the caller does not hold. held: the
 * kept batch the caller is being given, if any. */
static int next_dst(struct feed *f, float *held, float **dst,
                    struct kiln_diag *d)
{
    void *p = NULL;

    if (f->keeping) {
        if (f->bytes + batch_bytes(f) <= f->budget &&
            mem_try_alloc(batch_bytes(f), &p) == 0) {
            keep(f, p, 0);
            *dst = p;
            return 0;
        }
        stop_keeping(f, held);
    }
    if (stream_buf(f, 1 - f->cur, dst))
        return diag_set(d, KILN_ENOMEM, "not enough memory for a mini-batch");
    return 0;
}

/* Starts reading the next batch into dst. */
static int ask(struct feed *f, float *dst, struct kiln_diag *d)
{
    if (!f->started) {
        if (pthread_create(&f->thread, NULL, reader, f) != 0)
            return diag_set(d, KILN_EIO, "cannot start the reading thread");
        f->started = true;
    }
    pthread_mutex_lock(&f->mu);
    f->dst = dst;
    f->done = false;
    f->asked = true;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

/* Takes the result of the read in flight. */
static int take(struct feed *f, float **X, size_t *got, struct kiln_diag *d)
{
    int rc;

    settle(f);
    pthread_mutex_lock(&f->mu);
    *X = f->dst;
    *got = f->got;
    rc = f->rc;
    if (rc)
        diag_set(d, rc, "%s", f->d.msg);
    f->dst = NULL;
    pthread_mutex_unlock(&f->mu);
    return rc;
}

/* The batch just read, X with got rows, goes to the caller: record it,
 * and read ahead. */
static int arrived(struct feed *f, float *X, size_t got, struct kiln_diag *d)
{
    bool kept = f->keeping && f->nkept > 0 && f->kept[f->nkept - 1] == X;
    float *dst = NULL;
    int rc;

    if (kept && got == 0) { /* the end: not a batch */
        mem_free(X);
        f->nkept--;
        f->bytes -= batch_bytes(f);
    } else if (kept) {
        f->kept_rows[f->nkept - 1] = got;
    } else {
        f->cur = X == f->buf[0] ? 0 : 1;
    }
    if (got == 0)
        return 0;
    rc = next_dst(f, kept ? X : NULL, &dst, d);
    if (!rc)
        rc = ask(f, dst, d);
    return rc;
}

int feed_first(struct feed *f, const float **X, size_t *got,
               struct kiln_diag *d)
{
    float *dst = NULL;
    int rc;

    *got = 0;
    if (stream_buf(f, 0, &dst))
        return diag_set(d, KILN_ENOMEM, "not enough memory for a mini-batch");
    *X = dst;
    if (!f->ds)
        return 0;
    f->cur = 0;
    rc = dataset_next(f->ds, dst, NULL, f->max_rows, got, d);
    if (!rc)
        f->pending = *got;
    return rc;
}

int feed_epoch(struct feed *f, size_t e, struct kiln_diag *d)
{
    if (e == 1 && f->keeping) {
        f->keeping = false;
        f->replay = true;
        algo_log("INFO",
                 "kept the training data in memory (%zu batches, %.1f MB) "
                 "for the later epochs",
                 f->nkept, (double)f->bytes / 1e6);
    }
    f->next = 0;
    if (f->replay || f->pending || !f->ds)
        return 0;
    return dataset_rewind(f->ds, d);
}

int feed_next(struct feed *f, const float **X, size_t *got, struct kiln_diag *d)
{
    float *dst = NULL;
    bool inflight;
    int rc;

    *got = 0;
    *X = NULL;
    if (f->replay) {
        if (f->next < f->nkept) {
            *X = f->kept[f->next];
            *got = f->kept_rows[f->next++];
        }
        return 0;
    }
    if (!f->ds)
        return 0;
    if (f->pending) { /* feed_first's batch, in buf[0] */
        size_t n = f->pending;
        f->pending = 0;
        dst = f->buf[0];
        if (f->keeping && f->bytes + batch_bytes(f) <= f->budget) {
            keep(f, dst, n); /* the buffer becomes the first kept batch */
            f->buf[0] = NULL;
        } else if (f->keeping) {
            stop_keeping(f, NULL);
        }
        *X = dst;
        *got = n;
        return arrived(f, dst, n, d);
    }
    pthread_mutex_lock(&f->mu);
    inflight = f->dst != NULL;
    pthread_mutex_unlock(&f->mu);
    if (!inflight) { /* the epoch's first read */
        rc = next_dst(f, NULL, &dst, d);
        if (!rc)
            rc = ask(f, dst, d);
        if (rc)
            return rc;
    }
    rc = take(f, &dst, got, d);
    if (rc)
        return rc;
    *X = *got ? dst : NULL;
    return arrived(f, dst, *got, d);
}

bool feed_replaying(const struct feed *f)
{
    return f->replay;
}
