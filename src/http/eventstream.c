/*
 * eventstream.c - writes AWS event-stream messages (see eventstream.h).
 */
#include "http/eventstream.h"

#include <string.h>
#include <zlib.h>

#include "base/err.h"

#define ES_MAX_PAYLOAD (16u << 20)
#define ES_MAX_HEADERS (128u << 10)

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

int eventstream_add(struct buf *out, const struct es_header *h, size_t nh,
                    const void *payload, size_t len)
{
    size_t hlen = 0, start = out->len;
    unsigned char prelude[12], *p;
    uint32_t crc;

    for (size_t i = 0; i < nh; i++) {
        size_t n = strlen(h[i].name), v = strlen(h[i].value);
        if (n == 0 || n > 255 || v > 65535)
            return KILN_ETOOBIG;
        hlen += 1 + n + 1 + 2 + v;
    }
    if (hlen > ES_MAX_HEADERS || len > ES_MAX_PAYLOAD)
        return KILN_ETOOBIG;
    if (buf_reserve(out, 12 + hlen + len + 4) != 0)
        return KILN_ETOOBIG;
    put32(prelude, (uint32_t)(12 + hlen + len + 4));
    put32(prelude + 4, (uint32_t)hlen);
    put32(prelude + 8, (uint32_t)crc32(0L, prelude, 8));
    buf_add(out, prelude, sizeof(prelude));
    for (size_t i = 0; i < nh; i++) {
        size_t n = strlen(h[i].name), v = strlen(h[i].value);
        unsigned char head[1],
            type[3] = {7, (unsigned char)(v >> 8), (unsigned char)v};
        head[0] = (unsigned char)n;
        buf_add(out, head, 1);
        buf_add(out, h[i].name, n);
        buf_add(out, type, sizeof(type));
        buf_add(out, h[i].value, v);
    }
    if (len)
        buf_add(out, payload, len);
    p = (unsigned char *)out->data + start;
    crc = (uint32_t)crc32(0L, p, (uInt)(out->len - start));
    unsigned char tail[4];
    put32(tail, crc);
    buf_add(out, tail, sizeof(tail));
    return 0;
}
