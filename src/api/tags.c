/*
 * tags.c - tags live in one table keyed by ARN; the ARN is checked to name
 * an existing resource of the caller's account first: a training job, a
 * model, an endpoint config or an endpoint.
 */
#include "api/tags.h"

#include "base/mem.h"
#include "base/str.h"
#include "meta/meta.h"

static const struct vshape arn = {
    .type = VT_STRING,
    .flags = V_MAX,
    .max = 256,
    .pattern = "^arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{12}:.+"};
static const struct vshape key = {.type = VT_STRING,
                                  .flags = V_MIN | V_MAX,
                                  .min = 1,
                                  .max = 128,
                                  .pattern =
                                      "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"};
static const struct vshape value = {.type = VT_STRING,
                                    .flags = V_MAX,
                                    .max = 256,
                                    .pattern =
                                        "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"};
static const struct vmember tag_members[] = {
    {"Key", &key, true}, {"Value", &value, true}, {NULL, NULL, false}};
static const struct vshape tag = {.type = VT_STRUCTURE, .members = tag_members};
const struct vshape tags_shape = {
    .type = VT_LIST, .flags = V_MAX, .max = 50, .item = &tag};
static const struct vshape key_list = {
    .type = VT_LIST, .flags = V_MIN | V_MAX, .min = 1, .max = 50, .item = &key};
static const struct vshape token = {
    .type = VT_STRING, .flags = V_MAX, .max = 8192};
static const struct vshape max50 = {
    .type = VT_INTEGER, .flags = V_MIN, .min = 50};

static const struct vmember add_members[] = {{"ResourceArn", &arn, true},
                                             {"Tags", &tags_shape, true},
                                             {NULL, NULL, false}};
static const struct vmember list_members[] = {{"ResourceArn", &arn, true},
                                              {"NextToken", &token, false},
                                              {"MaxResults", &max50, false},
                                              {NULL, NULL, false}};
static const struct vmember delete_members[] = {{"ResourceArn", &arn, true},
                                                {"TagKeys", &key_list, true},
                                                {NULL, NULL, false}};
const struct vshape tags_add_input = {.type = VT_STRUCTURE,
                                      .members = add_members};
const struct vshape tags_list_input = {.type = VT_STRUCTURE,
                                       .members = list_members};
const struct vshape tags_delete_input = {.type = VT_STRUCTURE,
                                         .members = delete_members};

/* Checks that `a` names an existing resource of the caller. */
static int resource(const struct api_ctx *c, const char *a, struct kiln_diag *d)
{
    /* arn:aws:sagemaker:<region>:<account>:<type>/<name> */
    const char *p = a;
    for (int i = 0; i < 4 && p; i++) {
        p = strchr(p, ':');
        if (p)
            p++;
    }
    if (!p || strncmp(p, c->account, 12) != 0 || p[12] != ':')
        return diag_set(d, KILN_EVALIDATION,
                        "The resource %.256s does not belong to this "
                        "account.",
                        a);
    const char *type = p + 13, *slash = strchr(type, '/');
    size_t tlen = slash ? (size_t)(slash - type) : 0;
    char *body = NULL;
    int rc = KILN_ENOTFOUND;
    if (tlen == 12 && strncmp(type, "training-job", 12) == 0)
        rc = meta_training_get(c->meta, c->account, slash + 1, &body);
    /* Models, endpoint configs, endpoints and transform jobs: the ARN's
     * lower-case name finds them, as their names are unique regardless of case.
     */
    static const char *const hosted[] = {"model",
                                         "endpoint-config",
                                         "endpoint",
                                         "transform-job",
                                         "hyper-parameter-tuning-job",
                                         "processing-job",
                                         "monitoring-schedule",
                                         "data-quality-job-definition",
                                         "model-package-group",
                                         "model-package"};
    for (size_t i = 0; slash && i < KILN_ARRAY_LEN(hosted); i++)
        if (tlen == strlen(hosted[i]) && strncmp(type, hosted[i], tlen) == 0)
            rc = meta_res_get(c->meta, c->account, hosted[i], slash + 1, &body);
    mem_free(body);
    if (rc == 0)
        return 0;
    return diag_set(d, KILN_EVALIDATION, "Could not find resource %.256s.", a);
}

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

int tags_add(const struct api_ctx *c, json_t *in, json_t **out,
             struct kiln_diag *d)
{
    const char *a = str(in, "ResourceArn");
    size_t i;
    json_t *t;
    int rc = resource(c, a, d);

    if (rc)
        return rc;
    json_array_foreach(json_object_get(in, "Tags"), i, t)
    {
        rc = meta_tag_set(c->meta, a, str(t, "Key"), str(t, "Value"));
        if (rc)
            return diag_set(d, rc, "cannot store the tag");
    }
    *out = json_object();
    json_object_set(*out, "Tags", json_object_get(in, "Tags"));
    return 0;
}

static int add_tag(void *ctx, const char *k, const char *v)
{
    json_t *t = json_object();
    json_object_set_new(t, "Key", json_string(k));
    json_object_set_new(t, "Value", json_string(v));
    json_array_append_new(ctx, t);
    return 0;
}

int tags_list(const struct api_ctx *c, json_t *in, json_t **out,
              struct kiln_diag *d)
{
    const char *a = str(in, "ResourceArn");
    int rc = resource(c, a, d);
    json_t *list;

    if (rc)
        return rc;
    list = json_array();
    meta_tag_each(c->meta, a, add_tag, list);
    *out = json_object();
    json_object_set_new(*out, "Tags", list);
    return 0;
}

int tags_delete(const struct api_ctx *c, json_t *in, json_t **out,
                struct kiln_diag *d)
{
    const char *a = str(in, "ResourceArn");
    size_t i;
    json_t *k;
    int rc = resource(c, a, d);

    if (rc)
        return rc;
    json_array_foreach(json_object_get(in, "TagKeys"), i, k)
        meta_tag_delete(c->meta, a, json_string_value(k));
    *out = json_object();
    return 0;
}

void tags_store(const struct api_ctx *c, const char *resource, json_t *in)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(in, "Tags"), i, t)
        meta_tag_set(c->meta, resource, str(t, "Key"), str(t, "Value"));
}
