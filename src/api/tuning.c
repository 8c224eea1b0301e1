/*
 * tuning.c - hyperparameter tuning jobs: Create, Describe, List, Stop
 * and ListTrainingJobsForHyperParameterTuningJob, over meta_res documents
 * of type "hyper-parameter-tuning-job".
 *
 * The document is DescribeHyperParameterTuningJob's answer plus
 * "KilnTrainingJobs": the training jobs the runner (cmd/tuner.c) started,
 * each {"Name", "Tuned": {hyperparameters}}, in the order it started
 * them. What those jobs did is read from their own records whenever it
 * is asked for (tuning_progress), so a tuning job's counters and best job
 * are never behind its training jobs.
 */
#include "api/tuning.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/hosting.h"
#include "api/paging.h"
#include "api/tags.h"
#include "api/training.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "meta/meta.h"

#define TYPE     "hyper-parameter-tuning-job"
#define CHILDREN "KilnTrainingJobs"

static const char *const strategies[] = {"Bayesian", "Random", "Hyperband",
                                         "Grid", NULL};
static const char *const objective_types[] = {"Maximize", "Minimize", NULL};
static const char *const scalings[] = {"Auto", "Linear", "Logarithmic",
                                       "ReverseLogarithmic", NULL};
static const char *const early_stops[] = {"Off", "Auto", NULL};
static const char *const statuses[] = {"Completed", "InProgress", "Failed",
                                       "Stopped",   "Stopping",   NULL};
static const char *const training_statuses[] = {
    "InProgress", "Completed", "Failed", "Stopping", "Stopped", NULL};
static const char *const sort_by[] = {"Name", "CreationTime", "Status", NULL};
static const char *const child_sort_by[] = {"Name", "CreationTime", "Status",
                                            "FinalObjectiveMetricValue", NULL};
static const char *const sort_order[] = {"Ascending", "Descending", NULL};

static const struct vshape name32 = {.type = VT_STRING,
                                     .flags = V_MIN | V_MAX,
                                     .min = 1,
                                     .max = 32,
                                     .pattern =
                                         "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}"};
static const struct vshape e_strategy = {.type = VT_STRING,
                                         .enums = strategies};
static const struct vshape e_objective = {.type = VT_STRING,
                                          .enums = objective_types};
static const struct vshape e_scaling = {.type = VT_STRING, .enums = scalings};
static const struct vshape e_early = {.type = VT_STRING, .enums = early_stops};
static const struct vshape metric_name = {.type = VT_STRING,
                                          .flags = V_MIN | V_MAX,
                                          .min = 1,
                                          .max = 255,
                                          .pattern = ".+"};
static const struct vshape param_name = {
    .type = VT_STRING, .flags = V_MAX, .max = 256, .pattern = ".*"};
static const struct vshape param_value = {
    .type = VT_STRING, .flags = V_MAX, .max = 256, .pattern = ".*"};
static const struct vshape pos_int = {
    .type = VT_INTEGER, .flags = V_MIN, .min = 1};
static const struct vshape any_double = {.type = VT_DOUBLE};
static const struct vmember objective_members[] = {
    {"Type", &e_objective, true},
    {"MetricName", &metric_name, true},
    {NULL, NULL, false}};
static const struct vshape objective = {.type = VT_STRUCTURE,
                                        .members = objective_members};
static const struct vmember limits_members[] = {
    {"MaxNumberOfTrainingJobs", &pos_int, false},
    {"MaxParallelTrainingJobs", &pos_int, true},
    {"MaxRuntimeInSeconds", &pos_int, false},
    {NULL, NULL, false}};
static const struct vshape limits = {.type = VT_STRUCTURE,
                                     .members = limits_members};
static const struct vmember range_members[] = {
    {"Name", &param_name, true},
    {"MinValue", &param_value, true},
    {"MaxValue", &param_value, true},
    {"ScalingType", &e_scaling, false},
    {NULL, NULL, false}};
static const struct vshape range = {.type = VT_STRUCTURE,
                                    .members = range_members};
static const struct vshape range_list = {
    .type = VT_LIST, .flags = V_MAX, .max = 30, .item = &range};
static const struct vshape value_list = {.type = VT_LIST,
                                         .flags = V_MIN | V_MAX,
                                         .min = 1,
                                         .max = 30,
                                         .item = &param_value};
static const struct vmember categorical_members[] = {
    {"Name", &param_name, true},
    {"Values", &value_list, true},
    {NULL, NULL, false}};
static const struct vshape categorical = {.type = VT_STRUCTURE,
                                          .members = categorical_members};
static const struct vshape categorical_list = {
    .type = VT_LIST, .flags = V_MAX, .max = 30, .item = &categorical};
static const struct vmember ranges_members[] = {
    {"IntegerParameterRanges", &range_list, false},
    {"ContinuousParameterRanges", &range_list, false},
    {"CategoricalParameterRanges", &categorical_list, false},
    {NULL, NULL, false}};
static const struct vshape ranges = {.type = VT_STRUCTURE,
                                     .members = ranges_members};
static const struct vmember criteria_members[] = {
    {"TargetObjectiveMetricValue", &any_double, false}, {NULL, NULL, false}};
static const struct vshape criteria = {.type = VT_STRUCTURE,
                                       .members = criteria_members};
static const struct vmember hyperband_members[] = {
    {"MinResource", &pos_int, false},
    {"MaxResource", &pos_int, false},
    {NULL, NULL, false}};
static const struct vshape hyperband = {.type = VT_STRUCTURE,
                                        .members = hyperband_members};
static const struct vmember strategy_config_members[] = {
    {"HyperbandStrategyConfig", &hyperband, false}, {NULL, NULL, false}};
static const struct vshape strategy_config = {
    .type = VT_STRUCTURE, .members = strategy_config_members};
static const struct vmember config_members[] = {
    {"Strategy", &e_strategy, true},
    {"StrategyConfig", &strategy_config, false},
    {"HyperParameterTuningJobObjective", &objective, false},
    {"ResourceLimits", &limits, true},
    {"ParameterRanges", &ranges, false},
    {"TrainingJobEarlyStoppingType", &e_early, false},
    {"TuningJobCompletionCriteria", &criteria, false},
    {NULL, NULL, false}};
static const struct vshape config = {.type = VT_STRUCTURE,
                                     .members = config_members};
/* The training job definition is checked as the CreateTrainingJob
 * request each of its jobs becomes (tuning_child_request). */
static const struct vshape definition = {.type = VT_STRUCTURE};
static const char *const warm_types[] = {"IdenticalDataAndAlgorithm",
                                         "TransferLearning", NULL};
static const struct vshape e_warm = {.type = VT_STRING, .enums = warm_types};
static const struct vmember parent_members[] = {
    {"HyperParameterTuningJobName", &name32, true}, {NULL, NULL, false}};
static const struct vshape parent = {.type = VT_STRUCTURE,
                                     .members = parent_members};
static const struct vshape parents = {.type = VT_LIST,
                                      .flags = V_MIN | V_MAX,
                                      .min = 1,
                                      .max = 5,
                                      .item = &parent};
static const struct vmember warm_members[] = {
    {"ParentHyperParameterTuningJobs", &parents, true},
    {"WarmStartType", &e_warm, true},
    {NULL, NULL, false}};
static const struct vshape warm_start = {.type = VT_STRUCTURE,
                                         .members = warm_members};
static const struct vmember create_members[] = {
    {"WarmStartConfig", &warm_start, false},
    {"HyperParameterTuningJobName", &name32, true},
    {"HyperParameterTuningJobConfig", &config, true},
    {"TrainingJobDefinition", &definition, false},
    {"Tags", &tags_shape, false},
    {NULL, NULL, false}};
const struct vshape tuning_create_input = {.type = VT_STRUCTURE,
                                           .members = create_members};
static const struct vmember name_members[] = {
    {"HyperParameterTuningJobName", &name32, true}, {NULL, NULL, false}};
const struct vshape tuning_describe_input = {.type = VT_STRUCTURE,
                                             .members = name_members};
const struct vshape tuning_stop_input = {.type = VT_STRUCTURE,
                                         .members = name_members};

static const struct vshape timestamp = {.type = VT_TIMESTAMP};
static const struct vshape name_contains = {
    .type = VT_STRING, .flags = V_MAX, .max = 63, .pattern = "[a-zA-Z0-9\\-]+"};
static const struct vshape e_status = {.type = VT_STRING, .enums = statuses};
static const struct vshape e_training_status = {.type = VT_STRING,
                                                .enums = training_statuses};
static const struct vshape e_sort_by = {.type = VT_STRING, .enums = sort_by};
static const struct vshape e_child_sort_by = {.type = VT_STRING,
                                              .enums = child_sort_by};
static const struct vshape e_sort_order = {.type = VT_STRING,
                                           .enums = sort_order};
static const struct vshape next_token = {
    .type = VT_STRING, .flags = V_MAX, .max = 8192, .pattern = ".*"};
static const struct vshape max_results = {
    .type = VT_INTEGER, .flags = V_MIN | V_MAX, .min = 1, .max = 100};
static const struct vmember list_members[] = {
    {"NextToken", &next_token, false},
    {"MaxResults", &max_results, false},
    {"SortBy", &e_sort_by, false},
    {"SortOrder", &e_sort_order, false},
    {"NameContains", &name_contains, false},
    {"CreationTimeAfter", &timestamp, false},
    {"CreationTimeBefore", &timestamp, false},
    {"LastModifiedTimeAfter", &timestamp, false},
    {"LastModifiedTimeBefore", &timestamp, false},
    {"StatusEquals", &e_status, false},
    {NULL, NULL, false}};
const struct vshape tuning_list_input = {.type = VT_STRUCTURE,
                                         .members = list_members};
static const struct vmember children_members[] = {
    {"HyperParameterTuningJobName", &name32, true},
    {"NextToken", &next_token, false},
    {"MaxResults", &max_results, false},
    {"StatusEquals", &e_training_status, false},
    {"SortBy", &e_child_sort_by, false},
    {"SortOrder", &e_sort_order, false},
    {NULL, NULL, false}};
const struct vshape tuning_children_input = {.type = VT_STRUCTURE,
                                             .members = children_members};

static const char *str(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static double number(const char *s, bool *ok)
{
    char *end;
    double v = s ? strtod(s, &end) : 0;
    *ok = s && *s && *end == '\0' && isfinite(v);
    return v;
}

/* ---- checks -------------------------------------------------------- */

static int check_ranges(json_t *cfg, json_t *statics, struct kiln_diag *d)
{
    json_t *pr = json_object_get(cfg, "ParameterRanges"), *r;
    const char *kinds[] = {"IntegerParameterRanges",
                           "ContinuousParameterRanges",
                           "CategoricalParameterRanges"};
    size_t total = 0, i;
    bool grid = strcmp(str(cfg, "Strategy"), "Grid") == 0;
    for (size_t k = 0; k < KILN_ARRAY_LEN(kinds); k++) {
        json_array_foreach(json_object_get(pr, kinds[k]), i, r)
        {
            const char *name = str(r, "Name");
            total++;
            if (json_object_get(statics, name))
                return diag_set(d, KILN_EVALIDATION,
                                "The hyperparameter %s is both static and "
                                "tuned.",
                                name);
            if (k == 2)
                continue;
            if (grid)
                return diag_set(d, KILN_EVALIDATION,
                                "The Grid strategy takes categorical "
                                "parameter ranges only; %s is a range of "
                                "numbers.",
                                name);
            bool ok1, ok2;
            double lo = number(str(r, "MinValue"), &ok1);
            double hi = number(str(r, "MaxValue"), &ok2);
            const char *scaling = str(r, "ScalingType");
            if (!ok1 || !ok2 || lo > hi ||
                (k == 0 && (lo != floor(lo) || hi != floor(hi))))
                return diag_set(d, KILN_EVALIDATION,
                                "The range of %s must be two %s, MinValue "
                                "at most MaxValue.",
                                name, k == 0 ? "integers" : "numbers");
            if (scaling && strcmp(scaling, "Logarithmic") == 0 && lo <= 0)
                return diag_set(d, KILN_EVALIDATION,
                                "A Logarithmic range (%s) must be above 0.",
                                name);
            if (scaling && strcmp(scaling, "ReverseLogarithmic") == 0 &&
                (k == 0 || lo < 0 || hi >= 1))
                return diag_set(d, KILN_EVALIDATION,
                                "A ReverseLogarithmic range (%s) must be "
                                "continuous, within [0, 1).",
                                name);
        }
    }
    if (total == 0)
        return diag_set(d, KILN_EVALIDATION,
                        "ParameterRanges must have at least one range to "
                        "tune.");
    return 0;
}

int tuning_hyperband_resources(json_t *doc, long *min, long *max)
{
    /* The names SageMaker infers MaxResource from. */
    static const char *const epochs[] = {"epochs", "numepochs", "n-epochs",
                                         "n_epochs", "num_epochs"};
    json_t *cfg = json_object_get(doc, "HyperParameterTuningJobConfig");
    json_t *hb = json_object_get(json_object_get(cfg, "StrategyConfig"),
                                 "HyperbandStrategyConfig");
    json_t *statics = json_object_get(
        json_object_get(doc, "TrainingJobDefinition"), "StaticHyperParameters");
    json_t *v = json_object_get(hb, "MinResource");

    *min = json_is_integer(v) ? (long)json_integer_value(v) : 1;
    v = json_object_get(hb, "MaxResource");
    *max = json_is_integer(v) ? (long)json_integer_value(v) : 0;
    for (size_t i = 0; !*max && i < KILN_ARRAY_LEN(epochs); i++) {
        const char *e = str(statics, epochs[i]);
        char *end;
        long n = e ? strtol(e, &end, 10) : 0;
        if (e && *e && !*end && n > 0)
            *max = n;
    }
    return *max >= 1 && *min >= 1 && *min <= *max ? 0 : KILN_EVALIDATION;
}

json_t *tuning_child_request(json_t *doc, const char *child, json_t *tuned)
{
    json_t *def = json_object_get(doc, "TrainingJobDefinition");
    json_t *in = json_deep_copy(def);
    json_t *hp = json_deep_copy(json_object_get(def, "StaticHyperParameters"));
    const char *k;
    json_t *v;
    if (!hp)
        hp = json_object();
    json_object_foreach(tuned, k, v) json_object_set(hp, k, v);
    json_object_del(in, "StaticHyperParameters");
    json_object_set_new(in, "HyperParameters", hp);
    json_object_set_new(in, "TrainingJobName", json_string(child));
    json_object_set(in, "Tags", json_object_get(doc, "KilnTags"));
    if (!json_object_get(in, "Tags"))
        json_object_del(in, "Tags");
    return in;
}

/* WarmStartConfig's parents: each ended, with the same objective; for
 * IdenticalDataAndAlgorithm, the same image, data and static
 * hyperparameters. */
static int check_parents(const struct api_ctx *c, json_t *in,
                         struct kiln_diag *d)
{
    json_t *warm = json_object_get(in, "WarmStartConfig"), *p;
    json_t *def = json_object_get(in, "TrainingJobDefinition");
    json_t *goal =
        json_object_get(json_object_get(in, "HyperParameterTuningJobConfig"),
                        "HyperParameterTuningJobObjective");
    bool identical =
        str(warm, "WarmStartType") &&
        strcmp(str(warm, "WarmStartType"), "IdenticalDataAndAlgorithm") == 0;
    size_t i;
    int rc = 0;

    json_array_foreach(json_object_get(warm, "ParentHyperParameterTuningJobs"),
                       i, p)
    {
        const char *name = str(p, "HyperParameterTuningJobName");
        json_t *doc = hosting_doc(c->meta, c->account, TYPE, name);
        const char *st = str(doc, "HyperParameterTuningJobStatus");
        json_t *pdef = json_object_get(doc, "TrainingJobDefinition");
        json_t *pgoal = json_object_get(
            json_object_get(doc, "HyperParameterTuningJobConfig"),
            "HyperParameterTuningJobObjective");
        if (!doc)
            rc = diag_set(d, KILN_EVALIDATION,
                          "The parent tuning job %s does not exist.", name);
        else if (!st || strcmp(st, "InProgress") == 0 ||
                 strcmp(st, "Stopping") == 0)
            rc = diag_set(d, KILN_EVALIDATION,
                          "The parent tuning job %s has not ended: a warm "
                          "start needs its results.",
                          name);
        else if (!json_equal(goal, pgoal))
            rc = diag_set(d, KILN_EVALIDATION,
                          "The parent tuning job %s has another objective "
                          "metric: a warm start needs the same.",
                          name);
        else if (identical &&
                 (!json_equal(
                      json_object_get(
                          json_object_get(def, "AlgorithmSpecification"),
                          "TrainingImage"),
                      json_object_get(
                          json_object_get(pdef, "AlgorithmSpecification"),
                          "TrainingImage")) ||
                  !json_equal(json_object_get(def, "InputDataConfig"),
                              json_object_get(pdef, "InputDataConfig")) ||
                  !json_equal(json_object_get(def, "StaticHyperParameters"),
                              json_object_get(pdef, "StaticHyperParameters"))))
            rc = diag_set(d, KILN_EVALIDATION,
                          "WarmStartType IdenticalDataAndAlgorithm needs the "
                          "parent tuning job %s's training image, input data "
                          "and static hyperparameters; use TransferLearning.",
                          name);
        json_decref(doc);
        if (rc)
            break;
    }
    return rc;
}

json_t *tuning_warm_results(struct meta *m, const char *account, json_t *doc)
{
    json_t *out = json_array(), *p;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(doc, "WarmStartConfig"),
                                       "ParentHyperParameterTuningJobs"),
                       i, p)
    {
        json_t *pdoc = hosting_doc(m, account, TYPE,
                                   str(p, "HyperParameterTuningJobName"));
        json_t *e;
        size_t k;
        json_array_foreach(json_object_get(pdoc, CHILDREN), k, e)
        {
            json_t *s = tuning_child_summary(m, account, pdoc, e);
            if (s && json_object_get(
                         s, "FinalHyperParameterTuningJobObjectiveMetric"))
                json_array_append(out, s);
            json_decref(s);
        }
        json_decref(pdoc);
    }
    return out;
}

int tuning_create(const struct api_ctx *c, json_t *in, json_t **out,
                  struct kiln_diag *d)
{
    const char *name = str(in, "HyperParameterTuningJobName");
    json_t *cfg = json_object_get(in, "HyperParameterTuningJobConfig");
    json_t *def = json_object_get(in, "TrainingJobDefinition");
    const char *strategy = str(cfg, "Strategy");
    json_t *lim = json_object_get(cfg, "ResourceLimits");
    char arn[256];
    double now = tm_now();
    int rc;

    if (json_object_get(in, "TrainingJobDefinitions") ||
        json_object_get(in, "Autotune"))
        return diag_set(d, KILN_EVALIDATION,
                        "kiln tunes one TrainingJobDefinition, without "
                        "Autotune.");
    if (!def)
        return diag_set(d, KILN_EVALIDATION,
                        "TrainingJobDefinition is required.");
    const char *early = str(cfg, "TrainingJobEarlyStoppingType");
    if (strcmp(strategy, "Hyperband") == 0) {
        long min, max;
        if (early && strcmp(early, "Off") != 0)
            return diag_set(d, KILN_EVALIDATION,
                            "The Hyperband strategy stops training jobs "
                            "itself: TrainingJobEarlyStoppingType must be "
                            "Off.");
        if (tuning_hyperband_resources(in, &min, &max) != 0)
            return diag_set(
                d, KILN_EVALIDATION,
                "Hyperband needs a MaxResource of at least its MinResource "
                "(default 1): give HyperbandStrategyConfig.MaxResource, or "
                "a static hyperparameter epochs (numepochs, n-epochs, "
                "n_epochs, num_epochs) to infer it from.");
    } else if (json_object_get(cfg, "StrategyConfig")) {
        return diag_set(d, KILN_EVALIDATION,
                        "StrategyConfig is for the Hyperband strategy only.");
    }
    if (!json_object_get(cfg, "HyperParameterTuningJobObjective"))
        return diag_set(d, KILN_EVALIDATION,
                        "HyperParameterTuningJobObjective is required: the "
                        "metric the tuning job optimizes.");
    if (strcmp(strategy, "Grid") != 0 &&
        !json_object_get(lim, "MaxNumberOfTrainingJobs"))
        return diag_set(d, KILN_EVALIDATION,
                        "ResourceLimits.MaxNumberOfTrainingJobs is required "
                        "for the %s strategy.",
                        strategy);
    rc = check_ranges(cfg, json_object_get(def, "StaticHyperParameters"), d);
    if (!rc)
        rc = check_parents(c, in, d);
    if (rc)
        return rc;
    /* Each training job must be one CreateTrainingJob takes. */
    json_t *probe = json_object();
    json_object_set(probe, "TrainingJobDefinition", def);
    json_t *sample = tuning_child_request(probe, name, NULL);
    json_decref(probe);
    rc = validate_request(&training_create_input, sample, d);
    json_decref(sample);
    if (rc)
        return diag_wrap(d, KILN_EVALIDATION, "TrainingJobDefinition: ");

    hosting_arn(c, TYPE, name, arn, sizeof(arn));
    json_t *doc = json_object();
    json_object_set_new(doc, "HyperParameterTuningJobName", json_string(name));
    json_object_set_new(doc, "HyperParameterTuningJobArn", json_string(arn));
    json_object_set_new(doc, "HyperParameterTuningJobConfig",
                        json_deep_copy(cfg));
    json_object_set_new(doc, "TrainingJobDefinition", json_deep_copy(def));
    if (json_object_get(in, "WarmStartConfig"))
        json_object_set_new(
            doc, "WarmStartConfig",
            json_deep_copy(json_object_get(in, "WarmStartConfig")));
    json_object_set_new(doc, "HyperParameterTuningJobStatus",
                        json_string("InProgress"));
    json_object_set_new(doc, "CreationTime", json_real(now));
    json_object_set_new(doc, "LastModifiedTime", json_real(now));
    json_object_set_new(doc, CHILDREN, json_array());
    if (json_object_get(in, "Tags"))
        json_object_set(doc, "KilnTags", json_object_get(in, "Tags"));
    rc = hosting_insert_res(c, TYPE, name, arn, "InProgress", doc, now, d);
    json_decref(doc);
    if (rc == KILN_EINUSE)
        return diag_set(d, KILN_EINUSE,
                        "Hyperparameter tuning job names must be unique "
                        "within an AWS account and region, and a tuning job "
                        "with this name already exists (%s).",
                        arn);
    if (rc)
        return rc;
    tags_store(c, arn, in);
    if (c->jobs && c->jobs->tuning_start)
        c->jobs->tuning_start(c->jobs->tuning, c->account, name);
    *out = json_object();
    json_object_set_new(*out, "HyperParameterTuningJobArn", json_string(arn));
    return 0;
}

/* ---- progress ------------------------------------------------------ */

json_t *tuning_child_summary(struct meta *m, const char *account, json_t *doc,
                             json_t *entry)
{
    char *body = NULL;
    const char *child = str(entry, "Name");
    json_t *goal =
        json_object_get(json_object_get(doc, "HyperParameterTuningJobConfig"),
                        "HyperParameterTuningJobObjective");
    if (meta_training_get(m, account, child, &body) != 0)
        return NULL;
    json_t *t = json_loads(body, 0, NULL);
    mem_free(body);
    if (!t)
        return NULL;
    json_t *s = json_object();
    static const char *const copied[] = {"TrainingJobName", "TrainingJobArn",
                                         "CreationTime",    "TrainingStartTime",
                                         "TrainingEndTime", "TrainingJobStatus",
                                         "FailureReason"};
    for (size_t i = 0; i < KILN_ARRAY_LEN(copied); i++)
        if (json_object_get(t, copied[i]))
            json_object_set(s, copied[i], json_object_get(t, copied[i]));
    json_object_set_new(s, "TuningJobName",
                        json_string(str(doc, "HyperParameterTuningJobName")));
    json_object_set(s, "TunedHyperParameters", json_object_get(entry, "Tuned"));
    const char *status = str(t, "TrainingJobStatus");
    const char *metric = str(goal, "MetricName");
    json_t *value = NULL, *x;
    size_t i;
    json_array_foreach(json_object_get(t, "FinalMetricDataList"), i, x)
    {
        if (metric && str(x, "MetricName") &&
            strcmp(str(x, "MetricName"), metric) == 0)
            value = json_object_get(x, "Value");
    }
    const char *os = "Pending";
    /* A job stopped early (Hyperband, or TrainingJobEarlyStoppingType
     * Auto) reported its objective all the same. */
    bool early = json_is_true(json_object_get(entry, "EarlyStopped"));
    if (status && (strcmp(status, "Completed") == 0 ||
                   (early && strcmp(status, "Stopped") == 0)))
        os = value ? "Succeeded" : "Failed";
    else if (status &&
             (strcmp(status, "Failed") == 0 || strcmp(status, "Stopped") == 0))
        os = "Failed";
    if (value && strcmp(os, "Succeeded") == 0) {
        json_t *f = json_object();
        json_object_set_new(f, "Type", json_string(str(goal, "Type")));
        json_object_set_new(f, "MetricName", json_string(metric));
        json_object_set(f, "Value", value);
        json_object_set_new(s, "FinalHyperParameterTuningJobObjectiveMetric",
                            f);
    }
    json_object_set_new(s, "ObjectiveStatus", json_string(os));
    json_decref(t);
    return s;
}

static int count(json_t *counters, const char *key)
{
    json_int_t n = json_integer_value(json_object_get(counters, key));
    json_object_set_new(counters, key, json_integer(n + 1));
    return 0;
}

void tuning_progress(struct meta *m, const char *account, json_t *doc)
{
    json_t *tc = json_object(), *oc = json_object(), *best = NULL, *e;
    const char *tkeys[] = {"Completed", "InProgress", "RetryableError",
                           "NonRetryableError", "Stopped"};
    const char *okeys[] = {"Succeeded", "Pending", "Failed"};
    for (size_t i = 0; i < KILN_ARRAY_LEN(tkeys); i++)
        json_object_set_new(tc, tkeys[i], json_integer(0));
    for (size_t i = 0; i < KILN_ARRAY_LEN(okeys); i++)
        json_object_set_new(oc, okeys[i], json_integer(0));
    bool maximize =
        str(json_object_get(
                json_object_get(doc, "HyperParameterTuningJobConfig"),
                "HyperParameterTuningJobObjective"),
            "Type") &&
        strcmp(str(json_object_get(
                       json_object_get(doc, "HyperParameterTuningJobConfig"),
                       "HyperParameterTuningJobObjective"),
                   "Type"),
               "Maximize") == 0;
    size_t i;
    json_array_foreach(json_object_get(doc, CHILDREN), i, e)
    {
        json_t *s = tuning_child_summary(m, account, doc, e);
        const char *st = s ? str(s, "TrainingJobStatus") : NULL;
        if (!st)
            count(tc, "NonRetryableError");
        else if (strcmp(st, "Completed") == 0)
            count(tc, "Completed");
        else if (strcmp(st, "Failed") == 0)
            count(tc, "NonRetryableError");
        else if (strcmp(st, "Stopped") == 0)
            count(tc, "Stopped");
        else
            count(tc, "InProgress");
        count(oc, s ? str(s, "ObjectiveStatus") : "Failed");
        json_t *f = s ? json_object_get(
                            s, "FinalHyperParameterTuningJobObjectiveMetric")
                      : NULL;
        if (f) {
            double v = json_number_value(json_object_get(f, "Value"));
            json_t *bf =
                best ? json_object_get(
                           best, "FinalHyperParameterTuningJobObjectiveMetric")
                     : NULL;
            double b = bf ? json_number_value(json_object_get(bf, "Value")) : 0;
            if (!best || (maximize ? v > b : v < b)) {
                json_decref(best);
                best = json_incref(s);
            }
        }
        json_decref(s);
    }
    json_object_set_new(doc, "TrainingJobStatusCounters", tc);
    json_object_set_new(doc, "ObjectiveStatusCounters", oc);
    if (best)
        json_object_set(doc, "BestTrainingJob", best);
    else
        json_object_del(doc, "BestTrainingJob");
    /* With a warm start, the best of the parents' jobs and these. */
    if (json_object_get(doc, "WarmStartConfig")) {
        json_t *prior = tuning_warm_results(m, account, doc);
        json_array_foreach(prior, i, e)
        {
            double v = json_number_value(json_object_get(
                json_object_get(e,
                                "FinalHyperParameterTuningJobObjectiveMetric"),
                "Value"));
            double b =
                best ? json_number_value(json_object_get(
                           json_object_get(best, "FinalHyperParameter"
                                                 "TuningJobObjectiveMetric"),
                           "Value"))
                     : 0;
            if (!best || (maximize ? v > b : v < b)) {
                json_decref(best);
                best = json_incref(e);
            }
        }
        json_decref(prior);
        if (best)
            json_object_set(doc, "OverallBestTrainingJob", best);
    }
    json_decref(best);
}

/* ---- the handlers -------------------------------------------------- */

static int load(const struct api_ctx *c, const char *name, json_t **doc,
                struct kiln_diag *d)
{
    int rc = hosting_load_doc(c, TYPE, name, doc, d);
    if (rc == KILN_ENOTFOUND)
        return diag_set(d, KILN_ENOJOB,
                        "Amazon SageMaker can't find a tuning job with name "
                        "%s",
                        name);
    return rc;
}

int tuning_describe(const struct api_ctx *c, json_t *in, json_t **out,
                    struct kiln_diag *d)
{
    json_t *doc;
    int rc = load(c, str(in, "HyperParameterTuningJobName"), &doc, d);
    if (rc)
        return rc;
    tuning_progress(c->meta, c->account, doc);
    json_object_del(doc, CHILDREN);
    json_object_del(doc, "KilnTags");
    json_object_del(doc, "KilnRungs");
    *out = doc;
    return 0;
}

int tuning_stop(const struct api_ctx *c, json_t *in, json_t **out,
                struct kiln_diag *d)
{
    const char *name = str(in, "HyperParameterTuningJobName");
    json_t *doc;
    int rc = load(c, name, &doc, d);
    if (rc)
        return rc;
    rc = hosting_stop_job(c, doc, "HyperParameterTuningJobStatus", "tuning job",
                          c->jobs ? c->jobs->tuning_stop : NULL,
                          c->jobs ? c->jobs->tuning : NULL, name, out, d);
    json_decref(doc);
    return rc;
}

int tuning_list(const struct api_ctx *c, json_t *in, json_t **out,
                struct kiln_diag *d)
{
    static const char *const keys[] = {
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobArn",
        "HyperParameterTuningJobStatus",
        "HyperParameterTuningEndTime",
        "TrainingJobStatusCounters",
        "ObjectiveStatusCounters",
        "HyperParameterTuningJobConfig.Strategy",
        "HyperParameterTuningJobConfig.ResourceLimits",
        NULL};
    return hosting_list_res(c, in, TYPE, "HyperParameterTuningJobSummaries",
                            keys, out, d);
}

/* qsort context: the sort of ListTrainingJobsForHyperParameterTuningJob. */
static const char *g_sort;
static bool g_descending;

static int by_sort(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int r;
    if (strcmp(g_sort, "FinalObjectiveMetricValue") == 0) {
        json_t *fx =
            json_object_get(x, "FinalHyperParameterTuningJobObjectiveMetric");
        json_t *fy =
            json_object_get(y, "FinalHyperParameterTuningJobObjectiveMetric");
        /* Jobs without a value come last either way. */
        if (!fx || !fy)
            return fx ? -1 : fy ? 1 : 0;
        double vx = json_number_value(json_object_get(fx, "Value"));
        double vy = json_number_value(json_object_get(fy, "Value"));
        r = vx < vy ? -1 : vx > vy;
    } else if (strcmp(g_sort, "CreationTime") == 0) {
        double vx = json_number_value(json_object_get(x, "CreationTime"));
        double vy = json_number_value(json_object_get(y, "CreationTime"));
        r = vx < vy ? -1 : vx > vy;
    } else {
        const char *k = strcmp(g_sort, "Status") == 0 ? "TrainingJobStatus"
                                                      : "TrainingJobName";
        r = strcmp(str(x, k) ? str(x, k) : "", str(y, k) ? str(y, k) : "");
    }
    return g_descending ? -r : r;
}

int tuning_children(const struct api_ctx *c, json_t *in, json_t **out,
                    struct kiln_diag *d)
{
    static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;
    json_t *doc, *e;
    int rc = load(c, str(in, "HyperParameterTuningJobName"), &doc, d);
    if (rc)
        return rc;
    size_t n = 0, i, offset = 0;
    json_t *children = json_object_get(doc, CHILDREN);
    json_t **v = xcalloc(json_array_size(children) + 1, sizeof(*v));
    const char *want = str(in, "StatusEquals");
    json_array_foreach(children, i, e)
    {
        json_t *s = tuning_child_summary(c->meta, c->account, doc, e);
        if (s && (!want || strcmp(str(s, "TrainingJobStatus"), want) == 0))
            v[n++] = s;
        else
            json_decref(s);
    }
    const char *token = str(in, "NextToken");
    if (token && *token) {
        json_t *pos = NULL;
        rc = paging_token_decode(token, &pos, d);
        if (!rc && !json_is_integer(json_object_get(pos, "o")))
            rc = diag_set(d, KILN_EVALIDATION, "Invalid pagination token.");
        if (!rc)
            offset = (size_t)json_integer_value(json_object_get(pos, "o"));
        json_decref(pos);
    }
    if (!rc) {
        pthread_mutex_lock(&sort_lock);
        g_sort = str(in, "SortBy") ? str(in, "SortBy") : "CreationTime";
        const char *order = str(in, "SortOrder");
        g_descending = !order || strcmp(order, "Descending") == 0;
        if (n > 1)
            qsort(v, n, sizeof(*v), by_sort);
        pthread_mutex_unlock(&sort_lock);
        size_t limit =
            json_object_get(in, "MaxResults")
                ? (size_t)json_integer_value(json_object_get(in, "MaxResults"))
                : 10;
        json_t *list = json_array();
        for (i = offset; i < n && i < offset + limit; i++)
            json_array_append(list, v[i]);
        *out = json_object();
        json_object_set_new(*out, "TrainingJobSummaries", list);
        if (offset + limit < n) {
            json_t *pos = json_object();
            json_object_set_new(pos, "o",
                                json_integer((json_int_t)(offset + limit)));
            char *t = paging_token_encode(pos);
            json_object_set_new(*out, "NextToken", json_string(t));
            mem_free(t);
            json_decref(pos);
        }
    }
    for (i = 0; i < n; i++)
        json_decref(v[i]);
    mem_free(v);
    json_decref(doc);
    return rc;
}
