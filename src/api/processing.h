/*
 * processing.h - processing jobs of the SageMaker control plane:
 * CreateProcessingJob records the job and hands it to the runner through
 * api_ctx.jobs (processing_start); Describe, List and Stop read and ask.
 * Only kiln's built-in processing images run (processing_builtin_image).
 * Handlers follow api_handler_fn (dispatch.h).
 */
#ifndef KILN_API_PROCESSING_H
#define KILN_API_PROCESSING_H

#include "api/dispatch.h"

#define PROCESSING_OPS(X)                                                      \
    X(CreateProcessingJob, processing_create)                                  \
    X(DescribeProcessingJob, processing_describe)                              \
    X(ListProcessingJobs, processing_list)                                     \
    X(StopProcessingJob, processing_stop)

#define PROCESSING_DECLARE(op, fn)                                             \
    extern const struct vshape fn##_input;                                     \
    int fn(const struct api_ctx *c, json_t *in, json_t **out,                  \
           struct kiln_diag *d);
PROCESSING_OPS(PROCESSING_DECLARE)
#undef PROCESSING_DECLARE

/* Shapes monitoring schedules share: ProcessingResources (ClusterConfig),
 * StoppingCondition and Environment. */
extern const struct vshape processing_resources_shape;
extern const struct vshape processing_stopping_shape;
extern const struct vshape processing_environment_shape;

/* Whether image names Model Monitor's analyzer, under any registry and
 * tag ("<registry>/sagemaker-model-monitor-analyzer[:tag]"). */
bool processing_builtin_image(const char *image);

/* A container path the runner can place: under /opt/ml/processing/, with
 * no "." or ".." component and no "//". */
bool processing_local_path_ok(const char *p);

#endif
