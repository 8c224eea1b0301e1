/*
 * log.c - formats a log line into a stack buffer and writes it at once.
 *
 * Lines longer than the buffer are cut, never split. KILN_ASSERT's failure
 * path lives here too, since it must log and then abort.
 */
#include "base/log.h"

#include <stdarg.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_min_level = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
    log_min_level = (int)level;
}

int log_level_parse(const char *s)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(level_names); i++)
        if (strcmp(s, level_names[i]) == 0)
            return (int)i;
    return -1;
}

void log_vline(int fd, char *line, size_t size, size_t n, const char *fmt,
               va_list ap)
{
    int w = vsnprintf(line + n, size - n, fmt, ap);
    if (w > 0)
        n += (size_t)w;
    if (n > size - 2)
        n = size - 2;
    line[n++] = '\n';
    if (write(fd, line, n) < 0) {
        /* Nowhere left to report a failed log write. */
    }
}

void log_write(enum log_level level, const char *fmt, ...)
{
    char line[4096];
    struct timeval tv;
    struct tm tm;
    size_t n;
    int w;
    va_list ap;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
    w = snprintf(line + n, sizeof(line) - n, ".%03dZ level=%s ",
                 (int)(tv.tv_usec / 1000), level_names[level]);
    if (w > 0)
        n += (size_t)w;
    va_start(ap, fmt);
    log_vline(STDERR_FILENO, line, sizeof(line), n, fmt, ap);
    va_end(ap);
}

void kiln_assert_fail(const char *expr, const char *file, int line)
{
    log_write(LOG_ERROR, "event=assert expr=\"%s\" file=%s line=%d", expr, file,
              line);
    abort();
}
