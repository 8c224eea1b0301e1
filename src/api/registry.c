/*
 * registry.c - model package groups and model packages (see registry.h).
 *
 * A group's document keeps the next version number to give
 * ("KilnNextVersion", hidden from Describe), so a deleted version's number
 * is not given again; two packages registered at once both try it, and the
 * one that finds it taken tries the next.
 */
#include "api/registry.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/hosting.h"
#include "api/paging.h"
#include "api/tags.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "meta/meta.h"

#define GROUP   "model-package-group"
#define PACKAGE "model-package"
#define NEXT    "KilnNextVersion"

static const char *const approvals[] = {"Approved", "Rejected",
                                        "PendingManualApproval", NULL};
static const char *const sorts[] = {"Name", "CreationTime", NULL};
static const char *const orders[] = {"Ascending", "Descending", NULL};
static const char *const package_types[] = {"Versioned", "Unversioned", "Both",
                                            NULL};

static const struct vshape name63 = {.type = VT_STRING,
                                     .flags = V_MIN | V_MAX,
                                     .min = 1,
                                     .max = 63,
                                     .pattern =
                                         "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"};
static const struct vshape group_ref = {
    .type = VT_STRING, .flags = V_MIN | V_MAX, .min = 1, .max = 170};
static const struct vshape package_ref = {
    .type = VT_STRING, .flags = V_MIN | V_MAX, .min = 1, .max = 176};
static const struct vshape package_arn = {
    .type = VT_STRING,
    .flags = V_MIN | V_MAX,
    .min = 1,
    .max = 2048,
    .pattern = "^arn:aws[a-z\\-]*:sagemaker:[a-z0-9\\-]*:[0-9]{12}:"
               "model-package/.*"};
static const struct vshape text1024 = {
    .type = VT_STRING, .flags = V_MAX, .max = 1024};
static const struct vshape e_approval = {.type = VT_STRING, .enums = approvals};
static const struct vshape e_sort = {.type = VT_STRING, .enums = sorts};
static const struct vshape e_order = {.type = VT_STRING, .enums = orders};
static const struct vshape e_type = {.type = VT_STRING, .enums = package_types};
static const struct vshape timestamp = {.type = VT_TIMESTAMP};
static const struct vshape token = {
    .type = VT_STRING, .flags = V_MAX, .max = 8192};
static const struct vshape max_results = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 100};
static const struct vshape name_contains = {
    .type = VT_STRING, .flags = V_MAX, .max = 63, .pattern = "[a-zA-Z0-9\\-]+"};
static const struct vshape string = {.type = VT_STRING};
static const struct vshape strings = {.type = VT_LIST, .item = &string};
static const struct vshape string_map = {
    .type = VT_MAP, .key = &string, .item = &string};
static const struct vshape boolean = {.type = VT_BOOLEAN};
static const struct vshape any_struct = {.type = VT_STRUCTURE};
static const struct vshape image = {
    .type = VT_STRING, .flags = V_MIN | V_MAX, .min = 1, .max = 255};
static const struct vmember container_members[] = {
    {"Image", &image, true},
    {"ModelDataUrl", &text1024, false},
    {"Environment", &string_map, false},
    {NULL, NULL, false}};
static const struct vshape container = {.type = VT_STRUCTURE,
                                        .members = container_members};
static const struct vshape containers = {.type = VT_LIST,
                                         .flags = V_MIN | V_MAX,
                                         .min = 1,
                                         .max = 15,
                                         .item = &container};
static const struct vmember spec_members[] = {
    {"Containers", &containers, true},
    {"SupportedContentTypes", &strings, true},
    {"SupportedResponseMIMETypes", &strings, true},
    {"SupportedRealtimeInferenceInstanceTypes", &strings, false},
    {"SupportedTransformInstanceTypes", &strings, false},
    {NULL, NULL, false}};
static const struct vshape spec = {.type = VT_STRUCTURE,
                                   .members = spec_members};

static const struct vmember create_group_members[] = {
    {"ModelPackageGroupName", &name63, true},
    {"ModelPackageGroupDescription", &text1024, false},
    {"Tags", &tags_shape, false},
    {NULL, NULL, false}};
const struct vshape registry_create_group_input = {
    .type = VT_STRUCTURE, .members = create_group_members};
static const struct vmember group_members[] = {
    {"ModelPackageGroupName", &group_ref, true}, {NULL, NULL, false}};
const struct vshape registry_describe_group_input = {.type = VT_STRUCTURE,
                                                     .members = group_members};
const struct vshape registry_delete_group_input = {.type = VT_STRUCTURE,
                                                   .members = group_members};
static const struct vmember list_groups_members[] = {
    {"CreationTimeAfter", &timestamp, false},
    {"CreationTimeBefore", &timestamp, false},
    {"MaxResults", &max_results, false},
    {"NameContains", &name_contains, false},
    {"NextToken", &token, false},
    {"SortBy", &e_sort, false},
    {"SortOrder", &e_order, false},
    {NULL, NULL, false}};
const struct vshape registry_list_groups_input = {
    .type = VT_STRUCTURE, .members = list_groups_members};

static const struct vmember create_package_members[] = {
    {"ModelPackageName", &name63, false},
    {"ModelPackageGroupName", &group_ref, false},
    {"ModelPackageDescription", &text1024, false},
    {"InferenceSpecification", &spec, false},
    {"CertifyForMarketplace", &boolean, false},
    {"ModelApprovalStatus", &e_approval, false},
    {"CustomerMetadataProperties", &string_map, false},
    {"ModelMetrics", &any_struct, false},
    {"MetadataProperties", &any_struct, false},
    {"DriftCheckBaselines", &any_struct, false},
    {"Domain", &string, false},
    {"Task", &string, false},
    {"SamplePayloadUrl", &text1024, false},
    {"Tags", &tags_shape, false},
    {NULL, NULL, false}};
const struct vshape registry_create_package_input = {
    .type = VT_STRUCTURE, .members = create_package_members};
static const struct vmember package_members[] = {
    {"ModelPackageName", &package_ref, true}, {NULL, NULL, false}};
const struct vshape registry_describe_package_input = {
    .type = VT_STRUCTURE, .members = package_members};
const struct vshape registry_delete_package_input = {
    .type = VT_STRUCTURE, .members = package_members};
static const struct vmember list_packages_members[] = {
    {"CreationTimeAfter", &timestamp, false},
    {"CreationTimeBefore", &timestamp, false},
    {"MaxResults", &max_results, false},
    {"NameContains", &name_contains, false},
    {"ModelApprovalStatus", &e_approval, false},
    {"ModelPackageGroupName", &group_ref, false},
    {"ModelPackageType", &e_type, false},
    {"NextToken", &token, false},
    {"SortBy", &e_sort, false},
    {"SortOrder", &e_order, false},
    {NULL, NULL, false}};
const struct vshape registry_list_packages_input = {
    .type = VT_STRUCTURE, .members = list_packages_members};
static const struct vmember update_package_members[] = {
    {"ModelPackageArn", &package_arn, true},
    {"ModelApprovalStatus", &e_approval, false},
    {"ApprovalDescription", &text1024, false},
    {"CustomerMetadataProperties", &string_map, false},
    {"CustomerMetadataPropertiesToRemove", &strings, false},
    {NULL, NULL, false}};
const struct vshape registry_update_package_input = {
    .type = VT_STRUCTURE, .members = update_package_members};

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A name, or what follows "<type>/" in an ARN. */
static const char *ref_name(const char *ref, const char *type)
{
    char marker[32];
    snprintf(marker, sizeof(marker), ":%s/", type);
    const char *p = str_starts(ref, "arn:") ? strstr(ref, marker) : NULL;
    return p ? p + strlen(marker) : ref;
}

static int save(const struct api_ctx *c, const char *type, json_t *doc,
                const char *name, const char *status, const char *expect)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    struct meta_res r = {.account = c->account,
                         .type = type,
                         .name = name,
                         .status = status,
                         .modified = tm_now(),
                         .body = body,
                         .expect = expect};
    int rc = meta_res_save(c->meta, &r);
    mem_free(body);
    return rc;
}

/* ---- groups ---------------------------------------------------------- */

static int load_group(const struct api_ctx *c, const char *ref, json_t **doc,
                      struct kiln_diag *d)
{
    const char *name = ref_name(ref, GROUP);
    int rc = hosting_load_doc(c, GROUP, name, doc, d);
    if (rc == KILN_ENOTFOUND)
        return diag_set(d, KILN_EVALIDATION,
                        "Model Package Group %s does not exist.", name);
    return rc;
}

int registry_create_group(const struct api_ctx *c, json_t *in, json_t **out,
                          struct kiln_diag *d)
{
    const char *name = str(in, "ModelPackageGroupName");
    char arn[256];
    double now = tm_now();
    hosting_arn(c, GROUP, name, arn, sizeof(arn));
    json_t *doc =
        json_pack("{s:s, s:s, s:f, s:{}, s:s, s:i}", "ModelPackageGroupName",
                  name, "ModelPackageGroupArn", arn, "CreationTime", now,
                  "CreatedBy", "ModelPackageGroupStatus", "Completed", NEXT, 1);
    if (str(in, "ModelPackageGroupDescription"))
        json_object_set(doc, "ModelPackageGroupDescription",
                        json_object_get(in, "ModelPackageGroupDescription"));
    int rc = hosting_insert_res(c, GROUP, name, arn, "Completed", doc, now, d);
    json_decref(doc);
    if (rc == KILN_EINUSE)
        return diag_set(d, KILN_EVALIDATION,
                        "Model Package Group already exists: %s", arn);
    if (rc)
        return rc;
    tags_store(c, arn, in);
    *out = json_pack("{s:s}", "ModelPackageGroupArn", arn);
    return 0;
}

int registry_describe_group(const struct api_ctx *c, json_t *in, json_t **out,
                            struct kiln_diag *d)
{
    int rc = load_group(c, str(in, "ModelPackageGroupName"), out, d);
    if (!rc)
        json_object_del(*out, NEXT);
    return rc;
}

int registry_list_groups(const struct api_ctx *c, json_t *in, json_t **out,
                         struct kiln_diag *d)
{
    static const char *const keys[] = {
        "ModelPackageGroupName", "ModelPackageGroupArn",
        "ModelPackageGroupStatus", "ModelPackageGroupDescription", NULL};
    int rc = hosting_list_res(c, in, GROUP, "ModelPackageGroupSummaryList",
                              keys, out, d);
    json_t *s;
    size_t i;
    json_array_foreach(json_object_get(*out, "ModelPackageGroupSummaryList"), i,
                       s) json_object_del(s, "LastModifiedTime");
    return rc;
}

/* ---- gathering packages ------------------------------------------- */

/* Packages' row names, copied out of the store's callback (which holds
 * its lock) as "account/name". */
static int collect(void *ctx, const char *account, const char *name)
{
    char both[160];
    snprintf(both, sizeof(both), "%s/%s", account, name);
    json_array_append_new(ctx, json_string(both));
    return 0;
}

/* The caller's packages' documents (a new array). */
static json_t *packages(const struct api_ctx *c)
{
    json_t *names = json_array(), *docs = json_array(), *nm;
    size_t i;
    meta_res_each_status(c->meta, PACKAGE, "", collect, names);
    for (size_t k = 0; approvals[k]; k++)
        meta_res_each_status(c->meta, PACKAGE, approvals[k], collect, names);
    json_array_foreach(names, i, nm)
    {
        const char *both = json_string_value(nm);
        char *body = NULL;
        if (strncmp(both, c->account, strlen(c->account)) != 0 ||
            both[strlen(c->account)] != '/')
            continue;
        if (meta_res_get(c->meta, c->account, PACKAGE,
                         both + strlen(c->account) + 1, &body) == 0) {
            json_t *doc = json_loads(body, 0, NULL);
            if (doc)
                json_array_append_new(docs, doc);
        }
        mem_free(body);
    }
    json_decref(names);
    return docs;
}

/* ---- packages ------------------------------------------------------ */

static int load_package(const struct api_ctx *c, const char *ref, json_t **doc,
                        char *row, size_t size, struct kiln_diag *d)
{
    const char *name = ref_name(ref, PACKAGE);
    str_copy(row, name, size);
    int rc = hosting_load_doc(c, PACKAGE, name, doc, d);
    if (rc == KILN_ENOTFOUND)
        return diag_set(d, KILN_EVALIDATION, "Model Package %s does not exist.",
                        name);
    return rc;
}

int registry_container(const struct api_ctx *c, const char *ref, json_t **out,
                       struct kiln_diag *d)
{
    json_t *doc;
    char row[200];
    int rc = load_package(c, ref, &doc, row, sizeof(row), d);
    if (rc)
        return rc;
    *out = json_deep_copy(json_array_get(
        json_object_get(json_object_get(doc, "InferenceSpecification"),
                        "Containers"),
        0));
    json_decref(doc);
    if (!*out)
        return diag_set(d, KILN_EVALIDATION,
                        "Model Package %s has no inference container.", row);
    return 0;
}

/* The next version of group `doc`, given: v registered, the group remembers
 * v + 1 (unless another registration got further). */
static void versioned(const struct api_ctx *c, json_t *group, json_int_t v)
{
    if (json_integer_value(json_object_get(group, NEXT)) > v)
        return;
    json_object_set_new(group, NEXT, json_integer(v + 1));
    save(c, GROUP, group, str(group, "ModelPackageGroupName"), "Completed",
         "Completed");
}

int registry_create_package(const struct api_ctx *c, json_t *in, json_t **out,
                            struct kiln_diag *d)
{
    const char *group_name = str(in, "ModelPackageGroupName");
    const char *own = str(in, "ModelPackageName");
    json_t *inference = json_object_get(in, "InferenceSpecification");
    json_t *group = NULL;
    double now = tm_now();
    int rc;

    if (!group_name == !own)
        return diag_set(d, KILN_EVALIDATION,
                        "Specify either ModelPackageGroupName (a versioned "
                        "model package) or ModelPackageName (an unversioned "
                        "one).");
    if (!inference || json_object_get(in, "SourceAlgorithmSpecification") ||
        json_object_get(in, "ValidationSpecification") ||
        json_object_get(in, "AdditionalInferenceSpecifications"))
        return diag_set(d, KILN_EVALIDATION,
                        "kiln registers model packages with one "
                        "InferenceSpecification only (no algorithm, "
                        "validation or additional inference "
                        "specifications).");
    if (json_array_size(json_object_get(inference, "Containers")) > 1)
        return diag_set(d, KILN_EVALIDATION,
                        "kiln does not support inference pipelines "
                        "(more than one entry in Containers) yet.");
    if (group_name && (rc = load_group(c, group_name, &group, d)))
        return rc;

    json_t *doc = json_object();
    /* What the registry records for the release process to read. */
    static const char *const kept[] = {"ModelPackageDescription",
                                       "InferenceSpecification",
                                       "CustomerMetadataProperties",
                                       "ModelMetrics",
                                       "MetadataProperties",
                                       "DriftCheckBaselines",
                                       "Domain",
                                       "Task",
                                       "SamplePayloadUrl"};
    for (size_t i = 0; i < KILN_ARRAY_LEN(kept); i++)
        if (json_object_get(in, kept[i]))
            json_object_set(doc, kept[i], json_object_get(in, kept[i]));
    json_object_set_new(doc, "CreationTime", json_real(now));
    json_object_set_new(doc, "LastModifiedTime", json_real(now));
    json_object_set_new(doc, "CreatedBy", json_object());
    json_object_set_new(doc, "ModelPackageStatus", json_string("Completed"));
    json_object_set_new(
        doc, "ModelPackageStatusDetails",
        json_pack("{s:[], s:[]}", "ValidationStatuses", "ImageScanStatuses"));
    json_object_set_new(doc, "CertifyForMarketplace",
                        json_boolean(json_is_true(
                            json_object_get(in, "CertifyForMarketplace"))));
    const char *approval = "";
    if (group) {
        approval = str(in, "ModelApprovalStatus")
                       ? str(in, "ModelApprovalStatus")
                       : "PendingManualApproval";
        json_object_set_new(doc, "ModelApprovalStatus", json_string(approval));
        json_object_set(doc, "ModelPackageName",
                        json_object_get(group, "ModelPackageGroupName"));
        json_object_set(doc, "ModelPackageGroupName",
                        json_object_get(group, "ModelPackageGroupName"));
    } else {
        json_object_set_new(doc, "ModelPackageName", json_string(own));
    }

    char row[128], arn[256];
    json_int_t v = group ? json_integer_value(json_object_get(group, NEXT)) : 0;
    for (int tries = 0;; tries++, v++) {
        if (group)
            snprintf(row, sizeof(row), "%s/%lld",
                     str(group, "ModelPackageGroupName"), (long long)v);
        else
            str_copy(row, own, sizeof(row));
        hosting_arn(c, PACKAGE, row, arn, sizeof(arn));
        json_object_set_new(doc, "ModelPackageArn", json_string(arn));
        if (group)
            json_object_set_new(doc, "ModelPackageVersion", json_integer(v));
        rc = hosting_insert_res(c, PACKAGE, row, arn, approval, doc, now, d);
        if (rc != KILN_EINUSE || !group || tries == 1000)
            break;
    }
    json_decref(doc);
    if (!rc && group)
        versioned(c, group, v);
    json_decref(group);
    if (rc == KILN_EINUSE)
        return diag_set(d, KILN_EVALIDATION, "Model Package already exists: %s",
                        arn);
    if (rc)
        return rc;
    tags_store(c, arn, in);
    *out = json_pack("{s:s}", "ModelPackageArn", arn);
    return 0;
}

int registry_describe_package(const struct api_ctx *c, json_t *in, json_t **out,
                              struct kiln_diag *d)
{
    char row[200];
    return load_package(c, str(in, "ModelPackageName"), out, row, sizeof(row),
                        d);
}

int registry_update_package(const struct api_ctx *c, json_t *in, json_t **out,
                            struct kiln_diag *d)
{
    json_t *doc, *v, *props;
    char row[200];
    size_t i;
    const char *key;
    int rc =
        load_package(c, str(in, "ModelPackageArn"), &doc, row, sizeof(row), d);
    if (rc)
        return rc;
    const char *was = str(doc, "ModelApprovalStatus");
    char *expect = xstrdup(was ? was : "");
    const char *approval = str(in, "ModelApprovalStatus");
    if (approval && !json_object_get(doc, "ModelPackageGroupName")) {
        json_decref(doc);
        mem_free(expect);
        return diag_set(d, KILN_EVALIDATION,
                        "Model Package %s is unversioned: it has no approval "
                        "status.",
                        row);
    }
    if (approval)
        json_object_set(doc, "ModelApprovalStatus",
                        json_object_get(in, "ModelApprovalStatus"));
    if (str(in, "ApprovalDescription"))
        json_object_set(doc, "ApprovalDescription",
                        json_object_get(in, "ApprovalDescription"));
    props = json_object_get(doc, "CustomerMetadataProperties");
    if (!props && json_object_get(in, "CustomerMetadataProperties")) {
        props = json_object();
        json_object_set_new(doc, "CustomerMetadataProperties", props);
    }
    json_object_foreach(json_object_get(in, "CustomerMetadataProperties"), key,
                        v) json_object_set(props, key, v);
    json_array_foreach(
        json_object_get(in, "CustomerMetadataPropertiesToRemove"), i, v)
    {
        if (json_is_string(v))
            json_object_del(props, json_string_value(v));
    }
    json_object_set_new(doc, "LastModifiedTime", json_real(tm_now()));
    rc = save(c, PACKAGE, doc, row,
              str(doc, "ModelApprovalStatus") ? str(doc, "ModelApprovalStatus")
                                              : "",
              expect);
    if (rc)
        rc = diag_set(d, KILN_EVALIDATION,
                      "The model package changed meanwhile; try again.");
    else
        *out = json_pack("{s:O}", "ModelPackageArn",
                         json_object_get(doc, "ModelPackageArn"));
    mem_free(expect);
    json_decref(doc);
    return rc;
}

int registry_delete_package(const struct api_ctx *c, json_t *in, json_t **out,
                            struct kiln_diag *d)
{
    const char *name = ref_name(str(in, "ModelPackageName"), PACKAGE);
    if (meta_res_delete(c->meta, c->account, PACKAGE, name) != 0)
        return diag_set(d, KILN_EVALIDATION, "Model Package %s does not exist.",
                        name);
    *out = json_object();
    return 0;
}

int registry_delete_group(const struct api_ctx *c, json_t *in, json_t **out,
                          struct kiln_diag *d)
{
    json_t *group, *all, *p;
    size_t i;
    int rc = load_group(c, str(in, "ModelPackageGroupName"), &group, d);
    if (rc)
        return rc;
    const char *name = str(group, "ModelPackageGroupName");
    all = packages(c);
    json_array_foreach(all, i, p)
    {
        const char *in_group = str(p, "ModelPackageGroupName");
        if (in_group && strcasecmp(in_group, name) == 0) {
            rc = diag_set(d, KILN_ECONFLICT,
                          "Model Package Group %s still has model packages; "
                          "delete them first.",
                          name);
            break;
        }
    }
    json_decref(all);
    if (!rc && meta_res_delete(c->meta, c->account, GROUP, name) != 0)
        rc = diag_set(d, KILN_EVALIDATION,
                      "Model Package Group %s does not exist.", name);
    json_decref(group);
    if (!rc)
        *out = json_object();
    return rc;
}

/* ---- ListModelPackages --------------------------------------------- */

static bool listed(json_t *in, json_t *p)
{
    const char *group = str(in, "ModelPackageGroupName");
    const char *approval = str(in, "ModelApprovalStatus");
    const char *type = str(in, "ModelPackageType");
    const char *contains = str(in, "NameContains");
    const char *in_group = str(p, "ModelPackageGroupName");
    double t = json_number_value(json_object_get(p, "CreationTime"));
    json_t *after = json_object_get(in, "CreationTimeAfter");
    json_t *before = json_object_get(in, "CreationTimeBefore");
    bool want = !type || strcmp(type, "Both") == 0 ||
                (strcmp(type, "Versioned") == 0) == (in_group != NULL);
    return want &&
           (!group ||
            (in_group && strcasecmp(ref_name(group, GROUP), in_group) == 0)) &&
           (!approval ||
            (str(p, "ModelApprovalStatus") &&
             strcmp(approval, str(p, "ModelApprovalStatus")) == 0)) &&
           (!contains || strstr(str(p, "ModelPackageName"), contains)) &&
           (!after || t > json_number_value(after)) &&
           (!before || t < json_number_value(before));
}

static int by_key(const void *a, const void *b, void *arg)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b, *in = arg;
    const char *sort = str(in, "SortBy"), *order = str(in, "SortOrder");
    int r;
    if (sort && strcmp(sort, "Name") == 0) {
        r = strcasecmp(str(x, "ModelPackageName"), str(y, "ModelPackageName"));
        if (r == 0) {
            json_int_t p =
                json_integer_value(json_object_get(x, "ModelPackageVersion"));
            json_int_t q =
                json_integer_value(json_object_get(y, "ModelPackageVersion"));
            r = p < q ? -1 : p > q;
        }
    } else {
        double p = json_number_value(json_object_get(x, "CreationTime"));
        double q = json_number_value(json_object_get(y, "CreationTime"));
        r = p < q ? -1 : p > q;
    }
    return order && strcmp(order, "Ascending") == 0 ? r : -r;
}

int registry_list_packages(const struct api_ctx *c, json_t *in, json_t **out,
                           struct kiln_diag *d)
{
    static const char *const summary_keys[] = {
        "ModelPackageName",   "ModelPackageGroupName",   "ModelPackageVersion",
        "ModelPackageArn",    "ModelPackageDescription", "CreationTime",
        "ModelPackageStatus", "ModelApprovalStatus"};
    json_t *all = packages(c), *p, *listing = json_array();
    size_t n = 0, i;
    json_array_foreach(all, i, p)
    {
        if (!listed(in, p))
            continue;
        json_t *s = json_object();
        for (size_t k = 0; k < KILN_ARRAY_LEN(summary_keys); k++)
            if (json_object_get(p, summary_keys[k]))
                json_object_set(s, summary_keys[k],
                                json_object_get(p, summary_keys[k]));
        json_array_append_new(listing, s);
    }
    json_t **v = xcalloc(json_array_size(listing) + 1, sizeof(*v));
    json_array_foreach(listing, i, p) v[n++] = p;
    if (n)
        qsort_r(v, n, sizeof(*v), by_key, in);
    int rc = paging_offset_page(in, v, n, "ModelPackageSummaryList", out, d);
    mem_free(v);
    json_decref(listing);
    json_decref(all);
    return rc;
}
