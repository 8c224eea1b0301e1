/*
 * cors.h - S3's cross-origin resource sharing: a bucket's CORSRules
 * (PutBucketCors), matched against a browser's Origin, method and
 * headers, and the Access-Control-* headers of the answer.
 *
 * Rules are the JSON array s3xml_parse_cors() gives. An origin may have
 * one '*' wildcard, as may an allowed header; origins match as written,
 * headers and methods whatever their case. Any thread.
 */
#ifndef KILN_S3_CORS_H
#define KILN_S3_CORS_H

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "http/request.h"

/* Checks rules as PutBucketCors does: KILN_EBADREQUEST (InvalidRequest)
 * for a method S3 does not take or a second wildcard, KILN_ESERIAL for a
 * MaxAgeSeconds that is not a number. */
int cors_rules_check(json_t *rules, struct kiln_diag *d);

/* The first rule allowing origin to use method with every header in
 * `headers` (a comma-separated Access-Control-Request-Headers, or NULL),
 * or NULL. Borrowed from rules. */
json_t *cors_match(json_t *rules, const char *origin, const char *method,
                   const char *headers);

/* Adds the Access-Control-* headers of an answer that `rule` allows
 * (preflight: the allowed methods, the requested headers, the max age). */
void cors_headers(struct http_request *r, json_t *rule, const char *origin,
                  bool preflight, const char *headers);

#endif
