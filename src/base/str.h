/*
 * str.h - small string and number helpers that replace banned libc calls
 * (STYLE.md K14): bounded copies, hex, and cursor-advancing integer parsers
 * that never read past a given end and report overflow. Pure functions; any
 * thread.
 */
#ifndef KILN_STR_H
#define KILN_STR_H

#include "base/buf.h"
#include "base/kiln.h"

/* Copies at most size-1 bytes of src and NUL-terminates; returns strlen(src)
 * so truncation shows as a result >= size (like BSD strlcpy). */
size_t str_copy(char *dst, const char *src, size_t size);

/* Copies s into dst (size bytes, NUL-terminated, truncated), with ASCII
 * upper case made lower: resource names in ARNs. */
void str_lower_copy(char *dst, const char *s, size_t size);

/* True when s starts with prefix. */
bool str_starts(const char *s, const char *prefix);
/* True when s ends with suffix. */
bool str_ends(const char *s, const char *suffix);

/* Writes 2n lower-case hex digits and a NUL into out (2n+1 bytes). */
void str_hex(const uint8_t *in, size_t n, char *out);
/* A version-4 UUID ("xxxxxxxx-xxxx-4xxx-...") from 16 random bytes. */
void str_uuid(const uint8_t random[16], char out[37]);

/*
 * Makes s[0..n) valid UTF-8 in place: each byte that does not belong to a
 * well-formed sequence (overlong, surrogate, past U+10FFFF, cut short)
 * becomes '?'. Text from algorithms, model servers and clients passes
 * through here before it goes into JSON, which must be UTF-8. Returns how
 * many bytes were replaced.
 */
size_t str_utf8_fix(char *s, size_t n);

/* True when s[0..n) is well-formed UTF-8 without a NUL. */
bool str_utf8_valid(const char *s, size_t n);

/* Constant-time comparison of two equal-length byte strings. */
bool str_equal_ct(const char *a, const char *b, size_t n);

/*
 * Parses a decimal unsigned integer at *p (not past end), advancing *p past
 * the digits. Returns 0, or KILN_EINVAL when there is no digit, or
 * KILN_ETOOBIG when the value exceeds max.
 */
int parse_u64(const char **p, const char *end, uint64_t max, uint64_t *out);

/* Parses a whole C string as a decimal integer in [min, max]. */
int parse_i64_str(const char *s, int64_t min, int64_t max, int64_t *out);

/*
 * Appends the percent-decoding of s[0..n) to out; with plus_space a '+'
 * becomes a space (form and query encoding). A malformed escape is kept
 * literally. Returns 0 or KILN_ETOOBIG from the buffer.
 */
int str_url_decode(const char *s, size_t n, bool plus_space, struct buf *out);

#endif
