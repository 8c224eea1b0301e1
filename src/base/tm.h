/*
 * tm.h - the time formats of the AWS wire protocols, without locale or
 * static buffers: RFC 1123 ("Mon, 01 Jan 2024 00:00:00 GMT", HTTP dates),
 * ISO 8601 with milliseconds ("2024-01-01T00:00:00.000Z", S3 listings), and
 * the current time as a double. Pure functions; any thread.
 */
#ifndef KILN_TM_H
#define KILN_TM_H

#include "base/kiln.h"

#define TM_HTTP_LEN 40 /* buffer size for tm_format_http */
#define TM_ISO_LEN  40 /* buffer size for tm_format_iso */

/* Seconds since the epoch, with fraction. */
double tm_now(void);

/* Seconds on a clock that never jumps (CLOCK_MONOTONIC): for durations. */
double tm_monotonic(void);

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int64_t tm_days_from_civil(int64_t y, unsigned m, unsigned d);

void tm_format_http(int64_t epoch, char out[TM_HTTP_LEN]);
void tm_format_iso(double epoch, char out[TM_ISO_LEN]);

/* Parses an RFC 1123 date; returns 0 or KILN_EINVAL. */
int tm_parse_http(const char *s, int64_t *epoch);
/* ISO 8601 as the AWS SDKs send it: YYYY-MM-DDTHH:MM:SS, optional
 * fraction, then Z or +hh:mm / -hh:mm (none: UTC). KILN_EINVAL. */
int tm_parse_iso(const char *s, double *epoch);

#endif
