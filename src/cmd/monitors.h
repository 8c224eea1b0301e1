/*
 * monitors.h - the scheduler of monitoring schedules. A thread of its own
 * looks at every schedule each second: when one is due it starts an
 * execution, a processing job of the built-in analyzer named
 * model-monitoring-<yyyymmddhhmm>-<hash>, over the endpoint's captured
 * requests of the analysis window (the hour before the scheduled time, or
 * DataAnalysisStartTime..EndTime from it) against the schedule's baseline,
 * writing to <S3Uri>/<endpoint>/<schedule>/<yyyy>/<mm>/<dd>/<hh>/; when
 * an execution's job ends it records Completed, CompletedWithViolations
 * (the job found violations), Failed or Stopped. A run missed while kiln
 * was down is not made up: the schedule goes on from the next one.
 */
#ifndef KILN_CMD_MONITORS_H
#define KILN_CMD_MONITORS_H

#include "api/dispatch.h"
#include "s3/objstore.h"

struct monitors;

/* jobs: the api_jobs processing jobs are started through (borrowed; it
 * must outlive the scheduler). */
int monitors_new(struct meta *meta, struct objstore *store,
                 const struct api_jobs *jobs, const char *region,
                 struct monitors **out, struct kiln_diag *d);
void monitors_free(struct monitors *m);

#endif
