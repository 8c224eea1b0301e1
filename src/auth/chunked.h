/*
 * chunked.h - decoder for S3's `aws-chunked` content encoding
 * (api-contract.md §4.5, §6.3).
 *
 * Bytes arrive in any split; chunked_feed() emits the payload bytes
 * through the caller's callback and, for the signed variants
 * (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]), verifies each chunk's
 * signature as it completes and the trailer signature at the end. Trailer
 * lines (x-amz-checksum-crc32:...) are kept for chunked_trailer().
 * chunked_finish() fails when the body ended before the final chunk and
 * its trailer. The framing never reaches the callback. Memory is bounded:
 * one line buffer and the trailers (64 KiB). One owner, one thread.
 */
#ifndef KILN_AUTH_CHUNKED_H
#define KILN_AUTH_CHUNKED_H

#include <openssl/evp.h>

#include "base/buf.h"
#include "base/err.h"

typedef int (*chunked_emit_fn)(void *ctx, const char *data, size_t len);

enum chunked_state {
    CHUNKED_SIZE,     /* reading "<hex>[;chunk-signature=<sig>]\r\n" */
    CHUNKED_DATA,     /* reading chunk bytes */
    CHUNKED_DATA_END, /* reading the "\r\n" after them */
    CHUNKED_TRAILER,  /* reading trailer lines up to an empty one */
    CHUNKED_DONE,
};

struct chunked {
    /* Signing context for the signed variants; see chunked_init. */
    bool sign;
    uint8_t key[32];
    char amz_date[17];
    char scope[160];
    char prev_sig[65];

    chunked_emit_fn emit;
    void *ctx;

    enum chunked_state state;
    char line[512];
    size_t line_len;
    uint64_t remaining;   /* bytes left in the current chunk */
    char chunk_sig[65];   /* signature the current chunk claims */
    EVP_MD_CTX *sha;      /* SHA-256 of the current chunk */
    struct buf trailers;  /* "name:value\n" lines, without the signature */
    char trailer_sig[65]; /* x-amz-trailer-signature, if sent */
    uint64_t decoded;     /* payload bytes emitted */
};

/*
 * Prepares a decoder. For signed variants pass sign = true, the request's
 * signing key, X-Amz-Date, the scope "yyyymmdd/region/service/aws4_request"
 * and the header signature (the seed); otherwise those may be NULL.
 */
void chunked_init(struct chunked *c, bool sign, const uint8_t *key,
                  const char *amz_date, const char *scope, const char *seed_sig,
                  chunked_emit_fn emit, void *ctx);
void chunked_release(struct chunked *c);

/*
 * Decodes more input. Returns 0, KILN_EINVAL for malformed framing,
 * KILN_EBADSIG for a chunk signature mismatch, or the callback's error.
 */
int chunked_feed(struct chunked *c, const char *data, size_t len,
                 struct kiln_diag *d);

/* Checks the body was complete (and the trailer signature). */
int chunked_finish(struct chunked *c, struct kiln_diag *d);

/* The value of trailer `name` (lower case), or NULL. Borrowed. */
const char *chunked_trailer(const struct chunked *c, const char *name,
                            char *out, size_t size);

#endif
