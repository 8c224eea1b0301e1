/*
 * cwrpc.h - CloudWatch over the protocols newer SDKs speak in place of
 * Query: AWS JSON 1.0 (POST / with X-Amz-Target
 * GraniteServiceVersion20100801.<Operation>, as the JavaScript SDK v3
 * sends it) and Smithy RPC v2 CBOR (POST
 * /service/GraniteServiceVersion20100801/operation/<Operation>, as
 * botocore sends it since CloudWatch moved to it). Both are "query
 * compatible": the error codes are Query's, also sent in the
 * x-amzn-query-error header.
 *
 * The request becomes the Query parameters cloudwatch_handle takes (lists
 * as .member.N, timestamps as ISO 8601) and its XML answer becomes JSON or
 * CBOR (timestamps as epoch seconds; CBOR's with tag 1). Any thread.
 */
#ifndef KILN_API_CWRPC_H
#define KILN_API_CWRPC_H

#include "api/dispatch.h"

#define CWRPC_SERVICE "GraniteServiceVersion20100801"

enum cwrpc_wire { CWRPC_JSON = 1, CWRPC_CBOR };

/* Runs `operation` with `body` (a JSON object or a CBOR map; empty is
 * {}), appending the answer to out: 0, or the error (KILN_ESERIAL for a
 * body that is not one) with the diag set. */
int cwrpc_handle(const struct api_ctx *c, enum cwrpc_wire wire,
                 const char *operation, const void *body, size_t len,
                 struct buf *out, struct kiln_diag *d);

/* The body of an error answer: {"__type": code, "message": message}. */
void cwrpc_error(enum cwrpc_wire wire, const char *code, const char *message,
                 struct buf *out);

#endif
