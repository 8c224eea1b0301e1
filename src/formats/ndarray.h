/*
 * ndarray.h - the MXNet NDArray-list file that SageMaker's built-in
 * algorithms write as model_algo-1 (kmeans-and-recordio.md §5.2).
 *
 * kiln writes exactly what the real container writes: one unnamed dense
 * float32 2-D array (magic V2). The reader is tolerant, as users bring
 * models from elsewhere: V1/V2/V3 and legacy headers, any device, dtypes
 * float32/64/16, (u)int8, int32/64 converted to float32, named lists (the
 * first array is taken). Sparse storage is rejected. Sizes are checked
 * against the bytes present before anything is allocated. Pure functions.
 */
#ifndef KILN_FORMATS_NDARRAY_H
#define KILN_FORMATS_NDARRAY_H

#include "base/buf.h"
#include "base/err.h"

/* Appends the file for a rows x cols float32 matrix. */
int ndarray_write(struct buf *out, const float *data, size_t rows, size_t cols);

/*
 * Reads the first array of an NDArray-list file as a 2-D float32 matrix
 * (a 1-D array is one row). *data is allocated (mem_free). KILN_EINVAL with
 * the reason for anything malformed.
 */
int ndarray_read(const uint8_t *p, size_t n, float **data, size_t *rows,
                 size_t *cols, struct kiln_diag *d);

#endif
