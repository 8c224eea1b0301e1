/*
 * eventstream.h - AWS's event-stream framing (application/vnd.amazon.
 * eventstream), the body of InvokeEndpointWithResponseStream
 * (api-contract.md §3).
 *
 * A message is
 *
 *   total length (4) | headers length (4) | CRC32 of those 8 bytes (4)
 *   headers | payload | CRC32 of everything before it (4)
 *
 * all integers big-endian; a header is a 1-byte name length, the name, the
 * value type (7: string), a 2-byte value length and the value. The CRC is
 * zlib's CRC-32. kiln only writes this format, it never parses a client's.
 */
#ifndef KILN_HTTP_EVENTSTREAM_H
#define KILN_HTTP_EVENTSTREAM_H

#include "base/buf.h"

struct es_header {
    const char *name, *value; /* name < 256 bytes, value < 65536 */
};

/* Appends one message to out: 0, or KILN_ETOOBIG past out's limit or the
 * format's (16 MiB of payload, 128 KiB of headers), out left as it was. */
int eventstream_add(struct buf *out, const struct es_header *h, size_t nh,
                    const void *payload, size_t len);

#endif
