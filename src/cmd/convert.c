/*
 * convert.c - `kiln admin convert`: the seed's "convert the dataset to
 * RecordIO-protobuf" step without the Python SDK.
 *
 *   kiln admin convert --from csv|idx|recordio|libsvm
 *        --to recordio|csv|libsvm
 *        [--label-column N] [--labels IDX_LABELS] [--rows N] IN OUT
 *
 * Rows stream from the input to the output; only one row is held (IDX
 * files, being small and compressed, are read whole). With
 * --label-column 0 a CSV's first column becomes the float32 label, as the
 * SDK writes labels; a RecordIO label is written as the first CSV column.
 */
#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/str.h"
#include "cmd/cmd.h"
#include "formats/csv.h"
#include "formats/dataset.h"
#include "formats/idx.h"
#include "formats/libsvm.h"
#include "formats/record.h"
#include "formats/recordio.h"

enum fmt { F_CSV, F_IDX, F_RECORDIO, F_LIBSVM, F_BAD };

static enum fmt fmt_of(const char *s)
{
    if (!strcasecmp(s, "csv") || !strcasecmp(s, "text/csv"))
        return F_CSV;
    if (!strcasecmp(s, "idx"))
        return F_IDX;
    if (!strcasecmp(s, "recordio") ||
        !strcasecmp(s, "application/x-recordio-protobuf"))
        return F_RECORDIO;
    if (!strcasecmp(s, "libsvm") || !strcasecmp(s, "text/libsvm"))
        return F_LIBSVM;
    return F_BAD;
}

struct writer {
    enum fmt to;
    int fd;
    struct buf out;
    uint64_t rows;
    uint64_t max_rows; /* --rows; 0: all */
};

static int flush(struct writer *w, bool force, struct kiln_diag *d)
{
    if (!force && w->out.len < (1u << 20))
        return 0;
    if (w->out.len &&
        write(w->fd, w->out.data, w->out.len) != (ssize_t)w->out.len)
        return diag_set(d, KILN_EIO, "cannot write the output: %s",
                        strerror(errno));
    buf_reset(&w->out);
    return 0;
}

static int put_row(struct writer *w, const float *x, size_t dim,
                   const float *label, struct kiln_diag *d)
{
    int rc = 0;
    if (w->max_rows && w->rows >= w->max_rows)
        return KILN_CONTINUE; /* enough rows: stop reading */
    if (w->to == F_RECORDIO) {
        rc = record_write_dense(&w->out, x, dim, label);
    } else if (w->to == F_LIBSVM) {
        rc = libsvm_write_row(&w->out, label ? *label : 0, x, dim);
    } else {
        if (label) {
            csv_format_float(&w->out, *label);
            buf_addc(&w->out, ',');
        }
        for (size_t i = 0; i < dim && !rc; i++) {
            if (i)
                buf_addc(&w->out, ',');
            rc = csv_format_float(&w->out, x[i]);
        }
        if (!rc)
            rc = buf_addc(&w->out, '\n');
    }
    if (rc)
        return diag_set(d, rc, "cannot encode row %llu",
                        (unsigned long long)w->rows + 1);
    if (++w->rows % 100000 == 0)
        fprintf(stderr, "kiln convert: %llu rows\n",
                (unsigned long long)w->rows);
    return flush(w, false, d);
}

static int from_idx(struct writer *w, const char *in, const char *labels,
                    struct kiln_diag *d)
{
    struct idx x = {0}, y = {0};
    int rc = idx_read(in, 0, &x, d);
    if (!rc && labels) {
        rc = idx_read(labels, 0, &y, d);
        if (!rc && y.rows != x.rows)
            rc = diag_set(d, KILN_EDIM, "%s has %zu labels for %zu images",
                          labels, y.rows, x.rows);
    }
    for (size_t i = 0; !rc && i < x.rows; i++)
        rc = put_row(w, x.data + i * x.cols, x.cols, labels ? &y.data[i] : NULL,
                     d);
    idx_release(&x);
    idx_release(&y);
    return rc;
}

static int from_csv(struct writer *w, const char *in, long label_col,
                    struct kiln_diag *d)
{
    struct csv_reader r;
    size_t ncols = 0, dim;
    float *row = NULL, label;
    int fd = open(in, O_RDONLY | O_CLOEXEC), rc;

    if (fd < 0)
        return diag_set(d, KILN_EIO, "cannot open %s: %s", in, strerror(errno));
    csv_reader_init_fd(&r, fd);
    rc = csv_next(&r, NULL, 0, NULL, 0, &ncols, d);
    if (rc == KILN_CONTINUE)
        rc = diag_set(d, KILN_EINVAL, "%s has no rows", in);
    if (!rc && label_col > 0)
        rc = diag_set(d, KILN_EINVAL,
                      "--label-column must be 0 (the label comes first)");
    if (rc) {
        csv_reader_release(&r);
        close(fd);
        return rc;
    }
    /* Parse the first row again now that its width is known (this works
     * on pipes, which cannot be rewound). */
    csv_unread(&r);
    r.line--;
    dim = ncols - (label_col == 0 ? 1 : 0);
    row = xmalloc((dim ? dim : 1) * sizeof(float));
    while (
        !(rc = csv_next(&r, row, dim, &label, label_col == 0 ? 1 : 0, NULL, d)))
        if ((rc = put_row(w, row, dim, label_col == 0 ? &label : NULL, d)))
            break;
    if (rc == KILN_CONTINUE)
        rc = 0;
    csv_reader_release(&r);
    close(fd);
    mem_free(row);
    return rc;
}

static int from_libsvm(struct writer *w, const char *in, struct kiln_diag *d)
{
    struct buf text = BUF_INIT((size_t)4 << 30);
    char chunk[1 << 16];
    struct csr m;
    ssize_t n;
    int fd = open(in, O_RDONLY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return diag_set(d, KILN_EIO, "cannot open %s: %s", in, strerror(errno));
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        if (buf_add(&text, chunk, (size_t)n) != 0) {
            rc = diag_set(d, KILN_ETOOBIG, "%s is too large", in);
            break;
        }
    close(fd);
    if (!rc)
        rc = libsvm_parse(buf_cstr(&text), text.len, &m, d);
    buf_release(&text);
    if (rc)
        return rc;
    float *row = xcalloc(m.cols ? m.cols : 1, sizeof(float));
    for (size_t i = 0; i < m.rows && !rc; i++) {
        memset(row, 0, (m.cols ? m.cols : 1) * sizeof(float));
        for (size_t k = m.row_ptr[i]; k < m.row_ptr[i + 1]; k++)
            row[m.col[k]] = m.val[k];
        rc = put_row(w, row, m.cols, &m.label[i], d);
    }
    mem_free(row);
    csr_release(&m);
    return rc;
}

static int from_recordio(struct writer *w, const char *in, struct kiln_diag *d)
{
    struct recordio_reader r;
    struct record_ws *ws = record_ws_new();
    struct record_view v;
    const uint8_t *p;
    size_t n;
    float *row = NULL;
    size_t dim = 0;
    int fd = open(in, O_RDONLY | O_CLOEXEC), rc;

    if (fd < 0) {
        record_ws_free(ws);
        return diag_set(d, KILN_EIO, "cannot open %s: %s", in, strerror(errno));
    }
    recordio_reader_init_fd(&r, fd);
    while (!(rc = recordio_next(&r, &p, &n, d))) {
        rc = record_decode(ws, p, n, &v, d);
        if (rc)
            break;
        size_t width =
            v.features.nshape ? (size_t)v.features.shape[0] : v.features.n;
        if (!row) {
            dim = width;
            row = xmalloc((dim ? dim : 1) * sizeof(float));
        }
        rc = record_to_dense(&v.features, row, dim, d);
        if (!rc) {
            float label = v.label.n ? record_value(&v.label, 0) : 0;
            rc = put_row(w, row, dim, v.label.n ? &label : NULL, d);
        }
        if (rc)
            break;
    }
    if (rc == KILN_CONTINUE)
        rc = 0;
    recordio_reader_release(&r);
    record_ws_free(ws);
    close(fd);
    mem_free(row);
    return rc;
}

int cmd_convert(int argc, char **argv)
{
    struct kiln_diag d = {0};
    struct writer w = {.fd = -1, .out = BUF_INIT(64u << 20)};
    const char *from = NULL, *to = NULL, *labels = NULL, *in = NULL,
               *out = NULL;
    int64_t label_col = -1;
    int rc = 0;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--from") && v)
            from = argv[++i];
        else if (!strcmp(a, "--to") && v)
            to = argv[++i];
        else if (!strcmp(a, "--labels") && v)
            labels = argv[++i];
        else if (!strcmp(a, "--rows") && v) {
            int64_t n;
            if (parse_i64_str(argv[++i], 1, INT64_MAX, &n) != 0) {
                fprintf(stderr, "kiln convert: bad --rows\n");
                return 2;
            }
            w.max_rows = (uint64_t)n;
        } else if (!strcmp(a, "--label-column") && v) {
            if (parse_i64_str(argv[++i], 0, 1 << 20, &label_col) != 0) {
                fprintf(stderr, "kiln convert: bad --label-column\n");
                return 2;
            }
        } else if (a[0] != '-' && !in)
            in = a;
        else if (a[0] != '-' && !out)
            out = a;
        else {
            fprintf(stderr, "kiln convert: unknown argument '%s'\n", a);
            return 2;
        }
    }
    if (!from || !to || !in || !out || fmt_of(from) == F_BAD ||
        fmt_of(to) == F_BAD) {
        fprintf(stderr, "usage: kiln admin convert --from "
                        "csv|idx|recordio|libsvm --to recordio|csv|libsvm "
                        "[--label-column "
                        "0] [--labels IDX_LABELS] [--rows N] IN OUT\n");
        return 2;
    }
    w.to = fmt_of(to);
    if (w.to != F_RECORDIO && w.to != F_CSV && w.to != F_LIBSVM) {
        fprintf(stderr, "kiln convert: writing %s is not supported yet\n", to);
        return 2;
    }
    w.fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w.fd < 0) {
        fprintf(stderr, "kiln convert: cannot create %s: %s\n", out,
                strerror(errno));
        return 1;
    }
    switch (fmt_of(from)) {
    case F_IDX:
        rc = from_idx(&w, in, labels, &d);
        break;
    case F_CSV:
        rc = from_csv(&w, in, (long)label_col, &d);
        break;
    case F_RECORDIO:
        rc = from_recordio(&w, in, &d);
        break;
    case F_LIBSVM:
        rc = from_libsvm(&w, in, &d);
        break;
    default:
        rc = diag_set(&d, KILN_EINVAL, "reading %s is not supported yet", from);
    }
    if (rc == KILN_CONTINUE)
        rc = 0;
    if (!rc)
        rc = flush(&w, true, &d);
    close(w.fd);
    buf_release(&w.out);
    if (rc) {
        fprintf(stderr, "kiln convert: %s\n", d.msg);
        unlink(out);
        return 1;
    }
    fprintf(stderr, "kiln convert: wrote %llu rows to %s\n",
            (unsigned long long)w.rows, out);
    return 0;
}
