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

#include "base/buf.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"

struct meta {
    sqlite3 *db;
    pthread_mutex_t lock;
    int version;
};

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
    sqlite3_stmt *st = NULL;
    int rc = KILN_ENOTFOUND;

    pthread_mutex_lock(&m->lock);
    if (sqlite3_prepare_v2(m->db,
                           "SELECT akid, secret, account, user_name, created "
                           "FROM access_keys WHERE akid = ?",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = KILN_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, akid, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        key_from_row(st, out);
        rc = 0;
    }
out:
    sqlite3_finalize(st);
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

int meta_training_list(struct meta *m, const struct meta_list_query *q,
                       meta_training_fn fn, void *ctx, struct kiln_diag *d)
{
    struct buf sql = BUF_INIT(4096);
    sqlite3_stmt *st = NULL;
    const char *col = sort_column(q->sort_by);
    const char *dir = q->descending ? "DESC" : "ASC";
    int rc = 0, i = 1;

    buf_adds(&sql, "SELECT name, arn, status, secondary_status, created, "
                   "modified, ended FROM training_jobs WHERE account = ?");
    if (q->name_contains)
        buf_adds(&sql, " AND instr(name_lc, lower(?)) > 0");
    if (q->status_equals)
        buf_adds(&sql, " AND status = ?");
    if (q->created_after)
        buf_adds(&sql, " AND created > ?");
    if (q->created_before)
        buf_adds(&sql, " AND created < ?");
    if (q->modified_after)
        buf_adds(&sql, " AND modified > ?");
    if (q->modified_before)
        buf_adds(&sql, " AND modified < ?");
    if (q->after_set)
        buf_addf(&sql, " AND (%s, name_lc) %s (?, ?)", col,
                 q->descending ? "<" : ">");
    buf_addf(&sql, " ORDER BY %s %s, name_lc %s LIMIT ?", col, dir, dir);

    pthread_mutex_lock(&m->lock);
    if (sqlite3_prepare_v2(m->db, buf_cstr(&sql), -1, &st, NULL) != SQLITE_OK) {
        rc = sql_error(m, d, "list training jobs");
        goto out;
    }
    sqlite3_bind_text(st, i++, q->account, -1, SQLITE_STATIC);
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
    sqlite3_bind_int(st, i++, q->limit + 1);
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
