/*
 * capture.h - endpoint data capture, the first step of model monitoring.
 *
 * With an endpoint config's DataCaptureConfig enabled, the sampled share of
 * invocations is written as SageMaker's capture files: JSON Lines, one
 * record per invocation with captureData.endpointInput / endpointOutput and
 * eventMetadata, under <DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/
 * in kiln's object store. Records collect in memory per variant; the hoster's
 * monitor writes them out every CAPTURE_FLUSH_SECONDS. Capture never fails an
 * invocation: a record that does not fit, or a destination that cannot be
 * written, is dropped and logged.
 */
#ifndef KILN_CMD_CAPTURE_H
#define KILN_CMD_CAPTURE_H

#include <jansson.h>

#include "base/buf.h"
#include "base/err.h"
#include "cmd/hoster.h"
#include "meta/meta.h"

#define CAPTURE_FLUSH_SECONDS 2.0
#define CAPTURE_BUFFER_MAX    ((size_t)64 << 20)

struct capture_cfg {
    bool on;
    bool input, output; /* CaptureOptions */
    int pct;            /* InitialSamplingPercentage */
    char bucket[64];
    char prefix[700];               /* key prefix, no trailing '/' */
    json_t *csv_types, *json_types; /* CaptureContentTypeHeader lists */
};

/* One variant's pending records. */
struct capture_buf {
    struct buf data;
    double first; /* time of the oldest pending record */
    unsigned acc; /* sampling accumulator */
    size_t records, dropped;
};

/* Reads a DataCaptureConfig (NULL: off). */
void capture_cfg_init(struct capture_cfg *c, json_t *dcc);
void capture_cfg_release(struct capture_cfg *c);

/* Whether this invocation is sampled: exactly pct of every 100, spread
 * evenly. Caller holds the lock that guards b. */
bool capture_sample(const struct capture_cfg *c, struct capture_buf *b);

/* Formats the record of one invocation (a line with its '\n') into line. */
int capture_format(const struct capture_cfg *c, const struct invoke_req *req,
                   const struct invoke_resp *resp, struct buf *line);

/* Writes pending records as one capture file of endpoint/variant, stamped
 * with time `first`. */
int capture_write(struct objstore *store, struct meta *meta,
                  const char *account, const char *bucket, const char *prefix,
                  const char *endpoint, const char *variant, double first,
                  const struct buf *data, struct kiln_diag *d);

#endif
