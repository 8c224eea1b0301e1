/*
 * request.c - request lifetime and header access.
 *
 * Strings a request owns (header copies, joined values, response headers)
 * are kept on a small chain freed with the request, so handlers never free
 * anything they got from here.
 */
#include "http/request.h"

#include <openssl/evp.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/str.h"

/* Owned strings hang off app_state-independent storage: a simple list. */
struct owned {
    struct owned *next;
    char text[];
};

struct http_request_priv {
    struct http_request pub;
    struct owned *strings;
    EVP_MD_CTX *body_md; /* hashing the body as it arrives */
    size_t hashed;       /* body bytes in body_md so far */
};

static char *own(struct http_request *r, const char *s, size_t n)
{
    struct http_request_priv *p = (struct http_request_priv *)r;
    struct owned *o = xmalloc(sizeof(*o) + n + 1);
    memcpy(o->text, s, n);
    o->text[n] = '\0';
    o->next = p->strings;
    p->strings = o;
    return o->text;
}

/*
 * Request ids need to be unique, not secret: each thread draws them from
 * its own splitmix64 stream, seeded once from getrandom(), so a request
 * costs no system call for its id.
 */
static uint64_t id_next(void)
{
    static _Thread_local uint64_t state;
    static _Thread_local bool seeded;
    uint64_t z;

    if (!seeded) {
        if (getrandom(&state, sizeof(state), 0) != (ssize_t)sizeof(state)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            state = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
            state ^= (uint64_t)(uintptr_t)&seeded; /* this thread's */
        }
        seeded = true;
    }
    z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void make_id(char out[37])
{
    uint8_t b[16];
    uint64_t a = id_next(), c = id_next();

    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    str_uuid(b, out);
}

struct http_request *http_request_new(const char *method, const char *uri)
{
    struct http_request_priv *p = xcalloc(1, sizeof(*p));
    struct http_request *r = &p->pub;
    const char *q = strchr(uri, '?');
    struct timespec ts;

    r->method = own(r, method, strlen(method));
    r->path = own(r, uri, q ? (size_t)(q - uri) : strlen(uri));
    r->query = own(r, q ? q + 1 : "", q ? strlen(q + 1) : 0);
    r->body_max = HTTP_DEFAULT_BODY_MAX;
    buf_init(&r->body, r->body_max);
    buf_init(&r->resp_body, SIZE_MAX / 2);
    make_id(r->id);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r->start_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    r->proto_label = "-";
    r->resp_fd = -1;
    return r;
}

void http_request_free(struct http_request *r)
{
    struct http_request_priv *p = (struct http_request_priv *)r;
    struct owned *o, *next;

    if (!r)
        return;
    if (r->app_state_free)
        r->app_state_free(r->app_state);
    EVP_MD_CTX_free(p->body_md);
    buf_release(&r->body);
    buf_release(&r->resp_body);
    if (r->resp_fd >= 0)
        close(r->resp_fd);
    for (o = p->strings; o; o = next) {
        next = o->next;
        mem_free(o);
    }
    mem_free(p);
}

void http_request_hash_body(struct http_request *r)
{
    struct http_request_priv *p = (struct http_request_priv *)r;

    if (p->body_md)
        return;
    p->body_md = EVP_MD_CTX_new();
    if (p->body_md && !EVP_DigestInit_ex(p->body_md, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(p->body_md);
        p->body_md = NULL;
    }
    p->hashed = 0;
}

void http_request_body_added(struct http_request *r)
{
    struct http_request_priv *p = (struct http_request_priv *)r;

    if (p->body_md && r->body.len > p->hashed) {
        EVP_DigestUpdate(p->body_md, r->body.data + p->hashed,
                         r->body.len - p->hashed);
        p->hashed = r->body.len;
    }
}

void http_request_body_sha256(struct http_request *r, char hex[65])
{
    struct http_request_priv *p = (struct http_request_priv *)r;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    http_request_body_added(r);
    if (!p->body_md || !EVP_DigestFinal_ex(p->body_md, md, &n) || n != 32)
        EVP_Digest(r->body.len ? r->body.data : "", r->body.len, md, &n,
                   EVP_sha256(), NULL);
    EVP_MD_CTX_free(p->body_md);
    p->body_md = NULL; /* a second call hashes the whole body again */
    str_hex(md, 32, hex);
}

int http_request_add_header(struct http_request *r, const char *name,
                            const char *value)
{
    if (r->nheaders == HTTP_MAX_HEADERS)
        return KILN_ETOOBIG;
    r->headers[r->nheaders].name = own(r, name, strlen(name));
    r->headers[r->nheaders].value = own(r, value, strlen(value));
    r->nheaders++;
    return 0;
}

const char *http_request_header(struct http_request *r, const char *name)
{
    const char *first = NULL;
    struct buf joined = BUF_INIT(1 << 20);
    size_t count = 0;
    const char *out;

    for (size_t i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, name) != 0)
            continue;
        if (count++ == 0) {
            first = r->headers[i].value;
            continue;
        }
        if (count == 2)
            buf_adds(&joined, first);
        buf_addc(&joined, ',');
        buf_adds(&joined, r->headers[i].value);
    }
    if (count < 2)
        return first;
    out = own(r, buf_cstr(&joined), joined.len);
    buf_release(&joined);
    return out;
}

void http_respond(struct http_request *r, int status, const char *ctype,
                  const void *body, size_t len)
{
    KILN_ASSERT(!r->responded);
    r->responded = true;
    r->status = status;
    buf_reset(&r->resp_body);
    if (len)
        KILN_ASSERT(buf_add(&r->resp_body, body, len) == 0);
    if (ctype)
        http_response_header(r, "Content-Type", ctype);
}

void http_respond_fd(struct http_request *r, int status, int fd, uint64_t off,
                     uint64_t len)
{
    KILN_ASSERT(!r->responded);
    r->responded = true;
    r->status = status;
    r->resp_fd = fd;
    r->resp_off = off;
    r->resp_len = len;
}

void http_response_header(struct http_request *r, const char *name,
                          const char *value)
{
    KILN_ASSERT(r->nresp_headers < HTTP_MAX_RESP_HEADERS);
    r->resp_headers[r->nresp_headers].name = own(r, name, strlen(name));
    r->resp_headers[r->nresp_headers].value = own(r, value, strlen(value));
    r->nresp_headers++;
}
