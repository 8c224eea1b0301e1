/*
 * front.h - the front door's routing: one port, five protocols
 * (ARCHITECTURE.md, api-contract.md §0).
 *
 * front_handle() is the http_handler_fn of `kiln server`. It decides the
 * protocol from the SigV4 credential scope (then from X-Amz-Target, the
 * Query Action, the /console prefix; S3 otherwise), authenticates every
 * request, and hands it to the control plane, STS, the runtime or S3. Any
 * error is answered in the protocol the client speaks. The struct front is
 * read-only while the server runs, so any pool thread may use it.
 */
#ifndef KILN_CMD_FRONT_H
#define KILN_CMD_FRONT_H

#include "http/request.h"

#include "api/dispatch.h"
#include "s3/s3.h"

struct meta;
struct hoster;
struct asyncq;

struct front {
    struct meta *meta;     /* borrowed */
    const char *region;    /* borrowed */
    struct s3_ctx s3;      /* the object store's context */
    struct api_jobs jobs;  /* training jobs and endpoints */
    struct hoster *hoster; /* InvokeEndpoint */
    struct asyncq *asyncq; /* InvokeEndpointAsync */
};

void front_handle(void *app, struct http_request *r, enum http_phase phase);

#endif
