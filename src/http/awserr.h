/*
 * awserr.h - answers a request with an AWS error in the shape its protocol's
 * clients parse (api-contract.md §1.3, §3.1, §4.7, §5).
 *
 *   KILN_PROTO_JSON   {"__type": Code, "message": m, "Message": m}
 *   KILN_PROTO_REST   the same plus the x-amzn-ErrorType header
 *   KILN_PROTO_S3     <Error><Code/><Message/><RequestId/>...</Error>
 *                     (no body for HEAD)
 *   KILN_PROTO_QUERY  <ErrorResponse><Error><Type/><Code/><Message/>...
 *
 * Status and code come from the error table (err.h); `message` is the text
 * for the client. Also adds the protocol's request-id headers. Any thread.
 */
#ifndef KILN_HTTP_AWSERR_H
#define KILN_HTTP_AWSERR_H

#include "base/err.h"
#include "http/request.h"

/* Responds with `code` in `proto`; extra (may be NULL) is appended inside
 * the S3 <Error> element verbatim (already-escaped XML). */
void awserr_respond(struct http_request *r, enum kiln_proto proto, int code,
                    const char *message, const char *extra_xml);

/* Adds x-amzn-RequestId (or the S3 pair) to a response. */
void awserr_request_id_headers(struct http_request *r, enum kiln_proto proto);

/* Appends s to out with XML's five special characters escaped, and CR and
 * LF as character references (S3's "XML related object key constraints"). */
int awserr_xml_escape(struct buf *out, const char *s);

#endif
