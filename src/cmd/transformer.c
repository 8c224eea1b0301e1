/*
 * transformer.c - batch transform jobs (see transformer.h).
 *
 * One input object at a time flows through a ring of 2 x W slots, W being
 * the requests the job may have in flight (MaxConcurrentTransforms times
 * InstanceCount): the job's thread cuts mini-batches into free slots,
 * W worker threads send them to the model servers as they come, and the
 * job's thread writes the answers out strictly in slot order, so the
 * output follows the input whatever order the answers come back in.
 *
 *   written <= dispatched <= produced <= written + slots
 *
 * A slot between `written` and `dispatched` belongs to a worker until it
 * is marked done; one between `dispatched` and `produced` waits for one.
 */
#include "cmd/transformer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsx.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "cmd/inputs.h"
#include "cmd/jobset.h"
#include "formats/dataproc.h"
#include "formats/split.h"

#define TYPE        "transform-job"
#define MAX_WORKERS 64
#define ANSWER_MAX  ((size_t)1 << 30)

struct transformer {
    struct meta *meta;
    struct objstore *store;
    struct hoster *hoster;
    char *root; /* <data>/transforms: each job's scratch directory */
    struct jobset *jobs;
    struct jobset_records records;
};

struct slot {
    struct buf in;           /* the mini-batch as read */
    struct buf sent;         /* as InputFilter left it (DataProcessing) */
    struct invoke_resp resp; /* the model's answer */
    struct buf out;          /* joined and filtered (DataProcessing) */
    size_t records;
    bool done;
};

struct run {
    struct job *job;
    struct transformer *t;
    json_t *doc;
    struct kiln_diag d;
    /* The job's settings. */
    const char *content_type, *accept;
    bool line_assembly, gzip, single;
    enum split_type split;
    size_t max_payload;
    long timeout_ms;
    int retries, workers;
    struct dataproc dp;
    struct hoster_job *fleet;
    /* The pipeline, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct slot *slots;
    size_t nslots;
    uint64_t produced, dispatched, written;
    bool failed, quit;
    char uri[1200]; /* the input object in flight, for messages */
    char answer_type[256];
    uint64_t records, batches;
};

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void data_log(struct run *r, const char *fmt, ...) KILN_PRINTF(2, 3);
static void data_log(struct run *r, const char *fmt, ...)
{
    struct buf line = BUF_INIT(8192), stream = BUF_INIT(256);
    va_list ap;
    va_start(ap, fmt);
    buf_vaddf(&line, fmt, ap);
    va_end(ap);
    buf_addf(&stream, "%s/data-log", r->job->name);
    meta_log_append(r->t->meta, r->job->account, "/aws/sagemaker/TransformJobs",
                    buf_cstr(&stream), (int64_t)(tm_now() * 1000),
                    buf_cstr(&line));
    buf_release(&line);
    buf_release(&stream);
}

/* Saves the job's document with `status`; with `expect`, only while the
 * stored status is that (a StopTransformJob may have come first). */
static void save(struct run *r, const char *status, const char *expect)
{
    json_object_set_new(r->doc, "TransformJobStatus", json_string(status));
    json_object_set_new(r->doc, "LastModifiedTime", json_real(tm_now()));
    char *body = json_dumps(r->doc, JSON_COMPACT);
    struct meta_res m = {.account = r->job->account,
                         .type = TYPE,
                         .name = r->job->name,
                         .status = status,
                         .modified = tm_now(),
                         .body = body,
                         .expect = expect};
    meta_res_save(r->t->meta, &m);
    mem_free(body);
}

/* The first failure is the job's: later ones follow from it. r->lock
 * held. */
static void fail_locked(struct run *r, const char *fmt, ...) KILN_PRINTF(2, 3);
static void fail_locked(struct run *r, const char *fmt, ...)
{
    if (!r->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->d.msg, sizeof(r->d.msg), fmt, ap);
        va_end(ap);
        r->failed = true;
    }
    /* What no worker took is dropped. */
    r->produced = r->dispatched;
    pthread_cond_broadcast(&r->cond);
}

/* ---- workers ------------------------------------------------------- */

static bool answered(const struct slot *s)
{
    return s->resp.status >= 200 && s->resp.status < 300;
}

/* Sends one mini-batch, retrying 5xx answers and unreachable servers. */
static int invoke(struct run *r, struct slot *s, struct kiln_diag *d)
{
    const struct buf *body = r->dp.input ? &s->sent : &s->in;
    struct invoke_req req = {.content_type = r->content_type,
                             .accept = r->accept,
                             .body = body->data,
                             .len = body->len,
                             .timeout_ms = r->timeout_ms,
                             .cancel = &r->job->stop};
    int rc = 0;
    for (int attempt = 0; attempt <= r->retries; attempt++) {
        if (attempt > 0)
            usleep(100000u * (unsigned)attempt);
        if (jobset_stopping(r->job))
            return diag_set(d, KILN_EUNAVAILABLE, "stopped");
        d->msg[0] = '\0';
        buf_reset(&s->resp.body);
        rc = hoster_job_invoke(r->t->hoster, r->fleet, &req, &s->resp, d);
        if (rc == 0 && s->resp.status < 500)
            break;
    }
    return rc;
}

/* The next line of b from *pos (its newline dropped); false at the end. */
static bool next_line(const struct buf *b, size_t *pos, const char **line,
                      size_t *len)
{
    if (*pos >= b->len)
        return false;
    const char *start = b->data + *pos;
    const char *nl = memchr(start, '\n', b->len - *pos);
    *line = start;
    *len = nl ? (size_t)(nl - start) : b->len - *pos;
    *pos += *len + (nl != NULL);
    return true;
}

/* InputFilter: what each record of the mini-batch sends. */
static int filter_input(struct run *r, struct slot *s, struct kiln_diag *d)
{
    size_t pos = 0, len;
    const char *line;
    buf_reset(&s->sent);
    while (next_line(&s->in, &pos, &line, &len))
        if (dataproc_input(&r->dp, line, len, &s->sent, d) != 0)
            return KILN_EINVAL;
    return 0;
}

/* JoinSource and OutputFilter: each record with its line of the answer
 * (the whole answer for a single record). */
static int rewrite_output(struct run *r, struct slot *s, struct kiln_diag *d)
{
    struct buf *ans = &s->resp.body;
    size_t lines = 0, pos = 0, apos = 0, len, alen;
    const char *line, *aline;

    for (size_t i = 0; i < ans->len; i++)
        lines += ans->data[i] == '\n';
    lines += ans->len > 0 && ans->data[ans->len - 1] != '\n';
    if (s->records > 1 && lines != s->records)
        return diag_set(d, KILN_EINVAL,
                        "The model answered %zu lines to a mini-batch of "
                        "%zu records; joining or filtering the output needs "
                        "one line per record (Accept text/csv or "
                        "application/jsonlines, or BatchStrategy "
                        "SingleRecord).",
                        lines, s->records);
    buf_reset(&s->out);
    while (next_line(&s->in, &pos, &line, &len)) {
        if (s->records == 1) {
            aline = ans->data ? ans->data : "";
            alen = ans->len;
            while (alen && aline[alen - 1] == '\n')
                alen--;
        } else if (!next_line(ans, &apos, &aline, &alen)) {
            break;
        }
        if (dataproc_output(&r->dp, line, len, aline, alen, &s->out, d) != 0)
            return KILN_EINVAL;
    }
    return 0;
}

static void *worker(void *arg)
{
    struct run *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (!r->quit && r->dispatched == r->produced)
            pthread_cond_wait(&r->cond, &r->lock);
        if (r->quit)
            break;
        uint64_t seq = r->dispatched++;
        struct slot *s = &r->slots[seq % r->nslots];
        pthread_mutex_unlock(&r->lock);
        struct kiln_diag d = {0};
        bool bad = r->dp.input && filter_input(r, s, &d) != 0;
        int rc = bad ? 0 : invoke(r, s, &d);
        if (!bad && !rc && answered(s) && dataproc_rewrites_output(&r->dp))
            bad = rewrite_output(r, s, &d) != 0;
        pthread_mutex_lock(&r->lock);
        if (bad)
            fail_locked(r, "ClientError: Mini-batch %llu of %s: %s",
                        (unsigned long long)seq + 1, r->uri, d.msg);
        else if (rc)
            fail_locked(r,
                        "ClientError: The model servers did not answer "
                        "mini-batch %llu of %s: %s",
                        (unsigned long long)seq + 1, r->uri, d.msg);
        else if (!answered(s))
            fail_locked(r,
                        "ClientError: The model answered %d to mini-batch "
                        "%llu of %s: %.400s",
                        s->resp.status, (unsigned long long)seq + 1, r->uri,
                        buf_cstr(&s->resp.body));
        else if (!r->answer_type[0])
            str_copy(r->answer_type, s->resp.content_type,
                     sizeof(r->answer_type));
        s->done = true;
        pthread_cond_broadcast(&r->cond);
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* ---- one input object ---------------------------------------------- */

static int write_all(FILE *f, const void *p, size_t n)
{
    return n == 0 || fwrite(p, 1, n, f) == n ? 0 : KILN_EIO;
}

/*
 * Runs the object at fd through the model into `path`: 0, or KILN_EINVAL
 * with the reason in r->d (also when stopped: r->job->stop says so).
 */
static int transform_object(struct run *r, int fd, const char *path)
{
    struct splitter sp;
    struct kiln_diag d = {0};
    FILE *out = fopen(path, "wbe");
    uint64_t first = r->written, records = 0;
    int rc = splitter_init(&sp, fd, r->gzip, r->split, r->single,
                           r->max_payload, &d);

    if (!out && !rc)
        rc = diag_set(&d, KILN_EIO, "cannot write %s: %s", path,
                      strerror(errno));
    pthread_mutex_lock(&r->lock);
    if (rc)
        fail_locked(r, "ClientError: Cannot read %s: %s", r->uri, d.msg);
    bool more = !rc;
    for (;;) {
        while (more && !r->failed && r->produced - r->written < r->nslots &&
               !jobset_stopping(r->job)) {
            struct slot *s = &r->slots[r->produced % r->nslots];
            pthread_mutex_unlock(&r->lock);
            int src = splitter_next(&sp, &s->in, &s->records, &d);
            pthread_mutex_lock(&r->lock);
            if (src == KILN_CONTINUE) {
                more = false;
            } else if (src) {
                fail_locked(r, "ClientError: %s: %s", r->uri, d.msg);
                more = false;
            } else {
                s->done = false;
                r->produced++;
                pthread_cond_signal(&r->cond);
            }
        }
        if (r->written == r->produced) {
            if (!more || r->failed || jobset_stopping(r->job))
                break;
            continue;
        }
        struct slot *s = &r->slots[r->written % r->nslots];
        while (!s->done)
            pthread_cond_wait(&r->cond, &r->lock);
        if (!r->failed) {
            pthread_mutex_unlock(&r->lock);
            const struct buf *b =
                dataproc_rewrites_output(&r->dp) ? &s->out : &s->resp.body;
            int wrc = write_all(out, b->data, b->len);
            if (!wrc && r->line_assembly && b->len > 0 &&
                b->data[b->len - 1] != '\n')
                wrc = write_all(out, "\n", 1);
            records += s->records;
            pthread_mutex_lock(&r->lock);
            if (wrc)
                fail_locked(r, "cannot write the answers to %s: %s", path,
                            strerror(errno));
        }
        r->written++;
    }
    bool ok = !r->failed && !jobset_stopping(r->job);
    pthread_mutex_unlock(&r->lock);
    if (out && fclose(out) != 0 && ok) {
        pthread_mutex_lock(&r->lock);
        fail_locked(r, "cannot write the answers to %s: %s", path,
                    strerror(errno));
        pthread_mutex_unlock(&r->lock);
        ok = false;
    }
    splitter_release(&sp);
    if (ok) {
        r->records += records;
        r->batches += r->written - first;
        data_log(r, "%s: %llu records in %llu mini-batches", r->uri,
                 (unsigned long long)records,
                 (unsigned long long)(r->written - first));
    }
    return ok ? 0 : KILN_EINVAL;
}

/* ---- the job ------------------------------------------------------- */

static void settings(struct run *r)
{
    json_t *in = json_object_get(r->doc, "TransformInput");
    json_t *out = json_object_get(r->doc, "TransformOutput");
    json_t *mc = json_object_get(r->doc, "ModelClientConfig");
    const char *comp = jstr(in, "CompressionType");
    const char *asm_with = jstr(out, "AssembleWith");
    const char *strategy = jstr(r->doc, "BatchStrategy");
    json_int_t mb =
        json_integer_value(json_object_get(r->doc, "MaxPayloadInMB"));
    json_int_t count = json_integer_value(json_object_get(
        json_object_get(r->doc, "TransformResources"), "InstanceCount"));
    json_int_t per =
        json_integer_value(json_object_get(r->doc, "MaxConcurrentTransforms"));

    r->content_type = jstr(in, "ContentType");
    r->accept = jstr(out, "Accept");
    r->gzip = comp && strcmp(comp, "Gzip") == 0;
    r->line_assembly = asm_with && strcmp(asm_with, "Line") == 0;
    r->single = strategy && strcmp(strategy, "SingleRecord") == 0;
    if (split_type_parse(jstr(in, "SplitType"), &r->split) != 0)
        r->split = SPLIT_NONE;
    /* 0: no limit but kiln's on one answer. */
    r->max_payload = mb > 0 ? (size_t)mb << 20 : ANSWER_MAX;
    r->timeout_ms = (long)json_integer_value(
                        json_object_get(mc, "InvocationsTimeoutInSeconds")) *
                    1000;
    r->retries =
        (int)json_integer_value(json_object_get(mc, "InvocationsMaxRetries"));
    json_t *dp = json_object_get(r->doc, "DataProcessing");
    const char *join = jstr(dp, "JoinSource");
    /* Checked by CreateTransformJob: the filters parse. */
    dataproc_init(&r->dp, jstr(dp, "InputFilter"), jstr(dp, "OutputFilter"),
                  join && strcmp(join, "Input") == 0,
                  r->content_type && str_starts(r->content_type, "text/csv"),
                  r->accept && str_starts(r->accept, "text/csv"), &r->d);
    if (count < 1)
        count = 1;
    if (per < 1)
        per = 1;
    r->workers = (int)(count * per < MAX_WORKERS ? count * per : MAX_WORKERS);
}

/* <S3OutputPath>/<rel>.out, in out (bucket set apart). */
static int output_key(struct run *r, const char *rel, char *bucket,
                      size_t bsize, struct buf *out)
{
    const char *uri =
        jstr(json_object_get(r->doc, "TransformOutput"), "S3OutputPath");
    const char *prefix;
    if (objstore_uri_split(uri, bucket, bsize, &prefix) != 0)
        return diag_set(&r->d, KILN_EINVAL,
                        "ClientError: S3OutputPath '%s' is not an s3:// URI",
                        uri);
    size_t n = strlen(prefix);
    buf_reset(out);
    buf_addf(out, "%s%s%s.out", prefix, n && prefix[n - 1] != '/' ? "/" : "",
             rel);
    return 0;
}

/* Every input object, one after the other: 0, or non-zero with the
 * reason in r->d. */
static int transform_all(struct run *r, const char *dir)
{
    struct inputs_src src = {r->t->meta, r->t->store, r->job->account, false};
    json_t *s3 = json_object_get(
        json_object_get(json_object_get(r->doc, "TransformInput"),
                        "DataSource"),
        "S3DataSource");
    struct keylist l = {0};
    char bucket[64], obucket[64];
    struct buf okey = BUF_INIT(4096), part = BUF_INIT(4096);
    int rc = inputs_resolve(&src, s3, &l, bucket, sizeof(bucket), &r->d);

    if (!rc)
        rc = output_key(r, "", obucket, sizeof(obucket), &okey);
    if (!rc)
        rc = inputs_owned_bucket(&src, obucket, &r->d);
    buf_addf(&part, "%s/answers", dir);
    for (size_t i = 0; !rc && i < l.n; i++) {
        int fd;
        if (objstore_open_object(r->t->store, bucket, l.keys[i], &fd, &r->d) !=
            0) {
            rc = diag_set(&r->d, KILN_EINVAL,
                          "ClientError: s3://%s/%s was deleted while the "
                          "job ran.",
                          bucket, l.keys[i]);
            break;
        }
        pthread_mutex_lock(&r->lock);
        snprintf(r->uri, sizeof(r->uri), "s3://%s/%s", bucket, l.keys[i]);
        r->answer_type[0] = '\0';
        pthread_mutex_unlock(&r->lock);
        rc = transform_object(r, fd, buf_cstr(&part));
        close(fd);
        if (rc)
            break;
        output_key(r, l.rel[i], obucket, sizeof(obucket), &okey);
        const char *ctype = r->accept           ? r->accept
                            : r->answer_type[0] ? r->answer_type
                                                : "application/octet-stream";
        rc = objstore_put_path(r->t->store, obucket, buf_cstr(&okey),
                               buf_cstr(&part), ctype, &r->d);
        if (rc)
            diag_wrap(&r->d, rc, "cannot store the output: ");
        unlink(buf_cstr(&part));
    }
    keys_free(&l);
    buf_release(&okey);
    buf_release(&part);
    return rc;
}

static void run_job(struct job *job)
{
    struct transformer *t = job->ctx;
    struct run r = {.job = job, .t = t};
    char *body = NULL, *model = NULL;
    struct buf dir = BUF_INIT(4096);

    if (meta_res_get(t->meta, job->account, TYPE, job->name, &body) != 0)
        return;
    r.doc = json_loads(body, 0, NULL);
    mem_free(body);
    if (!r.doc)
        return;
    double start = tm_now();
    json_object_set_new(r.doc, "TransformStartTime", json_real(start));
    save(&r, "InProgress", "InProgress");
    settings(&r);
    log_info("event=transform_start job=%s", job->name);

    buf_addf(&dir, "%s/%s-%s", t->root, job->account, job->name);
    fsx_remove_tree(buf_cstr(&dir));
    mkdir(buf_cstr(&dir), 0700);
    pthread_mutex_init(&r.lock, NULL);
    pthread_cond_init(&r.cond, NULL);
    r.nslots = 2 * (size_t)r.workers;
    r.slots = xcalloc(r.nslots, sizeof(*r.slots));
    for (size_t i = 0; i < r.nslots; i++) {
        buf_init(&r.slots[i].in, r.max_payload);
        buf_init(&r.slots[i].sent, ANSWER_MAX);
        buf_init(&r.slots[i].resp.body, ANSWER_MAX);
        buf_init(&r.slots[i].out, ANSWER_MAX);
    }
    pthread_t *threads = xcalloc((size_t)r.workers, sizeof(*threads));
    int nthreads = 0;

    json_t *res = json_object_get(r.doc, "TransformResources");
    int count = (int)json_integer_value(json_object_get(res, "InstanceCount"));
    json_t *mdoc = NULL;
    int rc = 0;
    if (meta_res_get(t->meta, job->account, "model", jstr(r.doc, "ModelName"),
                     &model) != 0 ||
        !(mdoc = json_loads(model, 0, NULL)))
        rc = diag_set(&r.d, KILN_EINVAL,
                      "ClientError: The model %s was deleted before the job "
                      "started.",
                      jstr(r.doc, "ModelName"));
    mem_free(model);
    if (!rc)
        rc = hoster_job_start(t->hoster, job->account, job->name, mdoc,
                              count < 1 ? 1 : count, &r.fleet, &r.d);
    json_decref(mdoc);
    for (; !rc && nthreads < r.workers; nthreads++)
        if (pthread_create(&threads[nthreads], NULL, worker, &r) != 0)
            rc = diag_set(&r.d, KILN_EIO, "cannot start a worker thread");
    if (!rc)
        rc = transform_all(&r, buf_cstr(&dir));

    pthread_mutex_lock(&r.lock);
    r.quit = true;
    pthread_cond_broadcast(&r.cond);
    pthread_mutex_unlock(&r.lock);
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    hoster_job_stop(t->hoster, r.fleet);
    double end = tm_now();

    const char *status = "Completed";
    if (jobset_shutdown(job)) {
        status = NULL; /* runs again at the next start */
    } else if (jobset_stopping(job)) {
        status = "Stopped";
    } else if (rc) {
        status = "Failed";
        str_utf8_fix(r.d.msg, strlen(r.d.msg));
        json_object_set_new(r.doc, "FailureReason", json_string(r.d.msg));
        data_log(&r, "%s", r.d.msg);
    }
    if (status) {
        json_object_set_new(r.doc, "TransformEndTime", json_real(end));
        /* Metered before the job reads as ended, so a report asked for
         * then has it. */
        int64_t secs = (int64_t)(end - start + 0.5);
        struct meta_usage u = {
            .account = job->account,
            .arn = jstr(r.doc, "TransformJobArn"),
            .kind = "transform",
            .instance_type = jstr(res, "InstanceType"),
            .instance_count = count,
            .start = start,
            .end = end,
            .billable_seconds = (secs < 1 ? 1 : secs) * count,
        };
        meta_usage_add(t->meta, &u);
        save(&r, status, NULL);
    }
    log_info("event=transform_end job=%s status=%s records=%llu batches=%llu",
             job->name, status ? status : "interrupted",
             (unsigned long long)r.records, (unsigned long long)r.batches);

    for (size_t i = 0; i < r.nslots; i++) {
        buf_release(&r.slots[i].in);
        buf_release(&r.slots[i].sent);
        buf_release(&r.slots[i].resp.body);
        buf_release(&r.slots[i].out);
    }
    mem_free(r.slots);
    mem_free(threads);
    dataproc_release(&r.dp);
    pthread_cond_destroy(&r.cond);
    pthread_mutex_destroy(&r.lock);
    fsx_remove_tree(buf_cstr(&dir));
    buf_release(&dir);
    json_decref(r.doc);
}

int transformer_start(void *tv, const char *account, const char *name)
{
    struct transformer *t = tv;
    return jobset_start(t->jobs, account, name);
}

int transformer_stop(void *tv, const char *account, const char *name)
{
    struct transformer *t = tv;
    return jobset_stop_recorded(t->jobs, &t->records, account, name);
}

/* ---- start and stop ------------------------------------------------ */

int transformer_new(struct meta *meta, struct objstore *store,
                    struct hoster *hoster, const char *data_dir,
                    struct transformer **out, struct kiln_diag *d)
{
    struct transformer *t = xcalloc(1, sizeof(*t));
    struct buf p = BUF_INIT(4096);
    (void)d;

    t->meta = meta;
    t->store = store;
    t->hoster = hoster;
    buf_addf(&p, "%s/transforms", data_dir);
    t->root = buf_detach(&p, NULL);
    fsx_remove_tree(t->root);
    mkdir(t->root, 0700);
    t->jobs = jobset_new(t, run_job);
    *out = t;
    t->records = (struct jobset_records){meta, TYPE, "TransformJobStatus",
                                         "TransformEndTime"};
    jobset_recover(t->jobs, &t->records);
    return 0;
}

void transformer_free(struct transformer *t)
{
    if (!t)
        return;
    jobset_free(t->jobs);
    fsx_remove_tree(t->root);
    mem_free(t->root);
    mem_free(t);
}
