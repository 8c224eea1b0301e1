/*
 * csv.c - line splitting over a read window, and the float parser.
 */
#include "formats/csv.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <strings.h>
#include <unistd.h>

#include "base/cpu.h"
#include "base/mem.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define HAVE_SSE41_FIELDS 1
#define SSE41             __attribute__((target("sse4.1")))
#endif

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

#ifdef HAVE_SSE41_FIELDS
/*
 * SSE4.1 fields. A field of up to 16 bytes, [-]digits[.digits] with at
 * least one digit, is read from one 16-byte load: a byte shuffle chosen by
 * the field's length and the dot's place drops the dot and moves the
 * digits to the right end, and three multiply-adds make two 8-digit
 * halves. At most 16 digits, so the mantissa and the power of ten are the
 * byte loop's, and so is the float.
 */
static uint8_t field_shuffle[17][17][16]; /* [length][dot or length] */
static uint16_t field_digits[17][17];     /* where the digits must be */

static void fields_init(void)
{
    for (int len = 1; len <= 16; len++) {
        for (int dot = 0; dot <= len; dot++) {
            uint8_t *m = field_shuffle[len][dot];
            int nd = dot == len ? len : len - 1, j = 16 - nd;
            uint16_t want = 0;
            memset(m, 0x80, 16); /* pshufb: 0x80 gives a zero byte */
            for (int i = 0; i < len; i++) {
                if (i == dot)
                    continue;
                m[j++] = (uint8_t)i;
                want = (uint16_t)(want | (1u << i));
            }
            /* "." alone has no digit: nothing can match. */
            field_digits[len][dot] = nd ? want : 0xffff;
        }
    }
}

/* The field is the first len bytes at p, and 17 bytes are readable. */
static inline __attribute__((always_inline)) SSE41 bool
field16(const char *p, size_t len, float *out)
{
    bool neg = *p == '-';
    p += neg;
    len -= neg;
    if (len == 0 || len > 16)
        return false;
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i t = _mm_sub_epi8(x, _mm_set1_epi8('0'));
    __m128i digit = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(9)), t);
    unsigned in = (1u << len) - 1;
    unsigned dots =
        (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('.'))) & in;
    unsigned dot = dots ? (unsigned)__builtin_ctz(dots) : (unsigned)len;
    if (((unsigned)_mm_movemask_epi8(digit) & in) != field_digits[len][dot])
        return false;
    __m128i d = _mm_shuffle_epi8(
        t, _mm_loadu_si128(
               (const __m128i *)(const void *)field_shuffle[len][dot]));
    d = _mm_maddubs_epi16(d, _mm_setr_epi8(10, 1, 10, 1, 10, 1, 10, 1, 10, 1,
                                           10, 1, 10, 1, 10, 1));
    d = _mm_madd_epi16(d, _mm_setr_epi16(100, 1, 100, 1, 100, 1, 100, 1));
    d = _mm_packus_epi32(d, d);
    d = _mm_madd_epi16(d,
                       _mm_setr_epi16(10000, 1, 10000, 1, 10000, 1, 10000, 1));
    uint64_t mant = (uint64_t)(uint32_t)_mm_cvtsi128_si32(d) * 100000000u +
                    (uint32_t)_mm_extract_epi32(d, 1);
    int frac = dot == len ? 0 : (int)(len - dot - 1);
    double v = (double)mant / pow10_tab[frac];
    *out = (float)(neg ? -v : v);
    return true;
}
#endif

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

/* Where a line's fields go; `bad` is set to the first one that is not a
 * number (and `bad_end` to its end), parsing stops there. */
struct fields {
    float *row, *labels;
    size_t dim, label_cols;
    bool nonfinite;
    const char *bad, *bad_end;
};

static void field_store(struct fields *f, size_t col, float v)
{
    if (col < f->label_cols)
        f->labels[col] = v;
    else
        f->row[col - f->label_cols] = v;
}

/* The field [p, stop) by scan_plain(), else by the full parser. */
static bool field_slow(struct fields *f, const char *p, const char *stop,
                       float *v)
{
    const char *at = p;
    if (scan_plain(&at, stop, v) && at == stop)
        return true;
    return csv_parse_float(p, (size_t)(stop - p), f->nonfinite, v) == 0;
}

/* The fields of [line, end), parsed while col < label_cols + dim; returns
 * how many there are (up to the bad one). Byte by byte. */
static size_t fields_plain(struct fields *f, const char *line, const char *end)
{
    size_t col = 0, want = f->label_cols + f->dim;
    const char *p = line;
    for (;;) {
        const char *comma, *stop;
        float v;
        /* Fast path: a plain decimal read in the same pass that finds the
         * comma; anything else (spaces, exponents, NaN) takes the full
         * parser below. */
        if (f->dim && col < want && scan_plain(&p, end, &v)) {
            field_store(f, col++, v);
            if (p == end)
                break;
            p++; /* the comma */
            continue;
        }
        comma = memchr(p, ',', (size_t)(end - p));
        stop = comma ? comma : end;
        if (f->dim && col < want) {
            if (csv_parse_float(p, (size_t)(stop - p), f->nonfinite, &v) != 0) {
                f->bad = p;
                f->bad_end = stop;
                return col;
            }
            field_store(f, col, v);
        }
        col++;
        if (!comma)
            break;
        p = comma + 1;
    }
    return col;
}

#ifdef HAVE_SSE41_FIELDS
/* The field [p, stop) of a line that ends at `end`: by field16() where it
 * can, from a zero-padded copy near the line's end. */
static inline __attribute__((always_inline)) SSE41 bool
field_sse41(struct fields *f, const char *p, const char *stop, const char *end,
            float *v)
{
    size_t len = (size_t)(stop - p);
    char pad[32];
    const char *q = p;

    if (end - p < 17) { /* near the line's end: from a padded copy */
        if (len > 17)
            return field_slow(f, p, stop, v);
        memset(pad, 0, sizeof(pad));
        memcpy(pad, p, len);
        q = pad;
    }
    return field16(q, len, v) || field_slow(f, p, stop, v);
}

/* Field `col`, [p, stop), parsed and stored; false, with f->bad set, when
 * it is not a number. */
static inline __attribute__((always_inline)) SSE41 bool
field_take(struct fields *f, size_t col, const char *p, const char *stop,
           const char *end)
{
    float v;
    if (!field_sse41(f, p, stop, end, &v)) {
        f->bad = p;
        f->bad_end = stop;
        return false;
    }
    field_store(f, col, v);
    return true;
}

/*
 * fields_plain() with the commas found 64 bytes at a time and each field
 * read by field16(): where the next field starts never waits on the one
 * before it being parsed.
 */
static SSE41 size_t fields_sse41(struct fields *f, const char *line,
                                 const char *end)
{
    size_t col = 0, want = f->label_cols + f->dim;
    const char *p = line, *block;

    for (block = line; block < end; block += 64) {
        uint64_t commas = 0;
        if (end - block >= 64) {
            for (int i = 0; i < 4; i++) {
                __m128i x = _mm_loadu_si128(
                    (const __m128i *)(const void *)(block + 16 * i));
                commas |= (uint64_t)(uint16_t)_mm_movemask_epi8(
                              _mm_cmpeq_epi8(x, _mm_set1_epi8(',')))
                          << (16 * i);
            }
        } else {
            for (int i = 0; block + i < end; i++)
                commas |= (uint64_t)(block[i] == ',') << i;
        }
        while (commas) {
            const char *comma = block + __builtin_ctzll(commas);
            commas &= commas - 1;
            if (col < want && !field_take(f, col, p, comma, end))
                return col;
            col++;
            p = comma + 1;
        }
    }
    if (col < want && !field_take(f, col, p, end, end))
        return col;
    return col + 1;
}

static pthread_once_t fields_once = PTHREAD_ONCE_INIT;

static bool sse41_probe(void)
{
    __builtin_cpu_init();
    pthread_once(&fields_once, fields_init);
    return __builtin_cpu_supports("sse4.1");
}

static struct cpu_switch sse41 = CPU_SWITCH_INIT(sse41_probe);
#endif

bool csv_simd(int on)
{
#ifdef HAVE_SSE41_FIELDS
    return cpu_switch_set(&sse41, on);
#else
    (void)on;
    return false;
#endif
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

    struct fields f = {row,  labels, dim, label_cols, r->allow_nonfinite,
                       NULL, NULL};
    size_t col, want = label_cols + dim;
#ifdef HAVE_SSE41_FIELDS
    if (dim && cpu_switch_on(&sse41))
        col = fields_sse41(&f, line, line + len);
    else
#endif
        col = fields_plain(&f, line, line + len);
    if (f.bad) {
        size_t n = (size_t)(f.bad_end - f.bad);
        return diag_set(d, KILN_EINVAL,
                        "line %llu, column %zu: '%.*s' is not a number",
                        (unsigned long long)r->line, col + 1,
                        (int)(n > 40 ? 40 : n), f.bad);
    }
    if (ncols)
        *ncols = col;
    if (dim && col != want)
        return diag_set(d, KILN_EDIM, "line %llu has %zu columns, expected %zu",
                        (unsigned long long)r->line, col, want);
    return 0;
}
