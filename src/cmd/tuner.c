/*
 * tuner.c - runs hyperparameter tuning jobs (see tuner.h).
 *
 * A tuning job's thread draws its hyperparameter sets up front (Random:
 * MaxNumberOfTrainingJobs draws from the ranges, seeded by the job's name
 * so a restart draws the same; Grid: every combination of the
 * categorical values, up to MaxNumberOfTrainingJobs) or, for Bayesian,
 * one at a time from the results so far (ml/bayesopt.c), then keeps
 * MaxParallelTrainingJobs training jobs running until all have run,
 * reading their records every half second. The training jobs are
 * ordinary ones, started through CreateTrainingJob's own handler.
 * Hyperband (random draws, successive halving) and
 * TrainingJobEarlyStoppingType Auto (the median rule) read the running
 * jobs' objective metric as it is emitted, and stop jobs early.
 */
#include "cmd/tuner.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/training.h"
#include "api/tuning.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "cmd/jobset.h"
#include "ml/bayesopt.h"
#include "ml/rng.h"

#define TYPE       "hyper-parameter-tuning-job"
#define CHILDREN   "KilnTrainingJobs"
#define MAX_JOBS   500 /* training jobs one tuning job may draw */
#define POLL_USECS 500000

struct tuner {
    struct meta *meta;
    const struct api_jobs *jobs;
    char region[64];
    struct jobset *set;
};

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* ---- drawing hyperparameters ---------------------------------------- */

enum scale { LINEAR, LOG, REVERSE_LOG };

/* Range r's bounds, an integer range's widened by half a step each way
 * (each integer as likely as the next), and its scaling. */
static enum scale bounds(json_t *r, bool integer, double *lo, double *hi)
{
    const char *scaling = jstr(r, "ScalingType");
    *lo = strtod(jstr(r, "MinValue"), NULL);
    *hi = strtod(jstr(r, "MaxValue"), NULL);
    if (integer) {
        *lo -= 0.5 - 1e-9;
        *hi += 0.5 - 1e-9;
    }
    if (scaling && strcmp(scaling, "Logarithmic") == 0) {
        if (*lo <= 0)
            *lo = 0.5;
        return LOG;
    }
    if (scaling && strcmp(scaling, "ReverseLogarithmic") == 0)
        return REVERSE_LOG;
    return LINEAR;
}

/* A value of range r (integer or continuous) at u in [0, 1). */
static double scaled(json_t *r, double u, bool integer)
{
    double lo, hi, v;
    switch (bounds(r, integer, &lo, &hi)) {
    case LOG:
        v = exp(log(lo) + u * (log(hi) - log(lo)));
        break;
    case REVERSE_LOG:
        v = 1 - exp(log(1 - hi) + (1 - u) * (log(1 - lo) - log(1 - hi)));
        break;
    default:
        v = lo + u * (hi - lo);
    }
    return integer ? nearbyint(v) : v;
}

/* Where value v of range r lies in [0, 1): scaled()'s inverse. */
static double unscaled(json_t *r, double v, bool integer)
{
    double lo, hi, u;
    switch (bounds(r, integer, &lo, &hi)) {
    case LOG:
        u = v > 0 ? (log(v) - log(lo)) / (log(hi) - log(lo)) : 0;
        break;
    case REVERSE_LOG:
        u = v < 1 ? 1 - (log(1 - v) - log(1 - hi)) / (log(1 - lo) - log(1 - hi))
                  : 1;
        break;
    default:
        u = hi > lo ? (v - lo) / (hi - lo) : 0;
    }
    if (!(u >= 0)) /* also NaN */
        u = 0;
    return u < 1 ? u : nextafter(1.0, 0.0);
}

static const char *const range_kinds[] = {"IntegerParameterRanges",
                                          "ContinuousParameterRanges",
                                          "CategoricalParameterRanges"};

/* Coordinates of a point: one per range, integer ranges first, then
 * continuous, then categorical. */
static size_t dims(json_t *ranges)
{
    size_t n = 0;
    for (size_t k = 0; k < KILN_ARRAY_LEN(range_kinds); k++)
        n += json_array_size(json_object_get(ranges, range_kinds[k]));
    return n;
}

/* The hyperparameters at point u (each coordinate in [0, 1)). */
static json_t *at_point(json_t *ranges, const double *u)
{
    json_t *hp = json_object(), *r;
    size_t i, c = 0;
    char text[64];
    json_array_foreach(json_object_get(ranges, range_kinds[0]), i, r)
    {
        snprintf(text, sizeof(text), "%.0f", scaled(r, u[c++], true));
        json_object_set_new(hp, jstr(r, "Name"), json_string(text));
    }
    json_array_foreach(json_object_get(ranges, range_kinds[1]), i, r)
    {
        snprintf(text, sizeof(text), "%.10g", scaled(r, u[c++], false));
        json_object_set_new(hp, jstr(r, "Name"), json_string(text));
    }
    json_array_foreach(json_object_get(ranges, range_kinds[2]), i, r)
    {
        json_t *values = json_object_get(r, "Values");
        size_t k = (size_t)(u[c++] * (double)json_array_size(values));
        if (k >= json_array_size(values))
            k = json_array_size(values) - 1;
        json_object_set(hp, jstr(r, "Name"), json_array_get(values, k));
    }
    return hp;
}

/* The point of hyperparameters `hp` in this job's ranges, into u; false
 * when one of them is missing or not one of a categorical range's
 * values. The inverse of at_point(), for a warm start's results. */
static bool to_point(json_t *ranges, json_t *hp, double *u)
{
    json_t *r;
    size_t i, c = 0;
    for (size_t k = 0; k < 2; k++)
        json_array_foreach(json_object_get(ranges, range_kinds[k]), i, r)
        {
            const char *v = jstr(hp, jstr(r, "Name"));
            if (!v)
                return false;
            u[c++] = unscaled(r, strtod(v, NULL), k == 0);
        }
    json_array_foreach(json_object_get(ranges, range_kinds[2]), i, r)
    {
        json_t *values = json_object_get(r, "Values"), *x;
        size_t n = json_array_size(values), k, at = n;
        json_array_foreach(values, k, x)
        {
            if (json_equal(x, json_object_get(hp, jstr(r, "Name"))))
                at = k;
        }
        if (at == n)
            return false;
        u[c++] = ((double)at + 0.5) / (double)n;
    }
    return true;
}

static json_t *draw_random(json_t *ranges, struct rng *g)
{
    size_t n = dims(ranges);
    double *u = xcalloc(n ? n : 1, sizeof(*u));
    for (size_t i = 0; i < n; i++)
        u[i] = rng_uniform(g);
    json_t *hp = at_point(ranges, u);
    mem_free(u);
    return hp;
}

/* The hyperparameter sets of the job, in the order they run. */
static json_t *draw(json_t *doc, const char *name)
{
    json_t *cfg = json_object_get(doc, "HyperParameterTuningJobConfig");
    json_t *ranges = json_object_get(cfg, "ParameterRanges");
    json_t *lim = json_object_get(cfg, "ResourceLimits");
    json_int_t max =
        json_integer_value(json_object_get(lim, "MaxNumberOfTrainingJobs"));
    json_t *sets = json_array();
    if (max <= 0 || max > MAX_JOBS)
        max = MAX_JOBS;
    if (strcmp(jstr(cfg, "Strategy"), "Grid") == 0) {
        /* Every combination, the first range varying slowest. */
        json_t *cats = json_object_get(ranges, "CategoricalParameterRanges");
        size_t n = json_array_size(cats), combos = 1;
        for (size_t i = 0; i < n && combos <= (size_t)max; i++)
            combos *= json_array_size(
                json_object_get(json_array_get(cats, i), "Values"));
        for (size_t c = 0; c < combos && c < (size_t)max; c++) {
            json_t *hp = json_object();
            size_t rest = c;
            for (size_t i = n; i-- > 0;) {
                json_t *r = json_array_get(cats, i);
                json_t *values = json_object_get(r, "Values");
                size_t k = json_array_size(values);
                json_object_set(hp, jstr(r, "Name"),
                                json_array_get(values, rest % k));
                rest /= k;
            }
            json_array_append_new(sets, hp);
        }
        return sets;
    }
    /* Bayesian: each set is chosen when its turn comes (suggest). */
    bool later = strcmp(jstr(cfg, "Strategy"), "Bayesian") == 0;
    struct rng g;
    rng_seed(&g, name_hash(name));
    for (json_int_t i = 0; i < max; i++)
        json_array_append_new(sets,
                              later ? json_null() : draw_random(ranges, &g));
    return sets;
}

/*
 * Bayesian optimization's next point, from the training jobs' results so
 * far: their points ("U") and objective values (negated to maximize);
 * one still running counts at the best value yet, so parallel jobs spread
 * out. Random until three have reported. The point goes to *u_out.
 */
static json_t *suggest(struct tuner *t, struct job *j, json_t *doc, size_t n,
                       json_t **u_out)
{
    json_t *cfg = json_object_get(doc, "HyperParameterTuningJobConfig");
    json_t *ranges = json_object_get(cfg, "ParameterRanges");
    const char *type =
        jstr(json_object_get(cfg, "HyperParameterTuningJobObjective"), "Type");
    double sign = type && strcmp(type, "Maximize") == 0 ? -1 : 1;
    size_t dim = dims(ranges), nobs = 0, npend = 0, i;
    json_t *children = json_object_get(doc, CHILDREN), *e;
    json_t *prior = tuning_warm_results(t->meta, j->account, doc);
    size_t cap = json_array_size(children) + json_array_size(prior) + 1;
    double *x = xcalloc(cap * (dim ? dim : 1), sizeof(*x));
    double *y = xcalloc(cap, sizeof(*y));
    double *pend = xcalloc(cap * (dim ? dim : 1), sizeof(*pend));
    double *u = xcalloc(dim ? dim : 1, sizeof(*u)), low = INFINITY;
    json_array_foreach(children, i, e)
    {
        json_t *pu = json_object_get(e, "U");
        if (json_array_size(pu) != dim)
            continue;
        json_t *s = tuning_child_summary(t->meta, j->account, doc, e);
        json_t *f =
            json_object_get(s, "FinalHyperParameterTuningJobObjectiveMetric");
        const char *st = jstr(s, "TrainingJobStatus");
        double *row = NULL;
        if (f) {
            row = x + nobs * dim;
            y[nobs] = sign * json_number_value(json_object_get(f, "Value"));
            low = y[nobs] < low ? y[nobs] : low;
            nobs++;
        } else if (st && strcmp(st, "InProgress") == 0) {
            row = pend + npend++ * dim;
        }
        for (size_t d = 0; row && d < dim; d++)
            row[d] = json_number_value(json_array_get(pu, d));
        json_decref(s);
    }
    /* A warm start's results count as this job's own. */
    json_array_foreach(prior, i, e)
    {
        if (!to_point(ranges, json_object_get(e, "TunedHyperParameters"),
                      x + nobs * dim))
            continue;
        y[nobs] =
            sign * json_number_value(json_object_get(
                       json_object_get(
                           e, "FinalHyperParameterTuningJobObjectiveMetric"),
                       "Value"));
        low = y[nobs] < low ? y[nobs] : low;
        nobs++;
    }
    json_decref(prior);
    struct rng g;
    rng_seed(&g, name_hash(j->name) ^ (uint64_t)n * 0x9e3779b97f4a7c15ull);
    if (nobs < 3) {
        for (size_t d = 0; d < dim; d++)
            u[d] = rng_uniform(&g);
    } else {
        for (size_t p = 0; p < npend; p++) {
            memcpy(x + nobs * dim, pend + p * dim, dim * sizeof(*x));
            y[nobs++] = low;
        }
        bayesopt_suggest(x, y, nobs, dim, &g, u);
    }
    *u_out = json_array();
    for (size_t d = 0; d < dim; d++)
        json_array_append_new(*u_out, json_real(u[d]));
    json_t *hp = at_point(ranges, u);
    mem_free(x);
    mem_free(y);
    mem_free(pend);
    mem_free(u);
    return hp;
}

/* ---- the job --------------------------------------------------------- */

static void save(struct tuner *t, struct job *j, json_t *doc,
                 const char *status, const char *expect)
{
    json_object_set_new(doc, "HyperParameterTuningJobStatus",
                        json_string(status));
    json_object_set_new(doc, "LastModifiedTime", json_real(tm_now()));
    char *body = json_dumps(doc, JSON_COMPACT);
    struct meta_res m = {.account = j->account,
                         .type = TYPE,
                         .name = j->name,
                         .status = status,
                         .modified = tm_now(),
                         .body = body,
                         .expect = expect};
    meta_res_save(t->meta, &m);
    mem_free(body);
}

/* Starts training job number `n` (from 1) with hyperparameters `tuned`. */
static void start_child(struct tuner *t, struct job *j, json_t *doc, size_t n,
                        json_t *tuned, json_t *point)
{
    char child[96];
    snprintf(child, sizeof(child), "%s-%03zu-%08x", j->name, n,
             (unsigned)(name_hash(j->name) ^ (n * 0x9e3779b9u)));
    json_t *req = tuning_child_request(doc, child, tuned), *out = NULL;
    struct api_ctx c = {.jobs = t->jobs,
                        .meta = t->meta,
                        .account = j->account,
                        .user = "tuning",
                        .akid = "",
                        .region = t->region,
                        .request_id = ""};
    struct kiln_diag d = {0};
    if (training_create(&c, req, &out, &d) != 0)
        log_warn("event=tuning_child_failed job=%s child=%s error=\"%s\"",
                 j->name, child, d.msg);
    json_decref(out);
    json_decref(req);
    /* Listed either way: one that could not start counts as failed. */
    json_t *e = json_object();
    json_object_set_new(e, "Name", json_string(child));
    json_object_set(e, "Tuned", tuned);
    if (point)
        json_object_set(e, "U", point);
    json_array_append_new(json_object_get(doc, CHILDREN), e);
}

/* Asks every running training job of the tuning job to stop. */
static void stop_children(struct tuner *t, struct job *j, json_t *doc)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, CHILDREN), i, e)
    {
        char *body = NULL;
        if (meta_training_get(t->meta, j->account, jstr(e, "Name"), &body) != 0)
            continue;
        json_t *td = json_loads(body, 0, NULL);
        mem_free(body);
        const char *st = jstr(td, "TrainingJobStatus");
        if (st && strcmp(st, "InProgress") == 0 && t->jobs->stop)
            t->jobs->stop(t->jobs->ctx, j->account, jstr(e, "Name"));
        json_decref(td);
    }
}

/* ---- Hyperband ---------------------------------------------------- */

/* Hyperband's reduction factor: a third of the jobs at a rung go on. */
#define ETA 3

struct samples {
    const char *metric;
    double *v;
    size_t n, cap;
};

static int add_sample(void *ctx, const char *name, double ts, double value)
{
    struct samples *s = ctx;
    (void)ts;
    if (strcmp(name, s->metric) != 0)
        return 0;
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = value;
    return 0;
}

/* The objective metric's values training job `e` (a CHILDREN entry) has
 * emitted so far, into *got (mem_free got->v); whether it still runs in
 * *live. False when it has no record. */
static bool curve(struct tuner *t, struct job *j, json_t *doc, json_t *e,
                  struct samples *got, bool *live)
{
    json_t *s = tuning_child_summary(t->meta, j->account, doc, e);
    const char *st = s ? jstr(s, "TrainingJobStatus") : NULL;
    const char *arn = s ? jstr(s, "TrainingJobArn") : NULL;
    bool found = arn != NULL;
    *live = st && strcmp(st, "InProgress") == 0;
    if (arn)
        meta_metric_each(t->meta, arn, add_sample, got);
    json_decref(s);
    return found;
}

/* Stops training job `e` early: its objective is what it emitted last. */
static void stop_early(struct tuner *t, struct job *j, json_t *e,
                       const char *rule, size_t resource)
{
    json_object_set_new(e, "EarlyStopped", json_true());
    log_info("event=early_stop job=%s child=%s rule=%s resource=%zu", j->name,
             jstr(e, "Name"), rule, resource);
    if (t->jobs->stop)
        t->jobs->stop(t->jobs->ctx, j->account, jstr(e, "Name"));
}

static bool maximizing(json_t *doc)
{
    const char *type = jstr(
        json_object_get(json_object_get(doc, "HyperParameterTuningJobConfig"),
                        "HyperParameterTuningJobObjective"),
        "Type");
    return type && strcmp(type, "Maximize") == 0;
}

static const char *objective(json_t *doc)
{
    return jstr(
        json_object_get(json_object_get(doc, "HyperParameterTuningJobConfig"),
                        "HyperParameterTuningJobObjective"),
        "MetricName");
}

static bool better(bool maximize, double a, double b)
{
    return maximize ? a > b : a < b;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * TrainingJobEarlyStoppingType Auto, SageMaker's median rule: after each
 * epoch (emission of the objective metric) but the first, a running job
 * whose value is worse than the median of the running averages, up to
 * the same epoch, of the jobs started before it is stopped. kiln waits
 * for three such earlier jobs before it judges. The finished jobs'
 * curves are read once (cache: name -> [values]).
 */
static void median_rule(struct tuner *t, struct job *j, json_t *doc,
                        json_t *cache)
{
    json_t *children = json_object_get(doc, CHILDREN), *e;
    size_t n = json_array_size(children), i;
    double *avg = xcalloc(n ? n : 1, sizeof(*avg));

    json_array_foreach(children, i, e)
    {
        struct samples got = {.metric = objective(doc)};
        bool live = false;
        if (!got.metric || json_object_get(cache, jstr(e, "Name")) ||
            json_is_true(json_object_get(e, "EarlyStopped")) ||
            !curve(t, j, doc, e, &got, &live)) {
            mem_free(got.v);
            continue;
        }
        if (!live) { /* finished: its curve is final */
            json_t *values = json_array();
            for (size_t k = 0; k < got.n; k++)
                json_array_append_new(values, json_real(got.v[k]));
            json_object_set_new(cache, jstr(e, "Name"), values);
        } else if (got.n >= 2) {
            size_t m = 0;
            for (size_t k = 0; k < i; k++) {
                json_t *c = json_object_get(
                    cache, jstr(json_array_get(children, k), "Name"));
                double sum = 0;
                if (json_array_size(c) < got.n)
                    continue;
                for (size_t q = 0; q < got.n; q++)
                    sum += json_number_value(json_array_get(c, q));
                avg[m++] = sum / (double)got.n;
            }
            if (m >= 3) {
                qsort(avg, m, sizeof(*avg), by_value);
                double median =
                    m % 2 ? avg[m / 2] : (avg[m / 2 - 1] + avg[m / 2]) / 2;
                if (better(maximizing(doc), median, got.v[got.n - 1]))
                    stop_early(t, j, e, "median", got.n);
            }
        }
        mem_free(got.v);
    }
    mem_free(avg);
}

/*
 * Hyperband, asynchronously (ASHA): each time the objective metric is
 * emitted counts as one unit of resource (an epoch). The rungs are
 * MinResource, ETA times that, ETA^2 times, ... below MaxResource. When a
 * running job reaches a rung, its value there joins the rung's; once
 * ETA or more jobs have reached it, a job outside the best 1/ETA of them
 * is stopped (its objective is the last value it emitted), and so is one
 * that emits more than MaxResource values. The rungs' values are kept
 * in the document ("KilnRungs"), so a restart goes on with them.
 */
static void hyperband(struct tuner *t, struct job *j, json_t *doc)
{
    json_t *rungs = json_object_get(doc, "KilnRungs"), *e;
    long min, max, at[64];
    size_t nrungs = 0, i;

    if (tuning_hyperband_resources(doc, &min, &max) != 0 || !objective(doc))
        return;
    for (long r = min; r < max && nrungs < KILN_ARRAY_LEN(at); r *= ETA)
        at[nrungs++] = r;
    if (!rungs) {
        rungs = json_array();
        json_object_set_new(doc, "KilnRungs", rungs);
    }
    while (json_array_size(rungs) < nrungs)
        json_array_append_new(rungs, json_array());
    json_array_foreach(json_object_get(doc, CHILDREN), i, e)
    {
        struct samples got = {.metric = objective(doc)};
        bool live = false;
        if (json_is_true(json_object_get(e, "EarlyStopped")) ||
            json_is_true(json_object_get(e, "Ended")))
            continue;
        bool found = curve(t, j, doc, e, &got, &live);
        if (!found || !live) {
            if (found) /* ended: not read again */
                json_object_set_new(e, "Ended", json_true());
            mem_free(got.v);
            continue;
        }
        size_t next = (size_t)json_integer_value(json_object_get(e, "Rungs"));
        bool stop = got.n > (size_t)max;
        for (; !stop && next < nrungs && got.n >= (size_t)at[next]; next++) {
            json_t *values = json_array_get(rungs, next), *x;
            double v = got.v[at[next] - 1];
            size_t ahead = 0, k;
            json_array_foreach(values, k, x) ahead +=
                better(maximizing(doc), json_number_value(x), v);
            json_array_append_new(values, json_real(v));
            size_t n = json_array_size(values), keep = n / ETA;
            stop = n >= ETA && ahead >= (keep ? keep : 1);
        }
        json_object_set_new(e, "Rungs", json_integer((json_int_t)next));
        if (stop)
            stop_early(t, j, e, "hyperband", got.n);
        mem_free(got.v);
    }
}

static int running(json_t *doc)
{
    return (int)json_integer_value(json_object_get(
        json_object_get(doc, "TrainingJobStatusCounters"), "InProgress"));
}

/* Whether the best objective value reached TargetObjectiveMetricValue. */
static bool target_reached(json_t *doc)
{
    json_t *cfg = json_object_get(doc, "HyperParameterTuningJobConfig");
    json_t *target =
        json_object_get(json_object_get(cfg, "TuningJobCompletionCriteria"),
                        "TargetObjectiveMetricValue");
    json_t *best =
        json_object_get(json_object_get(doc, "BestTrainingJob"),
                        "FinalHyperParameterTuningJobObjectiveMetric");
    if (!target || !best)
        return false;
    double v = json_number_value(json_object_get(best, "Value"));
    double goal = json_number_value(target);
    const char *type =
        jstr(json_object_get(cfg, "HyperParameterTuningJobObjective"), "Type");
    return type && strcmp(type, "Maximize") == 0 ? v >= goal : v <= goal;
}

static void run_job(struct job *j)
{
    struct tuner *t = j->ctx;
    char *body = NULL;
    if (meta_res_get(t->meta, j->account, TYPE, j->name, &body) != 0)
        return;
    json_t *doc = json_loads(body, 0, NULL);
    mem_free(body);
    if (!doc)
        return;
    json_t *sets = draw(doc, j->name);
    json_t *lim =
        json_object_get(json_object_get(doc, "HyperParameterTuningJobConfig"),
                        "ResourceLimits");
    int parallel = (int)json_integer_value(
        json_object_get(lim, "MaxParallelTrainingJobs"));
    json_int_t max_secs =
        json_integer_value(json_object_get(lim, "MaxRuntimeInSeconds"));
    double began = json_number_value(json_object_get(doc, "CreationTime"));
    const char *strategy =
        jstr(json_object_get(doc, "HyperParameterTuningJobConfig"), "Strategy");
    bool hyperband_on = strategy && strcmp(strategy, "Hyperband") == 0;
    const char *early =
        jstr(json_object_get(doc, "HyperParameterTuningJobConfig"),
             "TrainingJobEarlyStoppingType");
    bool median_on = early && strcmp(early, "Auto") == 0;
    json_t *curves = json_object(); /* the median rule's finished jobs */
    log_info("event=tuning_start job=%s training_jobs=%zu", j->name,
             json_array_size(sets));
    bool stopped = false, timed_out = false;
    for (;;) {
        tuning_progress(t->meta, j->account, doc);
        size_t launched = json_array_size(json_object_get(doc, CHILDREN));
        bool done_launching = launched >= json_array_size(sets) ||
                              target_reached(doc) || stopped || timed_out;
        if (jobset_stopping(j) && !stopped) {
            if (jobset_shutdown(j))
                break; /* goes on at the next start */
            stopped = true;
            stop_children(t, j, doc);
            continue;
        }
        if (max_secs > 0 && !timed_out && tm_now() - began > (double)max_secs) {
            timed_out = true;
            stop_children(t, j, doc);
            continue;
        }
        if (hyperband_on)
            hyperband(t, j, doc);
        else if (median_on)
            median_rule(t, j, doc, curves);
        bool started = false;
        for (int r = running(doc); !done_launching && r < parallel; r++) {
            json_t *tuned = json_incref(json_array_get(sets, launched));
            json_t *point = NULL;
            if (json_is_null(tuned)) {
                json_decref(tuned);
                tuned = suggest(t, j, doc, launched + 1, &point);
            }
            start_child(t, j, doc, launched + 1, tuned, point);
            json_decref(tuned);
            json_decref(point);
            launched++;
            started = true;
            done_launching = launched >= json_array_size(sets);
        }
        save(t, j, doc, stopped ? "Stopping" : "InProgress", NULL);
        /* The counters were read before what was just started. */
        if (done_launching && !started && running(doc) == 0)
            break;
        usleep(POLL_USECS);
        if (jobset_stopping(j) && jobset_shutdown(j))
            break;
    }
    if (!jobset_shutdown(j) || stopped) {
        tuning_progress(t->meta, j->account, doc);
        const char *status = stopped ? "Stopped" : "Completed";
        json_int_t ok = json_integer_value(json_object_get(
            json_object_get(doc, "ObjectiveStatusCounters"), "Succeeded"));
        if (!stopped && ok == 0) {
            status = "Failed";
            json_object_set_new(doc, "FailureReason",
                                json_string("No training job of the tuning "
                                            "job reported its objective "
                                            "metric; see their "
                                            "FailureReason."));
        }
        json_object_set_new(doc, "HyperParameterTuningEndTime",
                            json_real(tm_now()));
        save(t, j, doc, status, NULL);
        log_info("event=tuning_end job=%s status=%s", j->name, status);
    }
    json_decref(sets);
    json_decref(curves);
    json_decref(doc);
}

int tuner_start(void *tv, const char *account, const char *name)
{
    struct tuner *t = tv;
    return jobset_start(t->set, account, name);
}

int tuner_stop(void *tv, const char *account, const char *name)
{
    struct tuner *t = tv;
    return jobset_stop(t->set, account, name, NULL);
}

/* A tuning job stopping when kiln stopped stops what it has left. */
static void resume_stopping(void *ctx, const char *account, const char *name)
{
    tuner_start(ctx, account, name);
    tuner_stop(ctx, account, name);
}

static void resume(void *ctx, const char *account, const char *name)
{
    tuner_start(ctx, account, name);
}

int tuner_new(struct meta *meta, const struct api_jobs *jobs,
              const char *region, struct tuner **out, struct kiln_diag *d)
{
    struct tuner *t = xcalloc(1, sizeof(*t));
    (void)d;
    t->meta = meta;
    t->jobs = jobs;
    str_copy(t->region, region, sizeof(t->region));
    t->set = jobset_new(t, run_job);
    *out = t;
    jobset_each_status(meta, TYPE, "InProgress", resume, t);
    jobset_each_status(meta, TYPE, "Stopping", resume_stopping, t);
    return 0;
}

void tuner_free(struct tuner *t)
{
    if (!t)
        return;
    jobset_free(t->set);
    mem_free(t);
}
