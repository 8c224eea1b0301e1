/*
 * logs.h - the CloudWatch Logs reads the SageMaker SDK and `aws logs` make
 * (api-contract.md §7.6): DescribeLogGroups, DescribeLogStreams,
 * GetLogEvents and FilterLogEvents over the events kiln's jobs and
 * endpoints write. Times are integer
 * milliseconds. DescribeLogStreams never returns a nextToken when one page
 * holds every matching stream (the SDK would loop forever), and
 * GetLogEvents always returns nextForwardToken. Handlers follow
 * api_handler_fn.
 */
#ifndef KILN_API_LOGS_H
#define KILN_API_LOGS_H

#include "api/dispatch.h"

extern const struct vshape logs_describe_groups_input;
extern const struct vshape logs_describe_streams_input;
extern const struct vshape logs_get_events_input;
extern const struct vshape logs_filter_events_input;

int logs_describe_groups(const struct api_ctx *c, json_t *in, json_t **out,
                         struct kiln_diag *d);
int logs_describe_streams(const struct api_ctx *c, json_t *in, json_t **out,
                          struct kiln_diag *d);
int logs_get_events(const struct api_ctx *c, json_t *in, json_t **out,
                    struct kiln_diag *d);
int logs_filter_events(const struct api_ctx *c, json_t *in, json_t **out,
                       struct kiln_diag *d);

#endif
