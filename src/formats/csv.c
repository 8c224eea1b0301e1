/*
 * csv.c - line splitting over a read window, and the float parser.
 */
#include "formats/csv.h"

#include <errno.h>
#include <math.h>
#include <strings.h>
#include <unistd.h>

#include "base/mem.h"

#define WINDOW (1u << 20)

static const double pow10_tab[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int csv_parse_float(const char *s, size_t n, bool allow_nonfinite, float *out)
{
    const char *p = s, *end = s + n;
    uint64_t mant = 0;
    int digits = 0, exp10 = 0;
    bool neg = false, any = false;

    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (p < end && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    if (end - p >= 3 &&
        (strncasecmp(p, "nan", 3) == 0 || strncasecmp(p, "inf", 3) == 0)) {
        size_t len = (size_t)(end - p);
        bool nan = strncasecmp(p, "nan", 3) == 0;
        if (!allow_nonfinite ||
            !(len == 3 ||
              (!nan && len == 8 && strncasecmp(p, "infinity", 8) == 0)))
            return KILN_EINVAL;
        *out = nan ? NAN : (neg ? -INFINITY : INFINITY);
        return 0;
    }
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        any = true;
        if (digits < 19) {
            mant = mant * 10 + (uint64_t)(*p - '0');
            if (mant)
                digits++;
        } else {
            exp10++;
        }
    }
    if (p < end && *p == '.') {
        p++;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            any = true;
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                if (mant)
                    digits++;
                exp10--;
            }
        }
    }
    if (!any)
        return KILN_EINVAL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        bool eneg = false;
        int e = 0;
        p++;
        if (p < end && (*p == '-' || *p == '+'))
            eneg = *p++ == '-';
        if (p == end || *p < '0' || *p > '9')
            return KILN_EINVAL;
        for (; p < end && *p >= '0' && *p <= '9'; p++)
            if (e < 10000)
                e = e * 10 + (*p - '0');
        exp10 += eneg ? -e : e;
    }
    if (p != end)
        return KILN_EINVAL;
    double v = (double)mant;
    if (mant == 0)
        v = 0;
    else if (exp10 >= 0 && exp10 <= 22)
        v *= pow10_tab[exp10];
    else if (exp10 < 0 && exp10 >= -22)
        v /= pow10_tab[-exp10];
    else
        v *= pow(10.0, exp10);
    float f = (float)(neg ? -v : v);
    if (!allow_nonfinite && !isfinite(f))
        return KILN_EINVAL;
    *out = f;
    return 0;
}

/*
 * [-]digits[.digits] followed by ',' or the end: parsed, *p left on the
 * comma or the end. False (and *p untouched) for anything else.
 */
static bool scan_plain(const char **pp, const char *end, float *out)
{
    const char *p = *pp;
    uint64_t mant = 0;
    int digits = 0, exp10 = 0;
    bool neg = false, any = false;

    if (p < end && *p == '-') {
        neg = true;
        p++;
    }
    for (; p < end && (unsigned)(*p - '0') < 10; p++) {
        any = true;
        if (digits < 19) {
            mant = mant * 10 + (uint64_t)(*p - '0');
            digits += mant != 0;
        } else {
            exp10++;
        }
    }
    if (p < end && *p == '.') {
        p++;
        for (; p < end && (unsigned)(*p - '0') < 10; p++) {
            any = true;
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(*p - '0');
                digits += mant != 0;
                exp10--;
            }
        }
    }
    if (!any || (p < end && *p != ',') || exp10 < -22 || exp10 > 22)
        return false;
    double v = (double)mant;
    v = exp10 >= 0 ? v * pow10_tab[exp10] : v / pow10_tab[-exp10];
    *out = (float)(neg ? -v : v);
    *pp = p;
    return true;
}

int csv_format_float(struct buf *out, float v)
{
    return buf_addf(out, "%.9g", (double)v);
}

void csv_reader_init_fd(struct csv_reader *r, int fd)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->max_line = CSV_MAX_LINE;
}

void csv_reader_init_mem(struct csv_reader *r, const char *mem, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    r->mem = mem;
    r->mem_len = len;
    r->max_line = CSV_MAX_LINE;
}

void csv_reader_release(struct csv_reader *r)
{
    mem_free(r->win);
    r->win = NULL;
}

/* The next line (without its LF or CRLF); KILN_CONTINUE at end. */
void csv_unread(struct csv_reader *r)
{
    r->unread = r->last != NULL;
}

static int next_line(struct csv_reader *r, const char **line, size_t *len,
                     struct kiln_diag *d)
{
    if (r->unread) {
        r->unread = false;
        *line = r->last;
        *len = r->last_len;
        return 0;
    }
    if (r->fd < 0) {
        if (r->mem_at >= r->mem_len)
            return KILN_CONTINUE;
        const char *p = r->mem + r->mem_at;
        const char *nl = memchr(p, '\n', r->mem_len - r->mem_at);
        size_t n = nl ? (size_t)(nl - p) : r->mem_len - r->mem_at;
        if (n > r->max_line)
            goto too_long;
        r->mem_at += n + (nl ? 1 : 0);
        *line = p;
        *len = n;
    } else {
        for (;;) {
            char *p = r->win + r->win_start;
            size_t have = r->win_end - r->win_start;
            char *nl = have ? memchr(p, '\n', have) : NULL;
            if (nl || (r->eof && have)) {
                size_t n = nl ? (size_t)(nl - p) : have;
                r->win_start += n + (nl ? 1 : 0);
                *line = p;
                *len = n;
                break;
            }
            if (r->eof)
                return KILN_CONTINUE;
            if (have > r->max_line)
                goto too_long;
            if (r->win_start) {
                memmove(r->win, p, have);
                r->win_start = 0;
                r->win_end = have;
            }
            if (r->win_cap - r->win_end < WINDOW / 2) {
                r->win_cap = r->win_cap ? r->win_cap * 2 : WINDOW;
                r->win = xrealloc(r->win, r->win_cap);
            }
            ssize_t got =
                read(r->fd, r->win + r->win_end, r->win_cap - r->win_end);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                return diag_set(d, KILN_EIO, "cannot read CSV input: %s",
                                strerror(errno));
            if (got == 0)
                r->eof = true;
            r->win_end += (size_t)got;
        }
    }
    r->line++;
    if (*len && (*line)[*len - 1] == '\r')
        (*len)--;
    r->last = *line;
    r->last_len = *len;
    return 0;
too_long:
    return diag_set(d, KILN_ETOOBIG, "CSV line %llu is longer than %zu bytes",
                    (unsigned long long)r->line + 1, r->max_line);
}

int csv_next(struct csv_reader *r, float *row, size_t dim, float *labels,
             size_t label_cols, size_t *ncols, struct kiln_diag *d)
{
    const char *line;
    size_t len;
    int rc;

    do {
        rc = next_line(r, &line, &len, d);
        if (rc)
            return rc;
        while (len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
            len--;
    } while (len == 0);

    size_t col = 0, want = label_cols + dim;
    const char *p = line, *end = line + len;
    for (;;) {
        const char *comma, *stop;
        float v;
        /* Fast path: a plain decimal read in the same pass that finds the
         * comma; anything else (spaces, exponents, NaN) takes the full
         * parser below. */
        if (dim && col < want && scan_plain(&p, end, &v)) {
            if (col < label_cols)
                labels[col] = v;
            else
                row[col - label_cols] = v;
            col++;
            if (p == end)
                break;
            p++; /* the comma */
            continue;
        }
        comma = memchr(p, ',', (size_t)(end - p));
        stop = comma ? comma : end;
        if (dim && col < want) {
            if (csv_parse_float(p, (size_t)(stop - p), r->allow_nonfinite,
                                &v) != 0)
                return diag_set(
                    d, KILN_EINVAL,
                    "line %llu, column %zu: '%.*s' is not a "
                    "number",
                    (unsigned long long)r->line, col + 1,
                    (int)((size_t)(stop - p) > 40 ? 40 : (size_t)(stop - p)),
                    p);
            if (col < label_cols)
                labels[col] = v;
            else
                row[col - label_cols] = v;
        }
        col++;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (ncols)
        *ncols = col;
    if (dim && col != want)
        return diag_set(d, KILN_EDIM, "line %llu has %zu columns, expected %zu",
                        (unsigned long long)r->line, col, want);
    return 0;
}
