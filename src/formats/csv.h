/*
 * csv.h - text/csv rows of numbers, the SageMaker way: no header, comma
 * separated, optional label columns first (label_size), CRLF or LF, with
 * or without a final newline, blank lines skipped.
 *
 * Fields are parsed by csv_parse_float(), which does not call strtod: it
 * reads up to 19 significant digits into an integer and scales by an exact
 * power of ten, then rounds to float32. NaN and infinities are rejected
 * unless allowed. Errors name the line and column. A reader streams from a
 * file descriptor or walks memory, holding one line at a time (lines are
 * capped, so a million-column file is refused, not swallowed). One owner.
 */
#ifndef KILN_FORMATS_CSV_H
#define KILN_FORMATS_CSV_H

#include "base/buf.h"
#include "base/err.h"

#define CSV_MAX_LINE ((size_t)16 << 20)

struct csv_reader {
    int fd; /* -1 for memory */
    const char *mem;
    size_t mem_len, mem_at;
    char *win;
    size_t win_cap, win_start, win_end;
    bool eof;
    uint64_t line; /* line number of the last row returned */
    bool allow_nonfinite;
    size_t max_line;
    const char *last; /* the last line returned (for csv_unread) */
    size_t last_len;
    bool unread;
};

void csv_reader_init_fd(struct csv_reader *r, int fd);
void csv_reader_init_mem(struct csv_reader *r, const char *mem, size_t len);
void csv_reader_release(struct csv_reader *r);

/*
 * Reads the next non-blank row: the first `label_cols` fields go to
 * labels[] (may be NULL when label_cols is 0), the next `dim` to row[].
 * If dim is 0 on entry, *ncols receives the row's field count and nothing
 * is stored (used to discover the width). *ncols is also set when a row
 * has the wrong width. Returns 0, KILN_CONTINUE at end of input,
 * KILN_EDIM for a row of the wrong width, KILN_EINVAL for a field that is
 * not a number.
 */
int csv_next(struct csv_reader *r, float *row, size_t dim, float *labels,
             size_t label_cols, size_t *ncols, struct kiln_diag *d);

/* Makes the next csv_next() read the row it just read again (to parse a
 * row whose width was discovered with dim = 0). */
void csv_unread(struct csv_reader *r);

/*
 * Parses one number from s[0..n) exactly (no trailing bytes). Returns 0
 * or KILN_EINVAL; NaN/Inf only when allow_nonfinite.
 */
int csv_parse_float(const char *s, size_t n, bool allow_nonfinite, float *out);

/*
 * Rows are split and read 16 bytes at a time with SSE4.1 where the CPU
 * has it; the floats and the errors are the same either way. csv_simd(0)
 * turns that off, csv_simd(1) back on where available, csv_simd(-1) only
 * asks; each returns whether it was on. For tests and benchmarks.
 */
bool csv_simd(int on);

/* Appends a float the shortest way that reads back exactly ("%.9g"). */
int csv_format_float(struct buf *out, float v);

#endif
