/*
 * fuzz.h - the libFuzzer entry point every fuzz_<parser>.c defines
 * (STYLE.md K18). replay.c drives the same function over the committed
 * corpus in every build, so the targets always compile and `make test`
 * replays every seed and every crash ever found.
 */
#ifndef KILN_FUZZ_H
#define KILN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next line of the input at *p (without its newline) as a new
 * string (free()), *p moved past it: for inputs made of lines. */
static inline char *fuzz_line(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = malloc(n + 1);
    memcpy(s, *p, n);
    s[n] = '\0';
    *p += nl ? n + 1 : n;
    return s;
}

#endif
