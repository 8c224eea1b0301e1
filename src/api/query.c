/*
 * query.c - form parameters of the AWS Query protocol.
 */
#include "api/query.h"

#include "base/str.h"

bool query_param(const char *params, size_t len, const char *name,
                 struct buf *out)
{
    const char *p = params, *end = params + len;
    size_t nlen = strlen(name);

    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - p) > nlen && memcmp(p, name, nlen) == 0 &&
            p[nlen] == '=') {
            buf_reset(out);
            return str_url_decode(p + nlen + 1, (size_t)(stop - p) - nlen - 1,
                                  true, out) == 0;
        }
        p = stop + 1;
    }
    return false;
}
