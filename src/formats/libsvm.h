/*
 * libsvm.h - text/libsvm rows ("label idx:val idx:val ...") into a CSR
 * matrix. Indices are 1-based unless one of them is 0 (then 0-based), the
 * rule XGBoost, and so SageMaker's XGBoost, uses to auto-detect. Lines may
 * end in CRLF; blank lines and '#' comments are skipped; errors name the
 * line and column. The caller owns the CSR (csr_release). Any thread.
 */
#ifndef KILN_FORMATS_LIBSVM_H
#define KILN_FORMATS_LIBSVM_H

#include "base/buf.h"
#include "base/err.h"

struct csr {
    size_t rows, cols, nnz;
    size_t *row_ptr; /* rows + 1 offsets into col/val */
    uint32_t *col;   /* 0-based column of each value */
    float *val;
    float *label;            /* one per row */
    size_t row_cap, val_cap; /* allocated rows and values */
};

/* Building a CSR row by row: csr_reset() empties m keeping its memory,
 * csr_begin_row() starts a row, csr_push() adds (col, val) to it and
 * csr_end_row() closes it. */
void csr_reset(struct csr *m);
void csr_begin_row(struct csr *m, float label);
void csr_push(struct csr *m, uint32_t col, float val);
void csr_end_row(struct csr *m);
void csr_release(struct csr *m);

/* Parses all of text into m (cols = largest index + 1, after the base is
 * decided). KILN_EINVAL with "line L, column C: ..." on bad input. */
int libsvm_parse(const char *text, size_t len, struct csr *m,
                 struct kiln_diag *d);

/* Appends one row in libsvm form (1-based indices, zeros skipped). */
int libsvm_write_row(struct buf *out, float label, const float *row,
                     size_t dim);

#endif
