/*
 * training.c - training-job handlers.
 *
 * ListTrainingJobs reads one page plus one row from the metadata store: the
 * extra row only tells whether a NextToken is due, and the token names the
 * last row returned.
 */
#include "api/training.h"

#include "api/paging.h"
#include "base/mem.h"
#include "meta/meta.h"

#define NAME_PATTERN "[a-zA-Z0-9\\-]+"

static const char *const training_status_enum[] = {
    "InProgress", "Completed", "Failed", "Stopping", "Stopped", NULL};
static const char *const sort_by_enum[] = {"Name", "CreationTime", "Status",
                                           NULL};
static const char *const sort_order_enum[] = {"Ascending", "Descending", NULL};
static const char *const warm_pool_enum[] = {"Available", "Terminated",
                                             "Reused", "InUse", NULL};

static const struct vshape next_token = {
    .type = VT_STRING, .flags = V_MAX, .max = 8192, .pattern = ".*"};
static const struct vshape max_results = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 100};
static const struct vshape timestamp = {.type = VT_TIMESTAMP};
static const struct vshape name_contains = {
    .type = VT_STRING, .flags = V_MAX, .max = 63, .pattern = NAME_PATTERN};
static const struct vshape status_equals = {.type = VT_STRING,
                                            .enums = training_status_enum};
static const struct vshape sort_by = {.type = VT_STRING, .enums = sort_by_enum};
static const struct vshape sort_order = {.type = VT_STRING,
                                         .enums = sort_order_enum};
static const struct vshape warm_pool = {.type = VT_STRING,
                                        .enums = warm_pool_enum};
static const struct vshape plan_arn = {
    .type = VT_STRING, .flags = V_MIN | V_MAX, .min = 50, .max = 2048};

static const struct vmember list_members[] = {
    {"NextToken", &next_token, false},
    {"MaxResults", &max_results, false},
    {"CreationTimeAfter", &timestamp, false},
    {"CreationTimeBefore", &timestamp, false},
    {"LastModifiedTimeAfter", &timestamp, false},
    {"LastModifiedTimeBefore", &timestamp, false},
    {"NameContains", &name_contains, false},
    {"StatusEquals", &status_equals, false},
    {"SortBy", &sort_by, false},
    {"SortOrder", &sort_order, false},
    {"WarmPoolStatusEquals", &warm_pool, false},
    {"TrainingPlanArnEquals", &plan_arn, false},
    {NULL, NULL, false},
};

const struct vshape training_list_input = {.type = VT_STRUCTURE,
                                           .members = list_members};

struct page {
    json_t *items;
    int limit;
    int seen;
    enum meta_sort sort;
    json_t *last; /* position of the last row returned */
};

static int add_row(void *ctx, const struct meta_training_row *r)
{
    struct page *p = ctx;
    json_t *o;

    if (++p->seen > p->limit)
        return 0; /* the extra row: another page exists */
    o = json_object();
    json_object_set_new(o, "TrainingJobName", json_string(r->name));
    json_object_set_new(o, "TrainingJobArn", json_string(r->arn));
    json_object_set_new(o, "CreationTime", json_real(r->created));
    json_object_set_new(o, "LastModifiedTime", json_real(r->modified));
    if (r->ended > 0)
        json_object_set_new(o, "TrainingEndTime", json_real(r->ended));
    json_object_set_new(o, "TrainingJobStatus", json_string(r->status));
    if (r->secondary_status)
        json_object_set_new(o, "SecondaryStatus",
                            json_string(r->secondary_status));
    json_array_append_new(p->items, o);

    json_decref(p->last);
    p->last = json_object();
    char *lc = xstrdup(r->name);
    for (char *s = lc; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    json_object_set_new(p->last, "n", json_string(lc));
    if (p->sort == META_SORT_CREATION)
        json_object_set_new(p->last, "v", json_real(r->created));
    else if (p->sort == META_SORT_NAME)
        json_object_set_new(p->last, "v", json_string(lc));
    else
        json_object_set_new(p->last, "v", json_string(r->status));
    mem_free(lc);
    return 0;
}

static double num(json_t *in, const char *key)
{
    json_t *v = json_object_get(in, key);
    return v ? json_number_value(v) : 0;
}

static const char *str(json_t *in, const char *key)
{
    return json_string_value(json_object_get(in, key));
}

int training_list(const struct api_ctx *c, json_t *in, json_t **out,
                  struct kiln_diag *d)
{
    struct meta_list_query q = {.account = c->account, .limit = 10};
    struct page p = {0};
    json_t *pos = NULL, *res = NULL;
    const char *sort = str(in, "SortBy"), *order = str(in, "SortOrder");
    json_t *mr = json_object_get(in, "MaxResults");
    const char *token = str(in, "NextToken");
    int rc;

    if (mr)
        q.limit = (int)json_integer_value(mr);
    q.sort_by = !sort || strcmp(sort, "CreationTime") == 0 ? META_SORT_CREATION
                : strcmp(sort, "Name") == 0                ? META_SORT_NAME
                                                           : META_SORT_STATUS;
    q.descending = order && strcmp(order, "Descending") == 0;
    q.name_contains = str(in, "NameContains");
    q.status_equals = str(in, "StatusEquals");
    q.created_after = num(in, "CreationTimeAfter");
    q.created_before = num(in, "CreationTimeBefore");
    q.modified_after = num(in, "LastModifiedTimeAfter");
    q.modified_before = num(in, "LastModifiedTimeBefore");
    if (token && *token) {
        json_t *v, *n, *s, *o;
        rc = paging_token_decode(token, &pos, d);
        if (rc)
            goto out;
        v = json_object_get(pos, "v");
        n = json_object_get(pos, "n");
        s = json_object_get(pos, "s");
        o = json_object_get(pos, "o");
        if (!json_is_string(n) || !v || !json_is_integer(s) ||
            json_integer_value(s) != (json_int_t)q.sort_by ||
            !json_is_boolean(o) || json_is_true(o) != q.descending ||
            (q.sort_by == META_SORT_CREATION ? !json_is_number(v)
                                             : !json_is_string(v))) {
            rc = diag_set(d, KILN_EVALIDATION, "Invalid pagination token.");
            goto out;
        }
        q.after_set = true;
        q.after_name = json_string_value(n);
        q.after_num = json_number_value(v);
        q.after_text = json_string_value(v);
    }

    p.items = json_array();
    p.limit = q.limit;
    p.sort = q.sort_by;
    rc = meta_training_list(c->meta, &q, add_row, &p, d);
    if (rc)
        goto out;
    res = json_object();
    json_object_set(res, "TrainingJobSummaries", p.items);
    if (p.seen > p.limit && p.last) {
        json_object_set_new(p.last, "s", json_integer(q.sort_by));
        json_object_set_new(p.last, "o", json_boolean(q.descending));
        char *t = paging_token_encode(p.last);
        json_object_set_new(res, "NextToken", json_string(t));
        mem_free(t);
    }
    *out = res;
    res = NULL;
out:
    json_decref(res);
    json_decref(p.items);
    json_decref(p.last);
    json_decref(pos);
    return rc;
}
