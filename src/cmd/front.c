/*
 * front.c - classify, authenticate, dispatch.
 *
 * At HTTP_PHASE_HEADERS a request is classified and its credentials are
 * checked (key, clock, format), and a body limit is set from the operation,
 * so a bad or oversized request is refused before its body is read. S3
 * requests carry their payload hash in a header and are verified then;
 * the others are verified at HTTP_PHASE_DONE against the SHA-256 of the
 * body they sent.
 */
#include "cmd/front.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include <time.h>

#include "api/cloudwatch.h"
#include "api/cwrpc.h"
#include "api/dispatch.h"
#include "api/sts.h"
#include "auth/auth.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "cmd/asyncq.h"
#include "cmd/hoster.h"
#include "console/console.h"
#include "http/awserr.h"
#include "http/eventstream.h"
#include "meta/meta.h"

#define JSON_BODY_DEFAULT (64 * 1024)
#define STS_BODY_MAX      (64 * 1024)
#define RUNTIME_BODY_MAX  (6 * 1024 * 1024) /* InvokeEndpoint's 6 MB */

enum route {
    ROUTE_JSON,
    ROUTE_RUNTIME,
    ROUTE_STS,
    ROUTE_S3,
    ROUTE_CONSOLE,
    ROUTE_CLOUDWATCH
};

static const struct {
    const char *label;
    enum kiln_proto proto;
} routes[] = {
    [ROUTE_JSON] = {"json", KILN_PROTO_JSON},
    [ROUTE_RUNTIME] = {"runtime", KILN_PROTO_REST},
    [ROUTE_STS] = {"sts", KILN_PROTO_QUERY},
    [ROUTE_S3] = {"s3", KILN_PROTO_S3},
    [ROUTE_CONSOLE] = {"console", KILN_PROTO_REST},
    [ROUTE_CLOUDWATCH] = {"cloudwatch", KILN_PROTO_QUERY},
};

struct front_req {
    enum route route;
    bool preflight; /* a CORS preflight, answered in full */
    struct auth_result ar;
    const struct api_op *op;
    const char *target;
    struct s3_req *s3;
    /* CloudWatch in JSON 1.0 or RPC v2 CBOR (0: Query), and its
     * operation. */
    enum cwrpc_wire cw_wire;
    char cw_op[64];
};

static void front_req_free(void *p)
{
    struct front_req *fr = p;
    s3_req_free(fr->s3);
    auth_result_clear(&fr->ar);
    mem_free(fr);
}

static int lookup_key(void *ctx, const char *akid, char secret[129],
                      char account[13], char user[65])
{
    struct front *f = ctx;
    struct meta_key k;
    int rc = meta_key_get(f->meta, akid, &k);
    if (rc)
        return rc;
    memcpy(secret, k.secret, sizeof(k.secret));
    memcpy(account, k.account, sizeof(k.account));
    memcpy(user, k.user, sizeof(k.user));
    memset(&k, 0, sizeof(k));
    return 0;
}

static bool is_runtime_path(const char *path)
{
    return str_starts(path, "/endpoints/") &&
           strchr(path + strlen("/endpoints/"), '/') != NULL;
}

static bool looks_like_query(struct http_request *r)
{
    const char *ct = http_request_header(r, "Content-Type");
    return strstr(r->query, "Action=") != NULL ||
           (ct && str_starts(ct, "application/x-www-form-urlencoded") &&
            strcmp(r->path, "/") == 0);
}

static enum route classify(struct http_request *r, const struct front_req *fr)
{
    const char *svc = fr->ar.parsed ? fr->ar.a.service : NULL;

    if (svc) {
        if (strcmp(svc, "sagemaker") == 0)
            return is_runtime_path(r->path) ? ROUTE_RUNTIME : ROUTE_JSON;
        if (strcmp(svc, "logs") == 0 ||
            strcmp(svc, "application-autoscaling") == 0)
            return ROUTE_JSON;
        if (strcmp(svc, "sts") == 0)
            return ROUTE_STS;
        if (strcmp(svc, "monitoring") == 0)
            return ROUTE_CLOUDWATCH;
        if (strcmp(svc, "s3") == 0)
            return ROUTE_S3;
    }
    if (fr->target)
        return ROUTE_JSON;
    if (!svc &&
        (strcmp(r->path, "/console") == 0 || str_starts(r->path, "/console/")))
        return ROUTE_CONSOLE;
    if (looks_like_query(r))
        return ROUTE_STS;
    if (!svc && strcmp(r->method, "POST") == 0 && is_runtime_path(r->path))
        return ROUTE_RUNTIME;
    return ROUTE_S3;
}

/* An error in CloudWatch's JSON or CBOR, with its Query code. */
static void fail_cwrpc(struct http_request *r, struct front_req *fr, int code,
                       const char *msg)
{
    struct buf out = BUF_INIT(64 * 1024);
    const char *name = kiln_err_name(code, KILN_PROTO_QUERY);
    int status = kiln_err_status(code, KILN_PROTO_QUERY);
    char query_error[128];

    cwrpc_error(fr->cw_wire, name, msg, &out);
    http_respond(r, status,
                 fr->cw_wire == CWRPC_CBOR ? "application/cbor"
                                           : "application/x-amz-json-1.0",
                 out.data, out.len);
    snprintf(query_error, sizeof(query_error), "%s;%s", name,
             status >= 500 ? "Receiver" : "Sender");
    http_response_header(r, "x-amzn-query-error", query_error);
    if (fr->cw_wire == CWRPC_CBOR)
        http_response_header(r, "smithy-protocol", "rpc-v2-cbor");
    awserr_request_id_headers(r, KILN_PROTO_JSON);
    buf_release(&out);
}

static void fail(struct http_request *r, struct front_req *fr, int code,
                 const char *msg)
{
    enum kiln_proto proto = routes[fr->route].proto;
    if (fr->route == ROUTE_CLOUDWATCH && fr->cw_wire) {
        fail_cwrpc(r, fr, code, msg);
        return;
    }
    if (fr->route == ROUTE_S3 && code == KILN_ESKEW)
        msg = "The difference between the request time and the current "
              "time is too large.";
    awserr_respond(r, proto, code, msg, NULL);
}

static const char *no_auth_message(enum route route)
{
    switch (route) {
    case ROUTE_S3:
        return "Access Denied";
    case ROUTE_STS:
    case ROUTE_CLOUDWATCH:
        return "Request is missing Authentication Token";
    default:
        return "Missing Authentication Token";
    }
}

static size_t body_limit(struct front_req *fr)
{
    switch (fr->route) {
    case ROUTE_JSON:
        return fr->op ? fr->op->body_max : JSON_BODY_DEFAULT;
    case ROUTE_RUNTIME:
        return RUNTIME_BODY_MAX;
    case ROUTE_STS:
    case ROUTE_CLOUDWATCH:
        return STS_BODY_MAX;
    case ROUTE_S3:
    case ROUTE_CONSOLE:
        break;
    }
    return 0;
}

/*
 * Browsers: a CORS preflight (OPTIONS, never signed) of the SageMaker
 * APIs is allowed from any origin, as AWS's JSON services allow it, since
 * every call must still be signed; S3's follows the bucket's CORS rules.
 */
static bool preflight(struct front *f, struct http_request *r,
                      struct front_req *fr)
{
    if (strcmp(r->method, "OPTIONS") != 0)
        return false;
    fr->preflight = true;
    if (strcmp(r->path, "/") != 0 && !is_runtime_path(r->path)) {
        s3_preflight(&f->s3, r);
        return true;
    }
    const char *origin = http_request_header(r, "Origin");
    const char *headers =
        http_request_header(r, "Access-Control-Request-Headers");
    str_copy(r->op, "PreflightRequest", sizeof(r->op));
    http_respond(r, 200, NULL, NULL, 0);
    http_response_header(r, "Access-Control-Allow-Origin",
                         origin ? origin : "*");
    http_response_header(r, "Access-Control-Allow-Methods", "GET, POST");
    if (headers)
        http_response_header(r, "Access-Control-Allow-Headers", headers);
    http_response_header(r, "Access-Control-Max-Age", "86400");
    http_response_header(r, "Vary", "Origin");
    return true;
}

/* What a browser's script may read of a SageMaker answer. */
static void api_cors(const struct front_req *fr, struct http_request *r)
{
    const char *origin = http_request_header(r, "Origin");
    if (!origin || !r->responded || !fr || fr->preflight ||
        fr->route == ROUTE_S3)
        return;
    http_response_header(r, "Access-Control-Allow-Origin", origin);
    http_response_header(
        r, "Access-Control-Expose-Headers",
        "x-amzn-RequestId, x-amzn-ErrorType, x-amzn-ErrorMessage, Date, "
        "x-Amzn-Invoked-Production-Variant, "
        "X-Amzn-SageMaker-Custom-Attributes, "
        "X-Amzn-SageMaker-OutputLocation, X-Amzn-SageMaker-FailureLocation");
    http_response_header(r, "Vary", "Origin");
}

/* Which of CloudWatch's protocols a request speaks. */
static void cloudwatch_wire(struct http_request *r, struct front_req *fr)
{
    static const char path[] = "/service/" CWRPC_SERVICE "/operation/";
    const char *op = NULL;

    if (fr->target && str_starts(fr->target, CWRPC_SERVICE ".")) {
        fr->cw_wire = CWRPC_JSON;
        op = fr->target + strlen(CWRPC_SERVICE ".");
    } else if (str_starts(r->path, path)) {
        fr->cw_wire = CWRPC_CBOR;
        op = r->path + strlen(path);
    }
    if (op) {
        str_copy(fr->cw_op, op, sizeof(fr->cw_op));
        str_copy(r->op, fr->cw_op, sizeof(r->op));
    }
}

static void on_headers(struct front *f, struct http_request *r)
{
    struct front_req *fr = xcalloc(1, sizeof(*fr));
    struct kiln_diag d = {0};
    int rc;

    r->app_state = fr;
    r->app_state_free = front_req_free;
    if (preflight(f, r, fr))
        return;
    fr->target = http_request_header(r, "X-Amz-Target");
    rc = auth_begin(r, lookup_key, f, (int64_t)time(NULL), &fr->ar, &d);
    fr->route = classify(r, fr);
    r->proto_label = routes[fr->route].label;
    if (fr->route == ROUTE_CLOUDWATCH)
        cloudwatch_wire(r, fr);
    if (fr->route == ROUTE_JSON && fr->target) {
        str_copy(r->op, fr->target, sizeof(r->op));
        if (fr->ar.parsed)
            fr->op = api_op_find(fr->ar.a.service, fr->target);
    }
    if (fr->route == ROUTE_CONSOLE) {
        console_answer(r);
        return;
    }
    if (rc) {
        fail(r, fr, rc, d.msg);
        return;
    }
    if (fr->ar.anonymous) {
        fail(r, fr, KILN_ENOAUTH, no_auth_message(fr->route));
        return;
    }
    r->body_max = body_limit(fr);
    if (r->has_length && r->content_length > r->body_max &&
        fr->route != ROUTE_S3) {
        diag_set(&d, KILN_ETOOBIG,
                 "Request body of %llu bytes exceeds the limit of %zu bytes.",
                 (unsigned long long)r->content_length, r->body_max);
        fail(r, fr, KILN_ETOOBIG, d.msg);
        return;
    }
    if (fr->route != ROUTE_S3)
        http_request_hash_body(r);
    if (fr->route == ROUTE_S3) {
        const char *ph = http_request_header(r, "x-amz-content-sha256");
        if (fr->ar.a.presigned && !ph)
            ph = "UNSIGNED-PAYLOAD";
        if (!ph) {
            fail(r, fr, KILN_EINVAL,
                 "Missing required header for this request: "
                 "x-amz-content-sha256");
            return;
        }
        rc = auth_finish(r, &fr->ar, true, ph, &d);
        if (rc) {
            fail(r, fr, rc, d.msg);
            return;
        }
        s3_begin(&f->s3, r, &fr->ar, ph, &fr->s3);
    }
}

static bool is_hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

static void answer_json(struct front *f, struct http_request *r,
                        struct front_req *fr, const struct api_ctx *c)
{
    struct buf out = BUF_INIT(64u << 20);
    struct kiln_diag d = {0};
    int rc;

    if (!fr->target || !fr->op) {
        diag_set(&d, KILN_EUNKNOWNOP, "Operation %.96s is not supported.",
                 fr->target ? fr->target : "(none)");
        fail(r, fr, KILN_EUNKNOWNOP, d.msg);
        return;
    }
    (void)f;
    rc = api_dispatch(fr->op, c, buf_cstr(&r->body), r->body.len, &out, &d);
    if (rc) {
        fail(r, fr, rc, d.msg);
    } else {
        http_respond(r, 200, "application/x-amz-json-1.1", out.data, out.len);
        awserr_request_id_headers(r, KILN_PROTO_JSON);
    }
    buf_release(&out);
}

/* STS and CloudWatch: the Query protocol's form parameters in the POST
 * body or the GET query, an XML answer. */
static void answer_query(struct http_request *r, struct front_req *fr,
                         const struct api_ctx *c,
                         int (*handle)(const struct api_ctx *, const char *,
                                       size_t, struct buf *,
                                       struct kiln_diag *))
{
    struct buf out = BUF_INIT(16u << 20);
    struct kiln_diag d = {0};
    bool post = strcmp(r->method, "POST") == 0;
    const char *params = post ? buf_cstr(&r->body) : r->query;
    size_t len = post ? r->body.len : strlen(r->query);
    int rc = handle(c, params, len, &out, &d);

    if (rc) {
        fail(r, fr, rc, d.msg);
    } else {
        http_respond(r, 200, "text/xml", out.data, out.len);
        awserr_request_id_headers(r, KILN_PROTO_QUERY);
    }
    buf_release(&out);
}

static void answer_cwrpc(struct http_request *r, struct front_req *fr,
                         const struct api_ctx *c)
{
    struct buf out = BUF_INIT(16u << 20);
    struct kiln_diag d = {0};
    int rc = strcmp(r->method, "POST") != 0
                 ? diag_set(&d, KILN_EUNKNOWNOP, "CloudWatch takes POST.")
                 : cwrpc_handle(c, fr->cw_wire, fr->cw_op, r->body.data,
                                r->body.len, &out, &d);

    if (rc) {
        fail(r, fr, rc, d.msg);
    } else {
        bool cbor = fr->cw_wire == CWRPC_CBOR;
        http_respond(r, 200,
                     cbor ? "application/cbor" : "application/x-amz-json-1.0",
                     out.data, out.len);
        if (cbor)
            http_response_header(r, "smithy-protocol", "rpc-v2-cbor");
        awserr_request_id_headers(r, KILN_PROTO_JSON);
    }
    buf_release(&out);
}

/* SageMaker's name pattern ^[a-zA-Z0-9](-*[a-zA-Z0-9])*, whole. */
static bool name_like(const char *s)
{
    size_t n = strlen(s);
    return n && isalnum((unsigned char)s[0]) &&
           isalnum((unsigned char)s[n - 1]) &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789-") == n;
}

/* The runtime's headers and their limits, from the service model. */
enum header_kind { H_ASCII, H_PRINTABLE, H_NAME, H_URI };
static const char *const header_patterns[] = {
    "\\p{ASCII}*", "\\A\\S[\\p{Print}]*\\z", "^[a-zA-Z0-9](-*[a-zA-Z0-9])*",
    "^(https|s3)://([^/]+)/?(.*)$"};
struct header_rule {
    const char *header, *member;
    size_t min, max;
    enum header_kind kind;
};
static const struct header_rule invoke_headers[] = {
    {"Content-Type", "contentType", 0, 1024, H_ASCII},
    {"Accept", "accept", 0, 1024, H_ASCII},
    {"X-Amzn-SageMaker-Custom-Attributes", "customAttributes", 0, 1024,
     H_ASCII},
    {"X-Amzn-SageMaker-Target-Model", "targetModel", 1, 1024, H_PRINTABLE},
    {"X-Amzn-SageMaker-Target-Variant", "targetVariant", 0, 63, H_NAME},
    {"X-Amzn-SageMaker-Target-Container-Hostname", "targetContainerHostname", 0,
     63, H_NAME},
    {"X-Amzn-SageMaker-Inference-Id", "inferenceId", 1, 64, H_PRINTABLE},
    {NULL, NULL, 0, 0, H_ASCII}};
static const struct header_rule stream_headers[] = {
    {"Content-Type", "contentType", 0, 1024, H_ASCII},
    {"X-Amzn-SageMaker-Accept", "accept", 0, 1024, H_ASCII},
    {"X-Amzn-SageMaker-Custom-Attributes", "customAttributes", 0, 1024,
     H_ASCII},
    {"X-Amzn-SageMaker-Target-Variant", "targetVariant", 0, 63, H_NAME},
    {"X-Amzn-SageMaker-Target-Container-Hostname", "targetContainerHostname", 0,
     63, H_NAME},
    {"X-Amzn-SageMaker-Inference-Id", "inferenceId", 1, 64, H_PRINTABLE},
    {NULL, NULL, 0, 0, H_ASCII}};
static const struct header_rule async_headers[] = {
    {"X-Amzn-SageMaker-Content-Type", "contentType", 0, 1024, H_ASCII},
    {"X-Amzn-SageMaker-Accept", "accept", 0, 1024, H_ASCII},
    {"X-Amzn-SageMaker-Custom-Attributes", "customAttributes", 0, 1024,
     H_ASCII},
    {"X-Amzn-SageMaker-Inference-Id", "inferenceId", 1, 64, H_PRINTABLE},
    {"X-Amzn-SageMaker-InputLocation", "inputLocation", 1, 1024, H_URI},
    {NULL, NULL, 0, 0, H_ASCII}};

static bool header_matches(const char *s, enum header_kind kind)
{
    if (kind == H_NAME)
        return name_like(s);
    if (kind == H_URI) {
        const char *host = str_starts(s, "s3://")      ? s + 5
                           : str_starts(s, "https://") ? s + 8
                                                       : NULL;
        if (!host || !*host || *host == '/')
            return false;
    }
    if (kind == H_PRINTABLE && (!*s || *s == ' ' || *s == '\t'))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80 || (kind == H_PRINTABLE && (*p < 0x20 || *p == 0x7f)) ||
            (kind == H_URI && *p < 0x20))
            return false;
    return true;
}

static int header_invalid(const char *value, const char *member,
                          const char *why, struct kiln_diag *d)
{
    return diag_set(d, KILN_EVALIDATION,
                    "1 validation error detected: Value '%.200s' at '%s' "
                    "failed to satisfy constraint: Member must %s",
                    str_utf8_valid(value, strlen(value)) ? value
                                                         : "(not UTF-8)",
                    member, why);
}

/* The first header out of its limits, as AWS words it. */
static int headers_valid(struct http_request *r,
                         const struct header_rule *rules, struct kiln_diag *d)
{
    for (const struct header_rule *h = rules; h->header; h++) {
        const char *v = http_request_header(r, h->header);
        if (!v)
            continue;
        size_t n = strlen(v);
        char why[128];
        if (n > h->max)
            snprintf(why, sizeof(why), "have length less than or equal to %zu",
                     h->max);
        else if (n < h->min)
            snprintf(why, sizeof(why),
                     "have length greater than or equal to %zu", h->min);
        else if (!header_matches(v, h->kind))
            snprintf(why, sizeof(why), "satisfy regular expression pattern: %s",
                     header_patterns[h->kind]);
        else
            continue;
        return header_invalid(v, h->member, why, d);
    }
    return 0;
}

/* Runtime headers for what kiln's endpoints never have: inference
 * components, stateful sessions, several containers, explainers. */
static int headers_unsupported(struct http_request *r, const char *name,
                               struct kiln_diag *d)
{
    if (http_request_header(r, "X-Amzn-SageMaker-Inference-Component"))
        return diag_set(d, KILN_EVALIDATION,
                        "Inference Component Name header is not allowed for "
                        "endpoint %s: it has no inference components (kiln "
                        "does not run inference components).",
                        name);
    if (http_request_header(r, "X-Amzn-SageMaker-Session-Id"))
        return diag_set(d, KILN_EVALIDATION,
                        "Endpoint %s is not configured for stateful sessions "
                        "(kiln does not run them); leave out SessionId.",
                        name);
    if (http_request_header(r, "X-Amzn-SageMaker-Target-Container-Hostname"))
        return diag_set(d, KILN_EVALIDATION,
                        "Endpoint %s is not a multi-container endpoint with "
                        "Direct invocation, so TargetContainerHostname does "
                        "not apply (kiln's endpoints have one container).",
                        name);
    if (http_request_header(r, "X-Amzn-SageMaker-Enable-Explanations"))
        return diag_set(d, KILN_EVALIDATION,
                        "Endpoint %s has no ExplainerConfig, so "
                        "EnableExplanations does not apply (kiln does not "
                        "run explainers).",
                        name);
    return 0;
}

/* An integer header within [min, max]: its value, 0 when absent, or -1
 * with the error in d. */
static int header_int(struct http_request *r, const char *header,
                      const char *member, int min, int max, struct kiln_diag *d)
{
    const char *v = http_request_header(r, header);
    char *end, why[96];
    long n;

    if (!v)
        return 0;
    errno = 0;
    n = strtol(v, &end, 10);
    if (end == v || *end || errno) {
        header_invalid(v, member, "be an integer", d);
        return -1;
    }
    if (n < min || n > max) {
        snprintf(why, sizeof(why), "have value %s than or equal to %d",
                 n < min ? "greater" : "less", n < min ? min : max);
        header_invalid(v, member, why, d);
        return -1;
    }
    return (int)n;
}

/* InvokeEndpointAsync (api-contract.md §3): queued, answered 202 with
 * where the result will be. */
static void answer_async(struct front *f, struct http_request *r,
                         struct front_req *fr, const struct api_ctx *c,
                         const char *name)
{
    struct kiln_diag d = {0};
    struct async_ticket t = {0};
    int rc;

    str_copy(r->op, "InvokeEndpointAsync", sizeof(r->op));
    if (headers_valid(r, async_headers, &d) != 0) {
        fail(r, fr, KILN_EVALIDATION, d.msg);
        return;
    }
    struct async_req req = {
        .content_type = http_request_header(r, "X-Amzn-SageMaker-Content-Type"),
        .accept = http_request_header(r, "X-Amzn-SageMaker-Accept"),
        .custom_attributes =
            http_request_header(r, "X-Amzn-SageMaker-Custom-Attributes"),
        .inference_id = http_request_header(r, "X-Amzn-SageMaker-Inference-Id"),
        .input_location =
            http_request_header(r, "X-Amzn-SageMaker-InputLocation"),
    };
    req.ttl_seconds = header_int(r, "X-Amzn-SageMaker-RequestTTLSeconds",
                                 "requestTTLSeconds", 60, 21600, &d);
    if (req.ttl_seconds >= 0)
        req.timeout_seconds =
            header_int(r, "X-Amzn-SageMaker-InvocationTimeoutSeconds",
                       "invocationTimeoutSeconds", 1, 3600, &d);
    if (req.ttl_seconds < 0 || req.timeout_seconds < 0) {
        fail(r, fr, KILN_EVALIDATION, d.msg);
        return;
    }
    if (!req.input_location) {
        fail(r, fr, KILN_EVALIDATION,
             "1 validation error detected: Value null at 'inputLocation' "
             "failed to satisfy constraint: Member must not be null");
        return;
    }
    rc = f->asyncq ? asyncq_submit(f->asyncq, c->account, name, &req, &t, &d)
                   : KILN_ENOTFOUND;
    if (rc == KILN_ENOTFOUND) {
        diag_set(&d, KILN_ENOTFOUND, "Endpoint %s of account %s not found.",
                 name, c->account);
        fail(r, fr, KILN_ENOTFOUND, d.msg);
        return;
    }
    if (rc) {
        fail(r, fr, rc, d.msg);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "InferenceId", json_string(t.inference_id));
    char *text = json_dumps(o, JSON_COMPACT);
    http_respond(r, 202, "application/json", text, strlen(text));
    awserr_request_id_headers(r, KILN_PROTO_REST);
    http_response_header(r, "X-Amzn-SageMaker-OutputLocation", t.output);
    http_response_header(r, "X-Amzn-SageMaker-FailureLocation", t.failure);
    mem_free(text);
    json_decref(o);
}

/* The container said no: ModelError 424 with its answer. */
static void model_error(struct front *f, struct http_request *r,
                        struct invoke_resp *resp, const char *name,
                        const char *account)
{
    json_t *e = json_object();
    struct buf msg = BUF_INIT(1 << 20);
    char group[200];

    /* What the model server said goes into JSON: UTF-8 only. */
    if (resp->body.len)
        str_utf8_fix(resp->body.data, resp->body.len);
    buf_addf(&msg,
             "Received %s error (%d) from %s with message \"%.*s\". See "
             "https://%s.console.aws.amazon.com/cloudwatch/home?region="
             "%s#logEventViewer:group=/aws/sagemaker/Endpoints/%s in "
             "account %s for more information.",
             resp->status >= 500 ? "server" : "client", resp->status,
             resp->variant,
             (int)(resp->body.len > 4096 ? 4096 : resp->body.len),
             resp->body.data ? resp->body.data : "", f->region, f->region, name,
             account);
    str_utf8_fix(msg.data, msg.len); /* the 4096-byte cut, too */
    snprintf(group, sizeof(group),
             "arn:aws:logs:%s:%s:log-group:/aws/sagemaker/Endpoints/%s",
             f->region, account, name);
    json_object_set_new(e, "ErrorCode",
                        json_string(resp->status >= 500
                                        ? "SERVER_ERROR_FROM_MODEL"
                                        : "CLIENT_ERROR_FROM_MODEL"));
    json_object_set_new(e, "LogStreamArn", json_string(group));
    json_object_set_new(e, "Message", json_string(buf_cstr(&msg)));
    json_object_set_new(e, "message", json_string(buf_cstr(&msg)));
    json_object_set_new(
        e, "OriginalMessage",
        json_stringn(resp->body.data ? resp->body.data : "", resp->body.len));
    json_object_set_new(e, "OriginalStatusCode", json_integer(resp->status));
    char *text = json_dumps(e, JSON_COMPACT);
    http_respond(r, kiln_err_status(KILN_EMODELERROR, KILN_PROTO_REST),
                 "application/json", text, strlen(text));
    http_response_header(r, "x-amzn-ErrorType",
                         kiln_err_name(KILN_EMODELERROR, KILN_PROTO_REST));
    awserr_request_id_headers(r, KILN_PROTO_REST);
    mem_free(text);
    json_decref(e);
    buf_release(&msg);
}

/* InvokeEndpointWithResponseStream's answer: the container's body as
 * PayloadPart events of at most STREAM_PART bytes. kiln's model servers
 * answer whole, so the parts follow one another at once. */
#define STREAM_PART (64u << 10)
static void answer_stream(struct http_request *r, struct invoke_resp *resp)
{
    static const struct es_header part[] = {
        {":event-type", "PayloadPart"},
        {":content-type", "application/octet-stream"},
        {":message-type", "event"}};
    struct buf out = BUF_INIT(resp->body.len + resp->body.len / 64 + 4096);

    for (size_t off = 0; off < resp->body.len; off += STREAM_PART) {
        size_t n = resp->body.len - off;
        eventstream_add(&out, part, 3, resp->body.data + off,
                        n > STREAM_PART ? STREAM_PART : n);
    }
    http_respond(r, 200, "application/vnd.amazon.eventstream", out.data,
                 out.len);
    http_response_header(r, "X-Amzn-SageMaker-Content-Type",
                         resp->content_type[0] ? resp->content_type
                                               : "application/json");
    buf_release(&out);
}

/* InvokeEndpoint (api-contract.md §3.1), InvokeEndpointWithResponseStream
 * and InvokeEndpointAsync. */
static void answer_runtime(struct front *f, struct http_request *r,
                           struct front_req *fr, const struct api_ctx *c)
{
    struct kiln_diag d = {0};
    struct invoke_resp resp = {.body = BUF_INIT(64u << 20)};
    const char *p = r->path + strlen("/endpoints/");
    const char *slash = strchr(p, '/');
    char name[128];
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    int rc;

    bool async = slash && strcmp(slash, "/async-invocations") == 0;
    bool stream = slash && strcmp(slash, "/invocations-response-stream") == 0;
    str_copy(r->op,
             async    ? "InvokeEndpointAsync"
             : stream ? "InvokeEndpointWithResponseStream"
                      : "InvokeEndpoint",
             sizeof(r->op));
    snprintf(name, sizeof(name), "%.*s", (int)(n > 100 ? 100 : n), p);
    if (!slash || (strcmp(slash, "/invocations") != 0 && !async && !stream) ||
        strcmp(r->method, "POST") != 0) {
        fail(r, fr, KILN_EUNKNOWNOP,
             "kiln's runtime answers POST /endpoints/NAME/invocations, "
             "/invocations-response-stream and /async-invocations.");
        return;
    }
    if (n > 63 || !name_like(name)) {
        diag_set(&d, KILN_EVALIDATION,
                 "1 validation error detected: Value '%s' at 'endpointName' "
                 "failed to satisfy constraint: Member must satisfy regular "
                 "expression pattern: ^[a-zA-Z0-9](-*[a-zA-Z0-9])*",
                 name);
        fail(r, fr, KILN_EVALIDATION, d.msg);
        return;
    }
    if (async) {
        answer_async(f, r, fr, c, name);
        return;
    }
    if (headers_valid(r, stream ? stream_headers : invoke_headers, &d) != 0 ||
        headers_unsupported(r, name, &d) != 0) {
        fail(r, fr, KILN_EVALIDATION, d.msg);
        return;
    }
    struct invoke_req req = {
        .content_type = http_request_header(r, "Content-Type"),
        .accept = http_request_header(r, stream ? "X-Amzn-SageMaker-Accept"
                                                : "Accept"),
        .custom_attributes =
            http_request_header(r, "X-Amzn-SageMaker-Custom-Attributes"),
        .target_variant =
            http_request_header(r, "X-Amzn-SageMaker-Target-Variant"),
        .inference_id = http_request_header(r, "X-Amzn-SageMaker-Inference-Id"),
        .target_model =
            stream ? NULL
                   : http_request_header(r, "X-Amzn-SageMaker-Target-Model"),
        .body = r->body.data ? r->body.data : "",
        .len = r->body.len,
        .start_ns = r->start_ns,
    };
    rc = f->hoster ? hoster_invoke(f->hoster, c->account, name, &req, &resp, &d)
                   : KILN_ENOTFOUND;
    if (rc == KILN_ENOTFOUND) {
        diag_set(&d, KILN_ENOTFOUND, "Endpoint %s of account %s not found.",
                 name, c->account);
        fail(r, fr, KILN_ENOTFOUND, d.msg);
    } else if (rc) {
        fail(r, fr, rc, d.msg);
    } else if (resp.status >= 200 && resp.status < 300) {
        if (stream)
            answer_stream(r, &resp);
        else
            http_respond(r, 200,
                         resp.content_type[0] ? resp.content_type
                                              : "application/json",
                         resp.body.data, resp.body.len);
        awserr_request_id_headers(r, KILN_PROTO_REST);
        http_response_header(r, "x-Amzn-Invoked-Production-Variant",
                             resp.variant);
        if (resp.custom_attributes[0])
            http_response_header(r, "X-Amzn-SageMaker-Custom-Attributes",
                                 resp.custom_attributes);
    } else {
        model_error(f, r, &resp, name, c->account);
    }
    buf_release(&resp.body);
}

static void on_done(struct front *f, struct http_request *r)
{
    struct front_req *fr = r->app_state;
    struct kiln_diag d = {0};
    char hash[65];
    const char *claimed;
    int rc;

    if (fr->route == ROUTE_S3) {
        s3_finish(&f->s3, r, fr->s3);
        return;
    }
    if (r->body_overflow) {
        diag_set(&d, KILN_ETOOBIG,
                 "Request body exceeds the limit of %zu bytes.", r->body_max);
        fail(r, fr, KILN_ETOOBIG, d.msg);
        return;
    }
    http_request_body_sha256(r, hash);
    claimed = http_request_header(r, "x-amz-content-sha256");
    if (claimed && is_hex64(claimed) && strcmp(claimed, hash) != 0) {
        fail(r, fr, KILN_EPAYLOADHASH,
             "The provided 'x-amz-content-sha256' header does not match "
             "what was computed.");
        return;
    }
    rc = auth_finish(r, &fr->ar, false, hash, &d);
    if (rc) {
        fail(r, fr, rc, d.msg);
        return;
    }

    struct api_ctx c = {
        .jobs = &f->jobs,
        .meta = f->meta,
        .account = fr->ar.account,
        .user = fr->ar.user,
        .akid = fr->ar.a.akid,
        .region = f->region,
        .request_id = r->id,
    };
    switch (fr->route) {
    case ROUTE_JSON:
        answer_json(f, r, fr, &c);
        break;
    case ROUTE_STS:
        answer_query(r, fr, &c, sts_handle);
        break;
    case ROUTE_CLOUDWATCH:
        if (fr->cw_wire)
            answer_cwrpc(r, fr, &c);
        else
            answer_query(r, fr, &c, cloudwatch_handle);
        break;
    case ROUTE_RUNTIME:
        answer_runtime(f, r, fr, &c);
        break;
    case ROUTE_S3:
    case ROUTE_CONSOLE:
        fail(r, fr, KILN_EINTERNAL, "unexpected route");
        break;
    }
}

void front_handle(void *app, struct http_request *r, enum http_phase phase)
{
    struct front *f = app;
    if (phase == HTTP_PHASE_HEADERS)
        on_headers(f, r);
    else
        on_done(f, r);
    api_cors(r->app_state, r);
}
