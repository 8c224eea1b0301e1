/*
 * fuzz_cost.c - Cost Explorer's handlers over a store with a few usage
 * rows (a job and an endpoint, one tagged): the input's first byte picks
 * GetCostAndUsage or GetCostAndUsageWithResources, the rest is the
 * request body, dispatched as the front door does (parsing, validation,
 * dates, filter expressions, grouping).
 */
#include "fuzz.h"
#include "metrics_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool seeded;
    static json_t *prices;
    struct api_ctx c = metrics_caller();
    static struct api_jobs jobs;
    if (size < 1 || !c.meta)
        return 0;
    if (!seeded) {
        double now = tm_now();
        struct meta_usage u[] = {
            {"111122223333",
             "arn:aws:sagemaker:us-east-1:111122223333:"
             "transform-job/tj",
             "transform", "ml.c5.xlarge", 2, now - 7200, now - 3000, 8400},
            {"111122223333",
             "arn:aws:sagemaker:us-east-1:111122223333:"
             "endpoint/ep",
             "hosting", "ml.m5.large", 1, now - 60, now, 60}};
        for (size_t i = 0; i < KILN_ARRAY_LEN(u); i++)
            meta_usage_add(c.meta, &u[i]);
        meta_tag_set(c.meta, u[0].arn, "team", "ml");
        prices = json_loads("{\"ml.m5.large\": 0.115, \"ml.c5.xlarge\": "
                            "{\"transform\": 0.3}}",
                            0, NULL);
        jobs.prices = prices;
        seeded = true;
    }
    c.jobs = &jobs;
    metrics_dispatch(&c, "ce",
                     data[0] & 1 ? "AWSInsightsIndexService.GetCostAndUsage"
                                 : "AWSInsightsIndexService."
                                   "GetCostAndUsageWithResources",
                     data + 1, size - 1);
    return 0;
}
