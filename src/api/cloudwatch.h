/*
 * cloudwatch.h - the CloudWatch subset kiln answers (AWS Query protocol,
 * XML results, signing name "monitoring"): ListMetrics and
 * GetMetricStatistics for the AWS/SageMaker endpoint metrics
 * (Invocations, Invocation4XXErrors, Invocation5XXErrors,
 * InvocationsPerInstance, ModelLatency, OverheadLatency; dimensions
 * EndpointName and VariantName), kept by the minute. Any thread.
 */
#ifndef KILN_API_CLOUDWATCH_H
#define KILN_API_CLOUDWATCH_H

#include "api/dispatch.h"

/* As sts_handle: runs the Query request in `params`, appends the XML
 * answer to out; KILN_EUNKNOWNOP (InvalidAction) or KILN_EINVAL
 * (InvalidParameterValue) with the diag set. */
int cloudwatch_handle(const struct api_ctx *c, const char *params, size_t len,
                      struct buf *out, struct kiln_diag *d);

#endif
