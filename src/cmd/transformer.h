/*
 * transformer.h - runs batch transform jobs (CreateTransformJob).
 *
 * Each job runs on a thread of its own: it starts InstanceCount model
 * servers of the job's model through the hoster, then, for each input
 * object in key order, cuts it into mini-batches (formats/split.h), sends
 * them to the model servers, MaxConcurrentTransforms per instance at once,
 * and writes the answers, in input order, to
 * <S3OutputPath>/<name relative to the input>.out, whole or not at all.
 * A model error fails the job after InvocationsMaxRetries retries of
 * 5xx answers and unreachable servers, with the answer in FailureReason
 * and the job's log stream <job>/data-log. The job's instance-seconds
 * go to the usage records. A job that was running when kiln stopped runs
 * again from the start at the next start; one stopping is Stopped.
 */
#ifndef KILN_CMD_TRANSFORMER_H
#define KILN_CMD_TRANSFORMER_H

#include "base/err.h"
#include "cmd/hoster.h"
#include "meta/meta.h"
#include "s3/objstore.h"

struct transformer;

int transformer_new(struct meta *meta, struct objstore *store,
                    struct hoster *hoster, const char *data_dir,
                    struct transformer **out, struct kiln_diag *d);
/* Stops every job (they run again at the next start) and waits. */
void transformer_free(struct transformer *t);

/* api_jobs.transform_start / transform_stop. */
int transformer_start(void *t, const char *account, const char *name);
int transformer_stop(void *t, const char *account, const char *name);

#endif
