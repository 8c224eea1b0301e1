/*
 * libsvm.c - one pass that records raw indices, then the base is chosen
 * and the indices shifted.
 */
#include "formats/libsvm.h"

#include "base/mem.h"
#include "base/str.h"
#include "formats/csv.h"

void csr_release(struct csr *m)
{
    mem_free(m->row_ptr);
    mem_free(m->col);
    mem_free(m->val);
    mem_free(m->label);
    memset(m, 0, sizeof(*m));
}

void csr_reset(struct csr *m)
{
    if (!m->row_ptr) {
        m->row_ptr = xmalloc(sizeof(size_t));
        m->row_cap = 0;
    }
    m->rows = m->cols = m->nnz = 0;
    m->row_ptr[0] = 0;
}

/* Appends (col, val); grows both arrays together. */
void csr_push(struct csr *m, uint32_t col, float val)
{
    if (m->nnz == m->val_cap) {
        m->val_cap = m->val_cap ? 2 * m->val_cap : 256;
        m->col = xrealloc(m->col, m->val_cap * sizeof(uint32_t));
        m->val = xrealloc(m->val, m->val_cap * sizeof(float));
    }
    m->col[m->nnz] = col;
    m->val[m->nnz] = val;
    m->nnz++;
}

/* Starts a row with its label; grows labels and offsets together. */
void csr_begin_row(struct csr *m, float label)
{
    if (m->rows == m->row_cap) {
        m->row_cap = m->row_cap ? 2 * m->row_cap : 64;
        m->label = xrealloc(m->label, m->row_cap * sizeof(float));
        m->row_ptr = xrealloc(m->row_ptr, (m->row_cap + 1) * sizeof(size_t));
    }
    m->label[m->rows] = label;
}

void csr_end_row(struct csr *m)
{
    m->rows++;
    m->row_ptr[m->rows] = m->nnz;
}

int libsvm_parse(const char *text, size_t len, struct csr *m,
                 struct kiln_diag *d)
{
    const char *p = text, *end = text + len;
    size_t line = 0;
    uint64_t min_index = UINT64_MAX, max_index = 0;
    int rc = 0;

    memset(m, 0, sizeof(*m));
    csr_reset(m);
    while (p < end && !rc) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end, *ls = p, *q = p, *tok;
        line++;
        p = nl ? nl + 1 : end;
        const char *hash = memchr(q, '#', (size_t)(stop - q));
        if (hash)
            stop = hash;
        while (stop > q &&
               (stop[-1] == '\r' || stop[-1] == ' ' || stop[-1] == '\t'))
            stop--;
        while (q < stop && (*q == ' ' || *q == '\t'))
            q++;
        if (q == stop)
            continue;
        tok = q;
        while (q < stop && *q != ' ' && *q != '\t')
            q++;
        float label;
        if (csv_parse_float(tok, (size_t)(q - tok), false, &label) != 0) {
            rc = diag_set(d, KILN_EINVAL,
                          "line %zu, column %zu: the label '%.*s' is not a "
                          "number",
                          line, (size_t)(tok - ls) + 1,
                          (int)((q - tok) > 40 ? 40 : (q - tok)), tok);
            break;
        }
        csr_begin_row(m, label);
        for (;;) {
            while (q < stop && (*q == ' ' || *q == '\t'))
                q++;
            if (q == stop)
                break;
            tok = q;
            while (q < stop && *q != ' ' && *q != '\t')
                q++;
            const char *colon = memchr(tok, ':', (size_t)(q - tok));
            const char *ip = tok;
            uint64_t index = 0;
            float v;
            if (!colon || parse_u64(&ip, colon, UINT32_MAX - 1, &index) ||
                ip != colon ||
                csv_parse_float(colon + 1, (size_t)(q - colon - 1), false,
                                &v) != 0) {
                rc = diag_set(d, KILN_EINVAL,
                              "line %zu, column %zu: '%.*s' is not "
                              "index:value",
                              line, (size_t)(tok - ls) + 1,
                              (int)((q - tok) > 40 ? 40 : (q - tok)), tok);
                break;
            }
            csr_push(m, (uint32_t)index, v);
            if (index < min_index)
                min_index = index;
            if (index > max_index)
                max_index = index;
        }
        csr_end_row(m);
    }
    if (rc) {
        csr_release(m);
        return rc;
    }
    bool one_based = min_index != 0;
    if (one_based)
        for (size_t i = 0; i < m->nnz; i++)
            m->col[i]--;
    m->cols = m->nnz ? (size_t)(max_index + (one_based ? 0 : 1)) : 0;
    return 0;
}

int libsvm_write_row(struct buf *out, float label, const float *row, size_t dim)
{
    int rc = csv_format_float(out, label);
    for (size_t i = 0; i < dim && !rc; i++)
        if (row[i] != 0) {
            rc = buf_addf(out, " %zu:", i + 1);
            if (!rc)
                rc = csv_format_float(out, row[i]);
        }
    return rc ? rc : buf_addc(out, '\n');
}
