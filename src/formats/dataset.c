/*
 * dataset.c - a cursor over (file index, reader). Only one file is open
 * at a time.
 */
#include "formats/dataset.h"

#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/str.h"
#include "formats/csv.h"
#include "formats/record.h"
#include "formats/recordio.h"

struct dataset {
    char **paths;
    size_t n, cur;
    char *root, *label;
    enum content_type ct;
    size_t dim, label_size;
    int fd;
    struct recordio_reader rio;
    struct csv_reader csv;
    struct record_ws *ws;
    bool open;
    uint64_t rows;
    char *pipe_base; /* "<dir>/<channel>_" in Pipe mode, else NULL */
    unsigned epoch;  /* Pipe mode: the FIFO being read */
};

static const struct {
    const char *name;
    enum content_type ct;
} types[] = {
    {"application/x-recordio-protobuf", CT_RECORDIO},
    {"text/csv", CT_CSV},
    {"text/libsvm", CT_LIBSVM},
    {"application/json", CT_JSON},
    {"application/jsonlines", CT_JSONLINES},
    {"application/x-recordio", CT_RECORDIO},
    {"text/x-libsvm", CT_LIBSVM},
};

const char *content_type_name(enum content_type ct)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(types); i++)
        if (types[i].ct == ct)
            return types[i].name;
    return "?";
}

int content_type_parse(const char *s, enum content_type *ct, size_t *label_size,
                       struct kiln_diag *d)
{
    const char *semi = strchr(s, ';');
    size_t n = semi ? (size_t)(semi - s) : strlen(s);

    while (n && s[n - 1] == ' ')
        n--;
    *label_size = 0;
    for (size_t i = 0; i < KILN_ARRAY_LEN(types); i++) {
        if (strlen(types[i].name) != n || strncasecmp(s, types[i].name, n))
            continue;
        *ct = types[i].ct;
        for (const char *p = semi; p; p = strchr(p + 1, ';')) {
            const char *q = p + 1;
            while (*q == ' ')
                q++;
            if (strncasecmp(q, "label_size=", 11) == 0) {
                int64_t v;
                char num[32];
                size_t len = strcspn(q + 11, "; ");
                snprintf(num, sizeof(num), "%.*s", (int)(len < 31 ? len : 31),
                         q + 11);
                if (parse_i64_str(num, 0, 1000, &v) != 0)
                    return diag_set(d, KILN_EINVAL,
                                    "label_size must be a small whole "
                                    "number, not '%s'",
                                    num);
                *label_size = (size_t)v;
            }
        }
        return 0;
    }
    return diag_set(d, KILN_EINVAL,
                    "Content type %.*s is not supported by this algorithm. "
                    "Supported content types: text/csv, "
                    "application/x-recordio-protobuf",
                    (int)(n > 100 ? 100 : n), s);
}

int dataset_open_pipe(const char *dir, const char *channel,
                      enum content_type ct, size_t dim, size_t label_size,
                      struct dataset **out, struct kiln_diag *d)
{
    char path[4096];
    const char *one = path;
    int rc;

    snprintf(path, sizeof(path), "%s/%s_0", dir, channel);
    rc = dataset_open(&one, 1, dir, channel, ct, dim, label_size, out, d);
    if (!rc) {
        snprintf(path, sizeof(path), "%s/%s_", dir, channel);
        (*out)->pipe_base = xstrdup(path);
    }
    return rc;
}

int dataset_open(const char *const *paths, size_t n, const char *root,
                 const char *label, enum content_type ct, size_t dim,
                 size_t label_size, struct dataset **out, struct kiln_diag *d)
{
    struct dataset *s;

    if (ct != CT_RECORDIO && ct != CT_CSV)
        return diag_set(d, KILN_EINVAL,
                        "Content type %s is not supported for training "
                        "data. Supported content types: text/csv, "
                        "application/x-recordio-protobuf",
                        content_type_name(ct));
    s = xcalloc(1, sizeof(*s));
    s->paths = xcalloc(n ? n : 1, sizeof(*s->paths));
    for (size_t i = 0; i < n; i++)
        s->paths[i] = xstrdup(paths[i]);
    s->n = n;
    s->root = xstrdup(root ? root : "");
    s->label = xstrdup(label ? label : "data");
    s->ct = ct;
    s->dim = dim;
    s->label_size = label_size;
    s->fd = -1;
    s->ws = record_ws_new();
    *out = s;
    return 0;
}

/* The path for messages: "train/part-0.csv". */
static const char *shown(const struct dataset *s, char *out, size_t size)
{
    const char *p = s->paths[s->cur];
    size_t rl = strlen(s->root);
    if (rl && strncmp(p, s->root, rl) == 0) {
        p += rl;
        while (*p == '/')
            p++;
    } else {
        const char *slash = strrchr(p, '/');
        p = slash ? slash + 1 : p;
    }
    snprintf(out, size, "%s/%s", s->label, p);
    return out;
}

static void close_file(struct dataset *s)
{
    if (!s->open)
        return;
    if (s->ct == CT_RECORDIO)
        recordio_reader_release(&s->rio);
    else
        csv_reader_release(&s->csv);
    close(s->fd);
    s->fd = -1;
    s->open = false;
}

static int open_file(struct dataset *s, struct kiln_diag *d)
{
    char where[512];
    s->fd = open(s->paths[s->cur], O_RDONLY | O_CLOEXEC);
    /* In Pipe mode the next FIFO appears when the feeder has finished the
     * previous one: wait for it (a minute at most). */
    for (int waited = 0;
         s->fd < 0 && errno == ENOENT && s->pipe_base && waited < 60000;
         waited += 5) {
        usleep(5000);
        s->fd = open(s->paths[s->cur], O_RDONLY | O_CLOEXEC);
    }
    if (s->fd < 0)
        return diag_set(d, KILN_EIO, "cannot open %s: %s",
                        shown(s, where, sizeof(where)), strerror(errno));
    if (s->ct == CT_RECORDIO)
        recordio_reader_init_fd(&s->rio, s->fd);
    else
        csv_reader_init_fd(&s->csv, s->fd);
    s->open = true;
    return 0;
}

/* One row from the current file: 0, KILN_CONTINUE at its end, or error. */
static int row(struct dataset *s, float *x, float *label, struct kiln_diag *d)
{
    char where[512];
    int rc;

    if (s->ct == CT_CSV) {
        float labs[16];
        size_t ncols = 0;
        size_t ls = s->label_size < 16 ? s->label_size : 16;
        rc = csv_next(&s->csv, x, s->dim, labs, ls, &ncols, d);
        if (rc == KILN_EDIM)
            return diag_set(
                d, KILN_EDIM,
                "feature_dim %zu does not match the %zu "
                "columns of %s, line %llu%s",
                s->dim, ncols > s->label_size ? ncols - s->label_size : 0,
                shown(s, where, sizeof(where)), (unsigned long long)s->csv.line,
                s->label_size ? " (after the label columns)" : "");
        if (rc && rc != KILN_CONTINUE) {
            char inner[sizeof(d->msg)];
            str_copy(inner, d ? d->msg : "", sizeof(inner));
            return diag_set(d, rc, "%s: %s", shown(s, where, sizeof(where)),
                            inner);
        }
        if (!rc && label)
            *label = ls ? labs[0] : 0;
        return rc;
    }
    const uint8_t *p;
    size_t n;
    struct record_view v;
    rc = recordio_next(&s->rio, &p, &n, d);
    if (!rc)
        rc = record_decode(s->ws, p, n, &v, d);
    if (!rc)
        rc = record_to_dense(&v.features, x, s->dim, d);
    if (rc && rc != KILN_CONTINUE) {
        char inner[sizeof(d->msg)];
        str_copy(inner, d ? d->msg : "", sizeof(inner));
        return diag_set(d, rc, "%s, record %llu: %s",
                        shown(s, where, sizeof(where)),
                        (unsigned long long)s->rio.records, inner);
    }
    if (!rc && label)
        *label = v.label.n ? record_value(&v.label, 0) : 0;
    return rc;
}

int dataset_next(struct dataset *s, float *X, float *labels, size_t max_rows,
                 size_t *got, struct kiln_diag *d)
{
    size_t n = 0;
    int rc = 0;

    while (n < max_rows && s->cur < s->n) {
        if (!s->open) {
            rc = open_file(s, d);
            if (rc)
                break;
        }
        rc = row(s, X + n * s->dim, labels ? labels + n : NULL, d);
        if (rc == KILN_CONTINUE) {
            close_file(s);
            s->cur++;
            rc = 0;
            continue;
        }
        if (rc)
            break;
        n++;
    }
    s->rows += n;
    *got = n;
    return rc;
}

int dataset_rewind(struct dataset *s, struct kiln_diag *d)
{
    (void)d;
    close_file(s);
    s->cur = 0;
    s->rows = 0;
    if (s->pipe_base) {
        /* The next epoch is the next FIFO. */
        char path[4096];
        snprintf(path, sizeof(path), "%s%u", s->pipe_base, ++s->epoch);
        mem_free(s->paths[0]);
        s->paths[0] = xstrdup(path);
    }
    return 0;
}

uint64_t dataset_rows(const struct dataset *s)
{
    return s->rows;
}

void dataset_close(struct dataset *s)
{
    if (!s)
        return;
    close_file(s);
    for (size_t i = 0; i < s->n; i++)
        mem_free(s->paths[i]);
    mem_free(s->paths);
    mem_free(s->root);
    mem_free(s->label);
    mem_free(s->pipe_base);
    record_ws_free(s->ws);
    mem_free(s);
}
