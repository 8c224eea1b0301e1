/*
 * record.h - SageMaker's aialgs.data.Record (RecordIO-protobuf payloads),
 * decoded and encoded with protobuf-c from record.proto.
 *
 * Decoding unpacks into a per-reader arena (struct record_ws), so a
 * mini-batch of records costs no malloc per record; the views it returns
 * point into that arena and stay valid until the next decode. Features and
 * labels are read from the key "values" (any other single key is accepted
 * too); each may be a float32, float64 or int32 tensor, dense (no keys) or
 * sparse (keys + shape). Encoding writes framed records (recordio.h).
 * A struct record_ws has one owner; the encoders are pure.
 */
#ifndef KILN_FORMATS_RECORD_H
#define KILN_FORMATS_RECORD_H

#include "base/buf.h"
#include "base/err.h"
#include "formats/libsvm.h"
#include "formats/recordio.h"

enum record_dtype { RECORD_NONE, RECORD_F32, RECORD_F64, RECORD_I32 };

struct record_tensor {
    enum record_dtype type;
    size_t n;           /* number of values */
    const void *values; /* float, double or int32_t, by type */
    size_t nkeys;       /* 0 for dense */
    const uint64_t *keys;
    size_t nshape;
    const uint64_t *shape;
};

struct record_view {
    struct record_tensor features;
    struct record_tensor label;
};

struct record_ws;

struct record_ws *record_ws_new(void);
void record_ws_free(struct record_ws *ws);

/* Decodes one Record payload; KILN_EINVAL with the reason if malformed. */
int record_decode(struct record_ws *ws, const uint8_t *p, size_t n,
                  struct record_view *out, struct kiln_diag *d);

/* Value i of a tensor as float. */
float record_value(const struct record_tensor *t, size_t i);

/*
 * Writes a tensor as a dense row of width `dim` (zeros where a sparse
 * tensor has no key). KILN_EDIM when a dense tensor's length or a sparse
 * tensor's shape/keys do not fit `dim`.
 */
int record_to_dense(const struct record_tensor *t, float *row, size_t dim,
                    struct kiln_diag *d);

/*
 * Reads up to max_rows records from r into m as a CSR batch of width dim
 * (sparse rows keep their keys, dense rows their nonzeros; the label is
 * the first label value, 0 without one). m->rows is 0 at the end of input.
 * Errors as record_decode() and record_to_dense().
 */
int record_read_csr(struct recordio_reader *r, struct record_ws *ws, size_t dim,
                    size_t max_rows, struct csr *m, struct kiln_diag *d);

/* Appends one framed Record: dense features row[0..dim), optional label. */
int record_write_dense(struct buf *out, const float *row, size_t dim,
                       const float *label);

/* Appends one framed sparse Record: values at keys, shape [dim]. */
int record_write_sparse(struct buf *out, const float *values,
                        const uint64_t *keys, size_t n, uint64_t dim,
                        const float *label);

/* Appends one framed Record with no features and scalar float32 labels
 * names[i] = values[i] (inference responses). */
int record_write_labels(struct buf *out, const char *const *names,
                        const float *values, size_t n);

#endif
