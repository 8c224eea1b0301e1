/*
 * jsonrows.h - inference payloads in application/json and
 * application/jsonlines (kmeans-and-recordio.md §6.1), as dense float32
 * rows of a known width:
 *   {"instances": [{"features": [..]}, ...]}
 *   {"instances": [{"data": {"features": {"values": [..]}}}, ...]}
 *   {"instances": [{"data": {"features": {"keys": [..], "shape": [d],
 *                                          "values": [..]}}}, ...]}
 *   {"instances": [[..], ...]}, a bare [[..], ...] or a bare row [..]
 * and in JSON Lines one instance (any of the forms above) per line.
 * Errors name the instance. Any thread.
 */
#ifndef KILN_FORMATS_JSONROWS_H
#define KILN_FORMATS_JSONROWS_H

#include "base/buf.h"
#include "base/err.h"

/*
 * Appends the rows of `body` to `rows` (a buffer of floats) and sets *n.
 * KILN_EINVAL (not JSON / not a known shape) or KILN_EDIM (wrong width).
 */
int jsonrows_parse(const char *body, size_t len, bool lines, size_t dim,
                   struct buf *rows, size_t *n, struct kiln_diag *d);

#endif
