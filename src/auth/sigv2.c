/*
 * sigv2.c - string to sign = METHOD \n Content-MD5 \n Content-Type \n
 * Expires \n canonical x-amz-* headers, then the resource: the path as
 * sent plus the sorted sub-resources with decoded values. Signature =
 * base64(HMAC-SHA1(secret, string to sign)).
 */
#include "auth/sigv2.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <strings.h>

#include "base/mem.h"
#include "base/str.h"

/* Query parameters that are part of the signed resource, sorted. */
static const char *const subresources[] = {"acl",
                                           "cors",
                                           "delete",
                                           "lifecycle",
                                           "location",
                                           "logging",
                                           "notification",
                                           "partNumber",
                                           "policy",
                                           "requestPayment",
                                           "response-cache-control",
                                           "response-content-disposition",
                                           "response-content-encoding",
                                           "response-content-language",
                                           "response-content-type",
                                           "response-expires",
                                           "restore",
                                           "tagging",
                                           "torrent",
                                           "uploadId",
                                           "uploads",
                                           "versionId",
                                           "versioning",
                                           "versions",
                                           "website"};

/* The decoded value of query parameter `name` into out; false if absent.
 * *has_value tells "name" from "name=". */
static bool qvalue(const char *query, const char *name, struct buf *out,
                   bool *has_value)
{
    const char *p = query ? query : "";
    size_t n = strlen(name);
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len >= n && strncmp(p, name, n) == 0 && (len == n || p[n] == '=')) {
            buf_reset(out);
            *has_value = len > n;
            if (len > n)
                str_url_decode(p + n + 1, len - n - 1, true, out);
            return true;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return false;
}

int sigv2_parse_query(const char *query, struct sigv2_query *out,
                      struct kiln_diag *d)
{
    struct buf v = BUF_INIT(4096);
    bool hv;
    int rc = KILN_CONTINUE;

    memset(out, 0, sizeof(*out));
    if (!qvalue(query, "AWSAccessKeyId", &v, &hv))
        goto out;
    str_copy(out->akid, buf_cstr(&v), sizeof(out->akid));
    if (!qvalue(query, "Signature", &v, &hv) ||
        v.len >= sizeof(out->signature)) {
        rc = diag_set(d, KILN_EAUTHFORMAT,
                      "Query-string authentication requires the Signature, "
                      "Expires and AWSAccessKeyId parameters");
        goto out;
    }
    str_copy(out->signature, buf_cstr(&v), sizeof(out->signature));
    if (!qvalue(query, "Expires", &v, &hv) ||
        parse_i64_str(buf_cstr(&v), 0, INT64_MAX / 2, &out->expires) != 0) {
        rc = diag_set(d, KILN_EAUTHFORMAT,
                      "Query-string authentication requires the Signature, "
                      "Expires and AWSAccessKeyId parameters");
        goto out;
    }
    rc = 0;
out:
    buf_release(&v);
    return rc;
}

static const char *header(const struct http_header *h, size_t nh,
                          const char *name)
{
    for (size_t i = 0; i < nh; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

static int cmp_lower(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sigv2_string_to_sign(const char *method, const char *path,
                         const char *query, const struct http_header *h,
                         size_t nh, int64_t expires, struct buf *out)
{
    const char *md5 = header(h, nh, "Content-MD5");
    const char *ct = header(h, nh, "Content-Type");
    char *amz[HTTP_MAX_HEADERS];
    size_t namz = 0;
    struct buf v = BUF_INIT(8192);
    bool first = true, hv;
    int rc;

    rc = buf_addf(out, "%s\n%s\n%s\n%lld\n", method, md5 ? md5 : "",
                  ct ? ct : "", (long long)expires);
    for (size_t i = 0; i < nh && namz < HTTP_MAX_HEADERS; i++) {
        if (strncasecmp(h[i].name, "x-amz-", 6) != 0)
            continue;
        struct buf line = BUF_INIT(8192);
        for (const char *c = h[i].name; *c; c++)
            buf_addc(&line, (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c));
        buf_addf(&line, ":%s", h[i].value);
        amz[namz++] = buf_detach(&line, NULL);
    }
    qsort(amz, namz, sizeof(*amz), cmp_lower);
    for (size_t i = 0; i < namz; i++) {
        if (!rc)
            rc = buf_addf(out, "%s\n", amz[i]);
        mem_free(amz[i]);
    }
    if (!rc)
        rc = buf_adds(out, path);
    for (size_t i = 0; i < KILN_ARRAY_LEN(subresources) && !rc; i++) {
        if (!qvalue(query, subresources[i], &v, &hv))
            continue;
        rc = buf_addf(out, "%c%s", first ? '?' : '&', subresources[i]);
        if (!rc && hv)
            rc = buf_addf(out, "=%s", buf_cstr(&v));
        first = false;
    }
    buf_release(&v);
    return rc;
}

int sigv2_verify(const char *method, const char *path, const char *query,
                 const struct http_header *h, size_t nh,
                 const struct sigv2_query *q, const char *secret,
                 struct kiln_diag *d)
{
    struct buf sts = BUF_INIT(1 << 20);
    uint8_t mac[20];
    unsigned int len = sizeof(mac);
    char b64[64];
    int rc = 0;

    if (sigv2_string_to_sign(method, path, query, h, nh, q->expires, &sts))
        rc = diag_set(d, KILN_EAUTHFORMAT, "The request is too large.");
    if (!rc) {
        HMAC(EVP_sha1(), secret, (int)strlen(secret),
             (const unsigned char *)buf_cstr(&sts), sts.len, mac, &len);
        EVP_EncodeBlock((unsigned char *)b64, mac, (int)len);
        if (strlen(b64) != strlen(q->signature) ||
            !str_equal_ct(b64, q->signature, strlen(b64)))
            rc = diag_set(d, KILN_EBADSIG,
                          "The request signature we calculated does not "
                          "match the signature you provided. Check your key "
                          "and signing method.");
    }
    buf_release(&sts);
    return rc;
}
