/*
 * sts.h - the STS subset kiln answers (AWS Query protocol, XML results):
 * GetCallerIdentity, from the account and user of the signing key
 * (api-contract.md §5). Any thread.
 */
#ifndef KILN_API_STS_H
#define KILN_API_STS_H

#include "api/dispatch.h"

/*
 * Runs the Query request whose form-encoded parameters are `params` (the
 * POST body or the GET query) and appends the XML response to `out`.
 * Returns 0, or KILN_EUNKNOWNOP for another Action, with the diag set.
 */
int sts_handle(const struct api_ctx *c, const char *params, size_t len,
               struct buf *out, struct kiln_diag *d);

#endif
