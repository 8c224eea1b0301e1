/*
 * cwrpc.c - CloudWatch's JSON 1.0 and RPC v2 CBOR requests as Query
 * parameters, and the Query XML answers as JSON or CBOR (cwrpc.h). CBOR is
 * read with libcbor's streaming decoder into jansson values (an explicit
 * stack, nesting bounded) and written with libcbor's builder.
 */
#include "api/cwrpc.h"

#include <cbor.h>
#include <ctype.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <math.h>
#include <stdlib.h>

#include "api/cloudwatch.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"

#define MAX_DEPTH 32

/* Members whose numbers are times: Query wants them as ISO 8601. */
static const char *const time_members[] = {"StartTime", "EndTime", "StartDate",
                                           "EndDate"};

/* ---- CBOR in ---------------------------------------------------------- */

struct frame {
    json_t *value;    /* an object or an array */
    size_t remaining; /* items (for maps, keys and values) still to come */
    char *key;        /* a map's key waiting for its value */
};

struct reader {
    struct frame stack[MAX_DEPTH];
    int depth;
    json_t *root;
    bool failed;
};

static void reader_fail(struct reader *rd)
{
    rd->failed = true;
}

/* Adds a finished value where the top of the stack wants it. */
static void put(struct reader *rd, json_t *v)
{
    if (rd->failed || !v) {
        json_decref(v);
        rd->failed = true;
        return;
    }
    while (true) {
        if (rd->depth == 0) {
            if (rd->root)
                rd->failed = true;
            else
                rd->root = json_incref(v);
            json_decref(v);
            return;
        }
        struct frame *f = &rd->stack[rd->depth - 1];
        if (json_is_array(f->value)) {
            json_array_append(f->value, v);
        } else if (!f->key) {
            if (!json_is_string(v)) {
                json_decref(v);
                rd->failed = true;
                return;
            }
            f->key = xstrdup(json_string_value(v));
        } else {
            json_object_set(f->value, f->key, v);
            mem_free(f->key);
            f->key = NULL;
        }
        json_decref(v);
        if (--f->remaining > 0)
            return;
        /* The container is complete: it is the value to put next. */
        v = json_incref(f->value);
        json_decref(f->value);
        rd->depth--;
    }
}

static void open_container(struct reader *rd, json_t *c, size_t items)
{
    if (rd->failed || rd->depth == MAX_DEPTH) {
        json_decref(c);
        rd->failed = true;
        return;
    }
    if (items == 0) {
        put(rd, c);
        return;
    }
    rd->stack[rd->depth++] = (struct frame){c, items, NULL};
}

static void on_uint(void *ctx, uint64_t v)
{
    put(ctx,
        v > INT64_MAX ? json_real((double)v) : json_integer((json_int_t)v));
}
static void on_u8(void *ctx, uint8_t v)
{
    on_uint(ctx, v);
}
static void on_u16(void *ctx, uint16_t v)
{
    on_uint(ctx, v);
}
static void on_u32(void *ctx, uint32_t v)
{
    on_uint(ctx, v);
}
static void on_negint(void *ctx, uint64_t v)
{
    /* CBOR's negative integers are -1 - v. */
    put(ctx, v >= INT64_MAX ? json_real(-1.0 - (double)v)
                            : json_integer(-1 - (json_int_t)v));
}
static void on_n8(void *ctx, uint8_t v)
{
    on_negint(ctx, v);
}
static void on_n16(void *ctx, uint16_t v)
{
    on_negint(ctx, v);
}
static void on_n32(void *ctx, uint32_t v)
{
    on_negint(ctx, v);
}
static void on_string(void *ctx, cbor_data p, size_t n)
{
    put(ctx, json_stringn((const char *)p, n)); /* NULL if not UTF-8 */
}
static void on_double(void *ctx, double v)
{
    put(ctx, isfinite(v) ? json_real(v) : NULL);
}
static void on_float(void *ctx, float v)
{
    on_double(ctx, v);
}
static void on_bool(void *ctx, bool v)
{
    put(ctx, json_boolean(v));
}
static void on_null(void *ctx)
{
    put(ctx, json_null());
}
static void on_array(void *ctx, size_t n)
{
    open_container(ctx, json_array(), n);
}
static void on_map(void *ctx, size_t n)
{
    /* Keys and values are items of their own. */
    open_container(ctx, json_object(), n > SIZE_MAX / 2 ? 0 : 2 * n);
}
/* Tag 1 (a time) leaves its number as it is; others are not CloudWatch's. */
static void on_tag(void *ctx, uint64_t tag)
{
    if (tag != 1)
        reader_fail(ctx);
}
/* Indefinite-length items and byte strings: no CloudWatch client sends
 * them, so they are refused. */
static void on_refused(void *ctx)
{
    reader_fail(ctx);
}
static void on_refused_bytes(void *ctx, cbor_data p, size_t n)
{
    (void)p;
    (void)n;
    reader_fail(ctx);
}

static json_t *cbor_to_json(const unsigned char *p, size_t len)
{
    struct cbor_callbacks cb = cbor_empty_callbacks;
    struct reader rd = {.depth = 0};

    cb.uint8 = on_u8;
    cb.uint16 = on_u16;
    cb.uint32 = on_u32;
    cb.uint64 = on_uint;
    cb.negint8 = on_n8;
    cb.negint16 = on_n16;
    cb.negint32 = on_n32;
    cb.negint64 = on_negint;
    cb.string = on_string;
    cb.string_start = on_refused;
    cb.byte_string = on_refused_bytes;
    cb.byte_string_start = on_refused;
    cb.array_start = on_array;
    cb.indef_array_start = on_refused;
    cb.map_start = on_map;
    cb.indef_map_start = on_refused;
    cb.tag = on_tag;
    cb.float2 = on_float;
    cb.float4 = on_float;
    cb.float8 = on_double;
    cb.undefined = on_null;
    cb.null = on_null;
    cb.boolean = on_bool;
    cb.indef_break = on_refused;

    size_t at = 0;
    while (at < len && !rd.failed) {
        struct cbor_decoder_result r =
            cbor_stream_decode(p + at, len - at, &cb, &rd);
        if (r.status != CBOR_DECODER_FINISHED || r.read == 0)
            rd.failed = true;
        at += r.read;
    }
    for (int i = 0; i < rd.depth; i++) {
        json_decref(rd.stack[i].value);
        mem_free(rd.stack[i].key);
    }
    if (rd.failed || rd.depth > 0) {
        json_decref(rd.root);
        return NULL;
    }
    return rd.root;
}

/* ---- request to Query parameters ------------------------------------- */

static void add_encoded(struct buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            buf_addc(out, (char)*p);
        } else {
            buf_addc(out, '%');
            buf_addc(out, hex[*p >> 4]);
            buf_addc(out, hex[*p & 15]);
        }
    }
}

static bool is_time_member(const char *name)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(time_members); i++)
        if (strcmp(name, time_members[i]) == 0)
            return true;
    return false;
}

static void add_param(struct buf *out, const char *name, const char *value)
{
    buf_addc(out, '&');
    add_encoded(out, name);
    buf_addc(out, '=');
    add_encoded(out, value);
}

/* Query's names: a.b for a member, a.member.N for a list item. */
static void flatten(json_t *v, const char *name, const char *member,
                    struct buf *out)
{
    char text[64];
    const char *key;
    json_t *item;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(v, key, item)
        {
            struct buf sub = BUF_INIT(4096);
            buf_addf(&sub, "%s%s%s", name, *name ? "." : "", key);
            flatten(item, buf_cstr(&sub), key, out);
            buf_release(&sub);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            struct buf sub = BUF_INIT(4096);
            buf_addf(&sub, "%s.member.%zu", name, i + 1);
            flatten(item, buf_cstr(&sub), member, out);
            buf_release(&sub);
        }
    } else if (json_is_number(v) && is_time_member(member)) {
        char when[TM_ISO_LEN];
        tm_format_iso(json_number_value(v), when);
        add_param(out, name, when);
    } else if (json_is_integer(v)) {
        snprintf(text, sizeof(text), "%lld", (long long)json_integer_value(v));
        add_param(out, name, text);
    } else if (json_is_real(v)) {
        snprintf(text, sizeof(text), "%.17g", json_real_value(v));
        add_param(out, name, text);
    } else if (json_is_boolean(v)) {
        add_param(out, name, json_is_true(v) ? "true" : "false");
    } else if (json_is_string(v)) {
        add_param(out, name, json_string_value(v));
    }
}

/* ---- XML answer to JSON or CBOR -------------------------------------- */

/* What the answers' elements hold, by name (the CloudWatch shapes kiln
 * answers). Anything else is a string. */
static const char *const lists[] = {
    "Metrics",          "Dimensions", "Datapoints",   "MetricDataResults",
    "Timestamps",       "Values",     "Messages",     "MetricAlarms",
    "CompositeAlarms",  "OKActions",  "AlarmActions", "InsufficientDataActions",
    "AlarmHistoryItems"};
static const char *const times[] = {
    "Timestamp", "Timestamps", "StateUpdatedTimestamp",
    "AlarmConfigurationUpdatedTimestamp", "StateTransitionedTimestamp"};
static const char *const numbers[] = {"SampleCount", "Average", "Sum",
                                      "Minimum",     "Maximum", "Threshold",
                                      "Values"};
static const char *const integers[] = {"Period", "EvaluationPeriods",
                                       "DatapointsToAlarm"};

static bool listed(const char *name, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name, set[i]) == 0)
            return true;
    return false;
}

/* A time, in JSON: {"\x01t": seconds}, until the writer makes it a number
 * (JSON) or a tag-1 item (CBOR). */
#define TIME_MARK "\x01t"

static bool has_elements(const xmlNode *n)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return true;
    return false;
}

static json_t *leaf(const xmlNode *n, const char *kind)
{
    xmlChar *raw = xmlNodeGetContent(n);
    const char *s = raw ? (const char *)raw : "";
    json_t *v;
    double t;

    if (listed(kind, times, KILN_ARRAY_LEN(times)) &&
        tm_parse_iso(s, &t) == 0) {
        v = json_object();
        json_object_set_new(v, TIME_MARK, json_real(t));
    } else if (listed(kind, numbers, KILN_ARRAY_LEN(numbers))) {
        v = json_real(strtod(s, NULL));
    } else if (listed(kind, integers, KILN_ARRAY_LEN(integers))) {
        v = json_integer(strtoll(s, NULL, 10));
    } else if (strcmp(kind, "ActionsEnabled") == 0) {
        v = json_boolean(strcmp(s, "true") == 0);
    } else {
        v = json_string(s);
    }
    xmlFree(raw);
    return v ? v : json_string("");
}

static json_t *element(const xmlNode *n, int depth)
{
    const char *name = (const char *)n->name;

    if (depth > MAX_DEPTH)
        return json_null();
    if (listed(name, lists, KILN_ARRAY_LEN(lists))) {
        json_t *a = json_array();
        for (const xmlNode *c = n->children; c; c = c->next)
            if (c->type == XML_ELEMENT_NODE)
                json_array_append_new(a, has_elements(c) ? element(c, depth + 1)
                                                         : leaf(c, name));
        return a;
    }
    if (!has_elements(n))
        return leaf(n, name);
    json_t *o = json_object();
    for (const xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            json_object_set_new(o, (const char *)c->name,
                                element(c, depth + 1));
    return o;
}

/* The <...Result> of a Query answer as a JSON object ({} when none). */
static json_t *answer_of(const struct buf *xml)
{
    xmlDoc *doc = xmlReadMemory(xml->data, (int)xml->len, NULL, NULL,
                                XML_PARSE_NONET | XML_PARSE_NOBLANKS);
    xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
    json_t *o = NULL;

    for (xmlNode *c = root ? root->children : NULL; c && !o; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strlen((const char *)c->name) > 6 &&
            strcmp((const char *)c->name + strlen((const char *)c->name) - 6,
                   "Result") == 0)
            o = element(c, 0);
    xmlFreeDoc(doc);
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    return o;
}

/* Times become numbers, for JSON. */
static void times_to_numbers(json_t *v)
{
    const char *key;
    json_t *item;
    size_t i;

    if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            json_t *t = json_object_get(item, TIME_MARK);
            if (t)
                json_array_set(v, i, t);
            else
                times_to_numbers(item);
        }
    } else if (json_is_object(v)) {
        json_object_foreach(v, key, item)
        {
            json_t *t = json_object_get(item, TIME_MARK);
            if (t)
                json_object_set(v, key, t);
            else
                times_to_numbers(item);
        }
    }
}

static cbor_item_t *to_cbor(json_t *v)
{
    const char *key;
    json_t *item;
    size_t i;

    if (json_is_object(v)) {
        json_t *t = json_object_get(v, TIME_MARK);
        if (t)
            return cbor_build_tag(
                1, cbor_move(cbor_build_float8(json_number_value(t))));
        cbor_item_t *m = cbor_new_definite_map(json_object_size(v));
        json_object_foreach(v, key, item)
        {
            cbor_map_add(
                m, (struct cbor_pair){.key = cbor_move(cbor_build_string(key)),
                                      .value = cbor_move(to_cbor(item))});
        }
        return m;
    }
    if (json_is_array(v)) {
        cbor_item_t *a = cbor_new_definite_array(json_array_size(v));
        json_array_foreach(v, i, item)
            cbor_array_push(a, cbor_move(to_cbor(item)));
        return a;
    }
    if (json_is_string(v))
        return cbor_build_stringn(json_string_value(v), json_string_length(v));
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        return n >= 0 ? cbor_build_uint64((uint64_t)n)
                      : cbor_build_negint64((uint64_t)(-1 - n));
    }
    if (json_is_real(v))
        return cbor_build_float8(json_real_value(v));
    if (json_is_boolean(v))
        return cbor_build_bool(json_is_true(v));
    return cbor_new_null();
}

static void write_answer(enum cwrpc_wire wire, json_t *v, struct buf *out)
{
    if (wire == CWRPC_JSON) {
        times_to_numbers(v);
        char *text = json_dumps(v, JSON_COMPACT);
        buf_adds(out, text);
        mem_free(text);
        return;
    }
    cbor_item_t *item = to_cbor(v);
    unsigned char *bytes = NULL;
    size_t size = 0, n = cbor_serialize_alloc(item, &bytes, &size);
    buf_add(out, bytes, n);
    mem_free(bytes); /* libcbor allocates with malloc */
    cbor_decref(&item);
}

/* ---- the calls ------------------------------------------------------- */

int cwrpc_handle(const struct api_ctx *c, enum cwrpc_wire wire,
                 const char *operation, const void *body, size_t len,
                 struct buf *out, struct kiln_diag *d)
{
    json_t *in = len == 0             ? json_object()
                 : wire == CWRPC_CBOR ? cbor_to_json(body, len)
                                      : json_loadb(body, len, 0, NULL);
    struct buf params = BUF_INIT(1u << 20), xml = BUF_INIT(16u << 20);
    int rc = 0;

    if (!json_is_object(in))
        rc = diag_set(d, KILN_ESERIAL,
                      wire == CWRPC_CBOR ? "The request body is not a CBOR map."
                                         : "The request body is not a JSON "
                                           "object.");
    if (!rc) {
        buf_adds(&params, "Version=2010-08-01");
        add_param(&params, "Action", operation);
        flatten(in, "", "", &params);
        rc = cloudwatch_handle(c, params.data, params.len, &xml, d);
    }
    if (!rc) {
        json_t *answer = answer_of(&xml);
        write_answer(wire, answer, out);
        json_decref(answer);
    }
    json_decref(in);
    buf_release(&params);
    buf_release(&xml);
    return rc;
}

void cwrpc_error(enum cwrpc_wire wire, const char *code, const char *message,
                 struct buf *out)
{
    json_t *e = json_object();
    json_object_set_new(e, "__type", json_string(code));
    json_object_set_new(e, "message", json_string(message));
    write_answer(wire, e, out);
    json_decref(e);
}
