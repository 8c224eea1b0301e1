/*
 * monitoring.h - Model Monitor's monitoring schedules: Create, Describe,
 * List, Delete, Stop and Start a schedule, and ListMonitoringExecutions.
 * UpdateMonitoringSchedule replaces a schedule's configuration.
 * A schedule is a meta_res document of type "monitoring-schedule" that
 * also lists its executions (hidden from Describe); the scheduler
 * (cmd/monitors.c) starts each execution as a processing job of the
 * built-in analyzer and records how it ended. Data quality only. The
 * data quality job definitions a schedule may name instead of holding a
 * MonitoringJobDefinition (as the SageMaker Python SDK's
 * DefaultModelMonitor does) are documents of type
 * "data-quality-job-definition"; a schedule copies the one it names.
 * Handlers follow api_handler_fn (dispatch.h).
 */
#ifndef KILN_API_MONITORING_H
#define KILN_API_MONITORING_H

#include "api/dispatch.h"

#define MONITORING_OPS(X)                                                      \
    X(CreateMonitoringSchedule, monitoring_create)                             \
    X(DescribeMonitoringSchedule, monitoring_describe)                         \
    X(ListMonitoringSchedules, monitoring_list)                                \
    X(DeleteMonitoringSchedule, monitoring_delete)                             \
    X(StopMonitoringSchedule, monitoring_stop)                                 \
    X(StartMonitoringSchedule, monitoring_start)                               \
    X(UpdateMonitoringSchedule, monitoring_update)                             \
    X(ListMonitoringExecutions, monitoring_executions)                         \
    X(CreateDataQualityJobDefinition, monitoring_create_dq)                    \
    X(DescribeDataQualityJobDefinition, monitoring_describe_dq)                \
    X(ListDataQualityJobDefinitions, monitoring_list_dq)                       \
    X(DeleteDataQualityJobDefinition, monitoring_delete_dq)

#define MONITORING_DECLARE(op, fn)                                             \
    extern const struct vshape fn##_input;                                     \
    int fn(const struct api_ctx *c, json_t *in, json_t **out,                  \
           struct kiln_diag *d);
MONITORING_OPS(MONITORING_DECLARE)
#undef MONITORING_DECLARE

/* The schedule document's hidden members: its executions and the time
 * of its next one (0: none). */
#define MONITORING_EXECUTIONS "KilnExecutions"
#define MONITORING_NEXT       "KilnNextTime"

/* The MonitoringJobDefinition schedule `doc` runs (borrowed): its own, or
 * its copy of the data quality job definition it names. */
json_t *monitoring_definition(json_t *doc);

/* The ScheduleExpression of a MonitoringScheduleConfig (borrowed): daily
 * at midnight when it has no ScheduleConfig. */
const char *monitoring_expression(json_t *cfg);

/* Parts of a MonitoringJobDefinition (borrowed; NULL when absent): its
 * EndpointInput and its first output's S3Output. */
json_t *monitoring_endpoint_input(json_t *def);
json_t *monitoring_s3_output(json_t *def);

/*
 * The next time at or after `after` (epoch seconds) that ScheduleExpression
 * `expr` fires, or 0 for "NOW" (once, at creation); KILN_EINVAL for an
 * expression kiln does not run. kiln runs "NOW", hourly "cron(0 * ? * * *)",
 * daily "cron(0 H ? * * *)", and every N hours: an hours field of a star,
 * a slash and N (N dividing 24).
 */
int monitoring_next(const char *expr, double after, double *next);

/* "-PT1H", "-PT30M", "PT0H", "-P1D": an ISO 8601 offset in seconds;
 * KILN_EINVAL. */
int monitoring_offset(const char *text, double *seconds);

#endif
