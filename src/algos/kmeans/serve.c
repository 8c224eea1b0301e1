/*
 * serve.c - parse the rows, one nearest-center pass, format. The row
 * buffer and the workspace are kept per thread and only grow, so a steady
 * stream of requests allocates nothing after the first.
 */
#include "algos/kmeans/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <strings.h>
#include <unistd.h>

#include "algos/kmeans/kmeans.h"
#include "base/mem.h"
#include "formats/csv.h"
#include "formats/jsonrows.h"
#include "formats/ndarray.h"
#include "formats/record.h"
#include "formats/recordio.h"

#define MAX_BODY ((size_t)64 << 20)

int kmeans_model_load(const char *model_dir, struct kmeans_model *m,
                      struct kiln_diag *d)
{
    struct buf path = BUF_INIT(8192), file = BUF_INIT((size_t)1 << 31);
    char chunk[65536];
    ssize_t n;
    int fd, rc = 0;

    memset(m, 0, sizeof(*m));
    buf_addf(&path, "%s/model_algo-1", model_dir);
    fd = open(buf_cstr(&path), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = diag_set(d, KILN_EIO, "cannot open %s: %s", buf_cstr(&path),
                      strerror(errno));
        goto out;
    }
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        if (buf_add(&file, chunk, (size_t)n) != 0) {
            rc = diag_set(d, KILN_ETOOBIG, "the model file is too large");
            break;
        }
    close(fd);
    if (!rc)
        rc = ndarray_read((const uint8_t *)buf_cstr(&file), file.len,
                          &m->centers, &m->k, &m->d, d);
    if (!rc) {
        struct mat C = {m->k, m->d, m->d, m->centers, false};
        m->cnorm = xmalloc(m->k * sizeof(float));
        linalg_row_sqnorms(&C, m->cnorm);
    }
out:
    buf_release(&path);
    buf_release(&file);
    return rc;
}

void kmeans_model_release(struct kmeans_model *m)
{
    mem_free(m->centers);
    mem_free(m->cnorm);
    memset(m, 0, sizeof(*m));
}

/* Per-thread scratch that only grows. */
struct scratch {
    struct record_ws *rws;
    struct buf rows;
    struct kmeans_ws ws;
    uint32_t *cluster;
    float *dist;
    size_t cap;
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    struct scratch *s = p;
    record_ws_free(s->rws);
    buf_release(&s->rows);
    kmeans_ws_release(&s->ws);
    mem_free(s->cluster);
    mem_free(s->dist);
    mem_free(s);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

/* This thread's scratch, created on first use, freed at thread exit. */
static struct scratch *scratch(void)
{
    struct scratch *s;
    pthread_once(&scratch_once, scratch_key_init);
    s = pthread_getspecific(scratch_key);
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        pthread_setspecific(scratch_key, s);
    }
    return s;
}

static int ensure(struct scratch *s, size_t n, size_t k, size_t d)
{
    if (n <= s->cap && s->ws.K >= k && s->ws.d == d)
        return 0;
    size_t cap = n > 2 * s->cap ? n : 2 * s->cap;
    kmeans_ws_release(&s->ws);
    mem_free(s->cluster);
    mem_free(s->dist);
    s->cluster = NULL;
    s->dist = NULL;
    s->cap = 0;
    if (kmeans_ws_init(&s->ws, cap, k, d) != 0)
        return KILN_ENOMEM;
    s->cluster = xmalloc(cap * sizeof(uint32_t));
    s->dist = xmalloc(cap * sizeof(float));
    s->cap = cap;
    return 0;
}

static bool type_is(const char *t, const char *want)
{
    size_t n = strlen(want);
    return t && strncasecmp(t, want, n) == 0 &&
           (t[n] == '\0' || t[n] == ';' || t[n] == ' ');
}

/* Rows of a CSV body. */
static int csv_rows(const char *body, size_t len, size_t dim, struct buf *rows,
                    size_t *n, struct kiln_diag *d)
{
    struct csv_reader r;
    int rc;
    *n = 0;
    csv_reader_init_mem(&r, body, len);
    for (;;) {
        size_t at = rows->len, ncols;
        if (buf_addzeros(rows, dim * sizeof(float))) {
            csv_reader_release(&r);
            return diag_set(d, KILN_ETOOBIG, "too many rows");
        }
        rc = csv_next(&r, (float *)(void *)(rows->data + at), dim, NULL, 0,
                      &ncols, d);
        if (rc) {
            rows->len = at;
            break;
        }
        (*n)++;
    }
    csv_reader_release(&r);
    if (rc == KILN_CONTINUE)
        rc = *n ? 0 : diag_set(d, KILN_EINVAL, "the request has no rows");
    if (rc == KILN_EDIM) {
        char inner[sizeof(d->msg)];
        snprintf(inner, sizeof(inner), "%s", d->msg);
        rc = diag_set(d, KILN_EDIM, "%s; the model expects %zu features", inner,
                      dim);
    }
    return rc;
}

static int recordio_rows(const void *body, size_t len, size_t dim,
                         struct buf *rows, size_t *n, struct kiln_diag *d)
{
    struct recordio_reader r;
    struct record_view v;
    const uint8_t *p;
    size_t plen;
    int rc;

    struct record_ws *ws = scratch()->rws;
    if (!ws)
        ws = scratch()->rws = record_ws_new();
    *n = 0;
    recordio_reader_init_mem(&r, body, len);
    while (!(rc = recordio_next(&r, &p, &plen, d))) {
        size_t at = rows->len;
        if (buf_addzeros(rows, dim * sizeof(float)))
            rc = diag_set(d, KILN_ETOOBIG, "too many rows");
        if (!rc)
            rc = record_decode(ws, p, plen, &v, d);
        if (!rc)
            rc = record_to_dense(&v.features,
                                 (float *)(void *)(rows->data + at), dim, d);
        if (rc)
            break;
        (*n)++;
    }
    recordio_reader_release(&r);
    if (rc == KILN_CONTINUE)
        rc = *n ? 0 : diag_set(d, KILN_EINVAL, "the request has no records");
    return rc;
}

/* Response formats, in the order of fmt_types. */
enum fmt { FMT_JSON, FMT_JSONLINES, FMT_RECORDIO, FMT_CSV };
static const char *const fmt_types[] = {
    "application/json", "application/jsonlines",
    "application/x-recordio-protobuf", "text/csv"};

/* The format a media range of an Accept header names, or -1. */
static int fmt_of(const char *range, size_t n)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(fmt_types); i++)
        if (n == strlen(fmt_types[i]) &&
            strncasecmp(range, fmt_types[i], n) == 0)
            return (int)i;
    if ((n == 3 && memcmp(range, "*/*", 3) == 0) ||
        (n == 13 && strncasecmp(range, "application/*", 13) == 0))
        return FMT_JSON;
    if (n == 6 && strncasecmp(range, "text/*", 6) == 0)
        return FMT_CSV;
    return -1;
}

/*
 * The response format for an Accept header: of the media ranges it lists,
 * the one with the highest q that kiln can answer, the first among equals;
 * JSON when there is no header; -1 when it accepts none of them.
 */
static int negotiate(const char *accept)
{
    int best = -1;
    double best_q = 0;

    if (!accept || !*accept)
        return FMT_JSON;
    for (const char *p = accept; *p;) {
        size_t n = strcspn(p, ",");
        const char *semi = memchr(p, ';', n), *t = p;
        size_t tn = semi ? (size_t)(semi - p) : n;
        double q = 1;
        while (tn && *t == ' ')
            t++, tn--;
        while (tn && t[tn - 1] == ' ')
            tn--;
        for (size_t i = semi ? (size_t)(semi - p) : n; i < n; i++) {
            /* a ";q=..." parameter */
            size_t j = i + 1;
            if (p[i] != ';')
                continue;
            while (j < n && p[j] == ' ')
                j++;
            if (j + 1 < n && (p[j] | 0x20) == 'q' && p[j + 1] == '=')
                q = strtod(p + j + 2, NULL);
        }
        int f = fmt_of(t, tn);
        if (f >= 0 && q > best_q) {
            best = f;
            best_q = q;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return best;
}

static void format(int fmt, size_t n, const uint32_t *cluster,
                   const float *dist, struct buf *out, const char **type)
{
    if (fmt == FMT_RECORDIO) {
        static const char *const names[2] = {"closest_cluster",
                                             "distance_to_cluster"};
        for (size_t i = 0; i < n; i++) {
            float v[2] = {(float)cluster[i], dist[i]};
            record_write_labels(out, names, v, 2);
        }
        *type = "application/x-recordio-protobuf";
    } else if (fmt == FMT_JSONLINES) {
        for (size_t i = 0; i < n; i++)
            buf_addf(out,
                     "{\"closest_cluster\": %.1f, \"distance_to_cluster\": "
                     "%.9g}\n",
                     (double)cluster[i], (double)dist[i]);
        *type = "application/jsonlines";
    } else if (fmt == FMT_CSV) {
        for (size_t i = 0; i < n; i++)
            buf_addf(out, "%.1f,%.9g\n", (double)cluster[i], (double)dist[i]);
        *type = "text/csv";
    } else {
        buf_adds(out, "{\"predictions\": [");
        for (size_t i = 0; i < n; i++)
            buf_addf(out,
                     "%s{\"closest_cluster\": %.1f, "
                     "\"distance_to_cluster\": %.9g}",
                     i ? ", " : "", (double)cluster[i], (double)dist[i]);
        buf_adds(out, "]}");
        *type = "application/json";
    }
}

void kmeans_invoke(const struct kmeans_model *m, const char *content_type,
                   const char *accept, const void *body, size_t len,
                   int *status, struct buf *out, const char **out_type)
{
    struct kiln_diag d = {0};
    struct scratch *s = scratch();
    size_t n = 0;
    int rc;

    *out_type = "text/plain";
    int fmt = negotiate(accept);
    if (fmt < 0) {
        *status = 406;
        buf_addf(out,
                 "Accept type %.100s is not supported. Supported: "
                 "application/json, application/jsonlines, "
                 "application/x-recordio-protobuf, text/csv",
                 accept);
        return;
    }
    if (s->rows.max == 0)
        buf_init(&s->rows, MAX_BODY * 4);
    buf_reset(&s->rows);
    if (type_is(content_type, "text/csv"))
        rc = csv_rows(body, len, m->d, &s->rows, &n, &d);
    else if (type_is(content_type, "application/json"))
        rc = jsonrows_parse(body, len, false, m->d, &s->rows, &n, &d);
    else if (type_is(content_type, "application/jsonlines"))
        rc = jsonrows_parse(body, len, true, m->d, &s->rows, &n, &d);
    else if (type_is(content_type, "application/x-recordio-protobuf"))
        rc = recordio_rows(body, len, m->d, &s->rows, &n, &d);
    else {
        *status = 415;
        buf_addf(out,
                 "Content type %.100s is not supported by this "
                 "algorithm. Supported: text/csv, application/json, "
                 "application/jsonlines, "
                 "application/x-recordio-protobuf",
                 content_type ? content_type : "(none)");
        return;
    }
    if (!rc && ensure(s, n, m->k, m->d) != 0)
        rc = diag_set(&d, KILN_ENOMEM, "out of memory");
    if (rc) {
        *status = rc == KILN_ENOMEM ? 500 : 400;
        buf_adds(out, d.msg);
        return;
    }
    struct mat C = {m->k, m->d, m->d, m->centers, false};
    struct mat X = {n, m->d, m->d, (float *)(void *)s->rows.data, false};
    kmeans_predict(&C, m->cnorm, &X, &s->ws, s->cluster, s->dist);
    format(fmt, n, s->cluster, s->dist, out, out_type);
    *status = 200;
}
