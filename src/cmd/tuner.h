/*
 * tuner.h - runs hyperparameter tuning jobs (CreateHyperParameterTuningJob):
 * each on a thread of its own that starts its training jobs, at most
 * MaxParallelTrainingJobs at once, until MaxNumberOfTrainingJobs have run
 * (Grid: every combination), the objective reaches
 * TuningJobCompletionCriteria, MaxRuntimeInSeconds passes or it is
 * stopped. A tuning job that was running when kiln stopped goes on at the
 * next start with the training jobs it has not started yet.
 */
#ifndef KILN_CMD_TUNER_H
#define KILN_CMD_TUNER_H

#include "api/dispatch.h"
#include "base/err.h"
#include "meta/meta.h"

struct tuner;

/* jobs: the training runner's, borrowed for the tuner's lifetime. */
int tuner_new(struct meta *meta, const struct api_jobs *jobs,
              const char *region, struct tuner **out, struct kiln_diag *d);
/* Lets every tuning job go (they go on at the next start) and waits.
 * Before the training runner is freed. */
void tuner_free(struct tuner *t);

/* api_jobs.tuning_start / tuning_stop. */
int tuner_start(void *t, const char *account, const char *name);
int tuner_stop(void *t, const char *account, const char *name);

#endif
