/*
 * server.h - the HTTP front door on libmicrohttpd.
 *
 * http_server_start() listens on one address with a thread per connection
 * (or an epoll thread pool) and calls the application's handler twice per
 * request: at HTTP_PHASE_HEADERS, when the handler authenticates, routes and
 * sets body_max (or answers at once, so an `Expect: 100-continue` client never
 * sends its body), and at HTTP_PHASE_DONE, when it must answer. If it has not
 * answered by then the front door answers 500. Bodies beyond body_max are
 * discarded and flagged. Every request is logged in one key=value line when
 * its response has been sent. The handler runs on the daemon's threads (a
 * thread per connection, or a pool), so it must be thread-safe.
 */
#ifndef KILN_HTTP_SERVER_H
#define KILN_HTTP_SERVER_H

#include "base/err.h"
#include "http/request.h"

typedef void (*http_handler_fn)(void *app, struct http_request *r,
                                enum http_phase phase);

struct http_server_opts {
    const char *bind;      /* IPv4 or IPv6 literal */
    const char *unix_path; /* if set, a Unix socket to listen on instead */
    unsigned port;         /* 0 picks a free port */
    unsigned threads;      /* pool size; 0: a thread per connection (TCP),
                            * one thread (Unix socket) */
    http_handler_fn handler;
    void *app; /* passed to handler, borrowed */
};

struct http_server;

/* Starts listening; returns 0 and the server, or KILN_EIO with the reason. */
int http_server_start(const struct http_server_opts *o,
                      struct http_server **out, struct kiln_diag *d);

/* The port actually bound. */
unsigned http_server_port(const struct http_server *s);

/* Stops accepting, finishes or closes connections, frees everything.
 * http_server_stop(NULL) does nothing. */
void http_server_stop(struct http_server *s);

#endif
