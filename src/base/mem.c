/*
 * mem.c - the only file that calls malloc(3) and free(3).
 */
#include "base/mem.h"

#include <sys/mman.h>

#include <stdatomic.h>

#include "base/err.h"
#include "base/log.h"

static size_t try_limit;
static atomic_long fail_countdown;

static void *oom(size_t n)
{
    log_error("event=oom bytes=%zu", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : oom(n);
}

void *xmemalign(size_t align, size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, align, n ? n : 1) == 0 ? p : oom(n);
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    return p ? p : oom(count * size);
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    return q ? q : oom(n);
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void mem_free(void *p)
{
    free(p);
}

void mem_set_limit(size_t bytes)
{
    try_limit = bytes;
}

void mem_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
}

#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_FROM ((size_t)8 << 20)

int mem_try_alloc(size_t n, void **out)
{
    void *p;

    if (try_limit && n > try_limit)
        return KILN_ETOOBIG;
    if (atomic_load(&fail_countdown) > 0 &&
        atomic_fetch_sub(&fail_countdown, 1) == 1)
        return KILN_ENOMEM;
    if (n >= HUGE_FROM) {
        /* Big buffers (mini-batches, kept epochs) on 2 MiB pages where the
         * kernel allows: one fault instead of 512, and fewer TLB misses
         * when a kernel streams through them. */
        if (posix_memalign(&p, HUGE_PAGE, n) != 0)
            return KILN_ENOMEM;
        madvise(p, n & ~(HUGE_PAGE - 1), MADV_HUGEPAGE);
        *out = p;
        return 0;
    }
    p = malloc(n ? n : 1);
    if (!p)
        return KILN_ENOMEM;
    *out = p;
    return 0;
}

int mem_mul(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a)
        return KILN_ETOOBIG;
    *out = a * b;
    return 0;
}
