/*
 * cost.h - Cost Explorer (signing service "ce", AWS JSON 1.1,
 * X-Amz-Target AWSInsightsIndexService.<op>): what kiln's training jobs,
 * transform jobs and endpoints used and cost, from the usage records and
 * the server's price list (api_jobs.prices). Handlers follow
 * api_handler_fn (dispatch.h).
 */
#ifndef KILN_API_COST_H
#define KILN_API_COST_H

#include "api/dispatch.h"

#define COST_OPS(X)                                                            \
    X(GetCostAndUsage, cost_usage)                                             \
    X(GetCostAndUsageWithResources, cost_usage_resources)

#define COST_DECLARE(op, fn)                                                   \
    extern const struct vshape fn##_input;                                     \
    int fn(const struct api_ctx *c, json_t *in, json_t **out,                  \
           struct kiln_diag *d);
COST_OPS(COST_DECLARE)
#undef COST_DECLARE

#endif
