/*
 * strv.c - growable string vectors (see strv.h).
 */
#include "base/strv.h"

#include "base/buf.h"
#include "base/mem.h"

#include <string.h>

#define STRV_ITEM_MAX (1 << 20)

static void grow(struct strv *v)
{
    if (v->n + 2 > v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->items = xrealloc(v->items, v->cap * sizeof(*v->items));
    }
}

void strv_add(struct strv *v, const char *s)
{
    grow(v);
    v->items[v->n++] = xstrdup(s);
    v->items[v->n] = NULL;
}

void strv_addf(struct strv *v, const char *fmt, ...)
{
    struct buf b = BUF_INIT(STRV_ITEM_MAX);
    va_list ap;

    va_start(ap, fmt);
    buf_vaddf(&b, fmt, ap);
    va_end(ap);
    grow(v);
    v->items[v->n++] = buf_detach(&b, NULL);
    v->items[v->n] = NULL;
}

void strv_addv(struct strv *v, const char *const *list)
{
    for (size_t i = 0; list && list[i]; i++)
        strv_add(v, list[i]);
}

void strv_setenv(struct strv *v, const char *kv)
{
    size_t n = strcspn(kv, "=");
    for (size_t i = 0; i < v->n; i++)
        if (strncmp(v->items[i], kv, n) == 0 && v->items[i][n] == '=') {
            mem_free(v->items[i]);
            v->items[i] = xstrdup(kv);
            return;
        }
    strv_add(v, kv);
}

const char *const *strv_argv(const struct strv *v)
{
    static const char *const empty[] = {NULL};
    return v->items ? (const char *const *)v->items : empty;
}

char **strv_detach(struct strv *v)
{
    char **items = v->items;
    if (!items) {
        items = xcalloc(1, sizeof(*items));
    }
    v->items = NULL;
    v->n = v->cap = 0;
    return items;
}

void strv_free_argv(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        mem_free(argv[i]);
    mem_free(argv);
}

void strv_release(struct strv *v)
{
    strv_free_argv(v->items);
    v->items = NULL;
    v->n = v->cap = 0;
}
