/*
 * tuning.h - hyperparameter tuning jobs of the SageMaker control plane:
 * CreateHyperParameterTuningJob records the job and hands it to the
 * runner through api_ctx.jobs (tuning_start), which starts its training
 * jobs; Describe, List, Stop and ListTrainingJobsForHyperParameterTuningJob
 * read the job and its training jobs. Bayesian, Random and Grid
 * strategies.
 * Handlers follow api_handler_fn (dispatch.h).
 */
#ifndef KILN_API_TUNING_H
#define KILN_API_TUNING_H

#include "api/dispatch.h"

struct meta;

#define TUNING_OPS(X)                                                          \
    X(CreateHyperParameterTuningJob, tuning_create)                            \
    X(DescribeHyperParameterTuningJob, tuning_describe)                        \
    X(ListHyperParameterTuningJobs, tuning_list)                               \
    X(StopHyperParameterTuningJob, tuning_stop)                                \
    X(ListTrainingJobsForHyperParameterTuningJob, tuning_children)

#define TUNING_DECLARE(op, fn)                                                 \
    extern const struct vshape fn##_input;                                     \
    int fn(const struct api_ctx *c, json_t *in, json_t **out,                  \
           struct kiln_diag *d);
TUNING_OPS(TUNING_DECLARE)
#undef TUNING_DECLARE

/* The CreateTrainingJob request of training job `child` of the tuning
 * job `doc`, with the hyperparameters `tuned` (an object of strings, or
 * NULL) over the static ones. */
json_t *tuning_child_request(json_t *doc, const char *child, json_t *tuned);

/* Hyperband's resource range (MinResource, default 1; MaxResource, given
 * or read from a static hyperparameter epochs, numepochs, n-epochs,
 * n_epochs or num_epochs) of tuning request or document `doc`;
 * KILN_EVALIDATION when there is none or min > max. */
int tuning_hyperband_resources(json_t *doc, long *min, long *max);

/* HyperParameterTrainingJobSummary of the entry {"Name", "Tuned",
 * "EarlyStopped" when the tuner stopped it early} of the
 * tuning job `doc`, from the training job's record; NULL if it is gone. */
json_t *tuning_child_summary(struct meta *m, const char *account, json_t *doc,
                             json_t *entry);

/* The summaries (tuning_child_summary) of the training jobs of doc's
 * WarmStartConfig parents that reported the objective: what a warm start
 * starts from. An array, maybe empty. */
json_t *tuning_warm_results(struct meta *m, const char *account, json_t *doc);

/* Sets doc's TrainingJobStatusCounters, ObjectiveStatusCounters and
 * BestTrainingJob from its training jobs' records, and with a warm start
 * OverallBestTrainingJob, the best of its parents' jobs too. */
void tuning_progress(struct meta *m, const char *account, json_t *doc);

#endif
