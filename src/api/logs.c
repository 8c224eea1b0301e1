/*
 * logs.c - tokens are positions in the event table ("f/<seq>", "b/<seq>")
 * or stream offsets ("s/<n>"), so they survive new events arriving.
 */
#include "api/logs.h"

#include <inttypes.h>

#include "base/mem.h"
#include "base/str.h"
#include "meta/meta.h"

static const struct vshape group = {.type = VT_STRING,
                                    .flags = V_MIN | V_MAX,
                                    .min = 1,
                                    .max = 512,
                                    .pattern = "[\\.\\-_/#A-Za-z0-9]+"};
static const struct vshape stream = {.type = VT_STRING,
                                     .flags = V_MIN | V_MAX,
                                     .min = 1,
                                     .max = 512,
                                     .pattern = "[^:*]*"};
static const struct vshape token = {
    .type = VT_STRING, .flags = V_MIN, .min = 1};
static const struct vshape ts = {.type = VT_INTEGER, .flags = V_MIN, .min = 0};
static const struct vshape boolean = {.type = VT_BOOLEAN};
static const char *const orders[] = {"LogStreamName", "LastEventTime", NULL};
static const struct vshape order = {.type = VT_STRING, .enums = orders};
static const struct vshape limit50 = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 50};
static const struct vshape limit10k = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 10000};
static const struct vshape names = {.type = VT_LIST,
                                    .flags = V_MIN | V_MAX,
                                    .min = 1,
                                    .max = 100,
                                    .item = &stream};
static const struct vshape filter_pattern = {
    .type = VT_STRING, .flags = V_MAX, .max = 1024};

static const struct vmember describe_members[] = {
    {"logGroupName", &group, false},
    {"logGroupIdentifier", &group, false},
    {"logStreamNamePrefix", &stream, false},
    {"orderBy", &order, false},
    {"descending", &boolean, false},
    {"nextToken", &token, false},
    {"limit", &limit50, false},
    {NULL, NULL, false}};
static const struct vmember groups_members[] = {
    {"logGroupNamePrefix", &group, false},
    {"nextToken", &token, false},
    {"limit", &limit50, false},
    {NULL, NULL, false}};
static const struct vmember get_members[] = {
    {"logGroupName", &group, false},  {"logGroupIdentifier", &group, false},
    {"logStreamName", &stream, true}, {"startTime", &ts, false},
    {"endTime", &ts, false},          {"nextToken", &token, false},
    {"limit", &limit10k, false},      {"startFromHead", &boolean, false},
    {"unmask", &boolean, false},      {NULL, NULL, false}};
static const struct vmember filter_members[] = {
    {"logGroupName", &group, false},
    {"logGroupIdentifier", &group, false},
    {"logStreamNames", &names, false},
    {"logStreamNamePrefix", &stream, false},
    {"startTime", &ts, false},
    {"endTime", &ts, false},
    {"filterPattern", &filter_pattern, false},
    {"nextToken", &token, false},
    {"limit", &limit10k, false},
    {"interleaved", &boolean, false},
    {"unmask", &boolean, false},
    {NULL, NULL, false}};
const struct vshape logs_describe_streams_input = {.type = VT_STRUCTURE,
                                                   .members = describe_members};
const struct vshape logs_describe_groups_input = {.type = VT_STRUCTURE,
                                                  .members = groups_members};
const struct vshape logs_get_events_input = {.type = VT_STRUCTURE,
                                             .members = get_members};
const struct vshape logs_filter_events_input = {.type = VT_STRUCTURE,
                                                .members = filter_members};

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int64_t num(json_t *o, const char *k, int64_t def)
{
    json_t *v = json_object_get(o, k);
    return v ? (int64_t)json_integer_value(v) : def;
}

/* The group named by logGroupName or logGroupIdentifier (an ARN's tail). */
static int group_of(const struct api_ctx *c, json_t *in, const char **g,
                    struct kiln_diag *d)
{
    const char *name = str(in, "logGroupName");
    if (!name) {
        name = str(in, "logGroupIdentifier");
        const char *colon = name ? strstr(name, ":log-group:") : NULL;
        if (colon)
            name = colon + strlen(":log-group:");
    }
    if (!name)
        return diag_set(d, KILN_EBADPARAM,
                        "Either logGroupName or logGroupIdentifier is "
                        "required.");
    if (!meta_log_exists(c->meta, c->account, name, NULL))
        return diag_set(d, KILN_ENORESOURCE,
                        "The specified log group does not exist.");
    *g = name;
    return 0;
}

/* Parses "<c>/<n>" tokens. */
static int token_of(const char *t, char kind, int64_t *out, struct kiln_diag *d)
{
    int64_t v;
    if (!t)
        return KILN_CONTINUE;
    if (t[0] != kind || t[1] != '/' ||
        parse_i64_str(t + 2, 0, INT64_MAX, &v) != 0)
        return diag_set(d, KILN_EBADPARAM,
                        "The specified nextToken is "
                        "invalid.");
    *out = v;
    return 0;
}

/* A page of DescribeLogGroups or DescribeLogStreams: rows after the
 * first `skip` (the "<kind>/<n>" token), at most `limit`. */
struct list_page {
    json_t *list;
    const char *group, *region, *account;
    int64_t skip, limit, seen;
};

/* Where the next row goes: 0 on this page, -1 before it, 1 after it. */
static int page_place(struct list_page *p)
{
    if (p->seen++ < p->skip)
        return -1;
    return (int64_t)json_array_size(p->list) == p->limit;
}

/* Puts the page under `key` in a new reply, with a nextToken when rows
 * remain. */
static json_t *page_reply(struct list_page *p, const char *key, char kind)
{
    json_t *out = json_object();
    int64_t next = p->skip + (int64_t)json_array_size(p->list);
    json_object_set_new(out, key, p->list);
    if (p->seen > next)
        json_object_set_new(out, "nextToken",
                            json_sprintf("%c/%" PRId64, kind, next));
    return out;
}

static int add_stream(void *ctx, const struct meta_stream *s)
{
    struct list_page *p = ctx;
    char arn[1024];
    int place = page_place(p);
    if (place)
        return place > 0;
    json_t *o = json_object();
    json_object_set_new(o, "logStreamName", json_string(s->name));
    json_object_set_new(o, "creationTime", json_integer(s->created));
    json_object_set_new(o, "firstEventTimestamp", json_integer(s->first_ts));
    json_object_set_new(o, "lastEventTimestamp", json_integer(s->last_ts));
    json_object_set_new(o, "lastIngestionTime", json_integer(s->last_ingested));
    json_object_set_new(o, "uploadSequenceToken", json_string("1"));
    snprintf(arn, sizeof(arn), "arn:aws:logs:%s:%s:log-group:%s:log-stream:%s",
             p->region, p->account, p->group, s->name);
    json_object_set_new(o, "arn", json_string(arn));
    json_object_set_new(o, "storedBytes", json_integer(s->bytes));
    json_array_append_new(p->list, o);
    return 0;
}

int logs_describe_streams(const struct api_ctx *c, json_t *in, json_t **out,
                          struct kiln_diag *d)
{
    struct list_page p = {.region = c->region, .account = c->account};
    const char *o = str(in, "orderBy");
    bool by_time = o && strcmp(o, "LastEventTime") == 0;
    int rc = group_of(c, in, &p.group, d);

    if (rc)
        return rc;
    if (by_time && str(in, "logStreamNamePrefix"))
        return diag_set(d, KILN_EBADPARAM,
                        "Cannot order by LastEventTime with a "
                        "logStreamNamePrefix.");
    rc = token_of(str(in, "nextToken"), 's', &p.skip, d);
    if (rc < 0)
        return rc;
    p.limit = num(in, "limit", 50);
    p.list = json_array();
    meta_log_streams(
        c->meta, c->account, p.group, str(in, "logStreamNamePrefix"), by_time,
        json_is_true(json_object_get(in, "descending")), add_stream, &p);
    *out = page_reply(&p, "logStreams", 's');
    return 0;
}

static int add_group(void *ctx, const char *name, int64_t created,
                     int64_t bytes)
{
    struct list_page *p = ctx;
    char arn[1024];
    int place = page_place(p);
    if (place)
        return place > 0;
    json_t *o = json_object();
    json_object_set_new(o, "logGroupName", json_string(name));
    json_object_set_new(o, "creationTime", json_integer(created));
    json_object_set_new(o, "metricFilterCount", json_integer(0));
    snprintf(arn, sizeof(arn), "arn:aws:logs:%s:%s:log-group:%s", p->region,
             p->account, name);
    json_object_set_new(o, "logGroupArn", json_string(arn));
    json_object_set_new(o, "arn", json_sprintf("%s:*", arn));
    json_object_set_new(o, "storedBytes", json_integer(bytes));
    json_object_set_new(o, "logGroupClass", json_string("STANDARD"));
    json_array_append_new(p->list, o);
    return 0;
}

/* The groups kiln's jobs and endpoints have written to: a group exists
 * once it has a stream. */
int logs_describe_groups(const struct api_ctx *c, json_t *in, json_t **out,
                         struct kiln_diag *d)
{
    struct list_page p = {.region = c->region, .account = c->account};
    int rc = token_of(str(in, "nextToken"), 'g', &p.skip, d);

    if (rc < 0)
        return rc;
    p.limit = num(in, "limit", 50);
    p.list = json_array();
    meta_log_groups(c->meta, c->account, str(in, "logGroupNamePrefix"),
                    add_group, &p);
    *out = page_reply(&p, "logGroups", 'g');
    return 0;
}

struct event_page {
    json_t *list;
    int64_t first, last;
    bool with_stream;
};

static int add_event(void *ctx, const struct meta_event *e)
{
    struct event_page *p = ctx;
    json_t *o = json_object();
    if (p->with_stream) {
        char id[32];
        json_object_set_new(o, "logStreamName", json_string(e->stream));
        snprintf(id, sizeof(id), "%" PRId64, e->seq);
        json_object_set_new(o, "eventId", json_string(id));
    }
    json_object_set_new(o, "timestamp", json_integer(e->ts));
    json_object_set_new(o, "message", json_string(e->message));
    json_object_set_new(o, "ingestionTime", json_integer(e->ingested));
    json_array_append_new(p->list, o);
    if (!p->first)
        p->first = e->seq;
    p->last = e->seq;
    return 0;
}

int logs_get_events(const struct api_ctx *c, json_t *in, json_t **out,
                    struct kiln_diag *d)
{
    struct meta_log_query q = {.account = c->account, .exact_stream = true};
    struct event_page p = {0};
    const char *t = str(in, "nextToken");
    char tok[48];
    int rc = group_of(c, in, &q.group, d);

    if (rc)
        return rc;
    q.stream = str(in, "logStreamName");
    if (!q.stream || !meta_log_exists(c->meta, c->account, q.group, q.stream))
        return diag_set(d, KILN_ENORESOURCE,
                        "The specified log stream does not exist.");
    q.start = num(in, "startTime", 0);
    q.end = num(in, "endTime", INT64_MAX);
    q.limit = num(in, "limit", 10000);
    /* Without a token, startFromHead false (the default) means the
     * latest events; a backward token, the page before it. Either page is
     * returned oldest first. */
    if (t && t[0] == 'b') {
        rc = token_of(t, 'b', &q.before_seq, d);
        q.newest = true;
        if (rc == 0 && q.before_seq == 0)
            q.limit = 0; /* the beginning was reached */
    } else {
        rc = token_of(t, 'f', &q.after_seq, d);
        q.newest = !t && !json_is_true(json_object_get(in, "startFromHead"));
    }
    if (rc < 0)
        return rc;
    p.list = json_array();
    meta_log_events(c->meta, &q, add_event, &p);
    if (q.newest) {
        size_t n = json_array_size(p.list);
        json_t *in_order = json_array();
        for (size_t i = n; i-- > 0;)
            json_array_append(in_order, json_array_get(p.list, i));
        json_decref(p.list);
        p.list = in_order;
        int64_t first = p.last;
        p.last = p.first;
        p.first = first;
    }
    *out = json_object();
    json_object_set_new(*out, "events", p.list);
    snprintf(tok, sizeof(tok), "f/%" PRId64,
             p.last         ? p.last
             : q.before_seq ? q.before_seq - 1
                            : q.after_seq);
    json_object_set_new(*out, "nextForwardToken", json_string(tok));
    snprintf(tok, sizeof(tok), "b/%" PRId64,
             p.first        ? p.first
             : q.before_seq ? q.before_seq
                            : q.after_seq + 1);
    json_object_set_new(*out, "nextBackwardToken", json_string(tok));
    return 0;
}

static int searched(void *ctx, const struct meta_stream *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "logStreamName", json_string(s->name));
    json_object_set_new(o, "searchedCompletely", json_true());
    json_array_append_new(ctx, o);
    return 0;
}

int logs_filter_events(const struct api_ctx *c, json_t *in, json_t **out,
                       struct kiln_diag *d)
{
    struct meta_log_query q = {.account = c->account};
    struct event_page p = {.with_stream = true};
    json_t *streams = json_object_get(in, "logStreamNames");
    json_t *all, *pat;
    int rc = group_of(c, in, &q.group, d);
    char pattern[1100] = "";

    if (rc)
        return rc;
    q.start = num(in, "startTime", 0);
    q.end = num(in, "endTime", INT64_MAX);
    q.limit = num(in, "limit", 10000);
    pat = json_object_get(in, "filterPattern");
    if (json_is_string(pat)) {
        /* A quoted or bare term: match it as a substring. */
        const char *s = json_string_value(pat);
        size_t n = strlen(s);
        if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
            snprintf(pattern, sizeof(pattern), "%.*s", (int)(n - 2), s + 1);
        else
            snprintf(pattern, sizeof(pattern), "%s", s);
        q.pattern = pattern;
    }
    rc = token_of(str(in, "nextToken"), 'f', &q.after_seq, d);
    if (rc < 0)
        return rc;
    p.list = json_array();
    all = json_array();
    if (streams) {
        size_t i;
        json_t *s;
        q.exact_stream = true;
        json_array_foreach(streams, i, s)
        {
            q.stream = json_string_value(s);
            meta_log_events(c->meta, &q, add_event, &p);
            json_t *o = json_object();
            json_object_set_new(o, "logStreamName", json_string(q.stream));
            json_object_set_new(o, "searchedCompletely", json_true());
            json_array_append_new(all, o);
        }
    } else {
        q.stream = str(in, "logStreamNamePrefix");
        meta_log_events(c->meta, &q, add_event, &p);
        meta_log_streams(c->meta, c->account, q.group, q.stream, false, false,
                         searched, all);
    }
    *out = json_object();
    json_object_set_new(*out, "events", p.list);
    json_object_set_new(*out, "searchedLogStreams", all);
    if ((int64_t)json_array_size(p.list) == q.limit && !streams) {
        char tok[48];
        snprintf(tok, sizeof(tok), "f/%" PRId64, p.last);
        json_object_set_new(*out, "nextToken", json_string(tok));
    }
    return 0;
}
