/*
 * server.c - libmicrohttpd glue.
 *
 * MHD hands us the raw request URI through the URI log callback before it
 * parses anything; we create the struct http_request there, so the path and
 * query a handler sees are byte-for-byte what the client signed. The access
 * handler is called once with the headers, then once per body chunk, then
 * once with no data; that maps onto HTTP_PHASE_HEADERS and _DONE. Queuing a
 * response on the first call makes MHD answer without reading the body, and
 * not queuing one makes it send `100 Continue` when the client asked.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"

/*
 * Per-connection memory of libmicrohttpd, which it zeroes at every
 * request of a kept-alive connection. The front door's is large, so a big
 * PUT is read in large pieces (a quarter of it cost S3 PUT a fifth of its
 * throughput); a model server on its Unix socket reads bodies of at most
 * a few MB and answers many small requests, where zeroing 128 KiB each
 * time showed in the profile.
 */
#define TCP_POOL_BYTES  ((size_t)128 * 1024)
#define UNIX_POOL_BYTES ((size_t)32 * 1024)

/*
 * How many clients may be connected at once. libmicrohttpd's default is
 * FD_SETSIZE (about a thousand), past which it resets new connections;
 * every boto3 client keeps up to ten. Half the descriptors the process may
 * open go to connections, the rest to the files and sockets they use.
 */
static unsigned connection_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 100000;
    rlim_t half = rl.rlim_cur / 2;
    return half > 100000 ? 100000 : half < 64 ? 64 : (unsigned)half;
}

struct http_server {
    struct MHD_Daemon *daemon;
    struct http_server_opts opts;
    unsigned port;
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    /* The method is filled in by the access handler. */
    return http_request_new("", uri);
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *key, const char *value)
{
    struct http_request *r = cls;
    (void)kind;
    http_request_add_header(r, key, value ? value : "");
    return MHD_YES;
}

/* The unescape callback leaves everything raw: we decode ourselves. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static enum MHD_Result queue(struct MHD_Connection *c, struct http_request *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    size_t len = 0;

    if (r->resp_fd >= 0) {
        resp = MHD_create_response_from_fd_at_offset64(r->resp_len, r->resp_fd,
                                                       r->resp_off);
        if (!resp)
            return MHD_NO;
        r->resp_fd = -1; /* MHD closes it */
        r->bytes_out = (size_t)r->resp_len;
    } else {
        char *body = buf_detach(&r->resp_body, &len);
        r->bytes_out = len;
        resp = MHD_create_response_from_buffer_with_free_callback(len, body,
                                                                  mem_free);
        if (!resp) {
            mem_free(body);
            return MHD_NO;
        }
    }
    for (size_t i = 0; i < r->nresp_headers; i++)
        MHD_add_response_header(resp, r->resp_headers[i].name,
                                r->resp_headers[i].value);
    ret = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http_server *s = cls;
    struct http_request *r = *con_cls;
    (void)url;
    (void)version;

    if (!r)
        return MHD_NO;
    if (r->method[0] == '\0') {
        const char *cl;
        r->method = method; /* MHD keeps it for the connection's request */
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, r);
        cl = http_request_header(r, "Content-Length");
        if (cl) {
            const char *p = cl;
            uint64_t v;
            if (parse_u64(&p, cl + strlen(cl), UINT64_MAX, &v) == 0 &&
                *p == '\0') {
                r->has_length = true;
                r->content_length = v;
            }
        }
        s->opts.handler(s->opts.app, r, HTTP_PHASE_HEADERS);
        r->body.max = r->body_max;
        /* A body of announced length is received into one allocation. */
        if (r->has_length && !r->body_sink && r->content_length > 0 &&
            r->content_length <= r->body.max)
            buf_reserve(&r->body, (size_t)r->content_length);
        if (r->responded)
            return queue(c, r);
        return MHD_YES;
    }
    if (*upload_data_size) {
        r->bytes_in += *upload_data_size;
        if (r->body_sink) {
            if (r->sink_error == 0)
                r->sink_error = r->body_sink(r, upload_data, *upload_data_size);
        } else if (!r->body_overflow) {
            if (buf_add(&r->body, upload_data, *upload_data_size) != 0)
                r->body_overflow = true;
            else
                http_request_body_added(r);
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->responded)
        return MHD_YES;
    s->opts.handler(s->opts.app, r, HTTP_PHASE_DONE);
    if (!r->responded) {
        static const char msg[] = "{\"__type\":\"InternalFailure\","
                                  "\"message\":\"no response\"}";
        http_respond(r, 500, "application/x-amz-json-1.1", msg,
                     sizeof(msg) - 1);
    }
    return queue(c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    struct http_request *r = *con_cls;
    struct timespec ts;
    (void)cls;
    (void)c;

    if (!r)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    log_info("event=request id=%s method=%s path=\"%.200s\" proto=%s op=%s "
             "akid=%s status=%d in=%zu out=%zu us=%lld%s",
             r->id, r->method[0] ? r->method : "-", r->path, r->proto_label,
             r->op[0] ? r->op : "-", r->akid[0] ? r->akid : "-",
             r->responded ? r->status : 0, r->bytes_in, r->bytes_out,
             (long long)((now - r->start_ns) / 1000),
             why == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
    http_request_free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    KILN_PRINTF(2, 0);

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    log_debug("event=http_log msg=\"%s\"", msg);
}

int http_server_start(const struct http_server_opts *o,
                      struct http_server **out, struct kiln_diag *d)
{
    struct http_server *s = xcalloc(1, sizeof(*s));
    struct sockaddr_storage ss;
    socklen_t slen;
    const union MHD_DaemonInfo *info;

    memset(&ss, 0, sizeof(ss));
    if (o->unix_path) {
        struct sockaddr_un un = {.sun_family = AF_UNIX};
        int fd;
        if (strlen(o->unix_path) >= sizeof(un.sun_path)) {
            mem_free(s);
            return diag_set(d, KILN_EINVAL, "socket path '%s' is too long",
                            o->unix_path);
        }
        memcpy(un.sun_path, o->unix_path, strlen(o->unix_path) + 1);
        unlink(o->unix_path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof(un)) != 0 ||
            listen(fd, 512) != 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            mem_free(s);
            return diag_set(d, KILN_EIO, "cannot listen on %s: %s",
                            o->unix_path, strerror(e));
        }
        s->opts = *o;
        s->daemon = MHD_start_daemon(
            MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
            on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
            MHD_OPTION_THREAD_POOL_SIZE,
            (unsigned)(o->threads ? o->threads : 1),
            MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
            MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, UNIX_POOL_BYTES,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
        if (!s->daemon) {
            close(fd);
            mem_free(s);
            return diag_set(d, KILN_EIO, "cannot serve on %s", o->unix_path);
        }
        *out = s;
        return 0;
    }
    if (inet_pton(AF_INET, o->bind, &((struct sockaddr_in *)&ss)->sin_addr) ==
        1) {
        struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)o->port);
        slen = sizeof(*in4);
    } else if (inet_pton(AF_INET6, o->bind,
                         &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)o->port);
        slen = sizeof(*in6);
    } else {
        mem_free(s);
        return diag_set(d, KILN_EINVAL,
                        "bind address '%s' is not an IPv4 or IPv6 literal",
                        o->bind);
    }
    (void)slen;
    s->opts = *o;
    /*
     * threads == 0: a thread per connection. Handlers block (an
     * invocation waits for its model server, a PUT for the disk), and in
     * a pool every connection that shares a thread with a blocked one
     * waits too; a thread of its own never does.
     */
    unsigned flags =
        MHD_USE_ERROR_LOG | (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0) |
        (o->threads ? MHD_USE_EPOLL_INTERNAL_THREAD
                    : MHD_USE_THREAD_PER_CONNECTION |
                          MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL);
    struct MHD_OptionItem pool[] = {
        {MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)o->threads, NULL},
        {MHD_OPTION_END, 0, NULL}};
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_ARRAY, o->threads ? pool : pool + 1,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, NULL, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, TCP_POOL_BYTES,
        MHD_OPTION_CONNECTION_LIMIT, connection_limit(),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
    if (!s->daemon) {
        mem_free(s);
        return diag_set(d, KILN_EIO, "cannot listen on %s:%u", o->bind,
                        o->port);
    }
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o->port;
    *out = s;
    return 0;
}

unsigned http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_stop(struct http_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->daemon);
    mem_free(s);
}
