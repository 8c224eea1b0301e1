/*
 * dataset.h - training data as a stream of dense mini-batches, whatever
 * its format: the files of a channel (or one Pipe-mode FIFO) read in
 * order, in application/x-recordio-protobuf or text/csv, each row
 * checked against feature_dim. Sparse records are densified per batch.
 *
 * Errors name the file (relative to the channel) and the line or record,
 * in words a user understands: "feature_dim 784 does not match the 783
 * columns of train/part-0.csv, line 1". One owner, one thread.
 */
#ifndef KILN_FORMATS_DATASET_H
#define KILN_FORMATS_DATASET_H

#include "base/err.h"

enum content_type {
    CT_RECORDIO, /* application/x-recordio-protobuf */
    CT_CSV,      /* text/csv */
    CT_LIBSVM,   /* text/libsvm */
    CT_JSON,     /* application/json */
    CT_JSONLINES /* application/jsonlines */
};

/*
 * Parses a MIME type with parameters ("text/csv; label_size=1"). Sets *ct
 * and, for CSV, *label_size (default 0). KILN_EINVAL with SageMaker's
 * wording for anything else.
 */
int content_type_parse(const char *s, enum content_type *ct, size_t *label_size,
                       struct kiln_diag *d);

/* The MIME name of a content type. */
const char *content_type_name(enum content_type ct);

struct dataset;

/*
 * Opens the files paths[0..n) (copied) as one stream. `label` names the
 * channel for messages ("train"); `root` is stripped from paths in them.
 */
int dataset_open(const char *const *paths, size_t n, const char *root,
                 const char *label, enum content_type ct, size_t dim,
                 size_t label_size, struct dataset **out, struct kiln_diag *d);

/*
 * Pipe mode: the channel arrives as FIFOs <dir>/<channel>_0, _1, ...; the
 * stream reads _0 first and each dataset_rewind() moves to the next.
 */
int dataset_open_pipe(const char *dir, const char *channel,
                      enum content_type ct, size_t dim, size_t label_size,
                      struct dataset **out, struct kiln_diag *d);

/*
 * Reads up to max_rows rows into X (max_rows x dim) and, when labels is
 * not NULL, their first label (0 if none). *got is 0 at the end.
 */
int dataset_next(struct dataset *s, float *X, float *labels, size_t max_rows,
                 size_t *got, struct kiln_diag *d);

/* Starts again from the first file. */
int dataset_rewind(struct dataset *s, struct kiln_diag *d);

/* Rows returned since the last rewind. */
uint64_t dataset_rows(const struct dataset *s);

void dataset_close(struct dataset *s);

#endif
