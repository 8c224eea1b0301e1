/*
 * meta.c - the SQLite connection, its migrations and the queries.
 *
 * Migrations are an ordered array of SQL scripts; the database's
 * user_version is the number applied. Each applies in its own transaction,
 * so a crash during an upgrade leaves the previous version intact. The
 * workload is small: key lookups on every request and small listings, so one
 * connection behind a mutex serves all threads; WAL lets `kiln admin` write
 * while the server reads.
 */
#include "meta/meta.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"

struct meta {
    sqlite3 *db;
    pthread_mutex_t lock;
    int version;
    sqlite3_stmt *key_get; /* every signed request looks its key up: the
                              statement is prepared once and reused, */
    struct key_slot {      /* and what it found is kept KEY_TTL seconds */
        struct meta_key k;
        double at; /* tm_monotonic() when read; 0 = empty */
    } keys[32];
    unsigned next_key;
    /* Statements prep() made, kept prepared for the next call with the
     * same SQL: parsing costs more than running most of them. */
    struct stmt_slot {
        sqlite3_stmt *st;
        uint32_t hash; /* of the SQL text */
        bool busy;     /* handed out, not yet given back by done() */
    } stmts[64];
    unsigned next_stmt; /* the slot a full cache gives up next */
};

/* How long a key read from the database is trusted without reading it
 * again: a key another process (`kiln admin keys remove`) removes stops
 * working within this time, like an AWS key deactivation. */
#define KEY_TTL 1.0

/* Schema versions: index i moves the database from version i to i+1. */
static const char *const migrations[] = {
    /* 1: access keys and training jobs */
    "CREATE TABLE access_keys ("
    "  akid TEXT PRIMARY KEY,"
    "  secret TEXT NOT NULL,"
    "  account TEXT NOT NULL,"
    "  user_name TEXT NOT NULL,"
    "  created REAL NOT NULL);"
    "CREATE TABLE training_jobs ("
    "  account TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  name_lc TEXT NOT NULL,"
    "  arn TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  secondary_status TEXT,"
    "  created REAL NOT NULL,"
    "  modified REAL NOT NULL,"
    "  ended REAL,"
    "  body TEXT NOT NULL DEFAULT '{}',"
    "  PRIMARY KEY (account, name_lc));"
    "CREATE INDEX training_jobs_created ON training_jobs(account, created);",
    /* 2: the S3 index */
    "CREATE TABLE buckets ("
    "  name TEXT PRIMARY KEY,"
    "  account TEXT NOT NULL,"
    "  region TEXT NOT NULL,"
    "  created REAL NOT NULL);"
    "CREATE TABLE objects ("
    "  bucket TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  blob TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  etag TEXT NOT NULL,"
    "  modified REAL NOT NULL,"
    "  content_type TEXT NOT NULL,"
    "  headers TEXT NOT NULL DEFAULT '{}',"
    "  checksums TEXT NOT NULL DEFAULT '{}',"
    "  parts INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (bucket, key)) WITHOUT ROWID;"
    "CREATE INDEX objects_blob ON objects(blob);"
    "CREATE TABLE uploads ("
    "  id TEXT PRIMARY KEY,"
    "  bucket TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  account TEXT NOT NULL,"
    "  initiated REAL NOT NULL,"
    "  headers TEXT NOT NULL DEFAULT '{}');"
    "CREATE INDEX uploads_bucket ON uploads(bucket, key, initiated);"
    "CREATE TABLE parts ("
    "  upload TEXT NOT NULL,"
    "  number INTEGER NOT NULL,"
    "  blob TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  etag TEXT NOT NULL,"
    "  modified REAL NOT NULL,"
    "  PRIMARY KEY (upload, number)) WITHOUT ROWID;"
    "CREATE INDEX parts_blob ON parts(blob);",
    /* 3: tags, logs, metrics, usage */
    "CREATE TABLE tags ("
    "  arn TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (arn, key)) WITHOUT ROWID;"
    "CREATE TABLE log_events ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  account TEXT NOT NULL,"
    "  grp TEXT NOT NULL,"
    "  stream TEXT NOT NULL,"
    "  ts INTEGER NOT NULL,"
    "  ingested INTEGER NOT NULL,"
    "  message TEXT NOT NULL);"
    "CREATE INDEX log_events_stream ON log_events(account, grp, stream, ts, "
    "seq);"
    "CREATE TABLE log_streams ("
    "  account TEXT NOT NULL,"
    "  grp TEXT NOT NULL,"
    "  stream TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  first_ts INTEGER, last_ts INTEGER, last_ingested INTEGER,"
    "  bytes INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (account, grp, stream)) WITHOUT ROWID;"
    "CREATE TABLE usage ("
    "  account TEXT NOT NULL,"
    "  arn TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  instance_type TEXT NOT NULL,"
    "  instance_count INTEGER NOT NULL,"
    "  start REAL NOT NULL,"
    "  end REAL NOT NULL,"
    "  billable_seconds INTEGER NOT NULL);",
    /* 4: hosting resources (models, endpoint configs, endpoints) */
    "CREATE TABLE resources ("
    "  account TEXT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  name_lc TEXT NOT NULL,"
    "  arn TEXT NOT NULL,"
    "  status TEXT NOT NULL DEFAULT '',"
    "  created REAL NOT NULL,"
    "  modified REAL NOT NULL,"
    "  body TEXT NOT NULL,"
    "  PRIMARY KEY (account, type, name_lc)) WITHOUT ROWID;",
    /* 5: metric time series of training jobs */
    "CREATE TABLE metrics ("
    "  arn TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  ts REAL NOT NULL,"
    "  value REAL NOT NULL);"
    "CREATE INDEX metrics_arn ON metrics(arn, name, ts);",
    /* 6: where in its blob a part starts (parts placed in one file) */
    "ALTER TABLE parts ADD COLUMN pos INTEGER NOT NULL DEFAULT 0;",
    /* 7: a part's checksum in its upload's algorithm (base64, or '') */
    "ALTER TABLE parts ADD COLUMN checksum TEXT NOT NULL DEFAULT '';",
    /* 8: a multipart object's parts, "number:size,..." in object order,
     * for GetObject's partNumber ('' for objects completed before it) */
    "ALTER TABLE objects ADD COLUMN part_sizes TEXT NOT NULL DEFAULT '';",
    /* 9: a bucket's CORS rules (PutBucketCors), as JSON, or '' */
    "ALTER TABLE buckets ADD COLUMN cors TEXT NOT NULL DEFAULT '';",
    /* 10: endpoint metrics (CloudWatch's AWS/SageMaker), per minute */
    "CREATE TABLE endpoint_metrics ("
    "  account TEXT NOT NULL,"
    "  endpoint TEXT NOT NULL,"
    "  variant TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  minute INTEGER NOT NULL,"
    "  n REAL NOT NULL,"
    "  sum REAL NOT NULL,"
    "  min REAL NOT NULL,"
    "  max REAL NOT NULL,"
    "  PRIMARY KEY (account, name, endpoint, variant, minute)) WITHOUT ROWID;",
    /* 11: usage read by time (Cost Explorer) */
    "CREATE INDEX usage_time ON usage (account, end);",
    /* 12: endpoint metrics of more than one namespace (Model Monitor's
     * data metrics beside AWS/SageMaker) */
    "CREATE TABLE endpoint_metrics2 ("
    "  account TEXT NOT NULL,"
    "  ns TEXT NOT NULL,"
    "  endpoint TEXT NOT NULL,"
    "  variant TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  minute INTEGER NOT NULL,"
    "  n REAL NOT NULL,"
    "  sum REAL NOT NULL,"
    "  min REAL NOT NULL,"
    "  max REAL NOT NULL,"
    "  PRIMARY KEY (account, ns, name, endpoint, variant, minute))"
    "  WITHOUT ROWID;"
    "INSERT INTO endpoint_metrics2 SELECT account, 'AWS/SageMaker', endpoint,"
    "  variant, name, minute, n, sum, min, max FROM endpoint_metrics;"
    "DROP TABLE endpoint_metrics;"
    "ALTER TABLE endpoint_metrics2 RENAME TO endpoint_metrics;",
};

static int sql_error(struct meta *m, struct kiln_diag *d, const char *what)
{
    return diag_set(d, KILN_EIO, "metadata store: %s: %s", what,
                    sqlite3_errmsg(m->db));
}

static int migrate(struct meta *m, struct kiln_diag *d)
{
    sqlite3_stmt *st = NULL;
    int version = 0, rc;

    rc = sqlite3_prepare_v2(m->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return sql_error(m, d, "read schema version");
    if (sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version > (int)KILN_ARRAY_LEN(migrations))
        return diag_set(d, KILN_EIO,
                        "metadata store: schema version %d is newer than "
                        "this kiln (%zu)",
                        version, KILN_ARRAY_LEN(migrations));
    for (; version < (int)KILN_ARRAY_LEN(migrations); version++) {
        struct buf sql = BUF_INIT(1 << 20);
        char *err = NULL;

        buf_addf(&sql, "BEGIN IMMEDIATE; %s; PRAGMA user_version = %d; COMMIT;",
                 migrations[version], version + 1);
        rc = sqlite3_exec(m->db, buf_cstr(&sql), NULL, NULL, &err);
        buf_release(&sql);
        if (rc != SQLITE_OK) {
            diag_set(d, KILN_EIO, "metadata store: migration %d failed: %s",
                     version + 1, err ? err : "?");
            sqlite3_free(err);
            sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
            return KILN_EIO;
        }
        log_info("event=migrate version=%d", version + 1);
    }
    m->version = version;
    return 0;
}

int meta_open(const char *path, struct meta **out, struct kiln_diag *d)
{
    struct meta *m = xcalloc(1, sizeof(*m));
    int rc;

    pthread_mutex_init(&m->lock, NULL);
    rc = sqlite3_open_v2(path, &m->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_FULLMUTEX,
                         NULL);
    if (rc != SQLITE_OK) {
        rc = diag_set(d, KILN_EIO, "metadata store: cannot open '%s': %s", path,
                      m->db ? sqlite3_errmsg(m->db) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(m->db, 5000);
    rc = sqlite3_exec(m->db,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                      "PRAGMA foreign_keys=ON;",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = sql_error(m, d, "configure");
        goto fail;
    }
    rc = migrate(m, d);
    if (rc)
        goto fail;
    *out = m;
    return 0;
fail:
    meta_close(m);
    return rc;
}

void meta_close(struct meta *m)
{
    if (!m)
        return;
    sqlite3_finalize(m->key_get);
    for (size_t i = 0; i < KILN_ARRAY_LEN(m->stmts); i++)
        sqlite3_finalize(m->stmts[i].st);
    explicit_bzero(m->keys, sizeof(m->keys));
    sqlite3_close(m->db);
    pthread_mutex_destroy(&m->lock);
    mem_free(m);
}

int meta_schema_version(struct meta *m)
{
    return m->version;
}

static void key_from_row(sqlite3_stmt *st, struct meta_key *k)
{
    memset(k, 0, sizeof(*k));
    str_copy(k->akid, (const char *)sqlite3_column_text(st, 0),
             sizeof(k->akid));
    str_copy(k->secret, (const char *)sqlite3_column_text(st, 1),
             sizeof(k->secret));
    str_copy(k->account, (const char *)sqlite3_column_text(st, 2),
             sizeof(k->account));
    str_copy(k->user, (const char *)sqlite3_column_text(st, 3),
             sizeof(k->user));
    k->created = sqlite3_column_double(st, 4);
}

int meta_key_get(struct meta *m, const char *akid, struct meta_key *out)
{
    int rc = KILN_ENOTFOUND;
    double now = tm_monotonic();

    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < KILN_ARRAY_LEN(m->keys); i++) {
        struct key_slot *k = &m->keys[i];
        if (k->at > 0 && now - k->at < KEY_TTL &&
            strcmp(k->k.akid, akid) == 0) {
            *out = k->k;
            pthread_mutex_unlock(&m->lock);
            return 0;
        }
    }
    if (!m->key_get &&
        sqlite3_prepare_v3(m->db,
                           "SELECT akid, secret, account, user_name, created "
                           "FROM access_keys WHERE akid = ?",
                           -1, SQLITE_PREPARE_PERSISTENT, &m->key_get,
                           NULL) != SQLITE_OK) {
        m->key_get = NULL;
        pthread_mutex_unlock(&m->lock);
        return KILN_EIO;
    }
    sqlite3_bind_text(m->key_get, 1, akid, -1, SQLITE_STATIC);
    if (sqlite3_step(m->key_get) == SQLITE_ROW) {
        key_from_row(m->key_get, out);
        struct key_slot *k = &m->keys[m->next_key++ % KILN_ARRAY_LEN(m->keys)];
        k->k = *out;
        k->at = now;
        rc = 0;
    }
    sqlite3_reset(m->key_get);
    sqlite3_clear_bindings(m->key_get);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_key_add(struct meta *m, const struct meta_key *k, struct kiln_diag *d)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;

    pthread_mutex_lock(&m->lock);
    if (sqlite3_prepare_v2(m->db,
                           "INSERT INTO access_keys (akid, secret, account, "
                           "user_name, created) VALUES (?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sql_error(m, d, "add key");
        goto out;
    }
    sqlite3_bind_text(st, 1, k->akid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, k->secret, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, k->user, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 5, k->created);
    int s = sqlite3_step(st);
    if (s == SQLITE_CONSTRAINT)
        rc =
            diag_set(d, KILN_EINUSE, "access key '%s' already exists", k->akid);
    else if (s != SQLITE_DONE)
        rc = sql_error(m, d, "add key");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_key_remove(struct meta *m, const char *akid)
{
    sqlite3_stmt *st = NULL;
    int rc = KILN_EIO;

    pthread_mutex_lock(&m->lock);
    explicit_bzero(m->keys, sizeof(m->keys));
    if (sqlite3_prepare_v2(m->db, "DELETE FROM access_keys WHERE akid = ?", -1,
                           &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, akid, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_DONE)
        rc = sqlite3_changes(m->db) ? 0 : KILN_ENOTFOUND;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_key_each(struct meta *m, meta_key_fn fn, void *ctx)
{
    sqlite3_stmt *st = NULL;
    struct meta_key k;
    int rc = 0;

    pthread_mutex_lock(&m->lock);
    if (sqlite3_prepare_v2(m->db,
                           "SELECT akid, secret, account, user_name, created "
                           "FROM access_keys ORDER BY akid",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = KILN_EIO;
        goto out;
    }
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        key_from_row(st, &k);
        rc = fn(ctx, &k);
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_training_insert(struct meta *m, const char *account,
                         const struct meta_training_row *r, const char *body,
                         struct kiln_diag *d)
{
    sqlite3_stmt *st = NULL;
    int rc = 0, s;

    pthread_mutex_lock(&m->lock);
    if (sqlite3_prepare_v2(m->db,
                           "INSERT INTO training_jobs (account, name, "
                           "name_lc, arn, status, secondary_status, created, "
                           "modified, ended, body) VALUES (?, ?, lower(?), ?, "
                           "?, ?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = sql_error(m, d, "insert training job");
        goto out;
    }
    sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->arn, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r->status, -1, SQLITE_STATIC);
    if (r->secondary_status)
        sqlite3_bind_text(st, 6, r->secondary_status, -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 7, r->created);
    sqlite3_bind_double(st, 8, r->modified);
    if (r->ended > 0)
        sqlite3_bind_double(st, 9, r->ended);
    sqlite3_bind_text(st, 10, body ? body : "{}", -1, SQLITE_STATIC);
    s = sqlite3_step(st);
    if (s == SQLITE_CONSTRAINT)
        rc = diag_set(d, KILN_EINUSE, "training job '%s' already exists",
                      r->name);
    else if (s != SQLITE_DONE)
        rc = sql_error(m, d, "insert training job");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static const char *sort_column(enum meta_sort s)
{
    switch (s) {
    case META_SORT_NAME:
        return "name_lc";
    case META_SORT_STATUS:
        return "status";
    case META_SORT_CREATION:
        break;
    }
    return "created";
}

/* Appends q's filters, keyset position, order and limit to a SELECT that
 * already has its WHERE clause open. */
static void list_sql(struct buf *sql, const struct meta_list_query *q)
{
    const char *col = sort_column(q->sort_by);
    const char *dir = q->descending ? "DESC" : "ASC";

    if (q->name_contains)
        buf_adds(sql, " AND instr(name_lc, lower(?)) > 0");
    if (q->status_equals)
        buf_adds(sql, " AND status = ?");
    if (q->created_after)
        buf_adds(sql, " AND created > ?");
    if (q->created_before)
        buf_adds(sql, " AND created < ?");
    if (q->modified_after)
        buf_adds(sql, " AND modified > ?");
    if (q->modified_before)
        buf_adds(sql, " AND modified < ?");
    if (q->after_set)
        buf_addf(sql, " AND (%s, name_lc) %s (?, ?)", col,
                 q->descending ? "<" : ">");
    buf_addf(sql, " ORDER BY %s %s, name_lc %s LIMIT ?", col, dir, dir);
}

/* Binds what list_sql() added, from parameter i on. */
static void list_bind(sqlite3_stmt *st, int i, const struct meta_list_query *q)
{
    if (q->name_contains)
        sqlite3_bind_text(st, i++, q->name_contains, -1, SQLITE_STATIC);
    if (q->status_equals)
        sqlite3_bind_text(st, i++, q->status_equals, -1, SQLITE_STATIC);
    if (q->created_after)
        sqlite3_bind_double(st, i++, q->created_after);
    if (q->created_before)
        sqlite3_bind_double(st, i++, q->created_before);
    if (q->modified_after)
        sqlite3_bind_double(st, i++, q->modified_after);
    if (q->modified_before)
        sqlite3_bind_double(st, i++, q->modified_before);
    if (q->after_set) {
        if (q->sort_by == META_SORT_CREATION)
            sqlite3_bind_double(st, i++, q->after_num);
        else
            sqlite3_bind_text(st, i++, q->after_text, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, i++, q->after_name, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int(st, i, q->limit + 1);
}

int meta_training_list(struct meta *m, const struct meta_list_query *q,
                       meta_training_fn fn, void *ctx, struct kiln_diag *d)
{
    struct buf sql = BUF_INIT(4096);
    sqlite3_stmt *st = NULL;
    int rc = 0;

    buf_adds(&sql, "SELECT name, arn, status, secondary_status, created, "
                   "modified, ended FROM training_jobs WHERE account = ?");
    list_sql(&sql, q);
    pthread_mutex_lock(&m->lock);
    if (sqlite3_prepare_v2(m->db, buf_cstr(&sql), -1, &st, NULL) != SQLITE_OK) {
        rc = sql_error(m, d, "list training jobs");
        goto out;
    }
    sqlite3_bind_text(st, 1, q->account, -1, SQLITE_STATIC);
    list_bind(st, 2, q);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        struct meta_training_row r = {
            .name = (const char *)sqlite3_column_text(st, 0),
            .arn = (const char *)sqlite3_column_text(st, 1),
            .status = (const char *)sqlite3_column_text(st, 2),
            .secondary_status = (const char *)sqlite3_column_text(st, 3),
            .created = sqlite3_column_double(st, 4),
            .modified = sqlite3_column_double(st, 5),
            .ended = sqlite3_column_double(st, 6),
        };
        rc = fn(ctx, &r);
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&m->lock);
    buf_release(&sql);
    return rc;
}

static uint32_t sql_hash(const char *sql)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *sql; sql++)
        h = (h ^ (uint8_t)*sql) * 16777619u;
    return h;
}

/* A prepared statement for `sql`: an idle one from the cache, else a new
 * one, cached when a slot is free or idle. The caller holds m->lock. */
static sqlite3_stmt *stmt_get(struct meta *m, const char *sql)
{
    uint32_t h = sql_hash(sql);
    struct stmt_slot *free_slot = NULL;
    sqlite3_stmt *st = NULL;

    for (size_t i = 0; i < KILN_ARRAY_LEN(m->stmts); i++) {
        struct stmt_slot *e = &m->stmts[i];
        if (!e->st) {
            if (!free_slot)
                free_slot = e;
        } else if (!e->busy && e->hash == h &&
                   strcmp(sqlite3_sql(e->st), sql) == 0) {
            e->busy = true;
            return e->st;
        }
    }
    for (size_t i = 0; !free_slot && i < KILN_ARRAY_LEN(m->stmts); i++) {
        struct stmt_slot *e =
            &m->stmts[m->next_stmt++ % KILN_ARRAY_LEN(m->stmts)];
        if (!e->busy) {
            sqlite3_finalize(e->st);
            e->st = NULL;
            free_slot = e;
        }
    }
    if (sqlite3_prepare_v3(m->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
                           NULL) != SQLITE_OK) {
        log_error("event=sql_prepare error=\"%s\"", sqlite3_errmsg(m->db));
        sqlite3_finalize(st);
        return NULL;
    }
    if (free_slot)
        *free_slot = (struct stmt_slot){.st = st, .hash = h, .busy = true};
    return st;
}

/* Gives back a statement from prep(): a cached one is reset for its next
 * use, any other finalized. */
static void done(struct meta *m, sqlite3_stmt *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < KILN_ARRAY_LEN(m->stmts); i++) {
        struct stmt_slot *e = &m->stmts[i];
        if (e->st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            e->busy = false;
            return;
        }
    }
    sqlite3_finalize(st);
}

/*
 * Prepares `sql` and binds one argument per character of `fmt`: 's' text
 * (NULL binds SQL NULL), 'd' double, 'i' long long. NULL on failure. Give
 * the statement back with done().
 */
static sqlite3_stmt *prep(struct meta *m, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st = stmt_get(m, sql);
    va_list ap;

    if (!st)
        return NULL;
    va_start(ap, fmt);
    for (int i = 1; *fmt; fmt++, i++) {
        if (*fmt == 's') {
            const char *v = va_arg(ap, const char *);
            if (v)
                sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
        } else if (*fmt == 'd') {
            sqlite3_bind_double(st, i, va_arg(ap, double));
        } else {
            sqlite3_bind_int64(st, i, va_arg(ap, long long));
        }
    }
    va_end(ap);
    return st;
}

/* Runs a statement that returns no rows; SQLITE_DONE on success. */
static int run(struct meta *m, sqlite3_stmt *st)
{
    int rc = st ? sqlite3_step(st) : SQLITE_ERROR;
    done(m, st);
    return rc;
}

static const char *col(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static void begin(struct meta *m)
{
    pthread_mutex_lock(&m->lock);
    run(m, prep(m, "BEGIN IMMEDIATE", ""));
}

/* Commits when rc is 0, else rolls back; then unlocks. Returns rc. */
static int end(struct meta *m, int rc)
{
    if (rc == 0 && run(m, prep(m, "COMMIT", "")) != SQLITE_DONE)
        rc = KILN_EIO;
    if (rc)
        run(m, prep(m, "ROLLBACK", ""));
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static void bucket_from_row(sqlite3_stmt *st, struct meta_bucket *b)
{
    memset(b, 0, sizeof(*b));
    str_copy(b->name, col(st, 0), sizeof(b->name));
    str_copy(b->account, col(st, 1), sizeof(b->account));
    str_copy(b->region, col(st, 2), sizeof(b->region));
    b->created = sqlite3_column_double(st, 3);
}

#define BUCKET_COLS "name, account, region, created"

int meta_bucket_create(struct meta *m, const struct meta_bucket *b,
                       struct kiln_diag *d)
{
    sqlite3_stmt *st;
    int rc = 0;

    begin(m);
    st = prep(m, "SELECT account FROM buckets WHERE name = ?", "s", b->name);
    if (st && sqlite3_step(st) == SQLITE_ROW)
        rc = strcmp(col(st, 0), b->account) == 0 ? KILN_EOWNED : KILN_ETAKEN;
    done(m, st);
    if (rc == KILN_EOWNED)
        diag_set(d, rc,
                 "Your previous request to create the named bucket "
                 "succeeded and you already own it.");
    else if (rc == KILN_ETAKEN)
        diag_set(d, rc,
                 "The requested bucket name is not available. The bucket "
                 "namespace is shared by all users of the system. Please "
                 "select a different name and try again.");
    if (!rc &&
        run(m, prep(m, "INSERT INTO buckets (" BUCKET_COLS ") VALUES (?,?,?,?)",
                    "sssd", b->name, b->account, b->region, b->created)) !=
            SQLITE_DONE)
        rc = sql_error(m, d, "create bucket");
    return end(m, rc);
}

int meta_bucket_get(struct meta *m, const char *name, struct meta_bucket *out)
{
    sqlite3_stmt *st;
    int rc = KILN_ENOBUCKET;

    pthread_mutex_lock(&m->lock);
    st = prep(m, "SELECT " BUCKET_COLS " FROM buckets WHERE name = ?", "s",
              name);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        bucket_from_row(st, out);
        rc = 0;
    }
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_bucket_cors_set(struct meta *m, const char *name, const char *cors)
{
    int rc;
    pthread_mutex_lock(&m->lock);
    rc = run(m, prep(m, "UPDATE buckets SET cors = ? WHERE name = ?", "ss",
                     cors, name)) == SQLITE_DONE
             ? (sqlite3_changes(m->db) ? 0 : KILN_ENOBUCKET)
             : KILN_EIO;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_bucket_cors_get(struct meta *m, const char *name, char **cors)
{
    sqlite3_stmt *st;
    int rc = KILN_ENOBUCKET;

    pthread_mutex_lock(&m->lock);
    st = prep(m, "SELECT cors FROM buckets WHERE name = ?", "s", name);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        *cors = xstrdup(col(st, 0));
        rc = 0;
    }
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_bucket_delete(struct meta *m, const char *name)
{
    sqlite3_stmt *st;
    int rc = 0;

    begin(m);
    st = prep(m,
              "SELECT (SELECT count(*) FROM buckets WHERE name = ?1), "
              "EXISTS (SELECT 1 FROM objects WHERE bucket = ?1) OR "
              "EXISTS (SELECT 1 FROM uploads WHERE bucket = ?1)",
              "s", name);
    if (!st || sqlite3_step(st) != SQLITE_ROW)
        rc = KILN_EIO;
    else if (sqlite3_column_int(st, 0) == 0)
        rc = KILN_ENOBUCKET;
    else if (sqlite3_column_int(st, 1))
        rc = KILN_ENOTEMPTY;
    done(m, st);
    if (!rc && run(m, prep(m, "DELETE FROM buckets WHERE name = ?", "s",
                           name)) != SQLITE_DONE)
        rc = KILN_EIO;
    return end(m, rc);
}

int meta_bucket_each(struct meta *m, const char *account, meta_bucket_fn fn,
                     void *ctx)
{
    sqlite3_stmt *st;
    struct meta_bucket b;
    int rc = 0;

    pthread_mutex_lock(&m->lock);
    st = prep(m,
              "SELECT " BUCKET_COLS
              " FROM buckets WHERE account = ? ORDER BY name",
              "s", account);
    while (rc == 0 && st && sqlite3_step(st) == SQLITE_ROW) {
        bucket_from_row(st, &b);
        rc = fn(ctx, &b);
    }
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc < 0 ? rc : 0;
}

#define OBJECT_COLS                                                            \
    "bucket, key, blob, size, etag, modified, content_type, headers, "         \
    "checksums, parts, part_sizes"

static int object_row(sqlite3_stmt *st, meta_object_fn fn, void *ctx)
{
    struct meta_object o = {
        .bucket = col(st, 0),
        .key = col(st, 1),
        .blob = col(st, 2),
        .size = (uint64_t)sqlite3_column_int64(st, 3),
        .etag = col(st, 4),
        .modified = sqlite3_column_double(st, 5),
        .content_type = col(st, 6),
        .headers = col(st, 7),
        .checksums = col(st, 8),
        .parts = sqlite3_column_int(st, 9),
        .part_sizes = col(st, 10),
    };
    return fn(ctx, &o);
}

int meta_object_get(struct meta *m, const char *bucket, const char *key,
                    meta_object_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = KILN_ENOTFOUND;

    pthread_mutex_lock(&m->lock);
    st = prep(
        m, "SELECT " OBJECT_COLS " FROM objects WHERE bucket = ? AND key = ?",
        "ss", bucket, key);
    if (st && sqlite3_step(st) == SQLITE_ROW)
        rc = object_row(st, fn, ctx);
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Inside a transaction: the blob of (bucket, key) into old_blob. */
static void old_object_blob(struct meta *m, const char *bucket, const char *key,
                            char old_blob[META_BLOB_ID])
{
    sqlite3_stmt *st =
        prep(m, "SELECT blob FROM objects WHERE bucket = ? AND key = ?", "ss",
             bucket, key);
    old_blob[0] = '\0';
    if (st && sqlite3_step(st) == SQLITE_ROW)
        str_copy(old_blob, col(st, 0), META_BLOB_ID);
    done(m, st);
}

static int insert_object(struct meta *m, const struct meta_object *o,
                         char old_blob[META_BLOB_ID], struct kiln_diag *d)
{
    sqlite3_stmt *st;
    bool exists;

    st = prep(m, "SELECT 1 FROM buckets WHERE name = ?", "s", o->bucket);
    exists = st && sqlite3_step(st) == SQLITE_ROW;
    done(m, st);
    if (!exists)
        return diag_set(d, KILN_ENOBUCKET,
                        "The specified bucket does not exist");
    old_object_blob(m, o->bucket, o->key, old_blob);
    if (run(m, prep(m,
                    "INSERT OR REPLACE INTO objects (" OBJECT_COLS
                    ") VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    "sssisdsssis", o->bucket, o->key, o->blob,
                    (long long)o->size, o->etag, o->modified, o->content_type,
                    o->headers ? o->headers : "{}",
                    o->checksums ? o->checksums : "{}", (long long)o->parts,
                    o->part_sizes ? o->part_sizes : "")) != SQLITE_DONE)
        return sql_error(m, d, "store object");
    return 0;
}

int meta_object_put(struct meta *m, const struct meta_object *o,
                    char old_blob[META_BLOB_ID], struct kiln_diag *d)
{
    begin(m);
    return end(m, insert_object(m, o, old_blob, d));
}

int meta_object_set_headers(struct meta *m, const char *bucket, const char *key,
                            const char *blob, const char *headers)
{
    int rc = 0;

    begin(m);
    if (run(m,
            prep(m,
                 "UPDATE objects SET headers = ? WHERE bucket = ? AND key = ? "
                 "AND blob = ?",
                 "ssss", headers, bucket, key, blob)) != SQLITE_DONE)
        rc = KILN_EIO;
    else if (sqlite3_changes(m->db) == 0)
        rc = KILN_ENOTFOUND;
    return end(m, rc);
}

int meta_object_delete(struct meta *m, const char *bucket, const char *key,
                       char old_blob[META_BLOB_ID])
{
    int rc = 0;

    begin(m);
    old_object_blob(m, bucket, key, old_blob);
    if (old_blob[0] &&
        run(m, prep(m, "DELETE FROM objects WHERE bucket = ? AND key = ?", "ss",
                    bucket, key)) != SQLITE_DONE)
        rc = KILN_EIO;
    return end(m, rc);
}

int meta_object_scan(struct meta *m, const char *bucket, const char *after,
                     const char *prefix, meta_object_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = 0;
    const char *from = after;

    /* Start at the larger of `after` and `prefix`, then stop at the first
     * key that no longer has the prefix (keys are in byte order). */
    if (prefix && *prefix && (!after || strcmp(prefix, after) > 0))
        from = prefix;
    pthread_mutex_lock(&m->lock);
    st = prep(m,
              from == after
                  ? "SELECT " OBJECT_COLS " FROM objects WHERE bucket = ? "
                    "AND key > ? ORDER BY key"
                  : "SELECT " OBJECT_COLS " FROM objects WHERE bucket = ? "
                    "AND key >= ? ORDER BY key",
              "ss", bucket, from ? from : "");
    while (rc == 0 && st && sqlite3_step(st) == SQLITE_ROW) {
        if (prefix && *prefix && !str_starts(col(st, 1), prefix))
            break;
        rc = object_row(st, fn, ctx);
    }
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc < 0 ? rc : 0;
}

#define UPLOAD_COLS "id, bucket, key, account, initiated, headers"

static int upload_row(sqlite3_stmt *st, meta_upload_fn fn, void *ctx)
{
    struct meta_upload u = {
        .id = col(st, 0),
        .bucket = col(st, 1),
        .key = col(st, 2),
        .account = col(st, 3),
        .initiated = sqlite3_column_double(st, 4),
        .headers = col(st, 5),
    };
    return fn(ctx, &u);
}

int meta_upload_create(struct meta *m, const struct meta_upload *u,
                       struct kiln_diag *d)
{
    int rc = 0;

    begin(m);
    if (run(m,
            prep(m,
                 "INSERT INTO uploads (" UPLOAD_COLS ") VALUES (?,?,?,?,?,?)",
                 "ssssds", u->id, u->bucket, u->key, u->account, u->initiated,
                 u->headers ? u->headers : "{}")) != SQLITE_DONE)
        rc = sql_error(m, d, "create upload");
    return end(m, rc);
}

int meta_upload_get(struct meta *m, const char *id, meta_upload_fn fn,
                    void *ctx)
{
    sqlite3_stmt *st;
    int rc = KILN_ENOUPLOAD;

    pthread_mutex_lock(&m->lock);
    st = prep(m, "SELECT " UPLOAD_COLS " FROM uploads WHERE id = ?", "s", id);
    if (st && sqlite3_step(st) == SQLITE_ROW)
        rc = upload_row(st, fn, ctx);
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_upload_each(struct meta *m, const char *bucket, meta_upload_fn fn,
                     void *ctx)
{
    sqlite3_stmt *st;
    int rc = 0;

    pthread_mutex_lock(&m->lock);
    st = prep(m,
              "SELECT " UPLOAD_COLS " FROM uploads WHERE bucket = ? "
              "ORDER BY key, id",
              "s", bucket);
    while (rc == 0 && st && sqlite3_step(st) == SQLITE_ROW)
        rc = upload_row(st, fn, ctx);
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc < 0 ? rc : 0;
}

int meta_part_put(struct meta *m, const char *id, const struct meta_part *p,
                  char old_blob[META_BLOB_ID], struct kiln_diag *d)
{
    sqlite3_stmt *st;
    int rc = 0;

    begin(m);
    old_blob[0] = '\0';
    st = prep(m,
              "SELECT (SELECT count(*) FROM uploads WHERE id = ?1), "
              "(SELECT blob FROM parts WHERE upload = ?1 AND number = ?2)",
              "si", id, (long long)p->number);
    if (!st || sqlite3_step(st) != SQLITE_ROW)
        rc = KILN_EIO;
    else if (sqlite3_column_int(st, 0) == 0)
        rc = diag_set(d, KILN_ENOUPLOAD,
                      "The specified upload does not exist. The upload ID "
                      "may be invalid, or the upload may have been aborted "
                      "or completed.");
    else if (col(st, 1))
        str_copy(old_blob, col(st, 1), META_BLOB_ID);
    done(m, st);
    if (!rc &&
        run(m, prep(m,
                    "INSERT OR REPLACE INTO parts (upload, number, blob, "
                    "size, etag, modified, pos, checksum) VALUES "
                    "(?,?,?,?,?,?,?,?)",
                    "sisisdis", id, (long long)p->number, p->blob,
                    (long long)p->size, p->etag, p->modified,
                    (long long)p->offset, p->checksum ? p->checksum : "")) !=
            SQLITE_DONE)
        rc = sql_error(m, d, "store part");
    /* The old part's blob goes back only if no other part is in it. */
    if (!rc && old_blob[0]) {
        st = prep(m, "SELECT EXISTS (SELECT 1 FROM parts WHERE blob = ?)", "s",
                  old_blob);
        if (!st || sqlite3_step(st) != SQLITE_ROW)
            rc = sql_error(m, d, "store part");
        else if (sqlite3_column_int(st, 0))
            old_blob[0] = '\0';
        done(m, st);
    }
    return end(m, rc);
}

int meta_part_each(struct meta *m, const char *id, meta_part_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = 0;

    pthread_mutex_lock(&m->lock);
    st = prep(m,
              "SELECT number, blob, size, etag, modified, pos, checksum "
              "FROM parts WHERE upload = ? ORDER BY number",
              "s", id);
    while (rc == 0 && st && sqlite3_step(st) == SQLITE_ROW) {
        struct meta_part p = {
            .number = sqlite3_column_int(st, 0),
            .blob = col(st, 1),
            .size = (uint64_t)sqlite3_column_int64(st, 2),
            .etag = col(st, 3),
            .modified = sqlite3_column_double(st, 4),
            .offset = (uint64_t)sqlite3_column_int64(st, 5),
            .checksum = col(st, 6),
        };
        rc = fn(ctx, &p);
    }
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc < 0 ? rc : 0;
}

static int drop_upload(struct meta *m, const char *id)
{
    if (run(m, prep(m, "DELETE FROM parts WHERE upload = ?", "s", id)) !=
        SQLITE_DONE)
        return KILN_EIO;
    if (run(m, prep(m, "DELETE FROM uploads WHERE id = ?", "s", id)) !=
        SQLITE_DONE)
        return KILN_EIO;
    return sqlite3_changes(m->db) ? 0 : KILN_ENOUPLOAD;
}

int meta_upload_complete(struct meta *m, const char *id,
                         const struct meta_object *o,
                         char old_blob[META_BLOB_ID], struct kiln_diag *d)
{
    int rc;

    begin(m);
    rc = drop_upload(m, id);
    if (rc == KILN_ENOUPLOAD)
        diag_set(d, rc, "The specified upload does not exist.");
    if (!rc)
        rc = insert_object(m, o, old_blob, d);
    return end(m, rc);
}

int meta_upload_abort(struct meta *m, const char *id)
{
    begin(m);
    return end(m, drop_upload(m, id));
}

bool meta_blob_in_use(struct meta *m, const char *id)
{
    sqlite3_stmt *st;
    bool used = true; /* on error, keep the file */

    pthread_mutex_lock(&m->lock);
    st = prep(m,
              "SELECT EXISTS (SELECT 1 FROM objects WHERE blob = ?1) OR "
              "EXISTS (SELECT 1 FROM parts WHERE blob = ?1)",
              "s", id);
    if (st && sqlite3_step(st) == SQLITE_ROW)
        used = sqlite3_column_int(st, 0) != 0;
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return used;
}

/* ---- training job documents ---------------------------------------- */

int meta_training_get(struct meta *m, const char *account, const char *name,
                      char **body)
{
    sqlite3_stmt *st;
    int rc = KILN_ENOTFOUND;

    pthread_mutex_lock(&m->lock);
    st = prep(m,
              "SELECT body FROM training_jobs WHERE account = ? AND "
              "name_lc = lower(?)",
              "ss", account, name);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        *body = xstrdup(col(st, 0));
        rc = 0;
    }
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_training_save(struct meta *m, const char *account,
                       const struct meta_training_row *r, const char *body)
{
    int rc = 0;

    begin(m);
    if (run(m,
            prep(m,
                 "UPDATE training_jobs SET status = ?, secondary_status = ?, "
                 "modified = ?, ended = ?, body = ? WHERE account = ? AND "
                 "name_lc = lower(?)",
                 "ssddsss", r->status, r->secondary_status, r->modified,
                 r->ended, body, account, r->name)) != SQLITE_DONE)
        rc = KILN_EIO;
    else if (sqlite3_changes(m->db) == 0)
        rc = KILN_ENOTFOUND;
    return end(m, rc);
}

/*
 * Runs fn on each (account, name) row of `st`, a statement prepared with
 * m->lock held. The rows are collected and the lock released first: fn may
 * write to the database.
 */
static int each_named(struct meta *m, sqlite3_stmt *st, meta_named_fn fn,
                      void *ctx)
{
    struct buf list = BUF_INIT(64u << 20);
    int rc = 0;

    while (st && sqlite3_step(st) == SQLITE_ROW) {
        buf_add(&list, col(st, 0), strlen(col(st, 0)) + 1);
        buf_add(&list, col(st, 1), strlen(col(st, 1)) + 1);
    }
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    for (size_t at = 0; at < list.len && rc == 0;) {
        const char *acct = list.data + at;
        const char *name = acct + strlen(acct) + 1;
        rc = fn(ctx, acct, name);
        at = (size_t)(name - list.data) + strlen(name) + 1;
    }
    buf_release(&list);
    return rc;
}

int meta_training_each_status(struct meta *m, const char *status,
                              meta_named_fn fn, void *ctx)
{
    pthread_mutex_lock(&m->lock);
    return each_named(
        m,
        prep(m, "SELECT account, name FROM training_jobs WHERE status = ?", "s",
             status),
        fn, ctx);
}

/* ---- tags ------------------------------------------------------------ */

int meta_tag_set(struct meta *m, const char *arn, const char *key,
                 const char *value)
{
    int rc;
    pthread_mutex_lock(&m->lock);
    rc = run(m, prep(m,
                     "INSERT OR REPLACE INTO tags (arn, key, value) VALUES "
                     "(?, ?, ?)",
                     "sss", arn, key, value)) == SQLITE_DONE
             ? 0
             : KILN_EIO;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_tag_delete(struct meta *m, const char *arn, const char *key)
{
    int rc;
    pthread_mutex_lock(&m->lock);
    rc = run(m, prep(m, "DELETE FROM tags WHERE arn = ? AND key = ?", "ss", arn,
                     key)) == SQLITE_DONE
             ? 0
             : KILN_EIO;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_tag_each(struct meta *m, const char *arn, meta_tag_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    st = prep(m, "SELECT key, value FROM tags WHERE arn = ? ORDER BY key", "s",
              arn);
    while (rc == 0 && st && sqlite3_step(st) == SQLITE_ROW)
        rc = fn(ctx, col(st, 0), col(st, 1));
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc < 0 ? rc : 0;
}

/* ---- logs ------------------------------------------------------------ */

int meta_log_append(struct meta *m, const char *account, const char *group,
                    const char *stream, int64_t ts, const char *text)
{
    int64_t now = (int64_t)(tm_now() * 1000);
    int rc = 0;
    /* A program's output need not be UTF-8; a log event must be. */
    char *fixed = NULL;
    const char *message = text;
    if (!str_utf8_valid(text, strlen(text))) {
        fixed = xstrdup(text);
        str_utf8_fix(fixed, strlen(fixed));
        message = fixed;
    }

    begin(m);
    if (run(m,
            prep(m,
                 "INSERT INTO log_events (account, grp, stream, ts, ingested, "
                 "message) VALUES (?,?,?,?,?,?)",
                 "sssiis", account, group, stream, (long long)ts,
                 (long long)now, message)) != SQLITE_DONE ||
        run(m, prep(m,
                    "INSERT INTO log_streams (account, grp, stream, created, "
                    "first_ts, last_ts, last_ingested, bytes) VALUES "
                    "(?1,?2,?3,?4,?5,?5,?4,?6) ON CONFLICT (account, grp, "
                    "stream) DO UPDATE SET last_ts = max(coalesce(last_ts, 0), "
                    "?5), last_ingested = ?4, bytes = bytes + ?6",
                    "sssiii", account, group, stream, (long long)now,
                    (long long)ts, (long long)strlen(message))) != SQLITE_DONE)
        rc = KILN_EIO;
    mem_free(fixed);
    return end(m, rc);
}

int meta_log_streams(struct meta *m, const char *account, const char *group,
                     const char *prefix, bool by_time, bool descending,
                     meta_stream_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    struct buf sql = BUF_INIT(1024);
    int rc = 0;

    buf_addf(&sql,
             "SELECT stream, created, first_ts, last_ts, last_ingested, bytes "
             "FROM log_streams WHERE account = ? AND grp = ? AND "
             "substr(stream, 1, length(?3)) = ?3 ORDER BY %s %s, stream",
             by_time ? "last_ts" : "stream", descending ? "DESC" : "ASC");
    pthread_mutex_lock(&m->lock);
    st = prep(m, buf_cstr(&sql), "sss", account, group, prefix ? prefix : "");
    while (rc == 0 && st && sqlite3_step(st) == SQLITE_ROW) {
        struct meta_stream s = {
            .name = col(st, 0),
            .created = sqlite3_column_int64(st, 1),
            .first_ts = sqlite3_column_int64(st, 2),
            .last_ts = sqlite3_column_int64(st, 3),
            .last_ingested = sqlite3_column_int64(st, 4),
            .bytes = sqlite3_column_int64(st, 5),
        };
        rc = fn(ctx, &s);
    }
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    buf_release(&sql);
    return rc < 0 ? rc : 0;
}

int meta_log_groups(struct meta *m, const char *account, const char *prefix,
                    meta_group_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = 0;

    pthread_mutex_lock(&m->lock);
    st = prep(m,
              "SELECT grp, MIN(created), SUM(bytes) FROM log_streams WHERE "
              "account = ?1 AND substr(grp, 1, length(?2)) = ?2 GROUP BY grp "
              "ORDER BY grp",
              "ss", account, prefix ? prefix : "");
    while (rc == 0 && st && sqlite3_step(st) == SQLITE_ROW)
        rc = fn(ctx, col(st, 0), sqlite3_column_int64(st, 1),
                sqlite3_column_int64(st, 2));
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc < 0 ? rc : 0;
}

bool meta_log_exists(struct meta *m, const char *account, const char *group,
                     const char *stream)
{
    sqlite3_stmt *st;
    bool found;
    pthread_mutex_lock(&m->lock);
    st = prep(m,
              "SELECT 1 FROM log_streams WHERE account = ? AND grp = ? "
              "AND (?3 IS NULL OR stream = ?3) LIMIT 1",
              "sss", account, group, stream);
    found = st && sqlite3_step(st) == SQLITE_ROW;
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return found;
}

int meta_log_events(struct meta *m, const struct meta_log_query *q,
                    meta_event_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    struct buf sql = BUF_INIT(2048);
    int rc = 0;

    buf_adds(&sql, "SELECT seq, stream, ts, ingested, message FROM "
                   "log_events WHERE account = ?1 AND grp = ?2 AND "
                   "substr(stream, 1, length(?3)) = ?3");
    if (q->exact_stream)
        buf_adds(&sql, " AND stream = ?3");
    buf_adds(&sql, " AND ts >= ?4 AND ts < ?5 AND seq > ?6");
    if (q->before_seq)
        buf_adds(&sql, " AND seq < ?9");
    if (q->pattern && *q->pattern)
        buf_adds(&sql, " AND instr(message, ?8) > 0");
    buf_adds(&sql, q->newest ? " ORDER BY ts DESC, seq DESC LIMIT ?7"
                             : " ORDER BY ts, seq LIMIT ?7");
    pthread_mutex_lock(&m->lock);
    st = prep(m, buf_cstr(&sql), "sssiiiisi", q->account, q->group,
              q->stream ? q->stream : "", (long long)q->start,
              (long long)q->end, (long long)q->after_seq, (long long)q->limit,
              q->pattern ? q->pattern : "", (long long)q->before_seq);
    while (rc == 0 && st && sqlite3_step(st) == SQLITE_ROW) {
        struct meta_event e = {
            .seq = sqlite3_column_int64(st, 0),
            .stream = col(st, 1),
            .ts = sqlite3_column_int64(st, 2),
            .ingested = sqlite3_column_int64(st, 3),
            .message = col(st, 4),
        };
        rc = fn(ctx, &e);
    }
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    buf_release(&sql);
    return rc < 0 ? rc : 0;
}

/* ---- usage ----------------------------------------------------------- */

int meta_usage_add(struct meta *m, const struct meta_usage *u)
{
    int rc;
    pthread_mutex_lock(&m->lock);
    rc = run(m, prep(m,
                     "INSERT INTO usage (account, arn, kind, instance_type, "
                     "instance_count, start, end, billable_seconds) VALUES "
                     "(?,?,?,?,?,?,?,?)",
                     "ssssiddi", u->account, u->arn, u->kind, u->instance_type,
                     (long long)u->instance_count, u->start, u->end,
                     (long long)u->billable_seconds)) == SQLITE_DONE
             ? 0
             : KILN_EIO;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_usage_each(struct meta *m, const char *account, double from, double to,
                    meta_usage_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    st = prep(m,
              "SELECT arn, kind, instance_type, instance_count, start, end, "
              "billable_seconds FROM usage WHERE account = ?1 AND end > ?2 "
              "AND start < ?3 ORDER BY start, arn",
              "sdd", account, from, to);
    while (rc == 0 && st && sqlite3_step(st) == SQLITE_ROW) {
        struct meta_usage u = {
            .account = account,
            .arn = col(st, 0),
            .kind = col(st, 1),
            .instance_type = col(st, 2),
            .instance_count = sqlite3_column_int(st, 3),
            .start = sqlite3_column_double(st, 4),
            .end = sqlite3_column_double(st, 5),
            .billable_seconds = sqlite3_column_int64(st, 6),
        };
        rc = fn(ctx, &u);
    }
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc < 0 ? rc : 0;
}

/* ---- hosting resources ---------------------------------------------- */

int meta_res_insert(struct meta *m, const struct meta_res *r,
                    struct kiln_diag *d)
{
    int rc = 0, s;
    begin(m);
    s = run(m,
            prep(m,
                 "INSERT INTO resources (account, type, name, name_lc, arn, "
                 "status, created, modified, body) VALUES (?,?,?,lower(?),?,"
                 "?,?,?,?)",
                 "ssssssdds", r->account, r->type, r->name, r->name, r->arn,
                 r->status ? r->status : "", r->created, r->modified, r->body));
    if (s == SQLITE_CONSTRAINT)
        rc = KILN_EINUSE;
    else if (s != SQLITE_DONE)
        rc = sql_error(m, d, "store resource");
    return end(m, rc);
}

int meta_res_get(struct meta *m, const char *account, const char *type,
                 const char *name, char **body)
{
    sqlite3_stmt *st;
    int rc = KILN_ENOTFOUND;
    pthread_mutex_lock(&m->lock);
    st = prep(m,
              "SELECT body FROM resources WHERE account = ? AND type = ? AND "
              "name_lc = lower(?)",
              "sss", account, type, name);
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        *body = xstrdup(col(st, 0));
        rc = 0;
    }
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_res_save(struct meta *m, const struct meta_res *r)
{
    int rc = 0;
    begin(m);
    if (run(m, prep(m,
                    "UPDATE resources SET status = ?, modified = ?, body = ? "
                    "WHERE account = ? AND type = ? AND name_lc = lower(?) "
                    "AND (?7 IS NULL OR status = ?7)",
                    "sdsssss", r->status ? r->status : "", r->modified, r->body,
                    r->account, r->type, r->name, r->expect)) != SQLITE_DONE)
        rc = KILN_EIO;
    else if (sqlite3_changes(m->db) == 0)
        rc = r->expect ? KILN_EPRECONDITION : KILN_ENOTFOUND;
    return end(m, rc);
}

int meta_res_delete(struct meta *m, const char *account, const char *type,
                    const char *name)
{
    int rc = 0;
    begin(m);
    /* Its tags go with it, so a new resource of that name starts bare. */
    if (run(m, prep(m,
                    "DELETE FROM tags WHERE arn IN (SELECT arn FROM resources "
                    "WHERE account = ? AND type = ? AND name_lc = lower(?))",
                    "sss", account, type, name)) != SQLITE_DONE ||
        run(m, prep(m,
                    "DELETE FROM resources WHERE account = ? AND type = ? AND "
                    "name_lc = lower(?)",
                    "sss", account, type, name)) != SQLITE_DONE)
        rc = KILN_EIO;
    else if (sqlite3_changes(m->db) == 0)
        rc = KILN_ENOTFOUND;
    return end(m, rc);
}

int meta_res_list(struct meta *m, const char *type,
                  const struct meta_list_query *q, meta_res_fn fn, void *ctx,
                  struct kiln_diag *d)
{
    struct buf sql = BUF_INIT(4096);
    sqlite3_stmt *st = NULL;
    int rc = 0;

    buf_adds(&sql, "SELECT account, type, name, arn, status, created, "
                   "modified, body FROM resources WHERE account = ? AND "
                   "type = ?");
    list_sql(&sql, q);
    pthread_mutex_lock(&m->lock);
    if (sqlite3_prepare_v2(m->db, buf_cstr(&sql), -1, &st, NULL) != SQLITE_OK) {
        rc = sql_error(m, d, "list resources");
        goto out;
    }
    sqlite3_bind_text(st, 1, q->account, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    list_bind(st, 3, q);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        struct meta_res r = {
            .account = col(st, 0),
            .type = col(st, 1),
            .name = col(st, 2),
            .arn = col(st, 3),
            .status = col(st, 4),
            .created = sqlite3_column_double(st, 5),
            .modified = sqlite3_column_double(st, 6),
            .body = col(st, 7),
        };
        rc = fn(ctx, &r);
    }
out:
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    buf_release(&sql);
    return rc;
}

int meta_res_each_status(struct meta *m, const char *type, const char *status,
                         meta_named_fn fn, void *ctx)
{
    pthread_mutex_lock(&m->lock);
    return each_named(m,
                      prep(m,
                           "SELECT account, name FROM resources WHERE "
                           "type = ? AND status = ?",
                           "ss", type, status),
                      fn, ctx);
}

int meta_metric_add(struct meta *m, const char *arn, const char *name,
                    double ts, double value)
{
    int rc;
    pthread_mutex_lock(&m->lock);
    rc = run(m, prep(m,
                     "INSERT INTO metrics (arn, name, ts, value) VALUES "
                     "(?, ?, ?, ?)",
                     "ssdd", arn, name, ts, value)) == SQLITE_DONE
             ? 0
             : KILN_EIO;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_emetric_add(struct meta *m, const struct meta_emetric *e)
{
    int rc;
    pthread_mutex_lock(&m->lock);
    rc = run(m, prep(m,
                     "INSERT INTO endpoint_metrics (account, ns, endpoint, "
                     "variant, name, minute, n, sum, min, max) VALUES "
                     "(?,?,?,?,?,?,?,?,?,?) ON CONFLICT DO UPDATE SET n = n + "
                     "excluded.n, sum = sum + excluded.sum, min = min(min, "
                     "excluded.min), max = max(max, excluded.max)",
                     "sssssidddd", e->account, e->ns ? e->ns : META_EMETRIC_NS,
                     e->endpoint, e->variant, e->name, (long long)e->minute,
                     e->n, e->sum, e->min, e->max)) == SQLITE_DONE
             ? 0
             : KILN_EIO;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

int meta_emetric_each(struct meta *m, const struct meta_emetric *want,
                      int64_t from, int64_t to, meta_emetric_fn fn, void *ctx)
{
    sqlite3_stmt *st;
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    /* A NULL namespace, name, endpoint or variant matches any. */
    st = prep(m,
              "SELECT endpoint, variant, name, minute, n, sum, min, max, ns "
              "FROM endpoint_metrics WHERE account = ?1 AND (?2 IS NULL OR "
              "name = ?2) AND (?3 IS NULL OR endpoint = ?3) AND (?4 IS NULL "
              "OR variant = ?4) AND (?7 IS NULL OR ns = ?7) AND minute >= ?5 "
              "AND minute < ?6 ORDER BY ns, name, endpoint, variant, minute",
              "ssssiis", want->account, want->name, want->endpoint,
              want->variant, (long long)from, (long long)to, want->ns);
    while (rc == 0 && st && sqlite3_step(st) == SQLITE_ROW) {
        struct meta_emetric e = {
            .account = want->account,
            .ns = col(st, 8),
            .endpoint = col(st, 0),
            .variant = col(st, 1),
            .name = col(st, 2),
            .minute = sqlite3_column_int64(st, 3),
            .n = sqlite3_column_double(st, 4),
            .sum = sqlite3_column_double(st, 5),
            .min = sqlite3_column_double(st, 6),
            .max = sqlite3_column_double(st, 7),
        };
        rc = fn(ctx, &e);
    }
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc < 0 ? rc : 0;
}

int meta_metric_each(struct meta *m, const char *arn, meta_metric_fn fn,
                     void *ctx)
{
    sqlite3_stmt *st;
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    st = prep(m,
              "SELECT name, ts, value FROM metrics WHERE arn = ? ORDER BY "
              "name, ts, rowid",
              "s", arn);
    while (rc == 0 && st && sqlite3_step(st) == SQLITE_ROW)
        rc = fn(ctx, col(st, 0), sqlite3_column_double(st, 1),
                sqlite3_column_double(st, 2));
    done(m, st);
    pthread_mutex_unlock(&m->lock);
    return rc < 0 ? rc : 0;
}
