/*
 * hoster.h - serves endpoints: model-server processes per variant
 * instance, supervision, routing by weight, and the InvokeEndpoint call
 * path (api-contract.md §3, §7.3).
 *
 * Each instance is `kiln algo <name> serve` on its own Unix socket in a
 * private directory under /tmp (named in <data-dir>/endpoint-sockets, so
 * the next start clears it after a crash), with the model extracted from
 * its model.tar.gz. Requests go to instances over keep-alive connections
 * (libcurl, from a pool of idle handles). A monitor thread drains the
 * instances' output into the endpoint's log group and restarts any that
 * die. A multi-model variant (Mode MultiModel) starts none: each
 * TargetModel gets a model server of its own when first asked for, in
 * one of MODELS_PER_INSTANCE slots per instance, the least recently used
 * making room. A shadow variant's instances get copies of requests from
 * a thread of their own, after the answer; what they say goes only to
 * data capture. UpdateEndpoint is blue/green: the new fleet starts and
 * answers /ping before it takes traffic; if it cannot, the old fleet
 * stays. At start, endpoints that were in service are brought back. Any
 * thread may invoke.
 */
#ifndef KILN_CMD_HOSTER_H
#define KILN_CMD_HOSTER_H

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "s3/objstore.h"

struct hoster;

struct hoster_opts {
    struct meta *meta;      /* borrowed */
    struct objstore *store; /* borrowed */
    const char *data_dir;
    const char *region;
    int max_instances; /* model servers at once; 0: from memory */
    const char *bwrap; /* script-mode models run under this bubblewrap */
};

int hoster_new(const struct hoster_opts *o, struct hoster **out,
               struct kiln_diag *d);
void hoster_free(struct hoster *h);

int hoster_endpoint_create(void *h, const char *account, const char *name);
int hoster_endpoint_update(void *h, const char *account, const char *name);
int hoster_endpoint_delete(void *h, const char *account, const char *name);
/* Whether `instances` more model servers fit beside those running: 0, or
 * KILN_ELIMIT with SageMaker's ResourceLimitExceeded text. */
int hoster_endpoint_room(void *h, int instances, struct kiln_diag *d);

struct invoke_req {
    const char *content_type, *accept, *custom_attributes, *target_variant,
        *inference_id;
    const char *target_model; /* multi-model endpoints only: refused */
    const void *body;
    size_t len;
    /* InvokeEndpointAsync's call (asyncq.c): the endpoint must have an
     * AsyncInferenceConfig, and InvokeEndpoint's must not. */
    bool async;
    long timeout_ms;  /* 0: InvokeEndpoint's 60 s */
    int64_t start_ns; /* when the request arrived (CLOCK_MONOTONIC), for
                         OverheadLatency; 0: not measured */
    int *cancel;      /* non-zero: give up (server shutdown); or NULL */
};

struct invoke_resp {
    int status; /* the container's HTTP status */
    char content_type[256];
    char variant[64];
    char custom_attributes[1025];
    struct buf body; /* caller inits and releases */
};

/* Whether endpoint `name` of `account` has a fleet to take requests. */
bool hoster_serving(struct hoster *h, const char *account, const char *name);

/*
 * Invokes endpoint `name` of `account`. Returns 0 with the container's
 * answer in *resp (any status), KILN_ENOTFOUND (no such endpoint),
 * KILN_EVALIDATION (not in service, unknown variant) or KILN_EUNAVAILABLE
 * (no instance answers), with the message in d.
 */
int hoster_invoke(struct hoster *h, const char *account, const char *name,
                  const struct invoke_req *req, struct invoke_resp *resp,
                  struct kiln_diag *d);

/*
 * Transform jobs' fleets: `count` instances of `model` (its
 * DescribeModel document) for job `job`, up and answering /ping when
 * hoster_job_start returns 0; KILN_EINVAL (the model cannot be served,
 * an instance did not start) or KILN_ELIMIT (no room) with the reason in
 * d. Their output goes to the log group /aws/sagemaker/TransformJobs.
 * hoster_job_invoke sends a request to one of the instances, as
 * hoster_invoke does; hoster_job_stop waits for requests in flight, then
 * stops them. Stop every job before hoster_free.
 */
struct hoster_job;
int hoster_job_start(struct hoster *h, const char *account, const char *job,
                     json_t *model, int count, struct hoster_job **out,
                     struct kiln_diag *d);
int hoster_job_invoke(struct hoster *h, struct hoster_job *j,
                      const struct invoke_req *req, struct invoke_resp *resp,
                      struct kiln_diag *d);
void hoster_job_stop(struct hoster *h, struct hoster_job *j);

#endif
