/*
 * dispatch.h - the AWS JSON 1.1 operation table (STYLE.md K10) and the
 * context every control-plane handler receives.
 *
 * An operation is found by the signing service of its request and its
 * X-Amz-Target ("SageMaker.ListTrainingJobs" for service "sagemaker",
 * "Logs_20140328.GetLogEvents" for "logs"). api_dispatch() parses the body,
 * validates it against the operation's shape, calls the handler and
 * serialises its result. Handlers return 0 with *out set to a JSON object
 * they own (ownership passes to the dispatcher), or a KILN_E* code with the
 * message in the diag. Any thread.
 */
#ifndef KILN_API_DISPATCH_H
#define KILN_API_DISPATCH_H

#include <jansson.h>

#include "api/validate.h"
#include "base/buf.h"
#include "base/err.h"

struct meta;

/* The job runner, as the control plane sees it (wired by cmd/). */
struct api_jobs {
    void *ctx;
    /* Queues a training job just recorded as InProgress. */
    int (*start)(void *ctx, const char *account, const char *name);
    /* Asks a running job to stop (SIGTERM, then SIGKILL after a grace). */
    int (*stop)(void *ctx, const char *account, const char *name);
    /* A job's InstanceCount above this is ResourceLimitExceeded. */
    int max_training_instances;
    /* Endpoints: bring up (create), move to its new document (update),
     * take down and forget (delete). The document is already saved. */
    void *hosting;
    int (*endpoint_create)(void *hosting, const char *account,
                           const char *name);
    int (*endpoint_update)(void *hosting, const char *account,
                           const char *name);
    int (*endpoint_delete)(void *hosting, const char *account,
                           const char *name);
    /* Whether `instances` more model servers fit beside those running. */
    int (*endpoint_room)(void *hosting, int instances, struct kiln_diag *d);
    /* Transform jobs: run one just recorded as InProgress; stop one. */
    void *transforms;
    int (*transform_start)(void *transforms, const char *account,
                           const char *name);
    int (*transform_stop)(void *transforms, const char *account,
                          const char *name);
    /* Tuning jobs: run one just recorded as InProgress; stop one. */
    void *tuning;
    int (*tuning_start)(void *tuning, const char *account, const char *name);
    int (*tuning_stop)(void *tuning, const char *account, const char *name);
    /* Processing jobs: run one just recorded as InProgress; stop one. */
    void *processing;
    int (*processing_start)(void *processing, const char *account,
                            const char *name);
    int (*processing_stop)(void *processing, const char *account,
                           const char *name);
    /* Cost Explorer: USD per instance-hour by instance type, a number or
     * {"training": n, "hosting": n, "transform": n}; NULL: none. */
    json_t *prices;
};

/* What a handler knows about its caller and the server. Borrowed. */
struct api_ctx {
    const struct api_jobs *jobs;
    struct meta *meta;
    const char *account; /* 12-digit account of the signing key */
    const char *user;    /* user name of the signing key */
    const char *akid;    /* access key id */
    const char *region;  /* region for ARNs */
    const char *request_id;
};

typedef int (*api_handler_fn)(const struct api_ctx *c, json_t *in, json_t **out,
                              struct kiln_diag *d);

struct api_op {
    const char *service; /* SigV4 signing name */
    const char *target;  /* X-Amz-Target value */
    api_handler_fn fn;
    const struct vshape *input;
    size_t body_max; /* request body limit in bytes */
};

/* The operation for (service, target), or NULL. */
const struct api_op *api_op_find(const char *service, const char *target);

/* Calls fn for every operation in the table (docs, tests). */
void api_op_each(void (*fn)(void *ctx, const struct api_op *op), void *ctx);

/*
 * Runs one request: parse `body`, validate, call the handler and append the
 * JSON response to `out`. Returns 0, or an error code with the diag set
 * (KILN_EUNKNOWNOP, KILN_ESERIAL, KILN_EVALIDATION, a handler's code).
 */
int api_dispatch(const struct api_op *op, const struct api_ctx *c,
                 const char *body, size_t len, struct buf *out,
                 struct kiln_diag *d);

#endif
