/*
 * mem.h - every allocation of kiln goes through here (STYLE.md K6).
 *
 * Two tiers:
 *   - x* wrappers (xmalloc, xcalloc, xrealloc, xstrdup, xstrndup) are for
 *     bounded internal allocations; on failure they log and abort, so callers
 *     need no checks.
 *   - mem_try_alloc() is for sizes that come from a request, a data set or a
 *     model file: it refuses sizes above the configured limit (KILN_ETOOBIG)
 *     and reports failure (KILN_ENOMEM) instead of aborting.
 * mem_free() releases either; mem_free(NULL) does nothing. Sizes are
 * multiplied with mem_mul(), which reports overflow. Any thread may call
 * these. Tests may make the Nth mem_try_alloc() fail (mem_fail_after).
 */
#ifndef KILN_MEM_H
#define KILN_MEM_H

#include "base/kiln.h"

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
/* n bytes at an address that is a multiple of align (a power of two,
 * a multiple of sizeof(void *)), e.g. for direct I/O. */
void *xmemalign(size_t align, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void mem_free(void *p);

/*
 * Allocates `n` bytes for a size the outside world chose. Returns 0 and sets
 * *out, or KILN_ETOOBIG above mem_set_limit()'s limit, or KILN_ENOMEM.
 */
int mem_try_alloc(size_t n, void **out);

/* Largest single mem_try_alloc() allowed; 0 means no limit. */
void mem_set_limit(size_t bytes);

/* Sets *out = a * b; returns KILN_ETOOBIG on overflow. */
int mem_mul(size_t a, size_t b, size_t *out);

/* For tests: the n-th next mem_try_alloc() fails (0 turns this off). */
void mem_fail_after(long n);

#endif
