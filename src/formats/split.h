/*
 * split.h - batch transform's input splitter: cuts an S3 object into
 * records by SplitType and packs them into mini-batches (requests) by
 * BatchStrategy and MaxPayloadInMB, as SageMaker's batch transform does.
 *
 *   SPLIT_NONE      the whole object is one record
 *   SPLIT_LINE      a record per line; each is sent ending in '\n', blank
 *                   lines are skipped
 *   SPLIT_RECORDIO  a record per MXNet RecordIO record (a split record,
 *                   flags 1..3, is one), sent with its framing
 *   SPLIT_TFRECORD  a record per TFRecord (u64 length, CRC, data, CRC),
 *                   sent with its framing
 *
 * A mini-batch holds as many whole records as fit in max_payload bytes
 * (MultiRecord), or one (SingleRecord). A record larger than max_payload
 * is an error: SageMaker fails the job the same way. The input streams
 * from a file descriptor, gunzipped on the way for CompressionType Gzip;
 * memory is one read window and one record. One owner, one thread.
 */
#ifndef KILN_FORMATS_SPLIT_H
#define KILN_FORMATS_SPLIT_H

#include "base/buf.h"
#include "base/err.h"

enum split_type { SPLIT_NONE, SPLIT_LINE, SPLIT_RECORDIO, SPLIT_TFRECORD };

struct splitter {
    enum split_type type;
    bool single;        /* BatchStrategy SingleRecord */
    size_t max_payload; /* bytes in one mini-batch */
    int fd;
    void *gz; /* gzFile, for Gzip input; or NULL */
    uint8_t *win;
    size_t win_cap, start, end;
    bool eof;
    struct buf rec;  /* the record read last */
    bool held;       /* rec did not fit in the previous mini-batch */
    uint64_t offset; /* input offset of the next record (errors) */
};

/* SageMaker's SplitType name ("None", "Line", "RecordIO", "TFRecord"):
 * 0, or KILN_EINVAL. */
int split_type_parse(const char *name, enum split_type *out);

/* Reads fd (borrowed, not closed; gzip when `gzip`). */
int splitter_init(struct splitter *s, int fd, bool gzip, enum split_type type,
                  bool single, size_t max_payload, struct kiln_diag *d);
void splitter_release(struct splitter *s);

/*
 * The next mini-batch, in `out` (emptied first), with the number of its
 * records in *records. 0, KILN_CONTINUE at the end of the input, or
 * KILN_ETOOBIG (a record over max_payload), KILN_EINVAL (bad framing),
 * KILN_EIO, with the message in d.
 */
int splitter_next(struct splitter *s, struct buf *out, size_t *records,
                  struct kiln_diag *d);

#endif
