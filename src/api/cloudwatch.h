/*
 * cloudwatch.h - the CloudWatch subset kiln answers (AWS Query protocol,
 * XML results, signing name "monitoring"): ListMetrics,
 * GetMetricStatistics and GetMetricData for the AWS/SageMaker endpoint
 * metrics (Invocations, Invocation4XXErrors, Invocation5XXErrors,
 * InvocationsPerInstance, ModelLatency, OverheadLatency; dimensions
 * EndpointName and VariantName) and Model Monitor's data metrics
 * (aws/sagemaker/Endpoints/data-metrics: feature_*; dimensions Endpoint
 * and MonitoringSchedule), kept by the minute; and metric alarms on them
 * (PutMetricAlarm, DescribeAlarms, DeleteAlarms, SetAlarmState), which
 * endpoint deployments roll back on. Any thread.
 */
#ifndef KILN_API_CLOUDWATCH_H
#define KILN_API_CLOUDWATCH_H

#include "api/dispatch.h"

/* As sts_handle: runs the Query request in `params`, appends the XML
 * answer to out; KILN_EUNKNOWNOP (InvalidAction) or KILN_EINVAL
 * (InvalidParameterValue) with the diag set. */
int cloudwatch_handle(const struct api_ctx *c, const char *params, size_t len,
                      struct buf *out, struct kiln_diag *d);

/* Evaluates every alarm once against the metrics as they are now; its
 * state changes are saved and logged (event=alarm_state). The scaler
 * thread calls it every few seconds. */
void cloudwatch_alarms_evaluate(struct meta *m);

/* Whether alarm `name` of `account` exists, and whether it is in ALARM. */
bool cloudwatch_alarm_exists(struct meta *m, const char *account,
                             const char *name);
bool cloudwatch_alarm_firing(struct meta *m, const char *account,
                             const char *name);

#endif
