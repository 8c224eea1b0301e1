/*
 * tm.c - formatting with gmtime_r/strftime in the C locale's fixed names;
 * parsing by hand, since strptime depends on the locale.
 */
#include "base/tm.h"

#include <time.h>

#include "base/err.h"

static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
                                   "Thu", "Fri", "Sat"};

double tm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double tm_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t tm_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void tm_format_http(int64_t epoch, char out[TM_HTTP_LEN])
{
    time_t t = (time_t)epoch;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, TM_HTTP_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
             (tm.tm_year + 1900) % 10000, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

void tm_format_iso(double epoch, char out[TM_ISO_LEN])
{
    time_t t = (time_t)epoch;
    int ms = (int)((epoch - (double)t) * 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, TM_ISO_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             (tm.tm_year + 1900) % 10000, (tm.tm_mon + 1) % 100,
             tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, (ms < 0 ? 0 : ms) % 1000);
}

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int tm_parse_http(const char *s, int64_t *epoch)
{
    const char *p = strchr(s, ',');
    int day, mon = -1, year, h, m, sec;

    if (!p)
        return KILN_EINVAL;
    p++;
    while (*p == ' ')
        p++;
    /* "01 Jan 2024 00:00:00 GMT" */
    if (strlen(p) < 24 || p[2] != ' ' || p[6] != ' ' || p[11] != ' ' ||
        p[14] != ':' || p[17] != ':')
        return KILN_EINVAL;
    day = num(p, 2);
    for (int i = 0; i < 12; i++)
        if (strncmp(p + 3, months[i], 3) == 0)
            mon = i + 1;
    year = num(p + 7, 4);
    h = num(p + 12, 2);
    m = num(p + 15, 2);
    sec = num(p + 18, 2);
    if (day < 1 || day > 31 || mon < 0 || year < 1970 || h < 0 || h > 23 ||
        m < 0 || m > 59 || sec < 0 || sec > 60)
        return KILN_EINVAL;
    *epoch = tm_days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 +
             h * 3600 + m * 60 + sec;
    return 0;
}

int tm_parse_iso(const char *s, double *epoch)
{
    int y, mo, d, h, mi, sec, n = 0;
    double frac = 0;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
               &n) != 6 ||
        n != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        sec > 60)
        return KILN_EINVAL;
    s += n;
    if (*s == '.') {
        double scale = 0.1;
        for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
            frac += (*s - '0') * scale;
    }
    int offset = 0;
    if (*s == '+' || *s == '-') {
        int oh, om;
        if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 ||
            s[6] != '\0')
            return KILN_EINVAL;
        offset = (*s == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    } else if (*s == 'Z' ? s[1] != '\0' : *s != '\0') {
        return KILN_EINVAL;
    }
    *epoch = (double)(tm_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
                      h * 3600 + mi * 60 + sec - offset) +
             frac;
    return 0;
}
