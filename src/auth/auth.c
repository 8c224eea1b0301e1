/*
 * auth.c - glue between a struct http_request and the pure SigV4 code.
 *
 * Time comes from X-Amz-Date (header or query), or from the Date header in
 * RFC 1123 form when X-Amz-Date is absent, as AWS allows.
 */
#include "auth/auth.h"

#include <openssl/crypto.h>
#include <strings.h>
#include <time.h>

#include "auth/sigv2.h"
#include "base/str.h"
#include "base/tm.h"

/* "Wed, 01 Jan 2025 00:00:00 GMT" -> "20250101T000000Z"; 0 or -1. */
static int rfc1123_to_amz(const char *s, char out[17])
{
    int64_t t;
    if (tm_parse_http(s, &t) != 0)
        return -1;
    sigv4_format_amz_date(t, out);
    return 0;
}

int auth_begin(struct http_request *r, auth_key_fn lookup, void *ctx,
               int64_t now, struct auth_result *out, struct kiln_diag *d)
{
    const char *authz = http_request_header(r, "Authorization");
    int rc;

    memset(out, 0, sizeof(*out));
    if (authz) {
        rc = sigv4_parse_authorization(authz, &out->a, d);
        if (rc)
            return rc;
        const char *date = http_request_header(r, "X-Amz-Date");
        if (date) {
            if (strlen(date) != 16)
                return diag_set(d, KILN_EAUTHFORMAT,
                                "X-Amz-Date must be in the ISO 8601 basic "
                                "format yyyyMMdd'T'HHmmss'Z'.");
            memcpy(out->a.amz_date, date, 17);
        } else {
            const char *h = http_request_header(r, "Date");
            if (!h || rfc1123_to_amz(h, out->a.amz_date) != 0)
                return diag_set(d, KILN_EAUTHFORMAT,
                                "Authorization header requires existence of "
                                "either a 'X-Amz-Date' or a 'Date' header.");
        }
    } else {
        rc = sigv4_parse_presigned(r->query, &out->a, d);
        if (rc == KILN_CONTINUE) {
            struct sigv2_query v2;
            rc = sigv2_parse_query(r->query, &v2, d);
            if (rc == KILN_CONTINUE) {
                out->anonymous = true;
                return 0;
            }
            if (rc)
                return rc;
            out->sigv2 = true;
            out->v2_expires = v2.expires;
            str_copy(out->v2_signature, v2.signature,
                     sizeof(out->v2_signature));
            str_copy(out->a.akid, v2.akid, sizeof(out->a.akid));
            str_copy(out->a.service, "s3", sizeof(out->a.service));
            out->a.presigned = true;
            out->parsed = true;
            str_copy(r->akid, out->a.akid, sizeof(r->akid));
            if (lookup(ctx, out->a.akid, out->secret, out->account,
                       out->user) != 0)
                return diag_set(d, KILN_EBADKEY,
                                "The AWS Access Key Id you provided does not "
                                "exist in our records.");
            if (now > v2.expires)
                return diag_set(d, KILN_EEXPIRED, "Request has expired");
            return 0;
        }
        if (rc)
            return rc;
    }
    out->parsed = true;
    str_copy(r->akid, out->a.akid, sizeof(r->akid));
    rc = lookup(ctx, out->a.akid, out->secret, out->account, out->user);
    if (rc)
        return diag_set(d, KILN_EBADKEY,
                        "The security token included in the request is "
                        "invalid.");
    return sigv4_check_time(&out->a, now, d);
}

int auth_finish(struct http_request *r, struct auth_result *ar, bool s3,
                const char *payload_hash, struct kiln_diag *d)
{
    if (ar->sigv2) {
        struct sigv2_query q = {.expires = ar->v2_expires};
        str_copy(q.akid, ar->a.akid, sizeof(q.akid));
        str_copy(q.signature, ar->v2_signature, sizeof(q.signature));
        return sigv2_verify(r->method, r->path, r->query, r->headers,
                            r->nheaders, &q, ar->secret, d);
    }
    struct sigv4_input in = {
        .method = r->method,
        .path = r->path,
        .query = r->query,
        .s3 = s3,
        .headers = r->headers,
        .nheaders = r->nheaders,
        .payload_hash = payload_hash,
    };
    return sigv4_verify(&in, &ar->a, ar->secret, ar->signing_key, d);
}

void auth_result_clear(struct auth_result *ar)
{
    OPENSSL_cleanse(ar->secret, sizeof(ar->secret));
    OPENSSL_cleanse(ar->signing_key, sizeof(ar->signing_key));
}
