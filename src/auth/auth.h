/*
 * auth.h - authenticates an HTTP request with SigV4 (api-contract.md §6).
 *
 * Two steps, matching the front door's two phases. auth_begin(), when the
 * headers have arrived: find the credentials (Authorization header or
 * presigned query), look the key up through the caller's callback, check
 * the clock. auth_finish(), when the payload hash is known: rebuild the
 * canonical request and compare signatures. A request with no credentials
 * at all is reported as anonymous, not as an error; the caller decides.
 * The secret stays inside struct auth_result and is wiped by
 * auth_result_clear(). Any thread.
 */
#ifndef KILN_AUTH_H
#define KILN_AUTH_H

#include "auth/sigv4.h"
#include "http/request.h"

/* Looks up a key: fills secret, account and user; KILN_ENOTFOUND if none. */
typedef int (*auth_key_fn)(void *ctx, const char *akid, char secret[129],
                           char account[13], char user[65]);

struct auth_result {
    bool anonymous;     /* no credentials were sent */
    bool sigv2;         /* an S3 SigV2 presigned URL (then a.service is
                           "s3" and a.presigned is set) */
    int64_t v2_expires; /* its Expires */
    char v2_signature[64];
    bool parsed;         /* a.* is valid (even if a later step failed) */
    struct sigv4_auth a; /* what the client claims */
    char secret[129];
    char account[13];
    char user[65];
    uint8_t signing_key[32]; /* valid after auth_finish() */
};

/*
 * Parses credentials; when present, looks up the key and checks the time.
 * Returns 0 (see out->anonymous), KILN_EAUTHFORMAT, KILN_EBADKEY,
 * KILN_ESKEW or KILN_EEXPIRED with the message in d. out->parsed tells
 * whether out->a.service is known, so errors can be given in the right
 * protocol.
 */
int auth_begin(struct http_request *r, auth_key_fn lookup, void *ctx,
               int64_t now, struct auth_result *out, struct kiln_diag *d);

/*
 * Verifies the signature with the given payload hash (hex SHA-256 of the
 * body, or the S3 x-amz-content-sha256 token). `s3` selects S3's URI rule.
 * Returns 0 or KILN_EBADSIG / KILN_EAUTHFORMAT.
 */
int auth_finish(struct http_request *r, struct auth_result *ar, bool s3,
                const char *payload_hash, struct kiln_diag *d);

/* Wipes the secret and signing key. */
void auth_result_clear(struct auth_result *ar);

#endif
