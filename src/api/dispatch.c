/*
 * dispatch.c - the operation table and the request path around a handler.
 *
 * The table is short and searched linearly; when it grows past a few dozen
 * entries it can be sorted and bisected without changing callers.
 */
#include "api/dispatch.h"

#include "api/cost.h"
#include "api/hosting.h"
#include "api/logs.h"
#include "api/monitoring.h"
#include "api/processing.h"
#include "api/registry.h"
#include "api/scaling.h"
#include "api/tags.h"
#include "api/training.h"
#include "api/transform.h"
#include "api/tuning.h"
#include "base/mem.h"

#define KB 1024

static const struct api_op ops[] = {
    {.service = "sagemaker",
     .target = "SageMaker.CreateTrainingJob",
     .fn = training_create,
     .input = &training_create_input,
     .body_max = 1024 * KB},
    {.service = "sagemaker",
     .target = "SageMaker.DescribeTrainingJob",
     .fn = training_describe,
     .input = &training_name_input,
     .body_max = 64 * KB},
    {.service = "sagemaker",
     .target = "SageMaker.ListTrainingJobs",
     .fn = training_list,
     .input = &training_list_input,
     .body_max = 64 * KB},
    {.service = "sagemaker",
     .target = "SageMaker.StopTrainingJob",
     .fn = training_stop,
     .input = &training_name_input,
     .body_max = 64 * KB},
    {.service = "sagemaker",
     .target = "SageMaker.AddTags",
     .fn = tags_add,
     .input = &tags_add_input,
     .body_max = 64 * KB},
    {.service = "sagemaker",
     .target = "SageMaker.ListTags",
     .fn = tags_list,
     .input = &tags_list_input,
     .body_max = 64 * KB},
    {.service = "sagemaker",
     .target = "SageMaker.DeleteTags",
     .fn = tags_delete,
     .input = &tags_delete_input,
     .body_max = 64 * KB},
/* One X-macro expansion per line. */
/* clang-format off */
#define HOSTING_ROW(op, handler)                                               \
    {.service = "sagemaker",                                                   \
     .target = "SageMaker." #op,                                               \
     .fn = handler,                                                            \
     .input = &handler##_input,                                                \
     .body_max = 1024 * KB},
    HOSTING_OPS(HOSTING_ROW)
    TRANSFORM_OPS(HOSTING_ROW)
    TUNING_OPS(HOSTING_ROW)
    PROCESSING_OPS(HOSTING_ROW)
    MONITORING_OPS(HOSTING_ROW)
    REGISTRY_OPS(HOSTING_ROW)
#undef HOSTING_ROW
#define SCALING_ROW(op, handler)                                               \
    {.service = "application-autoscaling",                                     \
     .target = "AnyScaleFrontendService." #op,                                 \
     .fn = handler,                                                            \
     .input = &handler##_input,                                                \
     .body_max = 64 * KB},
    SCALING_OPS(SCALING_ROW)
#undef SCALING_ROW
#define COST_ROW(op, handler)                                                  \
    {.service = "ce",                                                          \
     .target = "AWSInsightsIndexService." #op,                                 \
     .fn = handler,                                                            \
     .input = &handler##_input,                                                \
     .body_max = 64 * KB},
    COST_OPS(COST_ROW)
#undef COST_ROW
    /* clang-format on */
    {.service = "logs",
     .target = "Logs_20140328.DescribeLogGroups",
     .fn = logs_describe_groups,
     .input = &logs_describe_groups_input,
     .body_max = 64 * KB},
    {.service = "logs",
     .target = "Logs_20140328.DescribeLogStreams",
     .fn = logs_describe_streams,
     .input = &logs_describe_streams_input,
     .body_max = 64 * KB},
    {.service = "logs",
     .target = "Logs_20140328.GetLogEvents",
     .fn = logs_get_events,
     .input = &logs_get_events_input,
     .body_max = 64 * KB},
    {.service = "logs",
     .target = "Logs_20140328.FilterLogEvents",
     .fn = logs_filter_events,
     .input = &logs_filter_events_input,
     .body_max = 64 * KB},
};

const struct api_op *api_op_find(const char *service, const char *target)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(ops); i++)
        if (strcmp(ops[i].service, service) == 0 &&
            strcmp(ops[i].target, target) == 0)
            return &ops[i];
    return NULL;
}

void api_op_each(void (*fn)(void *ctx, const struct api_op *op), void *ctx)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(ops); i++)
        fn(ctx, &ops[i]);
}

int api_dispatch(const struct api_op *op, const struct api_ctx *c,
                 const char *body, size_t len, struct buf *out,
                 struct kiln_diag *d)
{
    json_t *in = NULL, *res = NULL;
    json_error_t jerr;
    char *text = NULL;
    int rc;

    /* An empty body means "no input", as both SDKs treat it. */
    if (len == 0)
        in = json_object();
    else
        in = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!in) {
        rc = diag_set(d, KILN_ESERIAL,
                      "Request body is not valid JSON: %s (line %d, column "
                      "%d)",
                      jerr.text, jerr.line, jerr.column);
        goto out;
    }
    if (!json_is_object(in)) {
        rc = diag_set(d, KILN_ESERIAL, "Request body must be a JSON object.");
        goto out;
    }
    rc = validate_request(op->input, in, d);
    if (rc)
        goto out;
    rc = op->fn(c, in, &res, d);
    if (rc)
        goto out;
    text = json_dumps(res, JSON_COMPACT);
    if (!text) {
        rc = diag_set(d, KILN_EINTERNAL, "cannot serialise the response");
        goto out;
    }
    rc = buf_adds(out, text);
out:
    mem_free(text);
    json_decref(res);
    json_decref(in);
    return rc;
}
