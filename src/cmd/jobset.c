/*
 * jobset.c - running jobs on threads of their own (see jobset.h).
 */
#include "cmd/jobset.h"

#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"

struct entry {
    struct job job;
    struct jobset *set;
    pthread_t thread;
    bool done;
    struct entry *next;
};

struct jobset {
    void *ctx;
    void (*run)(struct job *j);
    pthread_mutex_t lock;
    struct entry *list;
    bool closing;
};

struct jobset *jobset_new(void *ctx, void (*run)(struct job *j))
{
    struct jobset *s = xcalloc(1, sizeof(*s));
    s->ctx = ctx;
    s->run = run;
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static void *thread(void *arg)
{
    struct entry *e = arg;
    e->set->run(&e->job);
    pthread_mutex_lock(&e->set->lock);
    e->done = true;
    pthread_mutex_unlock(&e->set->lock);
    return NULL;
}

/* Joins the jobs that have ended. s->lock held. */
static void reap(struct jobset *s)
{
    for (struct entry **pp = &s->list; *pp;) {
        struct entry *e = *pp;
        if (e->done) {
            pthread_join(e->thread, NULL);
            *pp = e->next;
            mem_free(e);
        } else {
            pp = &e->next;
        }
    }
}

int jobset_start(struct jobset *s, const char *account, const char *name)
{
    struct entry *e = xcalloc(1, sizeof(*e));
    e->set = s;
    e->job.ctx = s->ctx;
    str_copy(e->job.account, account, sizeof(e->job.account));
    str_copy(e->job.name, name, sizeof(e->job.name));
    pthread_mutex_lock(&s->lock);
    reap(s);
    int rc = 0;
    if (s->closing || pthread_create(&e->thread, NULL, thread, e) != 0) {
        mem_free(e);
        rc = KILN_EUNAVAILABLE;
    } else {
        e->next = s->list;
        s->list = e;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

/* Asks the job to stop, calling also(ctx, job) first under the lock. */
static int stop_where(struct jobset *s, const char *account, const char *name,
                      void (*also)(const void *ctx, struct job *j),
                      const void *ctx)
{
    int rc = KILN_ENOTFOUND;
    pthread_mutex_lock(&s->lock);
    for (struct entry *e = s->list; e; e = e->next)
        if (!e->done && strcmp(e->job.account, account) == 0 &&
            strcasecmp(e->job.name, name) == 0) {
            if (also)
                also(ctx, &e->job);
            __atomic_store_n(&e->job.stop, 1, __ATOMIC_RELAXED);
            rc = 0;
        }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void call_also(const void *ctx, struct job *j)
{
    void (*also)(struct job *) = *(void (*const *)(struct job *))ctx;
    also(j);
}

int jobset_stop(struct jobset *s, const char *account, const char *name,
                void (*also)(struct job *j))
{
    return stop_where(s, account, name, also ? call_also : NULL, &also);
}

static void mark_stopping(const void *ctx, struct job *j)
{
    const struct jobset_records *r = ctx;
    jobset_set_status(r->meta, r->type, j->account, j->name, r->status_key,
                      "Stopping", "InProgress", NULL);
}

int jobset_stop_recorded(struct jobset *s, const struct jobset_records *r,
                         const char *account, const char *name)
{
    return stop_where(s, account, name, mark_stopping, r);
}

bool jobset_stopping(const struct job *j)
{
    return __atomic_load_n(&j->stop, __ATOMIC_RELAXED) != 0;
}

bool jobset_shutdown(const struct job *j)
{
    return __atomic_load_n(&j->shutdown, __ATOMIC_RELAXED);
}

void jobset_free(struct jobset *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->closing = true;
    for (struct entry *e = s->list; e; e = e->next) {
        __atomic_store_n(&e->job.shutdown, true, __ATOMIC_RELAXED);
        __atomic_store_n(&e->job.stop, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&s->lock);
    for (;;) {
        pthread_mutex_lock(&s->lock);
        reap(s);
        bool idle = s->list == NULL;
        pthread_mutex_unlock(&s->lock);
        if (idle)
            break;
        usleep(10000);
    }
    pthread_mutex_destroy(&s->lock);
    mem_free(s);
}

struct names {
    char (*v)[2][64];
    size_t n;
};

static int collect(void *ctx, const char *account, const char *name)
{
    struct names *l = ctx;
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    str_copy(l->v[l->n][0], account, sizeof(l->v[l->n][0]));
    str_copy(l->v[l->n][1], name, sizeof(l->v[l->n][1]));
    l->n++;
    return 0;
}

void jobset_each_status(struct meta *m, const char *type, const char *status,
                        void (*fn)(void *ctx, const char *account,
                                   const char *name),
                        void *ctx)
{
    struct names l = {0};
    meta_res_each_status(m, type, status, collect, &l);
    for (size_t i = 0; i < l.n; i++)
        fn(ctx, l.v[i][0], l.v[i][1]);
    mem_free(l.v);
}

void jobset_set_status(struct meta *m, const char *type, const char *account,
                       const char *name, const char *status_key,
                       const char *status, const char *expect,
                       const char *end_key)
{
    char *body = NULL;
    if (meta_res_get(m, account, type, name, &body) != 0)
        return;
    json_t *doc = json_loads(body, 0, NULL);
    mem_free(body);
    if (!doc)
        return;
    json_object_set_new(doc, status_key, json_string(status));
    if (end_key)
        json_object_set_new(doc, end_key, json_real(tm_now()));
    char *nb = json_dumps(doc, JSON_COMPACT);
    struct meta_res r = {.account = account,
                         .type = type,
                         .name = name,
                         .status = status,
                         .modified = tm_now(),
                         .body = nb,
                         .expect = expect};
    meta_res_save(m, &r);
    mem_free(nb);
    json_decref(doc);
}

struct recover {
    struct jobset *s;
    const struct jobset_records *r;
};

static void stopped(void *ctx, const char *account, const char *name)
{
    const struct recover *v = ctx;
    jobset_set_status(v->r->meta, v->r->type, account, name, v->r->status_key,
                      "Stopped", NULL, v->r->end_key);
}

static void resume(void *ctx, const char *account, const char *name)
{
    const struct recover *v = ctx;
    jobset_start(v->s, account, name);
}

void jobset_recover(struct jobset *s, const struct jobset_records *r)
{
    struct recover v = {s, r};
    jobset_each_status(r->meta, r->type, "Stopping", stopped, &v);
    jobset_each_status(r->meta, r->type, "InProgress", resume, &v);
}
