/*
 * request.h - one HTTP request as kiln's handlers see it, and its response.
 *
 * The front door (server.c) creates a struct http_request when a request
 * line arrives and frees it, with everything it owns, when the response has
 * been sent: handlers never free a request. Handlers run on the connection's
 * thread, see the raw path and query exactly as the client sent them (SigV4
 * needs them unchanged), read headers case-insensitively, and answer with
 * http_respond(). Strings stored in the request are owned by it.
 */
#ifndef KILN_HTTP_REQUEST_H
#define KILN_HTTP_REQUEST_H

#include "base/buf.h"
#include "base/err.h"
#include "base/kiln.h"

#define HTTP_MAX_HEADERS      128
#define HTTP_MAX_RESP_HEADERS 32
#define HTTP_DEFAULT_BODY_MAX (1u << 20)

struct http_header {
    const char *name;
    const char *value;
};

enum http_phase {
    HTTP_PHASE_HEADERS, /* headers complete, body not read yet */
    HTTP_PHASE_DONE,    /* whole body read (or discarded, see overflow) */
};

struct http_request {
    /* Filled by the front door; handlers read these. */
    char id[37];        /* request id (UUID form) */
    const char *method; /* upper-case */
    char *path;         /* raw path, without '?' */
    char *query;        /* raw query after '?', "" when none */
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t nheaders;
    bool has_length; /* Content-Length was sent */
    uint64_t content_length;
    struct buf body;    /* body bytes, up to body_max */
    bool body_overflow; /* more than body_max arrived; rest dropped */
    size_t body_max;    /* set by the handler at HTTP_PHASE_HEADERS */
    int64_t start_ns;   /* monotonic time the request line arrived */

    /* Set by handlers for the access log (static strings or owned below). */
    const char *proto_label; /* "json", "s3", "sts", "runtime", ... */
    char op[96];             /* operation name */
    char akid[129];          /* access key that signed the request */
    void *app_state;         /* handler's own per-request state */
    void (*app_state_free)(void *);

    /*
     * Streaming bodies: when a handler sets body_sink at HTTP_PHASE_HEADERS,
     * body bytes go to it instead of into `body`. A negative return stops
     * delivery; the code is kept in sink_error for HTTP_PHASE_DONE.
     */
    int (*body_sink)(struct http_request *r, const char *data, size_t len);
    void *sink_ctx; /* for body_sink, set with it */
    int sink_error;

    /* The response, once set. */
    bool responded;
    int status;
    struct buf resp_body;
    int resp_fd;       /* >= 0: answer with this file's bytes */
    uint64_t resp_off; /* ... from this offset */
    uint64_t resp_len; /* ... this many */
    struct http_header resp_headers[HTTP_MAX_RESP_HEADERS];
    size_t nresp_headers;
    size_t bytes_in;  /* body bytes received */
    size_t bytes_out; /* body bytes sent */
};

/* All values of header `name` (any case) joined by ","; NULL when absent.
 * For a single occurrence the request's own string is returned. Borrowed
 * from the request; joined values live until the request is freed. */
const char *http_request_header(struct http_request *r, const char *name);

/*
 * Sets the response: status, Content-Type (NULL for none) and a copy of
 * the body. Calling it twice is a programmer error.
 */
void http_respond(struct http_request *r, int status, const char *ctype,
                  const void *body, size_t len);

/*
 * Sets the response to `len` bytes of file `fd` from `off` (sent with
 * sendfile). Takes ownership of fd, which is closed after sending.
 */
void http_respond_fd(struct http_request *r, int status, int fd, uint64_t off,
                     uint64_t len);

/* Adds a response header; name and value are copied. */
void http_response_header(struct http_request *r, const char *name,
                          const char *value);

/*
 * The body's SHA-256 (SigV4's payload hash) as lower-case hex. After
 * http_request_hash_body() at HTTP_PHASE_HEADERS, the body is hashed while
 * it arrives, on the receiving thread as the client still sends, and
 * http_request_body_sha256() only finishes; without it, the whole body is
 * hashed then. The server calls http_request_body_added() after it appends
 * to `body`.
 */
void http_request_hash_body(struct http_request *r);
void http_request_body_added(struct http_request *r);
void http_request_body_sha256(struct http_request *r, char hex[65]);

/* Frees a request and everything it owns. Used by the front door. */
void http_request_free(struct http_request *r);

/* Makes a request for a raw URI ("/path?query"); used by the front door
 * and by tests. */
struct http_request *http_request_new(const char *method, const char *uri);

/* Adds a request header (copied); drops it beyond HTTP_MAX_HEADERS and
 * returns KILN_ETOOBIG. */
int http_request_add_header(struct http_request *r, const char *name,
                            const char *value);

#endif
