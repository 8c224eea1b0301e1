/*
 * buf.h - a growable byte buffer with a hard maximum (STYLE.md K6).
 *
 * A struct buf lives on the stack or inside another struct: buf_init() sets
 * its limit, buf_release() frees its memory. Its bytes are always followed by
 * a NUL that is not counted in `len`, so text can be read with buf_cstr().
 * Appending past `max` fails with KILN_ETOOBIG and leaves the buffer as it
 * was. Callers may read `data` and `len`. Not thread-safe: one owner.
 */
#ifndef KILN_BUF_H
#define KILN_BUF_H

#include <stdarg.h>

#include "base/kiln.h"

struct buf {
    char *data; /* NULL until the first append */
    size_t len; /* bytes in use, excluding the trailing NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* largest len allowed */
};

#define BUF_INIT(maxlen)                                                       \
    {                                                                          \
        NULL, 0, 0, (maxlen)                                                   \
    }

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
/* Keeps the memory, empties the content. */
void buf_reset(struct buf *b);

int buf_add(struct buf *b, const void *p, size_t n);
int buf_addc(struct buf *b, char c);
/* Makes room for n more bytes without appending (KILN_ETOOBIG past the
 * limit): a body of known length then grows in place. */
int buf_reserve(struct buf *b, size_t n);
/* Appends n zero bytes (KILN_ETOOBIG past the limit, like buf_add). */
int buf_addzeros(struct buf *b, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_addf(struct buf *b, const char *fmt, ...) KILN_PRINTF(2, 3);
int buf_vaddf(struct buf *b, const char *fmt, va_list ap) KILN_PRINTF(2, 0);

/* The content as a C string; "" when empty. Borrowed until the next change. */
const char *buf_cstr(const struct buf *b);

/* Hands the memory to the caller (free with mem_free) and empties `b`. */
char *buf_detach(struct buf *b, size_t *len);

#endif
