/*
 * training.c - training-job handlers.
 *
 * ListTrainingJobs reads one page plus one row from the metadata store: the
 * extra row only tells whether a NextToken is due, and the token names the
 * last row returned.
 */
#include "api/training.h"

#include "api/paging.h"
#include "api/tags.h"
#include "base/instances.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "meta/meta.h"

#define NAME_PATTERN "[a-zA-Z0-9\\-]+"

#include "api/training_shapes.inc"

const struct vshape training_create_input = {.type = VT_STRUCTURE,
                                             .members = create_members};

static const struct vmember name_only_members[] = {
    {"TrainingJobName", &job_name, true}, {NULL, NULL, false}};
const struct vshape training_name_input = {.type = VT_STRUCTURE,
                                           .members = name_only_members};

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

/* ---- CreateTrainingJob / DescribeTrainingJob / StopTrainingJob ------ */

void training_arn(const struct api_ctx *c, const char *name, char *out,
                  size_t size)
{
    char lc[64];
    str_lower_copy(lc, name, sizeof(lc));
    snprintf(out, size, "arn:aws:sagemaker:%s:%s:training-job/%s", c->region,
             c->account, lc);
}

/* Copies member `key` of `from` into `to` (deep) when present. */
static void echo(json_t *to, json_t *from, const char *key)
{
    json_t *v = json_object_get(from, key);
    if (v)
        json_object_set_new(to, key, json_deep_copy(v));
}

static json_t *transition(const char *status, double start, const char *message)
{
    json_t *t = json_object();
    json_object_set_new(t, "Status", json_string(status));
    json_object_set_new(t, "StartTime", json_real(start));
    json_object_set_new(t, "StatusMessage", json_string(message));
    return t;
}

/*
 * A heterogeneous cluster (ResourceConfig.InstanceGroups): no
 * InstanceType or InstanceCount beside it, known instance types, group
 * names unique, at least one instance, channels' InstanceGroupNames
 * among the groups. The instances in all go to *count.
 */
static int check_groups(json_t *in, json_int_t *count, struct kiln_diag *d)
{
    json_t *res = json_object_get(in, "ResourceConfig");
    json_t *asked = json_object_get(res, "InstanceGroups"), *g, *h, *ch;
    size_t i, k;

    if (json_object_get(res, "InstanceType") ||
        json_object_get(res, "InstanceCount"))
        return diag_set(d, KILN_EVALIDATION,
                        "ResourceConfig takes InstanceGroups or "
                        "InstanceType and InstanceCount, not both.");
    *count = 0;
    json_array_foreach(asked, i, g)
    {
        if (!instance_find(str(g, "InstanceType")))
            return diag_set(d, KILN_EVALIDATION,
                            "Instance group %.64s: kiln does not know the "
                            "instance type '%.64s' (docs/api-coverage.md "
                            "lists the ml.* types).",
                            str(g, "InstanceGroupName"),
                            str(g, "InstanceType"));
        json_array_foreach(asked, k, h)
        {
            if (k < i && strcmp(str(g, "InstanceGroupName"),
                                str(h, "InstanceGroupName")) == 0)
                return diag_set(d, KILN_EVALIDATION,
                                "Instance group names must be unique: %.64s "
                                "is twice.",
                                str(g, "InstanceGroupName"));
        }
        *count += json_integer_value(json_object_get(g, "InstanceCount"));
    }
    if (*count < 1)
        return diag_set(d, KILN_EVALIDATION,
                        "The instance groups have no instance.");
    json_array_foreach(json_object_get(in, "InputDataConfig"), i, ch)
    {
        json_t *src =
            json_object_get(json_object_get(ch, "DataSource"), "S3DataSource");
        json_t *names = json_object_get(src, "InstanceGroupNames"), *n;
        json_array_foreach(names, k, n)
        {
            bool found = false;
            size_t q;
            json_array_foreach(asked, q, g)
            {
                found = found || strcmp(str(g, "InstanceGroupName"),
                                        json_string_value(n)) == 0;
            }
            if (!found)
                return diag_set(d, KILN_EVALIDATION,
                                "Channel %.64s names instance group %.64s, "
                                "which ResourceConfig.InstanceGroups does not "
                                "have.",
                                str(ch, "ChannelName"), json_string_value(n));
        }
    }
    return 0;
}

int training_create(const struct api_ctx *c, json_t *in, json_t **out,
                    struct kiln_diag *d)
{
    const char *name = str(in, "TrainingJobName");
    json_t *algo = json_object_get(in, "AlgorithmSpecification");
    json_t *res = json_object_get(in, "ResourceConfig");
    json_t *outcfg = json_object_get(in, "OutputDataConfig");
    json_t *doc = NULL, *v;
    const char *itype = str(res, "InstanceType");
    char arn[256], *body = NULL;
    double now = tm_now();
    int rc;

    if (!str(algo, "TrainingImage") && !str(algo, "AlgorithmName"))
        return diag_set(d, KILN_EVALIDATION,
                        "1 validation error detected: Value null at "
                        "'algorithmSpecification.trainingImage' failed to "
                        "satisfy constraint: Member must not be null");
    const char *out_comp =
        str(json_object_get(in, "OutputDataConfig"), "CompressionType");
    if (out_comp && strcmp(out_comp, "NONE") == 0)
        return diag_set(d, KILN_EVALIDATION,
                        "kiln packs the model as model.tar.gz; "
                        "OutputDataConfig CompressionType NONE (an "
                        "uncompressed model) is not supported yet.");
    json_int_t count =
        json_integer_value(json_object_get(res, "InstanceCount"));
    if (json_object_get(res, "InstanceGroups")) {
        rc = check_groups(in, &count, d);
        if (rc)
            return rc;
    } else if (!itype || !instance_find(itype))
        return diag_set(d, KILN_EVALIDATION,
                        "1 validation error detected: Value '%.64s' at "
                        "'resourceConfig.instanceType' failed to satisfy "
                        "constraint: Member must satisfy enum value set: "
                        "[ml.m5.large, ml.m5.xlarge, ml.c5.xlarge, "
                        "ml.c4.xlarge, ml.p3.2xlarge, ...] (kiln knows the "
                        "ml.* types of docs/api-coverage.md)",
                        itype ? itype : "null");
    if (c->jobs && c->jobs->max_training_instances > 0 &&
        count > c->jobs->max_training_instances)
        return diag_set(d, KILN_ELIMIT,
                        "The account-level service limit 'Number of "
                        "instances per training job' is %d Instances, with "
                        "current utilization of 0 Instances and a request "
                        "delta of %lld Instances. Start kiln server with a "
                        "higher --max-training-instances to raise it.",
                        c->jobs->max_training_instances, (long long)count);
    {
        /* Metric regexes must compile; checked here, not at run time. */
        size_t i;
        json_t *m;
        json_array_foreach(json_object_get(algo, "MetricDefinitions"), i, m)
        {
            const char *re = str(m, "Regex");
            if (!validate_regex(re))
                return diag_set(d, KILN_EVALIDATION,
                                "The metric regex '%.200s' of '%.64s' is not "
                                "a valid regular expression with a capture "
                                "group.",
                                re, str(m, "Name"));
        }
    }
    {
        /* Each channel is a directory named after it: two of one name
         * would be one directory. */
        size_t i, j;
        json_t *a, *b;
        json_t *chans = json_object_get(in, "InputDataConfig");
        json_array_foreach(chans, i, a) json_array_foreach(chans, j, b)
        {
            if (j < i && str(a, "ChannelName") && str(b, "ChannelName") &&
                strcmp(str(a, "ChannelName"), str(b, "ChannelName")) == 0)
                return diag_set(d, KILN_EVALIDATION,
                                "Channel names must be unique; '%.64s' "
                                "appears more than once in InputDataConfig.",
                                str(a, "ChannelName"));
        }
        /* Gzip is unpacked only on the way through a Pipe-mode channel;
         * in File mode the algorithm would get the compressed bytes. */
        json_array_foreach(chans, i, a)
        {
            const char *mode = str(a, "InputMode")
                                   ? str(a, "InputMode")
                                   : str(algo, "TrainingInputMode");
            const char *comp = str(a, "CompressionType");
            if (comp && strcmp(comp, "Gzip") == 0 &&
                !(mode && strcmp(mode, "Pipe") == 0))
                return diag_set(d, KILN_EVALIDATION,
                                "Channel '%.64s': CompressionType Gzip is "
                                "used only in Pipe input mode; in File "
                                "mode leave it unset or None.",
                                str(a, "ChannelName"));
        }
    }
    training_arn(c, name, arn, sizeof(arn));
    doc = json_object();
    json_object_set_new(doc, "TrainingJobName", json_string(name));
    json_object_set_new(doc, "TrainingJobArn", json_string(arn));
    json_object_set_new(doc, "TrainingJobStatus", json_string("InProgress"));
    json_object_set_new(doc, "SecondaryStatus", json_string("Starting"));
    json_object_set_new(doc, "CreationTime", json_real(now));
    json_object_set_new(doc, "LastModifiedTime", json_real(now));
    json_object_set_new(doc, "RoleArn", json_string(str(in, "RoleArn")));
    v = json_deep_copy(algo);
    if (!json_object_get(v, "MetricDefinitions"))
        json_object_set_new(v, "MetricDefinitions", json_array());
    if (!json_object_get(v, "EnableSageMakerMetricsTimeSeries"))
        json_object_set_new(v, "EnableSageMakerMetricsTimeSeries",
                            json_false());
    json_object_set_new(doc, "AlgorithmSpecification", v);
    v = json_deep_copy(outcfg);
    if (!json_object_get(v, "KmsKeyId"))
        json_object_set_new(v, "KmsKeyId", json_string(""));
    json_object_set_new(doc, "OutputDataConfig", v);
    v = json_deep_copy(res);
    if (!json_object_get(v, "InstanceCount") &&
        !json_object_get(v, "InstanceGroups"))
        json_object_set_new(v, "InstanceCount", json_integer(1));
    if (!json_object_get(v, "VolumeSizeInGB"))
        json_object_set_new(v, "VolumeSizeInGB", json_integer(30));
    json_object_set_new(doc, "ResourceConfig", v);
    v = json_deep_copy(json_object_get(in, "StoppingCondition"));
    if (!v)
        v = json_object();
    if (!json_object_get(v, "MaxRuntimeInSeconds"))
        json_object_set_new(v, "MaxRuntimeInSeconds", json_integer(86400));
    json_object_set_new(doc, "StoppingCondition", v);
    v = json_deep_copy(json_object_get(in, "HyperParameters"));
    json_object_set_new(doc, "HyperParameters", v ? v : json_object());
    static const char *const echoed[] = {"InputDataConfig",
                                         "VpcConfig",
                                         "CheckpointConfig",
                                         "Environment",
                                         "RetryStrategy",
                                         "DebugHookConfig",
                                         "DebugRuleConfigurations",
                                         "TensorBoardOutputConfig",
                                         "ExperimentConfig",
                                         "ProfilerConfig",
                                         "ProfilerRuleConfigurations",
                                         "RemoteDebugConfig",
                                         "InfraCheckConfig"};
    for (size_t i = 0; i < KILN_ARRAY_LEN(echoed); i++)
        echo(doc, in, echoed[i]);
    static const char *const flags[] = {"EnableNetworkIsolation",
                                        "EnableInterContainerTrafficEncryption",
                                        "EnableManagedSpotTraining"};
    for (size_t i = 0; i < KILN_ARRAY_LEN(flags); i++) {
        json_t *f = json_object_get(in, flags[i]);
        json_object_set_new(doc, flags[i], json_boolean(f && json_is_true(f)));
    }
    {
        struct buf path = BUF_INIT(4096);
        const char *o = str(outcfg, "S3OutputPath");
        size_t n = strlen(o);
        buf_addf(&path, "%.*s/%s/output/model.tar.gz",
                 (int)(n && o[n - 1] == '/' ? n - 1 : n), o, name);
        json_t *ma = json_object();
        json_object_set_new(ma, "S3ModelArtifacts",
                            json_string(buf_cstr(&path)));
        json_object_set_new(doc, "ModelArtifacts", ma);
        buf_release(&path);
    }
    json_t *tr = json_array();
    json_array_append_new(
        tr, transition("Starting", now, "Starting the training job"));
    json_object_set_new(doc, "SecondaryStatusTransitions", tr);
    json_object_set_new(doc, "ProfilingStatus", json_string("Disabled"));

    body = json_dumps(doc, JSON_COMPACT);
    struct meta_training_row row = {.name = name,
                                    .arn = arn,
                                    .status = "InProgress",
                                    .secondary_status = "Starting",
                                    .created = now,
                                    .modified = now};
    rc = meta_training_insert(c->meta, c->account, &row, body, d);
    if (rc == KILN_EINUSE) {
        rc = diag_set(d, KILN_EINUSE,
                      "Training job names must be unique within an AWS "
                      "account and region, and a training job with this "
                      "name already exists (%s)",
                      arn);
        goto out;
    }
    if (rc)
        goto out;
    tags_store(c, arn, in);
    if (c->jobs && c->jobs->start)
        c->jobs->start(c->jobs->ctx, c->account, name);
    *out = json_object();
    json_object_set_new(*out, "TrainingJobArn", json_string(arn));
out:
    mem_free(body);
    json_decref(doc);
    return rc;
}

int training_describe(const struct api_ctx *c, json_t *in, json_t **out,
                      struct kiln_diag *d)
{
    char *body = NULL;
    json_t *doc;

    if (meta_training_get(c->meta, c->account, str(in, "TrainingJobName"),
                          &body) != 0)
        return diag_set(d, KILN_ENOTFOUND, "Requested resource not found.");
    doc = json_loads(body, 0, NULL);
    mem_free(body);
    if (!doc)
        return diag_set(d, KILN_EINTERNAL, "the job record is unreadable");
    *out = doc;
    return 0;
}

int training_stop(const struct api_ctx *c, json_t *in, json_t **out,
                  struct kiln_diag *d)
{
    const char *name = str(in, "TrainingJobName");
    char *body = NULL;
    json_t *doc;
    int rc = 0;

    if (meta_training_get(c->meta, c->account, name, &body) != 0)
        return diag_set(d, KILN_ENOTFOUND, "Requested resource not found.");
    doc = json_loads(body, 0, NULL);
    mem_free(body);
    const char *status = str(doc, "TrainingJobStatus");
    if (!status || strcmp(status, "InProgress") != 0)
        rc = diag_set(d, KILN_EVALIDATION,
                      "The request was rejected because the training job is "
                      "in status %s.",
                      status ? status : "unknown");
    else if (c->jobs && c->jobs->stop)
        c->jobs->stop(c->jobs->ctx, c->account, name);
    json_decref(doc);
    if (!rc)
        *out = json_object();
    return rc;
}
