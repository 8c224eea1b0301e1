/*
 * scaling.h - Application Auto Scaling for endpoint variants (JSON 1.1,
 * signing name application-autoscaling, AnyScaleFrontendService.*):
 * scalable targets ("endpoint/<name>/variant/<variant>",
 * sagemaker:variant:DesiredInstanceCount) and target-tracking policies on
 * SageMakerVariantInvocationsPerInstance, kept as "scalable-target" and
 * "scaling-policy" resources. cmd/scaler.c acts on them. Any thread.
 */
#ifndef KILN_API_SCALING_H
#define KILN_API_SCALING_H

#include "api/dispatch.h"
#include "api/validate.h"

#define SCALING_OPS(X)                                                         \
    X(RegisterScalableTarget, scaling_register)                                \
    X(DescribeScalableTargets, scaling_describe_targets)                       \
    X(DeregisterScalableTarget, scaling_deregister)                            \
    X(PutScalingPolicy, scaling_put_policy)                                    \
    X(DescribeScalingPolicies, scaling_describe_policies)                      \
    X(DeleteScalingPolicy, scaling_delete_policy)                              \
    X(DescribeScalingActivities, scaling_describe_activities)

#define SCALING_DECLARE(op, fn)                                                \
    extern const struct vshape fn##_input;                                     \
    int fn(const struct api_ctx *c, json_t *in, json_t **out,                  \
           struct kiln_diag *d);
SCALING_OPS(SCALING_DECLARE)
#undef SCALING_DECLARE

/* The records the scaler reads: a target's JSON (MinCapacity,
 * MaxCapacity) and a policy's (ResourceId, Target, cooldowns), by their
 * resource names. */
#define SCALING_TARGET   "scalable-target"
#define SCALING_POLICY   "scaling-policy"
#define SCALING_ACTIVITY "scaling-activity"

/* Records what the scaler did to a target (DescribeScalingActivities):
 * `done` true for Successful, false for Failed with `message`. */
void scaling_activity_add(struct meta *m, const char *account, const char *rid,
                          const char *description, const char *cause, bool done,
                          const char *message);

#endif
