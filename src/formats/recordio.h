/*
 * recordio.h - MXNet/dmlc RecordIO framing (kmeans-and-recordio.md §7.1).
 *
 * A record is: magic 0xCED7230A (LE), a LE u32 whose bits 29-31 are a
 * continuation flag and bits 0-28 the length, the payload, zero padding to
 * 4 bytes. The reader verifies the magic, joins split records (flags 1, 2,
 * 3) with the magic re-inserted between the parts, skips padding and stops
 * cleanly at a record boundary; the writer always writes whole records
 * (flag 0), which every reader accepts.
 *
 * The reader streams from a file descriptor (a file or a Pipe-mode FIFO)
 * or walks a memory buffer, holding at most one record plus one read
 * window. It owns its buffers; payload pointers it returns stay valid until
 * the next call. One owner, one thread.
 */
#ifndef KILN_FORMATS_RECORDIO_H
#define KILN_FORMATS_RECORDIO_H

#include "base/buf.h"
#include "base/err.h"

#define RECORDIO_MAGIC      0xCED7230Au
#define RECORDIO_MAX_RECORD ((size_t)1 << 29)

struct recordio_reader {
    int fd;             /* -1 for a memory reader */
    const uint8_t *mem; /* memory reader's bytes */
    size_t mem_len;
    uint8_t *win; /* fd reader's window */
    size_t win_cap, win_start, win_end;
    bool eof;
    struct buf joined; /* a split record being joined */
    uint64_t offset;   /* stream offset of the next record (errors) */
    uint64_t records;  /* records returned so far */
    size_t max_record; /* limit on one record's length */
};

/* Reads from fd (borrowed; not closed). */
void recordio_reader_init_fd(struct recordio_reader *r, int fd);
/* Walks len bytes at mem (borrowed). */
void recordio_reader_init_mem(struct recordio_reader *r, const void *mem,
                              size_t len);
void recordio_reader_release(struct recordio_reader *r);

/*
 * The next record's payload. Returns 0 with *data and *len set, KILN_CONTINUE
 * at a clean end of input, or KILN_EINVAL (bad magic, truncated record,
 * bad flag sequence), KILN_ETOOBIG (record over max_record) or KILN_EIO.
 */
int recordio_next(struct recordio_reader *r, const uint8_t **data, size_t *len,
                  struct kiln_diag *d);

/* Appends one framed record (flag 0) holding payload[0..len). */
int recordio_write(struct buf *out, const void *payload, size_t len);

#endif
