/*
 * kiln.h - project-wide setup included (directly or through a module
 * header) by every C file of kiln.
 *
 * It fixes the language level, brings in the handful of system headers every
 * module uses, defines the attributes and assertion macros of STYLE.md K7 and
 * finally includes banned.h, so that no file can call the functions it bans.
 * Nothing here allocates or has state; any thread may use it.
 */
#ifndef KILN_H
#define KILN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KILN_VERSION "0.1.0"

#if defined(__GNUC__) || defined(__clang__)
#define KILN_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define KILN_NORETURN          __attribute__((noreturn))
#define KILN_UNUSED            __attribute__((unused))
#else
#define KILN_PRINTF(fmt, args)
#define KILN_NORETURN
#define KILN_UNUSED
#endif

#define KILN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/*
 * KILN_ASSERT is always compiled in: it is for programmer errors only, never
 * for untrusted input (K7). It logs the expression and where, then aborts.
 */
KILN_NORETURN void kiln_assert_fail(const char *expr, const char *file,
                                    int line);
#define KILN_ASSERT(x)                                                         \
    ((x) ? (void)0 : kiln_assert_fail(#x, __FILE__, __LINE__))
#ifdef KILN_DEBUG
#define KILN_DASSERT(x) KILN_ASSERT(x)
#else
#define KILN_DASSERT(x) ((void)0)
#endif

/* KILN_SANITIZED: an AddressSanitizer build (gcc or clang). */
#if defined(__SANITIZE_ADDRESS__)
#define KILN_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KILN_SANITIZED 1
#endif
#endif

/* Tests reach static helpers through UNITTEST (curl's trick). */
#ifdef KILN_UNITTEST
#define UNITTEST
#else
#define UNITTEST static
#endif

#include "base/banned.h"

#endif
