/*
 * sigv4.c - builds the canonical request exactly as api-contract.md §6.1
 * describes and compares signatures.
 *
 * The work per request is a few small string passes, two SHA-256s and one
 * HMAC: the signing key (four more HMACs) is cached per thread. Every
 * intermediate string lives in a capped struct buf, so hostile input can
 * make verification fail but never grow memory without bound.
 */
#include "auth/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <strings.h>
#include <time.h>

#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"

#define ALGORITHM    "AWS4-HMAC-SHA256"
#define MAX_PARAMS   1000
#define MAX_PARTS_SZ 8192

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

int sigv4_uri_encode(const char *s, size_t n, bool keep_slash, struct buf *out)
{
    static const char digits[] = "0123456789ABCDEF";
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            rc = buf_addc(out, (char)c);
        } else {
            char e[3] = {'%', digits[c >> 4], digits[c & 15]};
            rc = buf_add(out, e, 3);
        }
    }
    return rc;
}

/* Splits "akid/date/region/service/aws4_request" into a. */
static int parse_credential(const char *cred, size_t n, struct sigv4_auth *a,
                            struct kiln_diag *d)
{
    const char *end = cred + n, *p = cred;
    struct {
        char *dst;
        size_t size;
    } parts[] = {
        {a->akid, sizeof(a->akid)},
        {a->date, sizeof(a->date)},
        {a->region, sizeof(a->region)},
        {a->service, sizeof(a->service)},
        {NULL, 0},
    };

    for (size_t i = 0; i < KILN_ARRAY_LEN(parts); i++) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash ? slash : end;
        size_t len = (size_t)(stop - p);
        bool last = i == KILN_ARRAY_LEN(parts) - 1;

        if (last != (slash == NULL) || len == 0)
            goto bad;
        if (last) {
            if (len != 12 || memcmp(p, "aws4_request", 12) != 0)
                goto bad;
            break;
        }
        if (len >= parts[i].size)
            goto bad;
        memcpy(parts[i].dst, p, len);
        parts[i].dst[len] = '\0';
        p = stop + 1;
    }
    if (strlen(a->date) != 8)
        goto bad;
    return 0;
bad:
    return diag_set(d, KILN_EAUTHFORMAT,
                    "Credential should be scoped to a valid region, and to "
                    "the form <key>/<yyyymmdd>/<region>/<service>/"
                    "aws4_request.");
}

static bool is_hex64(const char *s, size_t n)
{
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void auth_reset(struct sigv4_auth *a)
{
    memset(a, 0, sizeof(*a));
    a->expires = -1;
}

int sigv4_parse_authorization(const char *value, struct sigv4_auth *out,
                              struct kiln_diag *d)
{
    struct sigv4_auth a;
    const char *p = value;
    bool have_cred = false, have_sh = false, have_sig = false;
    int rc;

    auth_reset(&a);
    if (!str_starts(p, ALGORITHM) ||
        (p[strlen(ALGORITHM)] != ' ' && p[strlen(ALGORITHM)] != '\t'))
        return diag_set(d, KILN_EAUTHFORMAT,
                        "Authorization header must use the "
                        "AWS4-HMAC-SHA256 algorithm.");
    p += strlen(ALGORITHM);
    while (*p) {
        const char *comma, *eq;
        size_t len;

        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        comma = strchr(p, ',');
        len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        eq = memchr(p, '=', len);
        if (!eq)
            return diag_set(d, KILN_EAUTHFORMAT,
                            "Authorization header has a part without '='.");
        size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
        const char *v = eq + 1;
        if (klen == 10 && memcmp(p, "Credential", 10) == 0) {
            rc = parse_credential(v, vlen, &a, d);
            if (rc)
                return rc;
            have_cred = true;
        } else if (klen == 13 && memcmp(p, "SignedHeaders", 13) == 0) {
            if (vlen == 0 || vlen >= sizeof(a.signed_headers))
                return diag_set(d, KILN_EAUTHFORMAT,
                                "SignedHeaders is empty or too long.");
            memcpy(a.signed_headers, v, vlen);
            a.signed_headers[vlen] = '\0';
            have_sh = true;
        } else if (klen == 9 && memcmp(p, "Signature", 9) == 0) {
            if (!is_hex64(v, vlen))
                return diag_set(d, KILN_EAUTHFORMAT,
                                "Signature must be 64 lower-case hex "
                                "digits.");
            memcpy(a.signature, v, 64);
            a.signature[64] = '\0';
            have_sig = true;
        }
        p += comma ? (size_t)(comma - p) : strlen(p);
    }
    if (!have_cred)
        return diag_set(d, KILN_EAUTHFORMAT,
                        "Authorization header requires 'Credential' "
                        "parameter.");
    if (!have_sh)
        return diag_set(d, KILN_EAUTHFORMAT,
                        "Authorization header requires 'SignedHeaders' "
                        "parameter.");
    if (!have_sig)
        return diag_set(d, KILN_EAUTHFORMAT,
                        "Authorization header requires 'Signature' "
                        "parameter.");
    *out = a;
    return 0;
}

/* Calls fn for each name=value item of a raw query, decoded. */
typedef int (*param_fn)(void *ctx, const struct buf *name,
                        const struct buf *value);

static int each_param(const char *query, param_fn fn, void *ctx)
{
    struct buf name = BUF_INIT(MAX_PARTS_SZ), value = BUF_INIT(MAX_PARTS_SZ);
    const char *p = query ? query : "";
    int rc = 0, count = 0;

    while (*p && rc == 0) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq ? (size_t)(eq - p) : len;

        if (len > 0) {
            if (++count > MAX_PARAMS) {
                rc = KILN_ETOOBIG;
                break;
            }
            buf_reset(&name);
            buf_reset(&value);
            rc = str_url_decode(p, nlen, true, &name);
            if (!rc && eq)
                rc = str_url_decode(eq + 1, len - nlen - 1, true, &value);
            if (!rc)
                rc = fn(ctx, &name, &value);
        }
        p += len;
        if (*p == '&')
            p++;
    }
    buf_release(&name);
    buf_release(&value);
    return rc;
}

struct presign_ctx {
    struct sigv4_auth *a;
    struct kiln_diag *d;
    bool algo, cred, date, sh, sig;
};

static int copy_field(char *dst, size_t size, const struct buf *v)
{
    if (v->len == 0 || v->len >= size)
        return KILN_EAUTHFORMAT;
    memcpy(dst, v->data, v->len + 1);
    return 0;
}

static int presign_param(void *vctx, const struct buf *name,
                         const struct buf *value)
{
    struct presign_ctx *c = vctx;
    const char *n = buf_cstr(name), *v = buf_cstr(value);
    int rc = 0;

    if (strcmp(n, "X-Amz-Algorithm") == 0) {
        if (strcmp(v, ALGORITHM) != 0)
            return diag_set(c->d, KILN_EAUTHFORMAT,
                            "X-Amz-Algorithm only supports "
                            "\"AWS4-HMAC-SHA256\"");
        c->algo = true;
    } else if (strcmp(n, "X-Amz-Credential") == 0) {
        rc = parse_credential(v, value->len, c->a, c->d);
        c->cred = rc == 0;
    } else if (strcmp(n, "X-Amz-Date") == 0) {
        rc = copy_field(c->a->amz_date, sizeof(c->a->amz_date), value);
        c->date = rc == 0;
    } else if (strcmp(n, "X-Amz-Expires") == 0) {
        int64_t e;
        if (parse_i64_str(v, 0, SIGV4_MAX_EXPIRES_SECONDS, &e) != 0)
            return diag_set(c->d, KILN_EAUTHFORMAT,
                            "X-Amz-Expires must be a number of seconds from "
                            "0 to 604800 (7 days).");
        c->a->expires = e;
    } else if (strcmp(n, "X-Amz-SignedHeaders") == 0) {
        rc = copy_field(c->a->signed_headers, sizeof(c->a->signed_headers),
                        value);
        c->sh = rc == 0;
    } else if (strcmp(n, "X-Amz-Signature") == 0) {
        if (!is_hex64(v, value->len))
            return diag_set(c->d, KILN_EAUTHFORMAT,
                            "X-Amz-Signature must be 64 lower-case hex "
                            "digits.");
        memcpy(c->a->signature, v, 65);
        c->sig = true;
    }
    if (rc && c->d && c->d->code == 0)
        diag_set(c->d, KILN_EAUTHFORMAT, "Malformed presigned parameter %s.",
                 n);
    return rc;
}

int sigv4_parse_presigned(const char *query, struct sigv4_auth *out,
                          struct kiln_diag *d)
{
    struct sigv4_auth a;
    struct presign_ctx c = {.a = &a, .d = d};
    int rc;

    if (!query || !strstr(query, "X-Amz-Algorithm="))
        return KILN_CONTINUE;
    auth_reset(&a);
    rc = each_param(query, presign_param, &c);
    if (rc == KILN_ETOOBIG)
        return diag_set(d, KILN_EAUTHFORMAT, "Too many query parameters.");
    if (rc)
        return rc;
    if (!c.algo)
        return KILN_CONTINUE;
    if (!(c.cred && c.date && c.sh && c.sig))
        return diag_set(d, KILN_EAUTHFORMAT,
                        "Query-string authentication requires the "
                        "X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
                        "X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires "
                        "parameters.");
    a.presigned = true;
    *out = a;
    return 0;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int sigv4_parse_amz_date(const char *s, int64_t *epoch)
{
    int y, mo, dd, h, mi, se;

    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
        return KILN_EINVAL;
    y = digits(s, 4);
    mo = digits(s + 4, 2);
    dd = digits(s + 6, 2);
    h = digits(s + 9, 2);
    mi = digits(s + 11, 2);
    se = digits(s + 13, 2);
    if (y < 1970 || mo < 1 || mo > 12 || dd < 1 || dd > 31 || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || se < 0 || se > 60)
        return KILN_EINVAL;
    *epoch = tm_days_from_civil(y, (unsigned)mo, (unsigned)dd) * 86400 +
             h * 3600 + mi * 60 + se;
    return 0;
}

void sigv4_format_amz_date(int64_t epoch, char out[17])
{
    time_t t = (time_t)epoch;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

int sigv4_check_time(const struct sigv4_auth *a, int64_t now,
                     struct kiln_diag *d)
{
    int64_t t;
    char lo[17], hi[17], nw[17];

    if (sigv4_parse_amz_date(a->amz_date, &t) != 0)
        return diag_set(d, KILN_EAUTHFORMAT,
                        "X-Amz-Date must be in the ISO 8601 basic format "
                        "yyyyMMdd'T'HHmmss'Z'.");
    if (memcmp(a->date, a->amz_date, 8) != 0)
        return diag_set(d, KILN_EAUTHFORMAT,
                        "Date in Credential scope does not match YYYYMMDD "
                        "from ISO-8601 version of date from HTTP: '%s' != "
                        "'%.8s'",
                        a->date, a->amz_date);
    sigv4_format_amz_date(now, nw);
    if (a->presigned) {
        if (t > now + SIGV4_MAX_SKEW_SECONDS)
            return diag_set(d, KILN_ESKEW,
                            "Request is not yet valid: %s is later than now "
                            "(%s) + 15 min.",
                            a->amz_date, nw);
        if (a->expires >= 0 && now > t + a->expires)
            return diag_set(d, KILN_EEXPIRED, "Request has expired");
        return 0;
    }
    if (t < now - SIGV4_MAX_SKEW_SECONDS) {
        sigv4_format_amz_date(now - SIGV4_MAX_SKEW_SECONDS, lo);
        return diag_set(d, KILN_ESKEW,
                        "Signature expired: %s is now earlier than %s (%s - "
                        "15 min.)",
                        a->amz_date, lo, nw);
    }
    if (t > now + SIGV4_MAX_SKEW_SECONDS) {
        sigv4_format_amz_date(now + SIGV4_MAX_SKEW_SECONDS, hi);
        return diag_set(d, KILN_ESKEW,
                        "Signature not yet current: %s is still later than "
                        "%s (%s + 15 min.)",
                        a->amz_date, hi, nw);
    }
    return 0;
}

int sigv4_canonical_uri(const char *path, bool s3, struct buf *out)
{
    struct buf dec = BUF_INIT(SIGV4_MAX_CANONICAL_BYTES);
    int rc;

    if (!path || !*path)
        return buf_addc(out, '/');
    if (!s3)
        return sigv4_uri_encode(path, strlen(path), true, out);
    rc = str_url_decode(path, strlen(path), false, &dec);
    if (!rc)
        rc = sigv4_uri_encode(dec.data ? dec.data : "", dec.len, true, out);
    buf_release(&dec);
    return rc;
}

struct qparam {
    char *name;  /* encoded */
    char *value; /* encoded */
};

struct qlist {
    struct qparam *items;
    size_t n;
    bool presigned;
};

static int collect_param(void *vctx, const struct buf *name,
                         const struct buf *value)
{
    struct qlist *q = vctx;
    struct buf n = BUF_INIT(3 * MAX_PARTS_SZ), v = BUF_INIT(3 * MAX_PARTS_SZ);
    int rc;

    if (q->presigned && strcmp(buf_cstr(name), "X-Amz-Signature") == 0)
        return 0;
    rc = sigv4_uri_encode(buf_cstr(name), name->len, false, &n);
    if (!rc)
        rc = sigv4_uri_encode(buf_cstr(value), value->len, false, &v);
    if (rc) {
        buf_release(&n);
        buf_release(&v);
        return rc;
    }
    q->items[q->n].name = buf_detach(&n, NULL);
    q->items[q->n].value = buf_detach(&v, NULL);
    q->n++;
    return 0;
}

static int qparam_cmp(const void *x, const void *y)
{
    const struct qparam *a = x, *b = y;
    int c = strcmp(a->name, b->name);
    return c ? c : strcmp(a->value, b->value);
}

int sigv4_canonical_query(const char *query, bool presigned, struct buf *out)
{
    struct qlist q = {.presigned = presigned};
    int rc;

    q.items = xcalloc(MAX_PARAMS, sizeof(*q.items));
    rc = each_param(query, collect_param, &q);
    if (rc)
        goto out;
    qsort(q.items, q.n, sizeof(*q.items), qparam_cmp);
    for (size_t i = 0; i < q.n && rc == 0; i++)
        rc = buf_addf(out, "%s%s=%s", i ? "&" : "", q.items[i].name,
                      q.items[i].value);
out:
    for (size_t i = 0; i < q.n; i++) {
        mem_free(q.items[i].name);
        mem_free(q.items[i].value);
    }
    mem_free(q.items);
    return rc;
}

/* Appends a header value trimmed, inner blank runs collapsed to one space. */
static int add_trimmed(struct buf *out, const char *v)
{
    bool space = false;
    int rc = 0;

    while (*v == ' ' || *v == '\t')
        v++;
    for (; *v && rc == 0; v++) {
        if (*v == ' ' || *v == '\t') {
            space = true;
            continue;
        }
        if (space)
            rc = buf_addc(out, ' ');
        space = false;
        if (!rc)
            rc = buf_addc(out, *v);
    }
    return rc;
}

static int canonical_headers(const struct sigv4_input *in,
                             const char *signed_headers, struct buf *out)
{
    const char *p = signed_headers;
    int rc = 0;

    while (*p && rc == 0) {
        const char *semi = strchr(p, ';');
        size_t len = semi ? (size_t)(semi - p) : strlen(p);
        bool first = true;

        rc = buf_add(out, p, len);
        if (!rc)
            rc = buf_addc(out, ':');
        for (size_t i = 0; i < in->nheaders && rc == 0; i++) {
            const char *name = in->headers[i].name;
            if (strlen(name) != len || strncasecmp(name, p, len) != 0)
                continue;
            if (!first)
                rc = buf_addc(out, ',');
            if (!rc)
                rc = add_trimmed(out, in->headers[i].value);
            first = false;
        }
        if (!rc)
            rc = buf_addc(out, '\n');
        p += len;
        if (*p == ';')
            p++;
    }
    return rc;
}

int sigv4_canonical_request(const struct sigv4_input *in,
                            const struct sigv4_auth *a, struct buf *out,
                            struct kiln_diag *d)
{
    int rc = buf_addf(out, "%s\n", in->method);
    if (!rc)
        rc = sigv4_canonical_uri(in->path, in->s3, out);
    if (!rc)
        rc = buf_addc(out, '\n');
    if (!rc)
        rc = sigv4_canonical_query(in->query, a->presigned, out);
    if (!rc)
        rc = buf_addc(out, '\n');
    if (!rc)
        rc = canonical_headers(in, a->signed_headers, out);
    if (!rc)
        rc = buf_addf(out, "\n%s\n%s", a->signed_headers,
                      in->payload_hash ? in->payload_hash : "");
    if (rc)
        return diag_set(d, KILN_EAUTHFORMAT,
                        "The request is too large to sign.");
    return 0;
}

void sigv4_sha256_hex(const void *data, size_t n, char hex[65])
{
    uint8_t md[SHA256_DIGEST_LENGTH];
    SHA256(data, n, md);
    str_hex(md, sizeof(md), hex);
}

int sigv4_string_to_sign(const struct sigv4_auth *a, const char *creq,
                         size_t creq_len, struct buf *out)
{
    char h[65];
    sigv4_sha256_hex(creq, creq_len, h);
    return buf_addf(out, "%s\n%s\n%s/%s/%s/aws4_request\n%s", ALGORITHM,
                    a->amz_date, a->date, a->region, a->service, h);
}

static void hmac(const uint8_t *key, size_t klen, const char *msg, size_t n,
                 uint8_t out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, n, out,
         &len);
}

/*
 * The last signing key each thread derived, with what it was derived
 * from: a client signs every request of a day with the same key, so the
 * four HMACs of the derivation run once per thread and day instead of
 * once per request (AWS's SDKs cache it the same way).
 */
struct key_cache {
    char secret[128], date[16], region[64], service[32];
    uint8_t key[32];
    bool valid;
};
static _Thread_local struct key_cache key_cache;

static bool cache_fits(const char *s, size_t cap)
{
    return strlen(s) < cap;
}

void sigv4_signing_key(const char *secret, const char *date, const char *region,
                       const char *service, uint8_t key[32])
{
    struct key_cache *c = &key_cache;
    bool cacheable = cache_fits(secret, sizeof(c->secret)) &&
                     cache_fits(date, sizeof(c->date)) &&
                     cache_fits(region, sizeof(c->region)) &&
                     cache_fits(service, sizeof(c->service));
    if (cacheable && c->valid && strcmp(c->date, date) == 0 &&
        strcmp(c->region, region) == 0 && strcmp(c->service, service) == 0 &&
        strlen(c->secret) == strlen(secret) &&
        str_equal_ct(c->secret, secret, strlen(secret))) {
        memcpy(key, c->key, 32);
        return;
    }
    sigv4_derive_key(secret, date, region, service, key);
    if (cacheable) {
        memcpy(c->secret, secret, strlen(secret) + 1);
        memcpy(c->date, date, strlen(date) + 1);
        memcpy(c->region, region, strlen(region) + 1);
        memcpy(c->service, service, strlen(service) + 1);
        memcpy(c->key, key, 32);
        c->valid = true;
    }
}

void sigv4_derive_key(const char *secret, const char *date, const char *region,
                      const char *service, uint8_t key[32])
{
    struct buf k = BUF_INIT(4096);
    uint8_t a[32], b[32];

    buf_addf(&k, "AWS4%s", secret);
    hmac((const uint8_t *)buf_cstr(&k), k.len, date, strlen(date), a);
    hmac(a, 32, region, strlen(region), b);
    hmac(b, 32, service, strlen(service), a);
    hmac(a, 32, "aws4_request", 12, key);
    OPENSSL_cleanse(k.data, k.len);
    buf_release(&k);
}

void sigv4_hmac_hex(const uint8_t key[32], const char *msg, size_t n,
                    char hex[65])
{
    uint8_t out[32];
    hmac(key, 32, msg, n, out);
    str_hex(out, 32, hex);
}

int sigv4_verify(const struct sigv4_input *in, const struct sigv4_auth *a,
                 const char *secret, uint8_t *key_out, struct kiln_diag *d)
{
    struct buf creq = BUF_INIT(SIGV4_MAX_CANONICAL_BYTES);
    struct buf sts = BUF_INIT(4096);
    uint8_t key[32];
    char sig[65];
    int rc;

    rc = sigv4_canonical_request(in, a, &creq, d);
    if (rc)
        goto out;
    rc = sigv4_string_to_sign(a, buf_cstr(&creq), creq.len, &sts);
    if (rc) {
        rc = diag_set(d, KILN_EAUTHFORMAT, "The scope is too long.");
        goto out;
    }
    sigv4_signing_key(secret, a->date, a->region, a->service, key);
    sigv4_hmac_hex(key, buf_cstr(&sts), sts.len, sig);
    if (!str_equal_ct(sig, a->signature, 64)) {
        rc = diag_set(d, KILN_EBADSIG,
                      "The request signature we calculated does not match "
                      "the signature you provided. Check your AWS Secret "
                      "Access Key and signing method. Consult the service "
                      "documentation for details.");
        goto out;
    }
    if (key_out)
        memcpy(key_out, key, 32);
out:
    OPENSSL_cleanse(key, sizeof(key));
    buf_release(&creq);
    buf_release(&sts);
    return rc;
}

int sigv4_presign(const struct sigv4_presign_req *p, struct buf *out,
                  struct kiln_diag *d)
{
    struct sigv4_auth a = {0};
    struct buf query = BUF_INIT(64 * 1024),
               creq = BUF_INIT(SIGV4_MAX_CANONICAL_BYTES),
               sts = BUF_INIT(64 * 1024);
    const char *host = strstr(p->base, "://");
    uint8_t key[32];
    char sig[65];
    int rc;

    host = host ? host + 3 : p->base;
    if (!*host || strchr(host, '/') || p->expires < 1 ||
        p->expires > SIGV4_MAX_EXPIRES_SECONDS)
        return diag_set(d, KILN_EINVAL, "cannot presign for '%s'", p->base);
    sigv4_format_amz_date(p->now, a.amz_date);
    memcpy(a.date, a.amz_date, 8);
    str_copy(a.akid, p->akid, sizeof(a.akid));
    str_copy(a.region, p->region, sizeof(a.region));
    str_copy(a.service, p->service, sizeof(a.service));
    str_copy(a.signed_headers, "host", sizeof(a.signed_headers));
    a.expires = p->expires;
    a.presigned = true;
    rc = buf_adds(&query, "X-Amz-Algorithm=" ALGORITHM "&X-Amz-Credential=");
    if (!rc)
        rc = sigv4_uri_encode(p->akid, strlen(p->akid), false, &query);
    if (!rc)
        rc = buf_addf(&query,
                      "%%2F%s%%2F%s%%2F%s%%2Faws4_request&X-Amz-Date=%s&"
                      "X-Amz-Expires=%lld&X-Amz-SignedHeaders=host",
                      a.date, a.region, a.service, a.amz_date,
                      (long long)p->expires);
    struct http_header h = {"host", host};
    struct sigv4_input in = {.method = p->method,
                             .path = p->path,
                             .query = buf_cstr(&query),
                             .s3 = strcmp(p->service, "s3") == 0,
                             .headers = &h,
                             .nheaders = 1,
                             .payload_hash = "UNSIGNED-PAYLOAD"};
    if (!rc)
        rc = sigv4_canonical_request(&in, &a, &creq, d);
    if (!rc)
        rc = sigv4_string_to_sign(&a, buf_cstr(&creq), creq.len, &sts);
    if (!rc) {
        sigv4_signing_key(p->secret, a.date, a.region, a.service, key);
        sigv4_hmac_hex(key, sts.data, sts.len, sig);
        OPENSSL_cleanse(key, sizeof(key));
        rc = buf_addf(out, "%s%s?%s&X-Amz-Signature=%s", p->base, p->path,
                      buf_cstr(&query), sig);
    }
    buf_release(&query);
    buf_release(&creq);
    buf_release(&sts);
    return rc ? diag_set(d, rc, "cannot presign %s", p->path) : 0;
}
