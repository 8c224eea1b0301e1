/*
 * awserr.c - error bodies per protocol; JSON through jansson so messages
 * are escaped correctly, XML with a small escaper.
 */
#include "http/awserr.h"

#include <jansson.h>

#include "base/mem.h"
#include "base/str.h"

int awserr_xml_escape(struct buf *out, const char *s)
{
    int rc = 0;
    for (; *s && rc == 0; s++) {
        switch (*s) {
        case '<':
            rc = buf_adds(out, "&lt;");
            break;
        case '>':
            rc = buf_adds(out, "&gt;");
            break;
        case '&':
            rc = buf_adds(out, "&amp;");
            break;
        case '"':
            rc = buf_adds(out, "&quot;");
            break;
        case '\'':
            rc = buf_adds(out, "&apos;");
            break;
        /* As S3 writes them: a parser would turn a bare CR or CRLF into
         * LF, and a key with one could not be named back. */
        case '\r':
            rc = buf_adds(out, "&#13;");
            break;
        case '\n':
            rc = buf_adds(out, "&#10;");
            break;
        default:
            rc = buf_addc(out, *s);
        }
    }
    return rc;
}

void awserr_request_id_headers(struct http_request *r, enum kiln_proto proto)
{
    if (proto == KILN_PROTO_S3) {
        http_response_header(r, "x-amz-request-id", r->id);
        http_response_header(r, "x-amz-id-2", r->id);
    } else {
        http_response_header(r, "x-amzn-RequestId", r->id);
    }
}

static void json_error(struct http_request *r, int status, const char *name,
                       const char *message, bool rest)
{
    json_t *o = json_object();
    char *text;

    json_object_set_new(o, "__type", json_string(name));
    json_object_set_new(o, "message", json_string(message));
    json_object_set_new(o, "Message", json_string(message));
    text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    http_respond(r, status,
                 rest ? "application/json" : "application/x-amz-json-1.1", text,
                 text ? strlen(text) : 0);
    mem_free(text); /* kiln_json_setup() routes jansson through mem.c */
    if (rest)
        http_response_header(r, "x-amzn-ErrorType", name);
}

void awserr_respond(struct http_request *r, enum kiln_proto proto, int code,
                    const char *message, const char *extra_xml)
{
    int status = kiln_err_status(code, proto);
    const char *name = kiln_err_name(code, proto);
    struct buf b = BUF_INIT(1 << 20);

    if (!message || !*message)
        message = kiln_strerror(code);
    /* Messages may quote what a client sent; the body must be UTF-8. */
    char *text = xstrdup(message);
    str_utf8_fix(text, strlen(text));
    message = text;
    switch (proto) {
    case KILN_PROTO_JSON:
    case KILN_PROTO_REST:
        json_error(r, status, name, message, proto == KILN_PROTO_REST);
        break;
    case KILN_PROTO_S3:
        if (strcmp(r->method, "HEAD") == 0) {
            http_respond(r, status, NULL, NULL, 0);
            break;
        }
        buf_addf(&b,
                 "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                 "<Error><Code>%s</Code><Message>",
                 name);
        awserr_xml_escape(&b, message);
        buf_adds(&b, "</Message>");
        if (extra_xml)
            buf_adds(&b, extra_xml);
        buf_addf(&b, "<RequestId>%s</RequestId><HostId>%s</HostId></Error>",
                 r->id, r->id);
        http_respond(r, status, "application/xml", b.data, b.len);
        break;
    case KILN_PROTO_QUERY:
        buf_addf(&b,
                 "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/"
                 "2011-06-15/\"><Error><Type>%s</Type><Code>%s</Code>"
                 "<Message>",
                 status >= 500 ? "Receiver" : "Sender", name);
        awserr_xml_escape(&b, message);
        buf_addf(&b,
                 "</Message></Error><RequestId>%s</RequestId>"
                 "</ErrorResponse>",
                 r->id);
        http_respond(r, status, "text/xml", b.data, b.len);
        break;
    }
    buf_release(&b);
    mem_free(text);
    awserr_request_id_headers(r, proto);
}
