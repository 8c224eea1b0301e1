/*
 * fuzz_jobs.c - the SageMaker handlers of batch transform and tuning jobs
 * over a temporary store holding model "m": the input's first byte picks
 * the operation, the rest is its request body, dispatched as the front
 * door does (parsing, validation, ranges, filters, paging tokens). No
 * runner is wired, so nothing runs.
 */
#include "fuzz.h"
#include "metrics_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ops[] = {
        "SageMaker.CreateTransformJob",
        "SageMaker.DescribeTransformJob",
        "SageMaker.ListTransformJobs",
        "SageMaker.StopTransformJob",
        "SageMaker.CreateHyperParameterTuningJob",
        "SageMaker.DescribeHyperParameterTuningJob",
        "SageMaker.ListHyperParameterTuningJobs",
        "SageMaker.StopHyperParameterTuningJob",
        "SageMaker.ListTrainingJobsForHyperParameterTuningJob",
    };
    static bool seeded;
    struct api_ctx c = metrics_caller();
    if (size < 1 || !c.meta)
        return 0;
    if (!seeded) {
        struct kiln_diag d = {0};
        struct meta_res m = {
            .account = c.account,
            .type = "model",
            .name = "m",
            .arn = "arn:aws:sagemaker:us-east-1:111122223333:model/m",
            .status = "",
            .body = "{\"ModelName\":\"m\"}"};
        meta_res_insert(c.meta, &m, &d);
        seeded = true;
    }
    metrics_dispatch(&c, "sagemaker", ops[data[0] % KILN_ARRAY_LEN(ops)],
                     data + 1, size - 1);
    return 0;
}
