/*
 * sigv4.h - AWS Signature Version 4, server side (api-contract.md §6).
 *
 * Pure functions: parse the Authorization header or the presigned query
 * parameters into a struct sigv4_auth, build the canonical request from what
 * arrived on the wire, derive the signing key and compare signatures in
 * constant time. Nothing here looks up keys, reads clocks or touches the
 * network; the front door does that. No function keeps a pointer it was
 * given. Any thread may call these.
 *
 * Errors: KILN_EAUTHFORMAT for malformed input, KILN_EBADSIG for a signature
 * mismatch, KILN_ESKEW / KILN_EEXPIRED for time, KILN_ETOOBIG when a part is
 * longer than the limits below; the message goes into the diag.
 */
#ifndef KILN_SIGV4_H
#define KILN_SIGV4_H

#include "base/buf.h"
#include "base/err.h"
#include "base/kiln.h"
#include "http/request.h"

#define SIGV4_MAX_SKEW_SECONDS    900     /* 15 minutes either way */
#define SIGV4_MAX_EXPIRES_SECONDS 604800  /* 7 days, S3's presign limit */
#define SIGV4_MAX_CANONICAL_BYTES 1048576 /* canonical request cap */

/* What the client claims: parsed from the header or the query. */
struct sigv4_auth {
    char akid[129];            /* access key id */
    char date[9];              /* scope date, yyyymmdd */
    char region[64];           /* scope region, any value accepted */
    char service[32];          /* scope service: s3, sagemaker, sts, logs */
    char signed_headers[2048]; /* lower-case names joined by ';' */
    char signature[65];        /* 64 lower-case hex digits */
    char amz_date[17];         /* yyyymmddThhmmssZ, empty until known */
    int64_t expires;           /* presigned X-Amz-Expires, else -1 */
    bool presigned;            /* came from the query string */
};

/* The request as it arrived, for the canonical request. All borrowed. */
struct sigv4_input {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* raw path as received, without the query */
    const char *query;  /* raw query after '?', NULL or "" if none */
    bool s3;            /* S3's URI rule (decode once, re-encode) */
    const struct http_header *headers; /* names in any case */
    size_t nheaders;
    const char *payload_hash; /* hex SHA-256, UNSIGNED-PAYLOAD, STREAMING-... */
};

/*
 * Parses `AWS4-HMAC-SHA256 Credential=.../aws4_request, SignedHeaders=...,
 * Signature=...` into *out. Returns 0, or KILN_EAUTHFORMAT with the reason.
 */
int sigv4_parse_authorization(const char *value, struct sigv4_auth *out,
                              struct kiln_diag *d);

/*
 * Parses the X-Amz-* parameters of a presigned URL's raw query. Returns 0,
 * KILN_CONTINUE when the query holds no X-Amz-Algorithm (not presigned), or
 * KILN_EAUTHFORMAT.
 */
int sigv4_parse_presigned(const char *query, struct sigv4_auth *out,
                          struct kiln_diag *d);

/* Parses yyyymmddThhmmssZ into seconds since the epoch. */
int sigv4_parse_amz_date(const char *s, int64_t *epoch);

/* Formats seconds since the epoch as yyyymmddThhmmssZ (out: 17 bytes). */
void sigv4_format_amz_date(int64_t epoch, char out[17]);

/*
 * Checks a.amz_date against `now` (seconds): within the skew window, and for
 * presigned requests not past X-Amz-Expires. Also checks that the scope date
 * is the request date's day. Returns 0, KILN_ESKEW, KILN_EEXPIRED or
 * KILN_EAUTHFORMAT, with AWS's wording in the diag.
 */
int sigv4_check_time(const struct sigv4_auth *a, int64_t now,
                     struct kiln_diag *d);

/* Appends the canonical URI of a raw path (S3 rule or the others'). */
int sigv4_canonical_uri(const char *path, bool s3, struct buf *out);

/* Appends the canonical query; `presigned` leaves out X-Amz-Signature. */
int sigv4_canonical_query(const char *query, bool presigned, struct buf *out);

/* Builds the whole canonical request into `out`. */
int sigv4_canonical_request(const struct sigv4_input *in,
                            const struct sigv4_auth *a, struct buf *out,
                            struct kiln_diag *d);

/* Appends the string to sign for a canonical request. */
int sigv4_string_to_sign(const struct sigv4_auth *a, const char *creq,
                         size_t creq_len, struct buf *out);

/* kSigning = HMAC chain over "AWS4"+secret, date, region, service:
 * sigv4_derive_key() computes it, sigv4_signing_key() returns the calling
 * thread's cached copy when the inputs are those of its last call. */
void sigv4_derive_key(const char *secret, const char *date, const char *region,
                      const char *service, uint8_t key[32]);
void sigv4_signing_key(const char *secret, const char *date, const char *region,
                       const char *service, uint8_t key[32]);

/* hex(HMAC-SHA256(key, msg)) into hex[65]. */
void sigv4_hmac_hex(const uint8_t key[32], const char *msg, size_t n,
                    char hex[65]);

/* hex(SHA-256(data)) into hex[65]. */
void sigv4_sha256_hex(const void *data, size_t n, char hex[65]);

/*
 * Verifies the request's signature with `secret`. On success also writes
 * the signing key into key_out when not NULL (for chunk signatures).
 * Returns 0 or KILN_EBADSIG (or a build error) with the diag set.
 */
int sigv4_verify(const struct sigv4_input *in, const struct sigv4_auth *a,
                 const char *secret, uint8_t *key_out, struct kiln_diag *d);

/* Appends s[0..n) percent-encoded (RFC 3986 unreserved kept, '/' too
 * with keep_slash), upper-case hex: S3's key encoding. */
int sigv4_uri_encode(const char *s, size_t n, bool keep_slash, struct buf *out);

/* What a presigned URL grants. All borrowed. */
struct sigv4_presign_req {
    const char *method; /* "GET", "PUT" */
    const char *base;   /* "http://host:port", no trailing slash */
    const char *path;   /* encoded path, "/bucket/key" (sigv4_uri_encode) */
    const char *akid, *secret;
    const char *region, *service;
    int64_t now;     /* signing time, seconds since the epoch */
    int64_t expires; /* lifetime in seconds, 1..SIGV4_MAX_EXPIRES_SECONDS */
};

/*
 * Appends a SigV4 presigned URL (query signing, UNSIGNED-PAYLOAD, `host`
 * the one signed header) for p to out, the way boto3's
 * generate_presigned_url makes them. KILN_EINVAL for a bad base or
 * lifetime.
 */
int sigv4_presign(const struct sigv4_presign_req *p, struct buf *out,
                  struct kiln_diag *d);

#endif
