/*
 * scaler.h - runs the target-tracking scaling policies of endpoint
 * variants (api/scaling.h): every few seconds, each policy's variant gets
 * the instance count that brings its InvocationsPerInstance over the last
 * minute to TargetValue, within the target's MinCapacity..MaxCapacity and
 * the policy's cooldowns, through UpdateEndpointWeightsAndCapacities.
 * Each round first evaluates the CloudWatch alarms (api/cloudwatch.h),
 * whose states endpoint deployments roll back on.
 */
#ifndef KILN_CMD_SCALER_H
#define KILN_CMD_SCALER_H

#include "api/dispatch.h"
#include "base/err.h"

struct scaler;

/* jobs (the endpoint hooks) and region are borrowed for its lifetime. */
int scaler_new(struct meta *meta, const struct api_jobs *jobs,
               const char *region, struct scaler **out, struct kiln_diag *d);
void scaler_free(struct scaler *s);

#endif
