/*
 * hosting.h - models, endpoint configurations and endpoints of the
 * SageMaker control plane (api-contract.md §2.5-2.7).
 *
 * Each resource is stored as its Describe* document. An endpoint keeps
 * its own copy of the configuration and models it was deployed with, so
 * deleting the config (the SDK does, before the endpoint) or the model
 * does not disturb it. Bringing endpoints up and down is the hosting
 * runner's work, reached through api_ctx.jobs. "Not found" and "already
 * exists" are ValidationExceptions with the exact wording the SDK
 * matches ("Could not find model ...", "Cannot create already existing
 * endpoint ..."). Handlers follow api_handler_fn.
 */
#ifndef KILN_API_HOSTING_H
#define KILN_API_HOSTING_H

#include "api/dispatch.h"

#define HOSTING_OPS(X)                                                         \
    X(CreateModel, hosting_create_model)                                       \
    X(DescribeModel, hosting_describe_model)                                   \
    X(DeleteModel, hosting_delete_model)                                       \
    X(ListModels, hosting_list_models)                                         \
    X(CreateEndpointConfig, hosting_create_config)                             \
    X(DescribeEndpointConfig, hosting_describe_config)                         \
    X(DeleteEndpointConfig, hosting_delete_config)                             \
    X(ListEndpointConfigs, hosting_list_configs)                               \
    X(CreateEndpoint, hosting_create_endpoint)                                 \
    X(DescribeEndpoint, hosting_describe_endpoint)                             \
    X(DeleteEndpoint, hosting_delete_endpoint)                                 \
    X(ListEndpoints, hosting_list_endpoints)                                   \
    X(UpdateEndpoint, hosting_update_endpoint)                                 \
    X(UpdateEndpointWeightsAndCapacities, hosting_update_weights)

#define HOSTING_DECLARE(op, fn)                                                \
    extern const struct vshape fn##_input;                                     \
    int fn(const struct api_ctx *c, json_t *in, json_t **out,                  \
           struct kiln_diag *d);
HOSTING_OPS(HOSTING_DECLARE)
#undef HOSTING_DECLARE

/* The ARN of the caller's resource of `type` ("model", "endpoint", ...). */
void hosting_arn(const struct api_ctx *c, const char *type, const char *name,
                 char *out, size_t size);

/* Stop*Job for a job read as `doc`: asks `stop` (may be NULL) to stop it
 * while its `status_key` reads InProgress, else a ValidationException
 * naming `what` and the status. */
int hosting_stop_job(const struct api_ctx *c, json_t *doc,
                     const char *status_key, const char *what,
                     int (*stop)(void *runner, const char *account,
                                 const char *name),
                     void *runner, const char *name, json_t **out,
                     struct kiln_diag *d);

/* The document of resource `type` `name` of the account (a new
 * reference), or NULL when there is none or it is unreadable. */
json_t *hosting_doc(struct meta *m, const char *account, const char *type,
                    const char *name);

/* The document of the caller's resource `type` `name` (a new reference):
 * 0, KILN_ENOTFOUND with the diag left to the caller (each API words it
 * its own way), or KILN_EINTERNAL. */
int hosting_load_doc(const struct api_ctx *c, const char *type,
                     const char *name, json_t **doc, struct kiln_diag *d);

/* Stores a new resource of `type` with its document: 0, KILN_EINUSE when
 * the name is taken. */
int hosting_insert_res(const struct api_ctx *c, const char *type,
                       const char *name, const char *arn, const char *status,
                       json_t *doc, double now, struct kiln_diag *d);

/*
 * A List* call over resources of `type`: every filter, sort order and
 * NextToken of the real API, the summaries under `result`. keys: the
 * summary's name and ARN members, then its status member and members
 * repeated from the document (NULL-terminated), or NULL for a resource
 * with no status.
 */
int hosting_list_res(const struct api_ctx *c, json_t *in, const char *type,
                     const char *result, const char *const *keys, json_t **out,
                     struct kiln_diag *d);

/* A deployment that only changes the weights and instance counts of the
 * one before (UpdateEndpointWeightsAndCapacities) is marked so; the
 * hosting runner then changes them in place, as SageMaker does. */
#define HOSTING_CAPACITY_ONLY "KilnCapacityOnly"

/* The model-server instances a deployment asks for: every variant's
 * InitialInstanceCount, at least 1 each. */
int hosting_instances(json_t *deployment);

/*
 * Rolling updates (DeploymentConfig's RollingUpdatePolicy), of a
 * deployment with one variant. hosting_batch_instances: the instances a
 * CapacitySize (MaximumBatchSize, RollbackMaximumBatchSize) comes to for
 * a variant of `count`, from 1 to count. hosting_rolling_headroom: how
 * many instances beyond those of `now` the update from `now` to `dep`
 * runs at its busiest, a batch or what the fleet grows by.
 */
int hosting_batch_instances(json_t *size, int count);
int hosting_rolling_headroom(json_t *now, json_t *dep, json_t *ru);

#endif
