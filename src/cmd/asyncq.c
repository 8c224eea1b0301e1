/*
 * asyncq.c - the queue behind InvokeEndpointAsync.
 *
 * Each request is a stored record (its headers, input and output URIs,
 * deadline) plus an entry in memory holding what the workers schedule
 * by: the order it came in, when it may next be tried, and how many of
 * its endpoint's requests may run at once. A request leaves the store
 * only once its answer or its error is written, so one cut short by a
 * crash or a shutdown runs again at the next start.
 */
#include "cmd/asyncq.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"

#define TYPE                "async-invocation"
#define WORKERS             4
#define TTL_DEFAULT         (6 * 3600)
#define TIMEOUT_DEFAULT     900
#define CONCURRENCY_DEFAULT 4
#define INPUT_MAX           ((uint64_t)1 << 30) /* SageMaker's 1 GB */
#define RETRY_SECONDS       1.0

struct item {
    char id[37], account[13], endpoint[64];
    double created;    /* the order requests are served in */
    double not_before; /* waiting for the endpoint to serve */
    int cap;           /* the endpoint's requests at once */
    struct item *next;
};

struct asyncq {
    struct meta *meta;
    struct objstore *store;
    struct hoster *hoster;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct item *queued; /* oldest first */
    struct item *busy;
    int closing; /* read by invocations in flight (atomic) */
    pthread_t workers[WORKERS];
    int nworkers;
    int requeued; /* at start, from the store */
};

/* ---- the queue in memory (q->lock held) ------------------------------ */

static void enqueue(struct asyncq *q, struct item *it)
{
    struct item **pp = &q->queued;
    while (*pp && (*pp)->created <= it->created)
        pp = &(*pp)->next;
    it->next = *pp;
    *pp = it;
}

static int running(const struct asyncq *q, const struct item *it)
{
    int n = 0;
    for (const struct item *b = q->busy; b; b = b->next)
        n += strcmp(b->account, it->account) == 0 &&
             strcasecmp(b->endpoint, it->endpoint) == 0;
    return n;
}

/* The oldest request that may run now, moved to q->busy; NULL with
 * *next_try set to when one may be ready. */
static struct item *take(struct asyncq *q, double now, double *next_try)
{
    for (struct item **pp = &q->queued; *pp; pp = &(*pp)->next) {
        struct item *it = *pp;
        if (it->not_before > now) {
            if (it->not_before < *next_try)
                *next_try = it->not_before;
            continue;
        }
        if (running(q, it) >= it->cap)
            continue;
        *pp = it->next;
        it->next = q->busy;
        q->busy = it;
        return it;
    }
    return NULL;
}

static void unbusy(struct asyncq *q, struct item *it)
{
    for (struct item **pp = &q->busy; *pp; pp = &(*pp)->next)
        if (*pp == it) {
            *pp = it->next;
            return;
        }
}

/* ---- one request ----------------------------------------------------- */

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Splits an s3:// URI of the output paths or the input. */
static int split(const char *uri, char bucket[64], const char **key)
{
    return objstore_uri_split(uri, bucket, 64, key);
}

/* The bucket and key of object `uri` in a bucket of `account`. */
static int locate(struct asyncq *q, const char *account, const char *uri,
                  char bucket[64], const char **key, struct kiln_diag *d)
{
    struct meta_bucket bk;

    if (split(uri, bucket, key) != 0 || !**key)
        return diag_set(d, KILN_EINVAL, "%s is not an s3:// object URI", uri);
    if (meta_bucket_get(q->meta, bucket, &bk) != 0 ||
        strcmp(bk.account, account) != 0)
        return diag_set(d, KILN_ENOBUCKET,
                        "the bucket %s does not exist or belongs to another "
                        "account",
                        bucket);
    return 0;
}

/* Writes data as the object at `uri` in a bucket of `account`. */
static int put(struct asyncq *q, const char *account, const char *uri,
               const void *data, size_t len, const char *content_type,
               struct kiln_diag *d)
{
    char bucket[64];
    const char *key;
    int rc = locate(q, account, uri, bucket, &key, d);
    return rc ? rc
              : objstore_put_data(q->store, bucket, key, data, len,
                                  content_type, d);
}

/* Reads the request's input object into `out`. */
static int read_input(struct asyncq *q, const char *account, const char *uri,
                      struct buf *out, struct kiln_diag *d)
{
    char bucket[64];
    const char *key;
    struct stat st;
    int fd, rc = locate(q, account, uri, bucket, &key, d);
    char why[256];

    if (rc) {
        str_copy(why, d->msg, sizeof(why));
        return diag_set(d, rc, "Could not read the input %s: %s.", uri, why);
    }
    if (objstore_open_object(q->store, bucket, key, &fd, d) != 0)
        return diag_set(d, KILN_ENOTFOUND,
                        "Could not read the input %s: no such object.", uri);
    if (fstat(fd, &st) != 0) {
        close(fd);
        return diag_set(d, KILN_EIO, "Could not read the input %s: %s", uri,
                        strerror(errno));
    }
    if ((uint64_t)st.st_size > INPUT_MAX) {
        close(fd);
        return diag_set(d, KILN_ETOOBIG,
                        "The input %s is %lld bytes, over the 1 GB that "
                        "asynchronous inference takes.",
                        uri, (long long)st.st_size);
    }
    size_t size = (size_t)st.st_size, got = 0;
    if (buf_addzeros(out, size) != 0)
        rc = diag_set(d, KILN_ENOMEM, "no memory for the input %s", uri);
    while (!rc && got < size) {
        ssize_t n = pread(fd, out->data + got, size - got, (off_t)got);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0 || errno != EINTR)
            rc = diag_set(d, KILN_EIO, "Could not read the input %s.", uri);
    }
    close(fd);
    return rc;
}

/* Records why a request failed at its failure location; when even that
 * cannot be written, in the endpoint's log group. */
static void fail(struct asyncq *q, const struct item *it, json_t *rec,
                 const char *content_type, const void *body, size_t len)
{
    struct kiln_diag d = {0};
    const char *where = jstr(rec, "FailureLocation");

    if (put(q, it->account, where, body, len, content_type, &d) == 0)
        return;
    char group[160], line[2048];
    snprintf(group, sizeof(group), "/aws/sagemaker/Endpoints/%s", it->endpoint);
    snprintf(line, sizeof(line),
             "Asynchronous invocation %s failed, and its error could not be "
             "written to %s (%s): %.*s",
             it->id, where, d.msg, (int)(len > 1024 ? 1024 : len),
             (const char *)body);
    str_utf8_fix(line, strlen(line));
    meta_log_append(q->meta, it->account, group, "AsyncInvocations",
                    (int64_t)(tm_now() * 1000), line);
    log_warn("event=async_failure_lost endpoint=%s id=%s reason=\"%s\"",
             it->endpoint, it->id, d.msg);
}

static void fail_msg(struct asyncq *q, const struct item *it, json_t *rec,
                     const char *msg)
{
    fail(q, it, rec, "text/plain", msg, strlen(msg));
}

/* Whether the endpoint the request was queued for still exists (not one
 * deleted and created again under its name), and its status. */
static bool same_endpoint(struct asyncq *q, const struct item *it, json_t *rec,
                          char *status, size_t size)
{
    char *body = NULL;
    json_t *doc = NULL;
    bool same = false;

    if (meta_res_get(q->meta, it->account, "endpoint", it->endpoint, &body) ==
        0)
        doc = json_loads(body, 0, NULL);
    mem_free(body);
    if (doc) {
        same = json_number_value(json_object_get(doc, "CreationTime")) ==
               json_number_value(json_object_get(rec, "EndpointCreated"));
        str_copy(status,
                 jstr(doc, "EndpointStatus") ? jstr(doc, "EndpointStatus") : "",
                 size);
        if (jstr(doc, "FailureReason") && strcmp(status, "Failed") == 0)
            snprintf(status, size, "Failed: %s", jstr(doc, "FailureReason"));
    }
    json_decref(doc);
    return same;
}

enum outcome { DONE, RETRY, KEEP };

static enum outcome invoke(struct asyncq *q, const struct item *it, json_t *rec)
{
    struct kiln_diag d = {0};
    struct buf input = BUF_INIT(INPUT_MAX + 1);
    struct invoke_resp resp = {.body = BUF_INIT((size_t)INPUT_MAX)};
    char status[1200] = "";
    enum outcome out = DONE;
    int rc;

    if (!same_endpoint(q, it, rec, status, sizeof(status))) {
        log_info("event=async_dropped endpoint=%s id=%s reason=\"the "
                 "endpoint was deleted\"",
                 it->endpoint, it->id);
        return DONE;
    }
    if (tm_now() > json_number_value(json_object_get(rec, "Expires"))) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "The request expired: it waited in the queue longer than "
                 "its RequestTTLSeconds (%lld).",
                 (long long)json_integer_value(
                     json_object_get(rec, "RequestTTLSeconds")));
        fail_msg(q, it, rec, msg);
        return DONE;
    }
    /* Not serving yet: wait, without reading the input each time. */
    if (!hoster_serving(q->hoster, it->account, it->endpoint)) {
        if (!str_starts(status, "Failed"))
            return RETRY;
        fail_msg(q, it, rec, status);
        return DONE;
    }
    rc = read_input(q, it->account, jstr(rec, "InputLocation"), &input, &d);
    if (rc) {
        fail_msg(q, it, rec, d.msg);
        buf_release(&input);
        return DONE;
    }
    struct invoke_req req = {
        .content_type = jstr(rec, "ContentType"),
        .accept = jstr(rec, "Accept"),
        .custom_attributes = jstr(rec, "CustomAttributes"),
        .inference_id = jstr(rec, "InferenceId"),
        .body = input.data ? input.data : "",
        .len = input.len,
        .async = true,
        .timeout_ms = (long)json_integer_value(
                          json_object_get(rec, "InvocationTimeoutSeconds")) *
                      1000L,
        .cancel = &q->closing,
    };
    rc = hoster_invoke(q->hoster, it->account, it->endpoint, &req, &resp, &d);
    if (rc == 0 && resp.status >= 200 && resp.status < 300) {
        if (put(q, it->account, jstr(rec, "OutputLocation"), resp.body.data,
                resp.body.len,
                resp.content_type[0] ? resp.content_type : "application/json",
                &d) != 0)
            fail_msg(q, it, rec, d.msg);
    } else if (rc == 0) {
        /* The container said no: its answer is the error. */
        fail(q, it, rec,
             resp.content_type[0] ? resp.content_type : "text/plain",
             resp.body.data ? resp.body.data : "", resp.body.len);
    } else if (rc == KILN_ENOTFOUND) {
        log_info("event=async_dropped endpoint=%s id=%s", it->endpoint, it->id);
    } else if (__atomic_load_n(&q->closing, __ATOMIC_RELAXED)) {
        out = KEEP;
    } else if (rc == KILN_EUNAVAILABLE || rc == KILN_ELIMIT) {
        /* Not serving yet (or instances restarting): wait, unless it
         * failed for good. */
        if (str_starts(status, "Failed"))
            fail_msg(q, it, rec, status);
        else
            out = RETRY;
    } else {
        fail_msg(q, it, rec, d.msg);
    }
    buf_release(&input);
    buf_release(&resp.body);
    return out;
}

static void *worker(void *arg)
{
    struct asyncq *q = arg;

    pthread_mutex_lock(&q->lock);
    while (!q->closing) {
        double now = tm_now(), next_try = now + 1.0;
        struct item *it = take(q, now, &next_try);
        if (!it) {
            struct timespec until;
            double wait = next_try - now;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += (time_t)wait;
            until.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&q->wake, &q->lock, &until);
            continue;
        }
        pthread_mutex_unlock(&q->lock);

        char *body = NULL;
        json_t *rec = NULL;
        enum outcome out = DONE;
        if (meta_res_get(q->meta, it->account, TYPE, it->id, &body) == 0)
            rec = json_loads(body, 0, NULL);
        mem_free(body);
        if (rec)
            out = invoke(q, it, rec);
        json_decref(rec);
        if (out == DONE)
            meta_res_delete(q->meta, it->account, TYPE, it->id);

        pthread_mutex_lock(&q->lock);
        unbusy(q, it);
        if (out == RETRY) {
            it->not_before = tm_now() + RETRY_SECONDS;
            enqueue(q, it);
        } else {
            mem_free(it);
        }
        /* Its endpoint may run another now. */
        pthread_cond_broadcast(&q->wake);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* ---- submitting ------------------------------------------------------ */

static struct item *item_new(const char *id, const char *account,
                             const char *endpoint, double created, int cap)
{
    struct item *it = xcalloc(1, sizeof(*it));
    str_copy(it->id, id, sizeof(it->id));
    str_copy(it->account, account, sizeof(it->account));
    str_copy(it->endpoint, endpoint, sizeof(it->endpoint));
    it->created = created;
    it->cap = cap > 0 ? cap : 1;
    return it;
}

/* "<path>/<file>", the path without its trailing slashes. */
static void location(char *out, size_t size, const char *path, const char *id,
                     const char *suffix)
{
    size_t n = strlen(path);
    while (n && path[n - 1] == '/')
        n--;
    snprintf(out, size, "%.*s/%s%s", (int)n, path, id, suffix);
}

int asyncq_submit(struct asyncq *q, const char *account, const char *name,
                  const struct async_req *r, struct async_ticket *t,
                  struct kiln_diag *d)
{
    char *body = NULL, id[37], bucket[64];
    const char *key;
    uint8_t rnd[16];
    json_t *doc = NULL;
    int rc;

    if (meta_res_get(q->meta, account, "endpoint", name, &body) == 0)
        doc = json_loads(body, 0, NULL);
    mem_free(body);
    if (!doc)
        return KILN_ENOTFOUND;
    json_t *dep = json_object_get(doc, "KilnDeployment");
    json_t *aic = json_object_get(dep, "AsyncInferenceConfig");
    json_t *oc = json_object_get(aic, "OutputConfig");
    if (!aic) {
        json_decref(doc);
        return diag_set(d, KILN_EVALIDATION,
                        "Endpoint %s of account %s is not configured for "
                        "asynchronous inference (AsyncInferenceConfig); use "
                        "InvokeEndpoint.",
                        name, account);
    }
    if (split(r->input_location, bucket, &key) != 0 || !*key) {
        json_decref(doc);
        return diag_set(d, KILN_EVALIDATION,
                        "InputLocation %.200s is not an s3://bucket/key URI "
                        "of kiln's object store.",
                        r->input_location);
    }

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        json_decref(doc);
        return diag_set(d, KILN_EINTERNAL, "no random bytes for an id");
    }
    str_uuid(rnd, id);
    str_copy(t->inference_id, r->inference_id ? r->inference_id : id,
             sizeof(t->inference_id));
    const char *out_path = jstr(oc, "S3OutputPath");
    const char *fail_path = jstr(oc, "S3FailurePath");
    location(t->output, sizeof(t->output), out_path, id, ".out");
    location(t->failure, sizeof(t->failure), fail_path ? fail_path : out_path,
             id, "-error.out");

    /* At most MaxConcurrentInvocationsPerInstance per instance. */
    json_int_t per = json_integer_value(
        json_object_get(json_object_get(aic, "ClientConfig"),
                        "MaxConcurrentInvocationsPerInstance"));
    json_int_t instances = 0;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(dep, "Variants"), i, v)
    {
        json_int_t n =
            json_integer_value(json_object_get(v, "InitialInstanceCount"));
        instances += n > 0 ? n : 1;
    }
    int cap = (int)((per > 0 ? per : CONCURRENCY_DEFAULT) *
                    (instances > 0 ? instances : 1));

    double now = tm_now();
    int ttl = r->ttl_seconds > 0 ? r->ttl_seconds : TTL_DEFAULT;
    int timeout = r->timeout_seconds > 0 ? r->timeout_seconds : TIMEOUT_DEFAULT;
    json_t *rec = json_object();
    json_object_set_new(rec, "EndpointName", json_string(name));
    json_object_set(rec, "EndpointCreated",
                    json_object_get(doc, "CreationTime"));
    json_object_set_new(rec, "InputLocation", json_string(r->input_location));
    json_object_set_new(rec, "OutputLocation", json_string(t->output));
    json_object_set_new(rec, "FailureLocation", json_string(t->failure));
    json_object_set_new(rec, "InferenceId", json_string(t->inference_id));
    if (r->content_type)
        json_object_set_new(rec, "ContentType", json_string(r->content_type));
    if (r->accept)
        json_object_set_new(rec, "Accept", json_string(r->accept));
    if (r->custom_attributes)
        json_object_set_new(rec, "CustomAttributes",
                            json_string(r->custom_attributes));
    json_object_set_new(rec, "RequestTTLSeconds", json_integer(ttl));
    json_object_set_new(rec, "InvocationTimeoutSeconds", json_integer(timeout));
    json_object_set_new(rec, "Created", json_real(now));
    json_object_set_new(rec, "Expires", json_real(now + ttl));
    json_object_set_new(rec, "Concurrency", json_integer(cap));
    char *text = json_dumps(rec, JSON_COMPACT);
    struct meta_res res = {.account = account,
                           .type = TYPE,
                           .name = id,
                           .arn = t->output,
                           .status = "Queued",
                           .created = now,
                           .modified = now,
                           .body = text};
    rc = text ? meta_res_insert(q->meta, &res, d)
              : diag_set(d, KILN_EINVAL,
                         "the request's headers are not "
                         "UTF-8");
    mem_free(text);
    json_decref(rec);
    json_decref(doc);
    if (rc)
        return rc;
    pthread_mutex_lock(&q->lock);
    enqueue(q, item_new(id, account, name, now, cap));
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
    return 0;
}

/* ---- set-up and tear-down ------------------------------------------- */

/* A request queued before the server restarted. */
static int requeue(void *ctx, const char *account, const char *id)
{
    struct asyncq *q = ctx;
    char *body = NULL;
    json_t *rec = NULL;

    q->requeued++;
    if (meta_res_get(q->meta, account, TYPE, id, &body) == 0)
        rec = json_loads(body, 0, NULL);
    mem_free(body);
    if (!rec || !jstr(rec, "EndpointName")) {
        meta_res_delete(q->meta, account, TYPE, id);
    } else {
        pthread_mutex_lock(&q->lock);
        enqueue(q, item_new(id, account, jstr(rec, "EndpointName"),
                            json_number_value(json_object_get(rec, "Created")),
                            (int)json_integer_value(
                                json_object_get(rec, "Concurrency"))));
        pthread_mutex_unlock(&q->lock);
    }
    json_decref(rec);
    return 0;
}

int asyncq_new(struct meta *meta, struct objstore *store, struct hoster *hoster,
               struct asyncq **out, struct kiln_diag *d)
{
    struct asyncq *q = xcalloc(1, sizeof(*q));

    q->meta = meta;
    q->store = store;
    q->hoster = hoster;
    pthread_mutex_init(&q->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->wake, &ca);
    pthread_condattr_destroy(&ca);
    meta_res_each_status(meta, TYPE, "Queued", requeue, q);
    if (q->requeued)
        log_info("event=async_requeued count=%d", q->requeued);
    for (int i = 0; i < WORKERS; i++) {
        if (pthread_create(&q->workers[i], NULL, worker, q) != 0)
            break;
        q->nworkers++;
    }
    if (q->nworkers == 0) {
        asyncq_free(q);
        return diag_set(d, KILN_EIO, "cannot start the async workers");
    }
    *out = q;
    return 0;
}

void asyncq_free(struct asyncq *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    __atomic_store_n(&q->closing, 1, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&q->wake);
    pthread_mutex_unlock(&q->lock);
    for (int i = 0; i < q->nworkers; i++)
        pthread_join(q->workers[i], NULL);
    while (q->queued) {
        struct item *it = q->queued;
        q->queued = it->next;
        mem_free(it);
    }
    pthread_cond_destroy(&q->wake);
    pthread_mutex_destroy(&q->lock);
    mem_free(q);
}
