/*
 * chunked.c - a byte-at-a-time state machine for the framing lines and a
 * bulk path for chunk data, so large chunks are passed on without copying.
 */
#include "auth/chunked.h"

#include <strings.h>

#include "auth/sigv4.h"
#include "base/str.h"

#define EMPTY_SHA256                                                           \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define MAX_CHUNK (64ull << 20)

void chunked_init(struct chunked *c, bool sign, const uint8_t *key,
                  const char *amz_date, const char *scope, const char *seed_sig,
                  chunked_emit_fn emit, void *ctx)
{
    memset(c, 0, sizeof(*c));
    c->sign = sign;
    if (sign) {
        memcpy(c->key, key, 32);
        str_copy(c->amz_date, amz_date, sizeof(c->amz_date));
        str_copy(c->scope, scope, sizeof(c->scope));
        str_copy(c->prev_sig, seed_sig, sizeof(c->prev_sig));
        c->sha = EVP_MD_CTX_new();
        KILN_ASSERT(c->sha != NULL);
    }
    c->emit = emit;
    c->ctx = ctx;
    c->state = CHUNKED_SIZE;
    buf_init(&c->trailers, 64 * 1024);
}

void chunked_release(struct chunked *c)
{
    EVP_MD_CTX_free(c->sha);
    c->sha = NULL;
    buf_release(&c->trailers);
    OPENSSL_cleanse(c->key, sizeof(c->key));
}

static int bad(struct kiln_diag *d, const char *what)
{
    return diag_set(d, KILN_EINCOMPLETE,
                    "The aws-chunked request body is malformed: %s.", what);
}

/* Verifies the chunk just read against its claimed signature. */
static int check_chunk(struct chunked *c, struct kiln_diag *d)
{
    uint8_t md[32];
    unsigned int n = 32;
    char hash[65], sig[65];
    struct buf sts = BUF_INIT(1024);

    if (!c->sign)
        return 0;
    EVP_DigestFinal_ex(c->sha, md, &n);
    str_hex(md, 32, hash);
    buf_addf(&sts, "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n%s\n%s\n%s", c->amz_date,
             c->scope, c->prev_sig, EMPTY_SHA256, hash);
    sigv4_hmac_hex(c->key, buf_cstr(&sts), sts.len, sig);
    buf_release(&sts);
    if (!str_equal_ct(sig, c->chunk_sig, 64))
        return diag_set(d, KILN_EBADSIG,
                        "The request signature we calculated does not match "
                        "the signature you provided. Check your key and "
                        "signing method.");
    memcpy(c->prev_sig, sig, 65);
    return 0;
}

static int size_line(struct chunked *c, struct kiln_diag *d)
{
    const char *p = c->line, *end = c->line + c->line_len;
    uint64_t size = 0;
    int digits = 0;

    for (; p < end && digits < 17; p++, digits++) {
        int v = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                         : -1;
        if (v < 0)
            break;
        size = size * 16 + (uint64_t)v;
    }
    if (digits == 0 || digits > 16 || size > MAX_CHUNK)
        return bad(d, "bad chunk size");
    c->chunk_sig[0] = '\0';
    if (p < end) {
        static const char ext[] = ";chunk-signature=";
        if ((size_t)(end - p) != sizeof(ext) - 1 + 64 ||
            memcmp(p, ext, sizeof(ext) - 1) != 0)
            return bad(d, "bad chunk extension");
        memcpy(c->chunk_sig, p + sizeof(ext) - 1, 64);
        c->chunk_sig[64] = '\0';
    }
    if (c->sign && !c->chunk_sig[0])
        return bad(d, "chunk without signature");
    if (c->sign)
        EVP_DigestInit_ex(c->sha, EVP_sha256(), NULL);
    c->remaining = size;
    if (size == 0) {
        int rc = check_chunk(c, d);
        if (rc)
            return rc;
        c->state = CHUNKED_TRAILER;
    } else {
        c->state = CHUNKED_DATA;
    }
    return 0;
}

static int trailer_line(struct chunked *c, struct kiln_diag *d)
{
    static const char sig[] = "x-amz-trailer-signature:";
    const char *colon;

    if (c->line_len == 0) {
        c->state = CHUNKED_DONE;
        return 0;
    }
    if (c->line_len > sizeof(sig) - 1 &&
        strncasecmp(c->line, sig, sizeof(sig) - 1) == 0) {
        if (c->line_len - (sizeof(sig) - 1) != 64)
            return bad(d, "bad trailer signature");
        memcpy(c->trailer_sig, c->line + sizeof(sig) - 1, 64);
        c->trailer_sig[64] = '\0';
        return 0;
    }
    colon = memchr(c->line, ':', c->line_len);
    if (!colon)
        return bad(d, "bad trailer line");
    if (buf_add(&c->trailers, c->line, c->line_len) != 0 ||
        buf_addc(&c->trailers, '\n') != 0)
        return bad(d, "trailers too long");
    return 0;
}

int chunked_feed(struct chunked *c, const char *data, size_t len,
                 struct kiln_diag *d)
{
    const char *p = data, *end = data + len;
    int rc;

    while (p < end) {
        switch (c->state) {
        case CHUNKED_DATA: {
            size_t n = (size_t)(end - p);
            if (n > c->remaining)
                n = (size_t)c->remaining;
            if (c->sign)
                EVP_DigestUpdate(c->sha, p, n);
            rc = c->emit(c->ctx, p, n);
            if (rc)
                return rc;
            c->decoded += n;
            c->remaining -= n;
            p += n;
            if (c->remaining == 0) {
                rc = check_chunk(c, d);
                if (rc)
                    return rc;
                c->state = CHUNKED_DATA_END;
                c->line_len = 0;
            }
            break;
        }
        case CHUNKED_SIZE:
        case CHUNKED_DATA_END:
        case CHUNKED_TRAILER: {
            char ch = *p++;
            if (ch != '\n') {
                if (c->line_len == sizeof(c->line))
                    return bad(d, "line too long");
                c->line[c->line_len++] = ch;
                break;
            }
            if (c->line_len == 0 || c->line[c->line_len - 1] != '\r') {
                if (!(c->state == CHUNKED_TRAILER && c->line_len == 0))
                    return bad(d, "line without CRLF");
            } else {
                c->line_len--;
            }
            if (c->state == CHUNKED_SIZE)
                rc = size_line(c, d);
            else if (c->state == CHUNKED_DATA_END)
                rc = c->line_len ? bad(d, "chunk longer than its size")
                                 : (c->state = CHUNKED_SIZE, 0);
            else
                rc = trailer_line(c, d);
            c->line_len = 0;
            if (rc)
                return rc;
            break;
        }
        case CHUNKED_DONE:
            return bad(d, "data after the final chunk");
        }
    }
    return 0;
}

int chunked_finish(struct chunked *c, struct kiln_diag *d)
{
    if (c->state != CHUNKED_DONE)
        return diag_set(d, KILN_EINCOMPLETE,
                        "You did not provide the number of bytes specified "
                        "by the Content-Length HTTP header.");
    if (c->sign && c->trailer_sig[0]) {
        char hash[65], sig[65];
        struct buf sts = BUF_INIT(1024);
        sigv4_sha256_hex(buf_cstr(&c->trailers), c->trailers.len, hash);
        buf_addf(&sts, "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n%s\n%s", c->amz_date,
                 c->scope, c->prev_sig, hash);
        sigv4_hmac_hex(c->key, buf_cstr(&sts), sts.len, sig);
        buf_release(&sts);
        if (!str_equal_ct(sig, c->trailer_sig, 64))
            return diag_set(d, KILN_EBADSIG,
                            "The trailer signature does not match.");
    }
    return 0;
}

const char *chunked_trailer(const struct chunked *c, const char *name,
                            char *out, size_t size)
{
    const char *p = buf_cstr(&c->trailers);
    size_t n = strlen(name);

    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > n && p[n] == ':' && strncasecmp(p, name, n) == 0) {
            const char *v = p + n + 1;
            size_t vlen = len - n - 1;
            while (vlen && *v == ' ') {
                v++;
                vlen--;
            }
            snprintf(out, size, "%.*s", (int)vlen, v);
            return out;
        }
        p += len + (nl ? 1 : 0);
    }
    return NULL;
}
