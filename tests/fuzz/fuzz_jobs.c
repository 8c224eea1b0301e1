/*
 * fuzz_jobs.c - the SageMaker handlers of batch transform, tuning and
 * processing jobs, monitoring schedules and data quality job definitions
 * over a temporary store holding
 * model "m" and endpoint "e": the input's first byte picks
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
        "SageMaker.CreateProcessingJob",
        "SageMaker.DescribeProcessingJob",
        "SageMaker.ListProcessingJobs",
        "SageMaker.StopProcessingJob",
        "SageMaker.CreateMonitoringSchedule",
        "SageMaker.DescribeMonitoringSchedule",
        "SageMaker.ListMonitoringSchedules",
        "SageMaker.DeleteMonitoringSchedule",
        "SageMaker.StopMonitoringSchedule",
        "SageMaker.StartMonitoringSchedule",
        "SageMaker.ListMonitoringExecutions",
        "SageMaker.UpdateMonitoringSchedule",
        "SageMaker.CreateDataQualityJobDefinition",
        "SageMaker.DescribeDataQualityJobDefinition",
        "SageMaker.ListDataQualityJobDefinitions",
        "SageMaker.DeleteDataQualityJobDefinition",
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
        struct meta_res e = {
            .account = c.account,
            .type = "endpoint",
            .name = "e",
            .arn = "arn:aws:sagemaker:us-east-1:111122223333:endpoint/e",
            .status = "InService",
            .body = "{\"EndpointName\":\"e\",\"DataCaptureConfig\":"
                    "{\"EnableCapture\":true,\"DestinationS3Uri\":"
                    "\"s3://b/c\"}}"};
        meta_res_insert(c.meta, &e, &d);
        seeded = true;
    }
    metrics_dispatch(&c, "sagemaker", ops[data[0] % KILN_ARRAY_LEN(ops)],
                     data + 1, size - 1);
    return 0;
}
