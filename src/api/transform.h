/*
 * transform.h - the batch transform operations of the SageMaker control
 * plane: CreateTransformJob records the job and hands it to the runner
 * through api_ctx.jobs (transform_start); Describe, List and Stop read
 * and ask. Handlers follow api_handler_fn (dispatch.h).
 */
#ifndef KILN_API_TRANSFORM_H
#define KILN_API_TRANSFORM_H

#include "api/dispatch.h"

#define TRANSFORM_OPS(X)                                                       \
    X(CreateTransformJob, transform_create)                                    \
    X(DescribeTransformJob, transform_describe)                                \
    X(ListTransformJobs, transform_list)                                       \
    X(StopTransformJob, transform_stop)

#define TRANSFORM_DECLARE(op, fn)                                              \
    extern const struct vshape fn##_input;                                     \
    int fn(const struct api_ctx *c, json_t *in, json_t **out,                  \
           struct kiln_diag *d);
TRANSFORM_OPS(TRANSFORM_DECLARE)
#undef TRANSFORM_DECLARE

/* The members of ListTransformJobs' input, which ListProcessingJobs
 * shares: times, NameContains, StatusEquals, sorting, paging. */
extern const struct vmember job_list_members[];

#endif
