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

#include "base/str.h"

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* "Wed, 01 Jan 2025 00:00:00 GMT" -> "20250101T000000Z"; 0 or -1. */
static int rfc1123_to_amz(const char *s, char out[17])
{
    int day, year, h, m, sec, mon = -1;
    char mname[4] = {0};
    const char *p = strchr(s, ',');

    if (!p)
        return -1;
    p++;
    while (*p == ' ')
        p++;
    if (strlen(p) < 24)
        return -1;
    for (int i = 0; i < 2; i++)
        if (p[i] < '0' || p[i] > '9')
            return -1;
    day = (p[0] - '0') * 10 + (p[1] - '0');
    memcpy(mname, p + 3, 3);
    for (int i = 0; i < 12; i++)
        if (strcmp(mname, months[i]) == 0)
            mon = i + 1;
    if (mon < 0)
        return -1;
    p += 7;
    for (int i = 0; i < 4; i++)
        if (p[i] < '0' || p[i] > '9')
            return -1;
    year = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10 +
           (p[3] - '0');
    p += 5;
    if (!(p[2] == ':' && p[5] == ':'))
        return -1;
    for (int i = 0; i < 8; i++)
        if (i != 2 && i != 5 && (p[i] < '0' || p[i] > '9'))
            return -1;
    h = (p[0] - '0') * 10 + (p[1] - '0');
    m = (p[3] - '0') * 10 + (p[4] - '0');
    sec = (p[6] - '0') * 10 + (p[7] - '0');
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%04d%02d%02dT%02d%02d%02dZ", year % 10000, mon,
             day % 100, h % 100, m % 100, sec % 100);
    if (strlen(tmp) != 16)
        return -1;
    memcpy(out, tmp, 17);
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
            out->anonymous = true;
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
