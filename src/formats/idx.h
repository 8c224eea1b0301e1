/*
 * idx.h - the IDX files of MNIST and Fashion-MNIST (gzip-compressed or
 * not): unsigned-byte images become float32 in [0, 1], one row per image;
 * label files become one float per item. For demos, examples and tests
 * on Debian's dataset-fashion-mnist. Pure functions.
 */
#ifndef KILN_FORMATS_IDX_H
#define KILN_FORMATS_IDX_H

#include "base/err.h"

struct idx {
    size_t rows; /* items */
    size_t cols; /* values per item (28 x 28 = 784 for images; 1 labels) */
    float *data; /* rows x cols, owned (idx_release) */
};

/* Reads at most max_rows items (0: all). KILN_EINVAL/KILN_EIO on error. */
int idx_read(const char *path, size_t max_rows, struct idx *out,
             struct kiln_diag *d);
void idx_release(struct idx *x);

#endif
