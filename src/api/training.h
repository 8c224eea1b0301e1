/*
 * training.h - the training-job operations of the SageMaker control plane.
 *
 * For now ListTrainingJobs over the metadata store, with every filter, sort
 * order and keyset NextToken of the real API; creation and running of jobs
 * arrive with the scheduler. Handlers follow api_handler_fn (dispatch.h).
 */
#ifndef KILN_API_TRAINING_H
#define KILN_API_TRAINING_H

#include "api/dispatch.h"

extern const struct vshape training_list_input;

int training_list(const struct api_ctx *c, json_t *in, json_t **out,
                  struct kiln_diag *d);

#endif
