/*
 * sigv2.h - S3's legacy query-string authentication (SigV2 presigned URLs:
 * AWSAccessKeyId, Expires, Signature), which boto3's generate_presigned_url
 * and the aws CLI v1 still produce by default (api-contract.md §4.6).
 * Pure functions; any thread. Header-signed SigV2 is not accepted.
 */
#ifndef KILN_SIGV2_H
#define KILN_SIGV2_H

#include "base/buf.h"
#include "base/err.h"
#include "http/request.h"

struct sigv2_query {
    char akid[129];
    char signature[64]; /* base64, decoded from the query */
    int64_t expires;    /* epoch seconds */
};

/* Parses the query; KILN_CONTINUE when it is not a SigV2 presigned URL. */
int sigv2_parse_query(const char *query, struct sigv2_query *out,
                      struct kiln_diag *d);

/* Appends the string to sign for a request carrying a SigV2 query. */
int sigv2_string_to_sign(const char *method, const char *path,
                         const char *query, const struct http_header *h,
                         size_t nh, int64_t expires, struct buf *out);

/* Verifies `q` with `secret`; 0 or KILN_EBADSIG. */
int sigv2_verify(const char *method, const char *path, const char *query,
                 const struct http_header *h, size_t nh,
                 const struct sigv2_query *q, const char *secret,
                 struct kiln_diag *d);

#endif
