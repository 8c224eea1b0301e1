/*
 * jobset.h - the running jobs of one kind (transform jobs, tuning jobs),
 * each on a thread of its own, found by account and name.
 *
 * jobset_start() runs `run` on a new thread for the job; the job reads
 * jobset_stopping() to know when to give up, and jobset_shutdown() to
 * know whether that is because kiln stops (the job is left as it is, to
 * go on at the next start) or because it was asked to stop. Ended jobs'
 * threads are joined by the next start and by jobset_free(), which asks
 * every job to give up and waits. jobset_each_status() lists the jobs of
 * a status in the metadata store, for resuming them. Any thread.
 */
#ifndef KILN_CMD_JOBSET_H
#define KILN_CMD_JOBSET_H

#include "meta/meta.h"

struct jobset;

struct job {
    char account[13], name[64];
    void *ctx; /* the jobset's */
    int stop;
    bool shutdown;
};

struct jobset *jobset_new(void *ctx, void (*run)(struct job *j));
void jobset_free(struct jobset *s);

/* 0, or KILN_EUNAVAILABLE (kiln is stopping, no thread). */
int jobset_start(struct jobset *s, const char *account, const char *name);
/* Asks the job to stop (0), calling `also` with it first (under the set's
 * lock; may be NULL); KILN_ENOTFOUND when it does not run. */
int jobset_stop(struct jobset *s, const char *account, const char *name,
                void (*also)(struct job *j));

bool jobset_stopping(const struct job *j);
bool jobset_shutdown(const struct job *j);

/* Calls fn(account, name) for every resource of `type` in `status`, after
 * reading them all (fn may write to the store). */
void jobset_each_status(struct meta *m, const char *type, const char *status,
                        void (*fn)(void *ctx, const char *account,
                                   const char *name),
                        void *ctx);

/*
 * The records of jobs whose document carries their status: the resource
 * type, the document's status member ("TransformJobStatus") and its
 * end-time member ("TransformEndTime").
 */
struct jobset_records {
    struct meta *meta;
    const char *type, *status_key, *end_key;
};

/* Stop*Job: the record reads Stopping (while it read InProgress) until
 * the job's thread lets go; then as jobset_stop(). */
int jobset_stop_recorded(struct jobset *s, const struct jobset_records *r,
                         const char *account, const char *name);

/* At start: a job that was Stopping has stopped (its end time: now); one
 * InProgress runs again from the start. */
void jobset_recover(struct jobset *s, const struct jobset_records *r);

/*
 * Sets the status of job `name` of `type`: its document's `status_key`
 * and its record's status, only while the stored status is `expect` (NULL:
 * whatever it is); with end_key, the document also gets that time now.
 */
void jobset_set_status(struct meta *m, const char *type, const char *account,
                       const char *name, const char *status_key,
                       const char *status, const char *expect,
                       const char *end_key);

#endif
