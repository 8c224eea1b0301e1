/*
 * strv.h - a growable, NULL-terminated vector of owned strings: the argv
 * and environment of a child process (git's strvec).
 *
 * A struct strv starts as STRV_INIT; strv_release() frees it. items is
 * NULL until the first add, so pass strv_argv(), never items, to code
 * that expects a NULL-terminated array. Not thread-safe: one owner.
 */
#ifndef KILN_STRV_H
#define KILN_STRV_H

#include <stdarg.h>
#include <stddef.h>

#include "base/kiln.h"

struct strv {
    char **items; /* n strings, then NULL */
    size_t n, cap;
};

#define STRV_INIT                                                              \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

void strv_add(struct strv *v, const char *s);
void strv_addf(struct strv *v, const char *fmt, ...) KILN_PRINTF(2, 3);
/* Appends every string of the NULL-terminated list. */
void strv_addv(struct strv *v, const char *const *list);

/* Sets NAME=VALUE (kv) in an environment vector, replacing an earlier
 * value of NAME. */
void strv_setenv(struct strv *v, const char *kv);

/* The NULL-terminated array (an empty one before the first add). */
const char *const *strv_argv(const struct strv *v);

/* Hands the array to the caller (free it with strv_free_argv) and leaves
 * v empty. */
char **strv_detach(struct strv *v);
void strv_free_argv(char **argv);

void strv_release(struct strv *v);

#endif
