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

/* The full DescribeTrainingJob document of a job (owned: mem_free). */
int meta_training_get(struct meta *m, const char *account, const char *name,
                      char **body);
/* Replaces a job's status columns and document; KILN_ENOTFOUND if gone. */
int meta_training_save(struct meta *m, const char *account,
                       const struct meta_training_row *r, const char *body);

typedef int (*meta_named_fn)(void *ctx, const char *account, const char *name);
/* Calls fn for every job in `status` (fn may write to the store). */
int meta_training_each_status(struct meta *m, const char *status,
                              meta_named_fn fn, void *ctx);

/* Tags of any resource, by ARN. */
typedef int (*meta_tag_fn)(void *ctx, const char *key, const char *value);
int meta_tag_set(struct meta *m, const char *arn, const char *key,
                 const char *value);
int meta_tag_delete(struct meta *m, const char *arn, const char *key);
int meta_tag_each(struct meta *m, const char *arn, meta_tag_fn fn, void *ctx);

/* CloudWatch Logs: events (times in ms) by account, group and stream. */
int meta_log_append(struct meta *m, const char *account, const char *group,
                    const char *stream, int64_t ts, const char *message);

struct meta_stream {
    const char *name;
    int64_t created, first_ts, last_ts, last_ingested, bytes;
};
typedef int (*meta_stream_fn)(void *ctx, const struct meta_stream *s);
int meta_log_streams(struct meta *m, const char *account, const char *group,
                     const char *prefix, bool by_time, bool descending,
                     meta_stream_fn fn, void *ctx);
/* Whether the group has a stream (stream NULL), or that stream. */
bool meta_log_exists(struct meta *m, const char *account, const char *group,
                     const char *stream);
/* The account's log groups whose names start with prefix, by name: each
 * with its first stream's creation time and the bytes of all its events. */
typedef int (*meta_group_fn)(void *ctx, const char *name, int64_t created,
                             int64_t bytes);
int meta_log_groups(struct meta *m, const char *account, const char *prefix,
                    meta_group_fn fn, void *ctx);

struct meta_log_query {
    const char *account, *group;
    const char *stream; /* a stream name, or a prefix (exact_stream) */
    bool exact_stream;
    int64_t start, end; /* [start, end) in ms */
    int64_t after_seq;  /* events after this position */
    int64_t before_seq; /* and before this one (0: no bound) */
    bool newest;        /* the last `limit` events, newest first */
    int64_t limit;
    const char *pattern; /* substring filter, or NULL */
};
struct meta_event {
    int64_t seq;
    const char *stream;
    int64_t ts, ingested;
    const char *message;
};
typedef int (*meta_event_fn)(void *ctx, const struct meta_event *e);
int meta_log_events(struct meta *m, const struct meta_log_query *q,
                    meta_event_fn fn, void *ctx);

/* A job's metric samples, in time order per metric. */
typedef int (*meta_metric_fn)(void *ctx, const char *name, double ts,
                              double value);
int meta_metric_add(struct meta *m, const char *arn, const char *name,
                    double ts, double value);
int meta_metric_each(struct meta *m, const char *arn, meta_metric_fn fn,
                     void *ctx);

/*
 * Endpoint metrics (CloudWatch's AWS/SageMaker namespace, and others with
 * two dimensions per metric): per account, namespace, endpoint, variant
 * (the second dimension), metric name and minute (epoch seconds / 60), the
 * number of samples and their sum, minimum and maximum. Adding to a
 * minute that has some merges them. A NULL ns adds to META_EMETRIC_NS.
 */
#define META_EMETRIC_NS "AWS/SageMaker"
/* Model Monitor's per-feature metrics, dimensions Endpoint and
 * MonitoringSchedule (in the endpoint and variant fields). */
#define META_DATA_METRICS_NS "aws/sagemaker/Endpoints/data-metrics"
struct meta_emetric {
    const char *account, *ns, *endpoint, *variant, *name;
    int64_t minute;
    double n, sum, min, max;
};
typedef int (*meta_emetric_fn)(void *ctx, const struct meta_emetric *e);
int meta_emetric_add(struct meta *m, const struct meta_emetric *e);
/* Calls fn for the minutes in [from, to) of what `want` names (its NULL
 * namespace, name, endpoint or variant: any), ordered by namespace, name,
 * endpoint, variant, minute. */
int meta_emetric_each(struct meta *m, const struct meta_emetric *want,
                      int64_t from, int64_t to, meta_emetric_fn fn, void *ctx);

/* One metered run of instances: a training or transform job, or a
 * slice of an endpoint variant's time (kind training, transform,
 * hosting). */
struct meta_usage {
    const char *account, *arn, *kind, *instance_type;
    int instance_count;
    double start, end;
    int64_t billable_seconds;
};
int meta_usage_add(struct meta *m, const struct meta_usage *u);
/* Calls fn, under the store's lock (fn must not call into it), for the
 * account's runs that overlap [from, to), by start time; a negative
 * return stops with that error. */
typedef int (*meta_usage_fn)(void *ctx, const struct meta_usage *u);
int meta_usage_each(struct meta *m, const char *account, double from, double to,
                    meta_usage_fn fn, void *ctx);

/*
 * Hosting resources - "model", "endpoint-config", "endpoint" - each a
 * JSON document (its Describe* answer) with a status for listing. Names
 * are unique per account and type, case-insensitively.
 */
struct meta_res {
    const char *account, *type, *name, *arn, *status;
    double created, modified;
    const char *body;
    /* meta_res_save: the status the row must still have, or NULL. */
    const char *expect;
};
typedef int (*meta_res_fn)(void *ctx, const struct meta_res *r);

/* KILN_EINUSE when the name is taken. */
int meta_res_insert(struct meta *m, const struct meta_res *r,
                    struct kiln_diag *d);
/* The document (owned: mem_free); KILN_ENOTFOUND. */
int meta_res_get(struct meta *m, const char *account, const char *type,
                 const char *name, char **body);
/*
 * Replaces status, modified and body; KILN_ENOTFOUND. With r->expect, only
 * while the row's status is still that one, else KILN_EPRECONDITION: a
 * read-modify-write whose record another writer changed in between (say,
 * to "Deleting") loses instead of undoing that change.
 */
int meta_res_save(struct meta *m, const struct meta_res *r);
/* Removes the resource and its tags; KILN_ENOTFOUND. */
int meta_res_delete(struct meta *m, const char *account, const char *type,
                    const char *name);
/* One page (q->limit + 1 rows) of a List* call over `type`. */
int meta_res_list(struct meta *m, const char *type,
                  const struct meta_list_query *q, meta_res_fn fn, void *ctx,
                  struct kiln_diag *d);
/* Calls fn for every resource of `type` in `status`. */
int meta_res_each_status(struct meta *m, const char *type, const char *status,
                         meta_named_fn fn, void *ctx);

/*
 * S3: buckets, objects, multipart uploads and parts. Object data lives in
 * blob files named by id (never by key); these rows are the index. A blob
 * id is 32 hex digits. Functions that replace or drop a row hand back the
 * blob it referenced in old_blob (a 33-byte buffer; "" if none) so the
 * caller can unlink it after the commit.
 */
#define META_BLOB_ID 33

struct meta_bucket {
    char name[64];
    char account[13];
    char region[64];
    double created;
};

typedef int (*meta_bucket_fn)(void *ctx, const struct meta_bucket *b);

/* KILN_EOWNED when `account` has it already, KILN_ETAKEN for another. */
int meta_bucket_create(struct meta *m, const struct meta_bucket *b,
                       struct kiln_diag *d);
/* KILN_ENOBUCKET when absent. */
int meta_bucket_get(struct meta *m, const char *name, struct meta_bucket *out);
/* KILN_ENOBUCKET, or KILN_ENOTEMPTY while objects or uploads remain. */
int meta_bucket_delete(struct meta *m, const char *name);
/* A bucket's CORS rules (JSON, "" for none; cors_get's is owned:
 * mem_free); KILN_ENOBUCKET. */
int meta_bucket_cors_set(struct meta *m, const char *name, const char *cors);
int meta_bucket_cors_get(struct meta *m, const char *name, char **cors);
/* Buckets of `account` in name order. */
int meta_bucket_each(struct meta *m, const char *account, meta_bucket_fn fn,
                     void *ctx);

/* One object's index row; strings borrowed for the callback. */
struct meta_object {
    const char *bucket;
    const char *key;
    const char *blob;
    uint64_t size;
    const char *etag; /* quoted, as S3 returns it */
    double modified;  /* seconds since the epoch */
    const char *content_type;
    const char *headers;    /* JSON object of stored response headers */
    const char *checksums;  /* JSON object {"crc32": "...", ...} */
    int parts;              /* 0, or the part count of a multipart */
    const char *part_sizes; /* "number:size,..." of those parts, or "" */
};

typedef int (*meta_object_fn)(void *ctx, const struct meta_object *o);

/* Calls fn once for the object; KILN_ENOTFOUND when absent. */
int meta_object_get(struct meta *m, const char *bucket, const char *key,
                    meta_object_fn fn, void *ctx);
/* Inserts or replaces; KILN_ENOBUCKET if the bucket is gone. */
int meta_object_put(struct meta *m, const struct meta_object *o,
                    char old_blob[META_BLOB_ID], struct kiln_diag *d);
/* Replaces the stored headers of the object whose data is blob;
 * KILN_ENOTFOUND when the key is gone or now holds other data. */
int meta_object_set_headers(struct meta *m, const char *bucket, const char *key,
                            const char *blob, const char *headers);
/* Removes the row if present (0 either way). */
int meta_object_delete(struct meta *m, const char *bucket, const char *key,
                       char old_blob[META_BLOB_ID]);
/*
 * Calls fn for the bucket's objects with keys > after (NULL: from the
 * start) and starting with prefix, in byte order, until fn returns
 * non-zero (a positive return stops without error).
 */
int meta_object_scan(struct meta *m, const char *bucket, const char *after,
                     const char *prefix, meta_object_fn fn, void *ctx);

struct meta_upload {
    const char *id;
    const char *bucket;
    const char *key;
    const char *account;
    double initiated;
    const char *headers; /* JSON: content type, metadata, ... */
};

typedef int (*meta_upload_fn)(void *ctx, const struct meta_upload *u);

struct meta_part {
    int number;
    const char *blob;
    uint64_t offset; /* where the part starts in its blob */
    uint64_t size;
    const char *etag;     /* quoted */
    const char *checksum; /* base64, in the upload's algorithm; "" none */
    double modified;
};

typedef int (*meta_part_fn)(void *ctx, const struct meta_part *p);

int meta_upload_create(struct meta *m, const struct meta_upload *u,
                       struct kiln_diag *d);
/* KILN_ENOUPLOAD when absent (or of another bucket/key). */
int meta_upload_get(struct meta *m, const char *id, meta_upload_fn fn,
                    void *ctx);
/* Uploads of a bucket in key, then id order, until fn returns non-zero
 * (a positive return stops without error). */
int meta_upload_each(struct meta *m, const char *bucket, meta_upload_fn fn,
                     void *ctx);
/*
 * Records part `p` of upload `id`; KILN_ENOUPLOAD when it is gone. The
 * replaced part's blob comes back in old_blob only when no other part
 * row is in it (parts may share one file, see objstore_part_open).
 */
int meta_part_put(struct meta *m, const char *id, const struct meta_part *p,
                  char old_blob[META_BLOB_ID], struct kiln_diag *d);
/* Parts of an upload in number order. */
int meta_part_each(struct meta *m, const char *id, meta_part_fn fn, void *ctx);
/*
 * In one transaction: stores object o, drops upload `id` and its part rows.
 * KILN_ENOUPLOAD when the upload is gone.
 */
int meta_upload_complete(struct meta *m, const char *id,
                         const struct meta_object *o,
                         char old_blob[META_BLOB_ID], struct kiln_diag *d);
/* Drops an upload and its part rows; KILN_ENOUPLOAD when absent. */
int meta_upload_abort(struct meta *m, const char *id);

/* True when some object or part references blob `id`. */
bool meta_blob_in_use(struct meta *m, const char *id);

#endif
