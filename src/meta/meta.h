/*
 * meta.h - kiln's metadata store: one SQLite database (WAL mode) in the data
 * directory holding access keys and every resource record.
 *
 * This is the only module that includes sqlite3.h. A struct meta owns one
 * connection and a mutex; every call takes the mutex, so any thread may call
 * any function, and every multi-row change runs in one transaction. The
 * schema is versioned (PRAGMA user_version) and migrated forward by
 * meta_open(). Strings handed to callbacks are borrowed for the call only.
 *
 * Errors: KILN_EIO for SQLite failures (detail in the diag), KILN_ENOTFOUND,
 * KILN_EINUSE for a duplicate key.
 */
#ifndef KILN_META_H
#define KILN_META_H

#include "base/err.h"
#include "base/kiln.h"

struct meta;

/* Opens (creating if needed) the database at `path` and migrates it. */
int meta_open(const char *path, struct meta **out, struct kiln_diag *d);

/* Closes the connection; meta_close(NULL) does nothing. */
void meta_close(struct meta *m);

/* The schema version meta_open() left the database at. */
int meta_schema_version(struct meta *m);

/* An access key: the secret is needed to verify signatures. */
struct meta_key {
    char akid[129];
    char secret[129];
    char account[13]; /* 12 digits */
    char user[65];    /* IAM-style user name for ARNs */
    double created;   /* seconds since the epoch */
};

typedef int (*meta_key_fn)(void *ctx, const struct meta_key *k);

/* Looks a key up by id; KILN_ENOTFOUND when absent. */
int meta_key_get(struct meta *m, const char *akid, struct meta_key *out);
/* Adds a key; KILN_EINUSE when the id exists. */
int meta_key_add(struct meta *m, const struct meta_key *k, struct kiln_diag *d);
/* Removes a key; KILN_ENOTFOUND when absent. */
int meta_key_remove(struct meta *m, const char *akid);
/* Calls fn for every key in id order; stops at fn's first non-zero. */
int meta_key_each(struct meta *m, meta_key_fn fn, void *ctx);

/* Sort orders of the List* operations. */
enum meta_sort { META_SORT_CREATION, META_SORT_NAME, META_SORT_STATUS };

/* Filters, order and position of one page of a List* call. */
struct meta_list_query {
    const char *account;       /* required */
    const char *name_contains; /* case-insensitive substring, or NULL */
    const char *status_equals; /* or NULL */
    double created_after;      /* 0 = unset; bounds are exclusive */
    double created_before;
    double modified_after;
    double modified_before;
    enum meta_sort sort_by;
    bool descending;
    int limit; /* rows wanted, 1..100 */
    /* Keyset position from a NextToken: rows strictly after this one. */
    bool after_set;
    double after_num;       /* sort value when sorting by creation time */
    const char *after_text; /* sort value when sorting by name or status */
    const char *after_name; /* lower-case name, the tie-breaker */
};

/* One row of ListTrainingJobs. */
struct meta_training_row {
    const char *name;
    const char *arn;
    const char *status;
    const char *secondary_status; /* may be NULL */
    double created;
    double modified;
    double ended; /* 0 when not ended */
};

typedef int (*meta_training_fn)(void *ctx, const struct meta_training_row *r);

/*
 * Records a new training job of `account` described by r (r->ended may be
 * 0) with its full description `body` (JSON text). KILN_EINUSE when the
 * account already has a job of that name, compared case-insensitively.
 */
int meta_training_insert(struct meta *m, const char *account,
                         const struct meta_training_row *r, const char *body,
                         struct kiln_diag *d);

/*
 * Calls fn for up to q->limit + 1 rows of training jobs matching q, in order,
 * so the caller can tell whether another page exists.
 */
int meta_training_list(struct meta *m, const struct meta_list_query *q,
                       meta_training_fn fn, void *ctx, struct kiln_diag *d);

#endif
