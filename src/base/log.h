/*
 * log.h - one-line key=value logging to stderr (STYLE.md K8).
 *
 * Each call writes one line, `ts=<ISO 8601 UTC> level=<l> <message>`, with a
 * single write(2), so lines from different threads never interleave. The
 * macros test the level before formatting anything. Secrets never reach this
 * module: callers log access key ids, never secret keys, Authorization
 * headers or query strings. Any thread may call these.
 */
#ifndef KILN_LOG_H
#define KILN_LOG_H

#include <stdarg.h>

#include "base/kiln.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

extern int log_min_level;

/* Sets the lowest level that is written. */
void log_set_level(enum log_level level);

/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int log_level_parse(const char *s);

void log_write(enum log_level level, const char *fmt, ...) KILN_PRINTF(2, 3);

/* Appends fmt/ap to line[0..n) (size bytes in all), ends it with '\n' and
 * writes it to fd in one write(2): the tail of every kiln log line. */
void log_vline(int fd, char *line, size_t size, size_t n, const char *fmt,
               va_list ap) KILN_PRINTF(5, 0);

#define log_at(lvl, ...)                                                       \
    do {                                                                       \
        if ((int)(lvl) >= log_min_level)                                       \
            log_write((lvl), __VA_ARGS__);                                     \
    } while (0)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)

#endif
