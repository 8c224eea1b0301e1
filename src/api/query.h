/*
 * query.h - the AWS Query protocol's form-encoded parameters
 * (Action=...&Version=...&Name.member.1=...), as STS and CloudWatch take
 * them in a POST body or a GET query. Any thread.
 */
#ifndef KILN_API_QUERY_H
#define KILN_API_QUERY_H

#include "base/buf.h"

/* Parameter `name` of the form string params, URL-decoded into `out`;
 * false when absent or badly encoded. */
bool query_param(const char *params, size_t len, const char *name,
                 struct buf *out);

#endif
