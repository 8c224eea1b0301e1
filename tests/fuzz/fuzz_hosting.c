/*
 * fuzz_hosting.c - the SageMaker hosting handlers over a temporary store
 * holding model "m", endpoint configurations "one" (a variant of two
 * instances) and "two" (two variants), and endpoint "e" in service on
 * "one": the input's first byte picks the operation, the rest is its
 * request body, dispatched as the front door does. No runner is wired, so
 * nothing starts; what is reached is the parsing and the checks of
 * deployments (DeploymentConfig's blue/green and rolling policies,
 * capacities, retained properties), and the model registry with models
 * created from its packages.
 */
#include <jansson.h>
#include <string.h>

#include "base/mem.h"
#include "fuzz.h"
#include "metrics_store.h"

static void seed(const struct api_ctx *c)
{
    static const char *const calls[][2] = {
        {"SageMaker.CreateModel",
         "{\"ModelName\":\"m\",\"ExecutionRoleArn\":"
         "\"arn:aws:iam::111122223333:role/r\",\"PrimaryContainer\":"
         "{\"Image\":\"kmeans\",\"ModelDataUrl\":\"s3://b/m.tar.gz\"}}"},
        {"SageMaker.CreateEndpointConfig",
         "{\"EndpointConfigName\":\"one\",\"ProductionVariants\":[{"
         "\"VariantName\":\"AllTraffic\",\"ModelName\":\"m\","
         "\"InitialInstanceCount\":2,\"InstanceType\":\"ml.m5.large\"}]}"},
        {"SageMaker.CreateEndpointConfig",
         "{\"EndpointConfigName\":\"two\",\"ProductionVariants\":[{"
         "\"VariantName\":\"A\",\"ModelName\":\"m\",\"InitialInstanceCount\":"
         "1,\"InstanceType\":\"ml.m5.large\"},{\"VariantName\":\"B\","
         "\"ModelName\":\"m\",\"InitialInstanceCount\":1,\"InstanceType\":"
         "\"ml.m5.large\"}]}"},
        {"SageMaker.CreateEndpoint",
         "{\"EndpointName\":\"e\",\"EndpointConfigName\":\"one\"}"},
    };
    for (size_t i = 0; i < KILN_ARRAY_LEN(calls); i++)
        metrics_dispatch(c, "sagemaker", calls[i][0],
                         (const uint8_t *)calls[i][1], strlen(calls[i][1]));
}

/* Endpoint "e" in service again, as the runner would leave it. */
static void in_service(const struct api_ctx *c)
{
    char *body = NULL;
    if (meta_res_get(c->meta, c->account, "endpoint", "e", &body) != 0)
        return;
    json_t *doc = json_loads(body, 0, NULL);
    mem_free(body);
    if (!doc)
        return;
    json_object_set_new(doc, "EndpointStatus", json_string("InService"));
    json_object_del(doc, "PendingDeployment");
    char *text = json_dumps(doc, JSON_COMPACT);
    struct meta_res r = {.account = c->account,
                         .type = "endpoint",
                         .name = "e",
                         .status = "InService",
                         .body = text};
    meta_res_save(c->meta, &r);
    mem_free(text); /* free(), as jansson allocates here */
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ops[] = {
        "SageMaker.UpdateEndpoint",
        "SageMaker.CreateEndpoint",
        "SageMaker.UpdateEndpointWeightsAndCapacities",
        "SageMaker.CreateEndpointConfig",
        "SageMaker.DescribeEndpoint",
        "SageMaker.DeleteEndpoint",
        "SageMaker.CreateModelPackageGroup",
        "SageMaker.CreateModelPackage",
        "SageMaker.DescribeModelPackage",
        "SageMaker.ListModelPackages",
        "SageMaker.UpdateModelPackage",
        "SageMaker.DeleteModelPackage",
        "SageMaker.DeleteModelPackageGroup",
        "SageMaker.ListModelPackageGroups",
        "SageMaker.CreateModel",
    };
    static bool seeded;
    struct api_ctx c = metrics_caller();
    if (size < 1 || !c.meta)
        return 0;
    if (!seeded) {
        seed(&c);
        seeded = true;
    }
    in_service(&c);
    metrics_dispatch(&c, "sagemaker", ops[data[0] % KILN_ARRAY_LEN(ops)],
                     data + 1, size - 1);
    return 0;
}
