/*
 * objstore.h - kiln's object store engine: immutable blob files named by
 * id under <data-dir>/objects, indexed by the metadata store.
 *
 * A write streams into an unnamed file (O_TMPFILE) in objects/<id[0..2]>/
 * while the digests S3 needs are computed, then objstore_writer_commit()
 * fsyncs it and links it as objects/<id[0..2]>/<id> (where the file
 * system has no O_TMPFILE: a named objects/tmp/<id>, renamed). Only after
 * that does the caller commit the index row, so a crash leaves either the
 * old object or the new one, and objstore_open() sweeps temp files and
 * blobs no row references. Blobs
 * are never modified: a copy is a hard link, an overwrite a new blob.
 * Readers open the blob file; an unlinked blob stays readable through an
 * open descriptor. Any thread; a writer has one owner.
 *
 * The one file written in place is a multipart upload's assembly: its
 * parts go straight to their final places in it, so that completing the
 * upload turns the file into the object without copying (see
 * objstore_part_open). It is immutable from then on, like any blob.
 */
#ifndef KILN_S3_OBJSTORE_H
#define KILN_S3_OBJSTORE_H

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/err.h"
#include "meta/meta.h"

struct objstore;
struct objstore_asm;

/* Digests a writer computes besides MD5 (always, unless told not to:
 * a multipart object's ETag comes from its parts' MD5s). */
enum objstore_digest {
    OBJSTORE_SHA256 = 1 << 0,
    OBJSTORE_SHA1 = 1 << 1,
    OBJSTORE_CRC32 = 1 << 2,
    OBJSTORE_CRC32C = 1 << 3,
    OBJSTORE_NO_MD5 = 1 << 4,
};

struct objstore_writer {
    char id[META_BLOB_ID];
    int fd;
    uint64_t size;
    /* Bytes not yet written go to blocks of a megabyte (small writes
     * cost far more per byte). Once the object outgrows one block, a
     * thread of the writer's own digests the full blocks and, where the
     * file system takes direct I/O, another writes them straight to disk
     * (struct objstore_pipe): hashing, writing and receiving overlap. */
    uint8_t *blocks[4];
    unsigned cur; /* the block being filled */
    size_t npend; /* bytes in it */
    struct objstore_pipe *pipe;
    bool direct;     /* blocks go to the file with direct I/O */
    bool unnamed;    /* fd is an O_TMPFILE inode, named at commit */
    uint64_t filed;  /* bytes written (or handed to be written) */
    uint64_t queued; /* bytes handed to writeback (see flush_pending) */
    unsigned digests;
    EVP_MD_CTX *md5, *sha256, *sha1;
    uint32_t crc32, crc32c;
    /* Results, valid after objstore_writer_commit(). */
    uint8_t md5_out[16], sha256_out[32], sha1_out[20];
    /* A part written in place in its upload's assembly file: at base,
     * at most limit bytes, range `part` claimed in `as`. */
    struct objstore_asm *as;
    int part;
    uint64_t base, limit;
};

/* The smallest part whose size sets an assembly's part size (S3's
 * minimum for every part but the last). */
#define OBJSTORE_MIN_STRIDE ((uint64_t)5 << 20)

int objstore_open(const char *data_dir, struct meta *m, struct objstore **out,
                  struct kiln_diag *d);
void objstore_close(struct objstore *s);

/* Starts a new blob. On failure nothing is left behind. */
int objstore_writer_open(struct objstore *s, unsigned digests,
                         struct objstore_writer *w, struct kiln_diag *d);
int objstore_writer_write(struct objstore_writer *w, const void *data,
                          size_t len, struct kiln_diag *d);
/* Appends bytes [off, off+len) of blob `id`, read and digested. */
int objstore_writer_append_blob(struct objstore *s, struct objstore_writer *w,
                                const char *id, uint64_t off, uint64_t len,
                                struct kiln_diag *d);
/* The same from a blob already open (fd): what was opened is what is
 * copied, even if its object is overwritten meanwhile. */
int objstore_writer_append_fd(struct objstore_writer *w, int fd, uint64_t off,
                              uint64_t len, struct kiln_diag *d);
/* Makes the blob durable under its id; the writer is released. */
int objstore_writer_commit(struct objstore *s, struct objstore_writer *w,
                           struct kiln_diag *d);
/* Drops an unfinished blob; safe after a failed commit or twice. */
void objstore_writer_abort(struct objstore *s, struct objstore_writer *w);
/*
 * After a successful commit, once the index row is stored (kept) or not:
 * kept removes `replaced` (the blob of the part the row replaced, "" or
 * NULL for none) unless an upload still assembles parts in it; not kept
 * drops what was written (a part's range in its assembly is free again).
 */
void objstore_writer_settle(struct objstore *s, struct objstore_writer *w,
                            bool kept, const char *replaced);

/*
 * Parts of multipart uploads. Part n of `upload`, of the declared `size`,
 * goes in place into the upload's assembly file at (n-1) x stride, the
 * stride being the size of the first part of at least OBJSTORE_MIN_STRIDE
 * bytes, so that parts 1..n completed in order already are the object.
 * A part that does not fit (size unknown or over the stride, its range
 * taken by an earlier upload of the same number, the upload completing)
 * gets a blob of its own, as objstore_writer_open gives. Either way,
 * objstore_writer_settle follows a successful commit.
 */
int objstore_part_open(struct objstore *s, const char *upload, int number,
                       uint64_t size, unsigned digests,
                       struct objstore_writer *w, struct kiln_diag *d);
/*
 * Completing: objstore_upload_close stops placing parts of `upload` (a
 * late part gets a blob of its own) and waits, a few seconds at most, for
 * those in flight. True when none is left: then the part rows read next
 * are final and no writer is in a file about to become an object; false:
 * the parts must be copied. objstore_upload_reopen
 * undoes it when the completion fails; objstore_upload_end forgets the
 * upload once completed or aborted and removes its assembly unless it is
 * `kept` (it became the object).
 */
bool objstore_upload_close(struct objstore *s, const char *upload);
void objstore_upload_reopen(struct objstore *s, const char *upload);
void objstore_upload_end(struct objstore *s, const char *upload,
                         const char *kept);
/* Cuts blob `id` to `size` bytes (what lies beyond is no part's) and makes
 * it durable; KILN_EIO if it is shorter. */
int objstore_blob_seal(struct objstore *s, const char *id, uint64_t size,
                       struct kiln_diag *d);

/* Opens blob `id` for reading (O_CLOEXEC); KILN_ENOTFOUND if missing. */
int objstore_blob_open(struct objstore *s, const char *id, int *fd);
/* A new blob id that is a hard link to blob `id`; KILN_CONTINUE when `id`
 * is gone (its object was overwritten or deleted meanwhile: look it up
 * again). */
int objstore_blob_link(struct objstore *s, const char *id,
                       char new_id[META_BLOB_ID], struct kiln_diag *d);
/* Removes a blob file (after its index row is gone); "" is a no-op. */
void objstore_blob_unlink(struct objstore *s, const char *id);

/*
 * The rest of kiln's access to objects (training channels, model upload):
 * objstore_put_path() stores a local file as bucket/key (durable, indexed,
 * replacing any old version), objstore_put_data() the same from memory;
 * objstore_link_object() makes `dest` a hard
 * link to the object's blob (a copy if links are impossible), so a job's
 * channel costs no copy; a file already at `dest` is replaced, not
 * written. Bucket ownership is the caller's business.
 * KILN_ENOBUCKET, KILN_ENOTFOUND, KILN_EIO.
 */
int objstore_put_path(struct objstore *s, const char *bucket, const char *key,
                      const char *path, const char *content_type,
                      struct kiln_diag *d);
int objstore_put_data(struct objstore *s, const char *bucket, const char *key,
                      const void *data, size_t len, const char *content_type,
                      struct kiln_diag *d);
int objstore_link_object(struct objstore *s, const char *bucket,
                         const char *key, const char *dest,
                         struct kiln_diag *d);

/* Splits "s3://bucket/key" into bucket (at most bsize - 1 bytes) and
 * the key after the bucket's slash ("" if none); KILN_EINVAL. */
int objstore_uri_split(const char *uri, char *bucket, size_t bsize,
                       const char **key);

/* Opens the current version of bucket/key for reading; KILN_ENOTFOUND. */
int objstore_open_object(struct objstore *s, const char *bucket,
                         const char *key, int *fd, struct kiln_diag *d);

/* Removes bucket/key and its blob if present (0 either way), or KILN_EIO
 * (nothing removed). */
int objstore_delete_object(struct objstore *s, const char *bucket,
                           const char *key);

/* Appends the path of blob `id`. */
void objstore_blob_path(struct objstore *s, const char *id, struct buf *out);

#endif
