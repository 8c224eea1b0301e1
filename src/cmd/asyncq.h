/*
 * asyncq.h - InvokeEndpointAsync: a durable queue of invocations whose
 * payloads and answers live in the object store (api-contract.md §3).
 *
 * asyncq_submit() checks the request against the endpoint's
 * AsyncInferenceConfig, stores it as a resource of type
 * "async-invocation" (so a restart loses nothing queued) and answers at
 * once with where the result will be. Worker threads take requests in
 * the order they came, at most MaxConcurrentInvocationsPerInstance times
 * the endpoint's instances at once, read the input object, invoke the
 * endpoint through the hoster, and write the model's answer to
 * <S3OutputPath>/<id>.out, or an error to <S3FailurePath>/<id>-error.out
 * (S3OutputPath when no failure path is set). A request waits while the
 * endpoint is not serving, until RequestTTLSeconds run out. Any thread
 * may submit.
 */
#ifndef KILN_CMD_ASYNCQ_H
#define KILN_CMD_ASYNCQ_H

#include "base/err.h"
#include "cmd/hoster.h"
#include "meta/meta.h"
#include "s3/objstore.h"

struct asyncq;

int asyncq_new(struct meta *meta, struct objstore *store, struct hoster *hoster,
               struct asyncq **out, struct kiln_diag *d);
/* Stops the workers; an invocation in flight is given up and stays
 * queued for the next start. */
void asyncq_free(struct asyncq *q);

struct async_req {
    const char *content_type, *accept, *custom_attributes, *inference_id;
    const char *input_location; /* s3://bucket/key */
    int ttl_seconds;            /* 0: 6 hours */
    int timeout_seconds;        /* 0: 15 minutes */
};

struct async_ticket {
    char inference_id[65];
    char output[600], failure[600]; /* s3:// URIs */
};

/*
 * Queues an invocation of endpoint `name` of `account`. KILN_ENOTFOUND (no
 * such endpoint), KILN_EVALIDATION (not an asynchronous endpoint, a bad
 * InputLocation) with the message in d.
 */
int asyncq_submit(struct asyncq *q, const char *account, const char *name,
                  const struct async_req *r, struct async_ticket *t,
                  struct kiln_diag *d);

#endif
