/*
 * s3.h - the S3 REST API over the object store (api-contract.md §4).
 *
 * The front door calls s3_begin() once a request's headers are
 * authenticated, and s3_finish() when its body has been read. s3_begin()
 * decides the operation and either answers at once, or sets a body limit
 * (XML bodies), or installs a streaming sink that decodes aws-chunked
 * framing and writes the payload straight into a new blob while computing
 * its digests (PutObject, UploadPart), so no object is ever held in
 * memory. s3_finish() verifies what was received and commits it, or
 * answers the other operations. Errors are S3's XML errors. The per-request
 * state hangs off the request and is freed with it (s3_req_free). Any pool
 * thread.
 */
#ifndef KILN_S3_H
#define KILN_S3_H

#include "auth/auth.h"
#include "http/request.h"
#include "s3/objstore.h"

struct s3_ctx {
    struct meta *meta;      /* borrowed */
    struct objstore *store; /* borrowed */
    const char *region;     /* default bucket region */
    const char *domain;     /* virtual-hosted style: <bucket>.<domain> */
};

struct s3_req;

/*
 * Starts an authenticated S3 request. `ar` is the verified auth result
 * (for chunk signatures); `payload_hash` the signed payload hash token.
 * On return the request has either been answered or will be continued by
 * s3_finish(). *out receives the state to pass to s3_finish and to free
 * with s3_req_free.
 */
void s3_begin(const struct s3_ctx *s, struct http_request *r,
              const struct auth_result *ar, const char *payload_hash,
              struct s3_req **out);

/* Completes a request s3_begin() did not answer. */
void s3_finish(const struct s3_ctx *s, struct http_request *r,
               struct s3_req *q);

/* Answers a browser's CORS preflight (OPTIONS, never signed) from the
 * bucket's CORS rules (PutBucketCors): 200 with the Access-Control-*
 * headers, or 403 AccessForbidden. Answers to requests with an Origin
 * carry the headers of the rule that allows them. */
void s3_preflight(const struct s3_ctx *s, struct http_request *r);

/* Frees the state; aborts an unfinished upload. s3_req_free(NULL) is ok. */
void s3_req_free(struct s3_req *q);

/* S3's bucket-naming rules (3-63 chars, lower-case, not IP-shaped). */
bool s3_bucket_name_valid(const char *name);

/* Calls fn with the name of every S3 operation kiln serves (for
 * docs/api-coverage.md). */
void s3_op_each(void (*fn)(void *ctx, const char *name), void *ctx);

#endif
