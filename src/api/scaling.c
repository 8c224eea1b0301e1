/*
 * scaling.c - scalable targets and target-tracking scaling policies of
 * endpoint variants, over meta_res_* documents.
 *
 * A target is named by its ResourceId; a policy by ResourceId, '|' and
 * its PolicyName. Both are "Active" while they exist.
 */
#include "api/scaling.h"

#include <openssl/rand.h>
#include <stdlib.h>

#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "meta/meta.h"

#define NAMESPACE "sagemaker"
#define DIMENSION "sagemaker:variant:DesiredInstanceCount"
#define METRIC    "SageMakerVariantInvocationsPerInstance"

static const char *const namespaces[] = {
    "ecs",         "elasticmapreduce", "ec2",
    "appstream",   "dynamodb",         "rds",
    "sagemaker",   "custom-resource",  "comprehend",
    "lambda",      "cassandra",        "kafka",
    "elasticache", "neptune",          "workspaces",
    NULL};
static const struct vshape service_namespace = {.type = VT_STRING,
                                                .enums = namespaces};
static const struct vshape resource_id = {
    .type = VT_STRING, .flags = V_MIN | V_MAX, .min = 1, .max = 1600};
static const struct vshape dimension = {
    .type = VT_STRING, .flags = V_MIN | V_MAX, .min = 1, .max = 128};
static const struct vshape capacity = {
    .type = VT_INTEGER, .flags = V_MIN, .min = 0};
static const struct vshape text = {
    .type = VT_STRING, .flags = V_MIN | V_MAX, .min = 1, .max = 1600};
static const struct vshape policy_name = {.type = VT_STRING,
                                          .flags = V_MIN | V_MAX,
                                          .min = 1,
                                          .max = 256,
                                          .pattern = "[[:print:]]+"};
static const struct vshape names = {
    .type = VT_LIST, .flags = V_MAX, .max = 50, .item = &resource_id};
static const struct vshape policy_names = {
    .type = VT_LIST, .flags = V_MAX, .max = 50, .item = &policy_name};
static const struct vshape number = {.type = VT_DOUBLE};
static const struct vshape seconds = {.type = VT_INTEGER};
static const struct vshape boolean = {.type = VT_BOOLEAN};
static const struct vshape max_results = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 50};
static const struct vshape token = {
    .type = VT_STRING, .flags = V_MAX, .max = 2048};

static const struct vmember register_members[] = {
    {"ServiceNamespace", &service_namespace, true},
    {"ResourceId", &resource_id, true},
    {"ScalableDimension", &dimension, true},
    {"MinCapacity", &capacity, false},
    {"MaxCapacity", &capacity, false},
    {"RoleARN", &text, false},
    {NULL, NULL, false}};
const struct vshape scaling_register_input = {.type = VT_STRUCTURE,
                                              .members = register_members};
static const struct vmember describe_targets_members[] = {
    {"ServiceNamespace", &service_namespace, true},
    {"ResourceIds", &names, false},
    {"ScalableDimension", &dimension, false},
    {"MaxResults", &max_results, false},
    {"NextToken", &token, false},
    {NULL, NULL, false}};
const struct vshape scaling_describe_targets_input = {
    .type = VT_STRUCTURE, .members = describe_targets_members};
static const struct vmember target_members[] = {
    {"ServiceNamespace", &service_namespace, true},
    {"ResourceId", &resource_id, true},
    {"ScalableDimension", &dimension, true},
    {NULL, NULL, false}};
const struct vshape scaling_deregister_input = {.type = VT_STRUCTURE,
                                                .members = target_members};
static const struct vmember metric_members[] = {
    {"PredefinedMetricType", &dimension, true},
    {"ResourceLabel", &text, false},
    {NULL, NULL, false}};
static const struct vshape predefined = {.type = VT_STRUCTURE,
                                         .members = metric_members};
static const struct vmember tracking_members[] = {
    {"TargetValue", &number, true},
    {"PredefinedMetricSpecification", &predefined, false},
    {"ScaleOutCooldown", &seconds, false},
    {"ScaleInCooldown", &seconds, false},
    {"DisableScaleIn", &boolean, false},
    {NULL, NULL, false}};
static const struct vshape tracking = {.type = VT_STRUCTURE,
                                       .members = tracking_members};
static const struct vmember put_policy_members[] = {
    {"PolicyName", &policy_name, true},
    {"ServiceNamespace", &service_namespace, true},
    {"ResourceId", &resource_id, true},
    {"ScalableDimension", &dimension, true},
    {"PolicyType", &dimension, false},
    {"TargetTrackingScalingPolicyConfiguration", &tracking, false},
    {NULL, NULL, false}};
const struct vshape scaling_put_policy_input = {.type = VT_STRUCTURE,
                                                .members = put_policy_members};
static const struct vmember describe_policies_members[] = {
    {"ServiceNamespace", &service_namespace, true},
    {"PolicyNames", &policy_names, false},
    {"ResourceId", &resource_id, false},
    {"ScalableDimension", &dimension, false},
    {"MaxResults", &max_results, false},
    {"NextToken", &token, false},
    {NULL, NULL, false}};
const struct vshape scaling_describe_policies_input = {
    .type = VT_STRUCTURE, .members = describe_policies_members};
static const struct vmember delete_policy_members[] = {
    {"PolicyName", &policy_name, true},
    {"ServiceNamespace", &service_namespace, true},
    {"ResourceId", &resource_id, true},
    {"ScalableDimension", &dimension, true},
    {NULL, NULL, false}};
const struct vshape scaling_delete_policy_input = {
    .type = VT_STRUCTURE, .members = delete_policy_members};
static const struct vmember describe_activities_members[] = {
    {"ServiceNamespace", &service_namespace, true},
    {"ResourceId", &resource_id, false},
    {"ScalableDimension", &dimension, false},
    {"MaxResults", &max_results, false},
    {"NextToken", &token, false},
    {"IncludeNotScaledActivities", &boolean, false},
    {NULL, NULL, false}};
const struct vshape scaling_describe_activities_input = {
    .type = VT_STRUCTURE, .members = describe_activities_members};

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* What kiln scales: SageMaker variants' instance counts. */
static int scalable(json_t *in, struct kiln_diag *d)
{
    if (strcmp(str(in, "ServiceNamespace"), NAMESPACE) != 0)
        return diag_set(d, KILN_EVALIDATION,
                        "kiln scales SageMaker endpoint variants only "
                        "(ServiceNamespace sagemaker), not %.64s.",
                        str(in, "ServiceNamespace"));
    if (strcmp(str(in, "ScalableDimension"), DIMENSION) != 0)
        return diag_set(d, KILN_EVALIDATION,
                        "Unsupported scalable dimension '%.128s' for service "
                        "namespace sagemaker; use " DIMENSION ".",
                        str(in, "ScalableDimension"));
    return 0;
}

static json_t *load(const struct api_ctx *c, const char *type, const char *name)
{
    char *body = NULL;
    json_t *doc = NULL;
    if (meta_res_get(c->meta, c->account, type, name, &body) == 0)
        doc = json_loads(body, 0, NULL);
    mem_free(body);
    return doc;
}

static int save(const struct api_ctx *c, const char *type, const char *name,
                json_t *doc, bool existed, struct kiln_diag *d)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    double now = tm_now();
    struct meta_res r = {.account = c->account,
                         .type = type,
                         .name = name,
                         .arn = "",
                         .status = "Active",
                         .created = now,
                         .modified = now,
                         .body = body};
    int rc =
        existed ? meta_res_save(c->meta, &r) : meta_res_insert(c->meta, &r, d);
    mem_free(body);
    return rc;
}

/* "endpoint/<name>/variant/<variant>": that variant of an endpoint of
 * the caller's. */
static int variant_exists(const struct api_ctx *c, const char *id,
                          struct kiln_diag *d)
{
    char endpoint[64], variant[64];
    int n = 0;
    if (sscanf(id, "endpoint/%63[^/]/variant/%63[^/]%n", endpoint, variant,
               &n) != 2 ||
        id[n] != '\0')
        return diag_set(d, KILN_EVALIDATION,
                        "Unsupported resource ID %.200s: expected "
                        "endpoint/<endpoint name>/variant/<variant name>.",
                        id);
    json_t *doc = load(c, "endpoint", endpoint), *v;
    size_t i;
    bool found = false;
    json_array_foreach(
        json_object_get(json_object_get(doc, "KilnDeployment"), "Variants"), i,
        v)
    {
        found |= strcmp(str(v, "VariantName"), variant) == 0 &&
                 !json_object_get(v, "ServerlessConfig");
    }
    json_decref(doc);
    if (!found)
        return diag_set(d, KILN_EVALIDATION,
                        "The endpoint %s has no instance-based variant %s.",
                        endpoint, variant);
    return 0;
}

int scaling_register(const struct api_ctx *c, json_t *in, json_t **out,
                     struct kiln_diag *d)
{
    const char *id = str(in, "ResourceId");
    int rc = scalable(in, d);
    if (!rc)
        rc = variant_exists(c, id, d);
    if (rc)
        return rc;
    json_t *doc = load(c, SCALING_TARGET, id);
    bool existed = doc != NULL;
    if (!doc) {
        if (!json_object_get(in, "MinCapacity") ||
            !json_object_get(in, "MaxCapacity"))
            return diag_set(d, KILN_EVALIDATION,
                            "MinCapacity and MaxCapacity are required to "
                            "register a new scalable target.");
        doc = json_object();
        json_object_set_new(doc, "ServiceNamespace", json_string(NAMESPACE));
        json_object_set_new(doc, "ResourceId", json_string(id));
        json_object_set_new(doc, "ScalableDimension", json_string(DIMENSION));
        json_object_set_new(doc, "CreationTime", json_real(tm_now()));
    }
    static const char *const kept[] = {"MinCapacity", "MaxCapacity", "RoleARN"};
    for (size_t k = 0; k < KILN_ARRAY_LEN(kept); k++)
        if (json_object_get(in, kept[k]))
            json_object_set(doc, kept[k], json_object_get(in, kept[k]));
    if (json_integer_value(json_object_get(doc, "MinCapacity")) < 1 ||
        json_integer_value(json_object_get(doc, "MinCapacity")) >
            json_integer_value(json_object_get(doc, "MaxCapacity")))
        rc = diag_set(d, KILN_EVALIDATION,
                      "MinCapacity must be at least 1 and at most "
                      "MaxCapacity.");
    if (!rc)
        rc = save(c, SCALING_TARGET, id, doc, existed, d);
    if (!rc) {
        char arn[300];
        snprintf(arn, sizeof(arn),
                 "arn:aws:application-autoscaling:%s:%s:scalable-target/%s",
                 c->region, c->account, id);
        *out = json_object();
        json_object_set_new(*out, "ScalableTargetARN", json_string(arn));
    }
    json_decref(doc);
    return rc;
}

/* Every Active resource of `type` of the caller's, for fn. */
struct each {
    const struct api_ctx *c;
    const char *type;
    json_t *list;
    json_t *in;
    bool (*keep)(json_t *in, json_t *doc);
};

static int each_one(void *ctx, const char *account, const char *name)
{
    struct each *e = ctx;
    if (strcmp(account, e->c->account) != 0)
        return 0;
    json_t *doc = load(e->c, e->type, name);
    if (doc && e->keep(e->in, doc))
        json_array_append(e->list, doc);
    json_decref(doc);
    return 0;
}

static bool listed(json_t *list, const char *s)
{
    json_t *v;
    size_t i;
    if (!list)
        return true;
    json_array_foreach(list, i, v)
    {
        if (strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static bool target_wanted(json_t *in, json_t *doc)
{
    return listed(json_object_get(in, "ResourceIds"), str(doc, "ResourceId"));
}

static bool policy_wanted(json_t *in, json_t *doc)
{
    const char *id = str(in, "ResourceId");
    return (!id || strcmp(id, str(doc, "ResourceId")) == 0) &&
           listed(json_object_get(in, "PolicyNames"), str(doc, "PolicyName"));
}

static json_t *all(const struct api_ctx *c, const char *type, json_t *in,
                   bool (*keep)(json_t *, json_t *))
{
    struct each e = {c, type, json_array(), in, keep};
    meta_res_each_status(c->meta, type, "Active", each_one, &e);
    return e.list;
}

int scaling_describe_targets(const struct api_ctx *c, json_t *in, json_t **out,
                             struct kiln_diag *d)
{
    (void)d;
    *out = json_object();
    json_object_set_new(*out, "ScalableTargets",
                        strcmp(str(in, "ServiceNamespace"), NAMESPACE) == 0
                            ? all(c, SCALING_TARGET, in, target_wanted)
                            : json_array());
    return 0;
}

static int not_registered(const char *id, struct kiln_diag *d)
{
    return diag_set(d, KILN_ENOOBJECT,
                    "No scalable target registered for service namespace: "
                    "sagemaker, resource ID: %.200s, scalable dimension: "
                    "sagemaker:variant:DesiredInstanceCount",
                    id);
}

int scaling_deregister(const struct api_ctx *c, json_t *in, json_t **out,
                       struct kiln_diag *d)
{
    const char *id = str(in, "ResourceId");
    int rc = scalable(in, d);
    if (rc)
        return rc;
    if (meta_res_delete(c->meta, c->account, SCALING_TARGET, id) != 0)
        return not_registered(id, d);
    /* Its policies go with it, as in Application Auto Scaling. */
    json_t *policies = all(c, SCALING_POLICY, in, policy_wanted), *p;
    size_t i;
    json_array_foreach(policies, i, p)
    {
        char name[2000];
        snprintf(name, sizeof(name), "%s|%s", id, str(p, "PolicyName"));
        meta_res_delete(c->meta, c->account, SCALING_POLICY, name);
    }
    json_decref(policies);
    *out = json_object();
    return 0;
}

int scaling_put_policy(const struct api_ctx *c, json_t *in, json_t **out,
                       struct kiln_diag *d)
{
    const char *id = str(in, "ResourceId");
    const char *type = str(in, "PolicyType");
    json_t *tt =
        json_object_get(in, "TargetTrackingScalingPolicyConfiguration");
    json_t *pm = json_object_get(tt, "PredefinedMetricSpecification");
    char name[2000], arn[2300];
    int rc = scalable(in, d);

    if (rc)
        return rc;
    json_t *target = load(c, SCALING_TARGET, id);
    json_decref(target);
    if (!target)
        return not_registered(id, d);
    if (!type || strcmp(type, "TargetTrackingScaling") != 0 || !pm ||
        strcmp(str(pm, "PredefinedMetricType"), METRIC) != 0)
        return diag_set(d, KILN_EVALIDATION,
                        "kiln runs TargetTrackingScaling policies on the "
                        "predefined metric " METRIC
                        " (PolicyType %.64s given).",
                        type ? type : "StepScaling");
    if (json_number_value(json_object_get(tt, "TargetValue")) <= 0)
        return diag_set(d, KILN_EVALIDATION,
                        "TargetValue must be greater than 0.");
    snprintf(name, sizeof(name), "%s|%s", id, str(in, "PolicyName"));
    snprintf(arn, sizeof(arn),
             "arn:aws:autoscaling:%s:%s:scalingPolicy:%s:resource/sagemaker/"
             "%s:policyName/%s",
             c->region, c->account, c->request_id, id, str(in, "PolicyName"));
    json_t *old = load(c, SCALING_POLICY, name);
    json_t *doc = json_object();
    json_object_set_new(doc, "PolicyARN",
                        json_string(old ? str(old, "PolicyARN") : arn));
    json_object_set_new(doc, "PolicyName", json_string(str(in, "PolicyName")));
    json_object_set_new(doc, "ServiceNamespace", json_string(NAMESPACE));
    json_object_set_new(doc, "ResourceId", json_string(id));
    json_object_set_new(doc, "ScalableDimension", json_string(DIMENSION));
    json_object_set_new(doc, "PolicyType", json_string(type));
    json_object_set(doc, "TargetTrackingScalingPolicyConfiguration", tt);
    json_object_set_new(doc, "Alarms", json_array());
    json_object_set_new(doc, "CreationTime",
                        old ? json_incref(json_object_get(old, "CreationTime"))
                            : json_real(tm_now()));
    rc = save(c, SCALING_POLICY, name, doc, old != NULL, d);
    if (!rc) {
        *out = json_object();
        json_object_set(*out, "PolicyARN", json_object_get(doc, "PolicyARN"));
        json_object_set_new(*out, "Alarms", json_array());
    }
    json_decref(old);
    json_decref(doc);
    return rc;
}

int scaling_describe_policies(const struct api_ctx *c, json_t *in, json_t **out,
                              struct kiln_diag *d)
{
    (void)d;
    *out = json_object();
    json_object_set_new(*out, "ScalingPolicies",
                        strcmp(str(in, "ServiceNamespace"), NAMESPACE) == 0
                            ? all(c, SCALING_POLICY, in, policy_wanted)
                            : json_array());
    return 0;
}

int scaling_delete_policy(const struct api_ctx *c, json_t *in, json_t **out,
                          struct kiln_diag *d)
{
    char name[2000];
    int rc = scalable(in, d);
    if (rc)
        return rc;
    snprintf(name, sizeof(name), "%s|%s", str(in, "ResourceId"),
             str(in, "PolicyName"));
    if (meta_res_delete(c->meta, c->account, SCALING_POLICY, name) != 0)
        return diag_set(d, KILN_ENOOBJECT,
                        "No scaling policy found for service namespace: "
                        "sagemaker, resource ID: %.200s, scalable dimension: "
                        "sagemaker:variant:DesiredInstanceCount, policy name: "
                        "%.256s",
                        str(in, "ResourceId"), str(in, "PolicyName"));
    *out = json_object();
    return 0;
}

void scaling_activity_add(struct meta *m, const char *account, const char *rid,
                          const char *description, const char *cause, bool done,
                          const char *message)
{
    uint8_t rnd[16];
    char id[37];
    double now = tm_now();

    if (RAND_bytes(rnd, sizeof(rnd)) != 1)
        return;
    str_uuid(rnd, id);
    json_t *a = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:s}", "ActivityId", id,
        "ServiceNamespace", NAMESPACE, "ResourceId", rid, "ScalableDimension",
        DIMENSION, "Description", description, "Cause", cause, "StartTime", now,
        "EndTime", now, "StatusCode", done ? "Successful" : "Failed");
    if (!a)
        return;
    if (message && *message)
        json_object_set_new(a, "StatusMessage", json_string(message));
    char *body = json_dumps(a, JSON_COMPACT);
    struct meta_res r = {.account = account,
                         .type = SCALING_ACTIVITY,
                         .name = id,
                         .arn = "",
                         .status = "Active",
                         .created = now,
                         .modified = now,
                         .body = body};
    if (body)
        meta_res_insert(m, &r, NULL);
    mem_free(body);
    json_decref(a);
}

static bool activity_wanted(json_t *in, json_t *doc)
{
    const char *id = str(in, "ResourceId");
    return !id || strcmp(id, str(doc, "ResourceId")) == 0;
}

static int newest_first(const void *a, const void *b)
{
    double x =
        json_number_value(json_object_get(*(json_t *const *)a, "StartTime"));
    double y =
        json_number_value(json_object_get(*(json_t *const *)b, "StartTime"));
    return x < y ? 1 : x > y ? -1 : 0;
}

int scaling_describe_activities(const struct api_ctx *c, json_t *in,
                                json_t **out, struct kiln_diag *d)
{
    json_t *list = strcmp(str(in, "ServiceNamespace"), NAMESPACE) == 0
                       ? all(c, SCALING_ACTIVITY, in, activity_wanted)
                       : json_array();
    size_t n = json_array_size(list), max = 50;
    json_t **items = xcalloc(n ? n : 1, sizeof(*items));

    (void)d;
    if (json_object_get(in, "MaxResults"))
        max = (size_t)json_integer_value(json_object_get(in, "MaxResults"));
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(list, i);
    qsort(items, n, sizeof(*items), newest_first);
    json_t *page = json_array();
    for (size_t i = 0; i < n && i < max; i++)
        json_array_append(page, items[i]);
    *out = json_object();
    json_object_set_new(*out, "ScalingActivities", page);
    mem_free(items);
    json_decref(list);
    return 0;
}
