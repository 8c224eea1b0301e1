/*
 * training.h - the training-job operations of the SageMaker control plane.
 *
 * CreateTrainingJob records the job (its DescribeTrainingJob document is
 * stored whole and updated by the runner) and hands it to the runner through
 * api_ctx.jobs; Describe, Stop and List read the metadata store, List with
 * every filter, sort order and keyset NextToken of the real API. Handlers
 * follow api_handler_fn (dispatch.h).
 */
#ifndef KILN_API_TRAINING_H
#define KILN_API_TRAINING_H

#include "api/dispatch.h"

extern const struct vshape training_list_input;
extern const struct vshape training_create_input;
extern const struct vshape training_name_input;

int training_list(const struct api_ctx *c, json_t *in, json_t **out,
                  struct kiln_diag *d);
int training_create(const struct api_ctx *c, json_t *in, json_t **out,
                    struct kiln_diag *d);
int training_describe(const struct api_ctx *c, json_t *in, json_t **out,
                      struct kiln_diag *d);
int training_stop(const struct api_ctx *c, json_t *in, json_t **out,
                  struct kiln_diag *d);

/* The ARN of the caller's training job `name` (name lower-cased). */
void training_arn(const struct api_ctx *c, const char *name, char *out,
                  size_t size);

#endif
