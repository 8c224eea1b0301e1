/*
 * err.c - the error table's lookups and diag_set().
 *
 * The table is expanded once into a static array indexed by the negated
 * code, so every lookup is an array access.
 */
#include "base/err.h"

#include <stdarg.h>

#include "base/log.h"

struct err_row {
    const char *text;
    int status[4];
    const char *name[4];
};

static const struct err_row rows[] = {
    [KILN_ERR_INDEX_NONE_] = {"success",
                              {200, 200, 200, 200},
                              {"", "", "", ""}},
#define ROW(nm, tx, js, jc, ss, sc, qs, qc, rs, rc)                            \
    [KILN_ERR_INDEX_##nm] = {tx, {js, ss, qs, rs}, {jc, sc, qc, rc}},
    KILN_ERR_MAP(ROW)
#undef ROW
};

_Static_assert(KILN_ARRAY_LEN(rows) == KILN_ERR_INDEX_COUNT_,
               "every error has a row");
_Static_assert(KILN_PROTO_JSON == 0 && KILN_PROTO_S3 == 1 &&
                   KILN_PROTO_QUERY == 2 && KILN_PROTO_REST == 3,
               "protocol columns follow the table order");

static const struct err_row *row_of(int code)
{
    if (code >= 0 || -code >= KILN_ERR_INDEX_COUNT_)
        return NULL;
    return &rows[-code];
}

const char *kiln_strerror(int code)
{
    const struct err_row *r = row_of(code);
    if (code == 0)
        return rows[0].text;
    return r ? r->text : "unknown error";
}

int kiln_err_status(int code, enum kiln_proto proto)
{
    const struct err_row *r = row_of(code);
    return r ? r->status[proto] : 500;
}

const char *kiln_err_name(int code, enum kiln_proto proto)
{
    const struct err_row *r = row_of(code);
    return r ? r->name[proto] : "InternalFailure";
}

int diag_set_at(struct kiln_diag *d, int code, const char *file, int line,
                const char *fmt, ...)
{
    if (d) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
        va_end(ap);
        d->code = code;
    }
    log_debug("event=error code=%s file=%s line=%d", kiln_strerror(code), file,
              line);
    return code;
}

void diag_clear(struct kiln_diag *d)
{
    d->code = 0;
    d->msg[0] = '\0';
}

int diag_wrap(struct kiln_diag *d, int code, const char *prefix)
{
    char inner[sizeof(d->msg)];

    if (!d)
        return code;
    memcpy(inner, d->msg, sizeof(inner));
    inner[sizeof(inner) - 1] = '\0';
    snprintf(d->msg, sizeof(d->msg), "%s%s", prefix, inner);
    d->code = code;
    return code;
}
