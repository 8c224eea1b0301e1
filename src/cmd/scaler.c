/*
 * scaler.c - the thread behind Application Auto Scaling's target
 * tracking, which also evaluates CloudWatch alarms each round. Scaling is done
 * by the same call a user would make, so an endpoint in the middle of another
 * change is simply tried again later.
 */
#include "cmd/scaler.h"

#include <math.h>
#include <stdio.h>
#include <time.h>

#include "api/cloudwatch.h"
#include "api/hosting.h"
#include "api/scaling.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/tm.h"
#include "cmd/ticker.h"
#include "meta/meta.h"

#define ROUND_SECONDS    5
#define COOLDOWN_DEFAULT 300
#define MAX_POLICIES     256

struct scaler {
    struct meta *meta;
    const struct api_jobs *jobs;
    const char *region;
    struct ticker *ticker;
    /* When each policy last scaled its variant ("account|name"). */
    struct {
        char key[2100];
        double when;
    } last[MAX_POLICIES];
    int nlast;
};

static double *last_scaled(struct scaler *s, const char *account,
                           const char *name)
{
    char key[2100];
    snprintf(key, sizeof(key), "%s|%s", account, name);
    for (int i = 0; i < s->nlast; i++)
        if (strcmp(s->last[i].key, key) == 0)
            return &s->last[i].when;
    if (s->nlast == MAX_POLICIES)
        return NULL;
    str_copy(s->last[s->nlast].key, key, sizeof(s->last[0].key));
    s->last[s->nlast].when = 0;
    return &s->last[s->nlast++].when;
}

static json_t *load(struct scaler *s, const char *account, const char *type,
                    const char *name)
{
    char *body = NULL;
    json_t *doc = NULL;
    if (meta_res_get(s->meta, account, type, name, &body) == 0)
        doc = json_loads(body, 0, NULL);
    mem_free(body);
    return doc;
}

struct window {
    int64_t now;
    double current, previous;
};

static int add_minute(void *ctx, const struct meta_emetric *e)
{
    struct window *w = ctx;
    if (e->minute == w->now)
        w->current += e->sum;
    else
        w->previous += e->sum;
    return 0;
}

/* InvocationsPerInstance over the last 60 seconds: this minute's, and
 * the part of the last minute that falls in them. */
static double per_instance(struct scaler *s, const char *account,
                           const char *endpoint, const char *variant)
{
    double now = tm_now();
    struct window w = {.now = (int64_t)(now / 60)};
    struct meta_emetric want = {.account = account,
                                .ns = META_EMETRIC_NS,
                                .endpoint = endpoint,
                                .variant = variant,
                                .name = "InvocationsPerInstance"};
    meta_emetric_each(s->meta, &want, w.now - 1, w.now + 1, add_minute, &w);
    double into = (now - (double)w.now * 60) / 60;
    return w.current + w.previous * (1 - into);
}

static void scale(struct scaler *s, const char *account, const char *name)
{
    json_t *policy = load(s, account, SCALING_POLICY, name);
    const char *id = json_string_value(json_object_get(policy, "ResourceId"));
    json_t *target = id ? load(s, account, SCALING_TARGET, id) : NULL;
    json_t *tt =
        json_object_get(policy, "TargetTrackingScalingPolicyConfiguration");
    char endpoint[64], variant[64];
    json_t *doc = NULL, *v;
    size_t i;
    int n = 0;

    if (!target || sscanf(id, "endpoint/%63[^/]/variant/%63[^/]%n", endpoint,
                          variant, &n) != 2)
        goto out;
    doc = load(s, account, "endpoint", endpoint);
    const char *status =
        json_string_value(json_object_get(doc, "EndpointStatus"));
    if (!status || strcmp(status, "InService") != 0)
        goto out;
    json_int_t count = 0;
    json_array_foreach(
        json_object_get(json_object_get(doc, "KilnDeployment"), "Variants"), i,
        v)
    {
        if (strcmp(json_string_value(json_object_get(v, "VariantName")),
                   variant) == 0)
            count =
                json_integer_value(json_object_get(v, "InitialInstanceCount"));
    }
    if (count < 1)
        goto out;
    double value = per_instance(s, account, endpoint, variant);
    double goal = json_number_value(json_object_get(tt, "TargetValue"));
    json_int_t lo = json_integer_value(json_object_get(target, "MinCapacity"));
    json_int_t hi = json_integer_value(json_object_get(target, "MaxCapacity"));
    json_int_t want =
        goal > 0 ? (json_int_t)ceil((double)count * value / goal) : count;
    if (want < lo)
        want = lo;
    if (want > hi)
        want = hi;
    bool out_ = want > count;
    if (want == count ||
        (!out_ && json_is_true(json_object_get(tt, "DisableScaleIn")) &&
         count <= hi && count >= lo))
        goto out;
    json_t *cd =
        json_object_get(tt, out_ ? "ScaleOutCooldown" : "ScaleInCooldown");
    double cooldown = cd ? (double)json_integer_value(cd) : COOLDOWN_DEFAULT;
    double *last = last_scaled(s, account, name);
    /* A count outside MinCapacity..MaxCapacity (the target registered
     * anew) is brought inside at once, cooldown or not. */
    if (count >= lo && count <= hi && (!last || tm_now() - *last < cooldown))
        goto out;

    json_t *in = json_pack("{s:s, s:[{s:s, s:I}]}", "EndpointName", endpoint,
                           "DesiredWeightsAndCapacities", "VariantName",
                           variant, "DesiredInstanceCount", (json_int_t)want);
    json_t *answer = NULL;
    struct kiln_diag d = {0};
    struct api_ctx c = {.jobs = s->jobs,
                        .meta = s->meta,
                        .account = account,
                        .user = "application-autoscaling",
                        .akid = "",
                        .region = s->region,
                        .request_id = "application-autoscaling"};
    int rc = hosting_update_weights(&c, in, &answer, &d);
    char what[200], cause[400];
    snprintf(what, sizeof(what), "Setting desired instance count to %lld.",
             (long long)want);
    snprintf(cause, sizeof(cause),
             "monitor alarm TargetTracking-%.100s in state ALARM triggered "
             "policy %.100s: InvocationsPerInstance %.1f against a target of "
             "%.1f",
             id, json_string_value(json_object_get(policy, "PolicyName")),
             value, goal);
    if (rc == 0 && last)
        *last = tm_now();
    /* One in service at a time: a change in progress is tried again. */
    if (rc != KILN_EVALIDATION)
        scaling_activity_add(s->meta, account, id, what, cause, rc == 0,
                             rc ? d.msg : NULL);
    log_info("event=autoscale endpoint=%s variant=%s from=%lld to=%lld "
             "invocations_per_instance=%.1f target=%.1f%s%s",
             endpoint, variant, (long long)count, (long long)want, value, goal,
             rc ? " error=" : "", rc ? d.msg : "");
    json_decref(answer);
    json_decref(in);
out:
    json_decref(doc);
    json_decref(target);
    json_decref(policy);
}

static int scale_one(void *ctx, const char *account, const char *name)
{
    scale(ctx, account, name);
    return 0;
}

/* One round: alarms, then every active policy. */
static void round_once(void *ctx)
{
    struct scaler *s = ctx;
    cloudwatch_alarms_evaluate(s->meta);
    meta_res_each_status(s->meta, SCALING_POLICY, "Active", scale_one, s);
}

int scaler_new(struct meta *meta, const struct api_jobs *jobs,
               const char *region, struct scaler **out, struct kiln_diag *d)
{
    struct scaler *s = xcalloc(1, sizeof(*s));
    s->meta = meta;
    s->jobs = jobs;
    s->region = region;
    if (ticker_start(ROUND_SECONDS, round_once, s, &s->ticker, d) != 0) {
        mem_free(s);
        return diag_wrap(d, KILN_EIO, "the autoscaler: ");
    }
    *out = s;
    return 0;
}

void scaler_free(struct scaler *s)
{
    if (!s)
        return;
    ticker_stop(s->ticker);
    mem_free(s);
}
