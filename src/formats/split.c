/*
 * split.c - batch transform's splitter (see split.h).
 *
 * The window holds the input not yet cut into records: win[start, end).
 * fill() reads more behind it, first moving what is left to the front,
 * and grows the window only as far as one record needs, at most
 * max_payload plus the read size.
 */
#include "formats/split.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "base/mem.h"
#include "formats/recordio.h"

#define READ_SIZE ((size_t)256 * 1024)

int split_type_parse(const char *name, enum split_type *out)
{
    static const struct {
        const char *name;
        enum split_type type;
    } types[] = {{"None", SPLIT_NONE},
                 {"Line", SPLIT_LINE},
                 {"RecordIO", SPLIT_RECORDIO},
                 {"TFRecord", SPLIT_TFRECORD}};
    for (size_t i = 0; i < KILN_ARRAY_LEN(types); i++)
        if (!name || strcmp(name, types[i].name) == 0) {
            *out = name ? types[i].type : SPLIT_NONE;
            return 0;
        }
    return KILN_EINVAL;
}

int splitter_init(struct splitter *s, int fd, bool gzip, enum split_type type,
                  bool single, size_t max_payload, struct kiln_diag *d)
{
    memset(s, 0, sizeof(*s));
    s->type = type;
    s->single = single;
    s->max_payload = max_payload;
    s->fd = fd;
    buf_init(&s->rec, max_payload + 1);
    if (gzip) {
        int fd2 = dup(fd);
        s->gz = fd2 >= 0 ? gzdopen(fd2, "rb") : NULL;
        if (!s->gz) {
            if (fd2 >= 0)
                close(fd2);
            return diag_set(d, KILN_EIO, "cannot read the input: %s",
                            strerror(errno));
        }
        gzbuffer(s->gz, 128 * 1024);
    }
    return 0;
}

void splitter_release(struct splitter *s)
{
    if (s->gz)
        gzclose(s->gz);
    mem_free(s->win);
    buf_release(&s->rec);
    memset(s, 0, sizeof(*s));
}

static size_t avail(const struct splitter *s)
{
    return s->end - s->start;
}

/* Reads until at least `need` bytes are in the window or the input ends:
 * 0, or KILN_EIO / KILN_EINVAL (bad gzip data). */
static int fill(struct splitter *s, size_t need, struct kiln_diag *d)
{
    while (avail(s) < need && !s->eof) {
        if (s->start > 0) {
            memmove(s->win, s->win + s->start, avail(s));
            s->end -= s->start;
            s->start = 0;
        }
        if (s->win_cap - s->end < READ_SIZE) {
            s->win_cap = s->end + READ_SIZE;
            s->win = xrealloc(s->win, s->win_cap);
        }
        ssize_t n;
        if (s->gz) {
            int got = gzread(s->gz, s->win + s->end, (unsigned)READ_SIZE);
            if (got < 0) {
                int err;
                const char *msg = gzerror(s->gz, &err);
                return diag_set(d, KILN_EINVAL,
                                "the input is not valid gzip data (%s)",
                                msg ? msg : "unknown error");
            }
            n = got;
        } else {
            n = read(s->fd, s->win + s->end, READ_SIZE);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return diag_set(d, KILN_EIO, "cannot read the input: %s",
                                strerror(errno));
        }
        if (n == 0)
            s->eof = true;
        s->end += (size_t)n;
    }
    return 0;
}

static int too_big(struct splitter *s, uint64_t size, struct kiln_diag *d)
{
    return diag_set(d, KILN_ETOOBIG,
                    "The record at byte %llu of the input is %s%llu bytes, "
                    "more than the largest payload (MaxPayloadInMB) of %zu "
                    "bytes.",
                    (unsigned long long)s->offset,
                    size > s->max_payload ? "at least " : "",
                    (unsigned long long)size, s->max_payload);
}

static int truncated(const struct splitter *s, const char *format,
                     struct kiln_diag *d)
{
    return diag_set(d, KILN_EINVAL, "The %s input is truncated at byte %llu.",
                    format, (unsigned long long)s->offset);
}

/* Moves n bytes from the window into the record. */
static void take(struct splitter *s, size_t n)
{
    buf_add(&s->rec, s->win + s->start, n);
    s->start += n;
    s->offset += n;
}

static int next_line(struct splitter *s, struct kiln_diag *d)
{
    size_t scanned = 0;
    for (;;) {
        uint8_t *nl = avail(s) > scanned ? memchr(s->win + s->start + scanned,
                                                  '\n', avail(s) - scanned)
                                         : NULL;
        if (nl) {
            size_t n = (size_t)(nl - (s->win + s->start));
            bool blank = true;
            for (size_t i = 0; i < n && blank; i++)
                blank = s->win[s->start + i] == '\r' ||
                        s->win[s->start + i] == ' ' ||
                        s->win[s->start + i] == '\t';
            if (blank) { /* skipped */
                s->start += n + 1;
                s->offset += n + 1;
                scanned = 0;
                continue;
            }
            if (n + 1 > s->max_payload)
                return too_big(s, n + 1, d);
            take(s, n + 1);
            return 0;
        }
        scanned = avail(s);
        if (s->eof)
            break;
        if (scanned + 1 > s->max_payload)
            return too_big(s, scanned + 1, d);
        int rc = fill(s, scanned + 1, d);
        if (rc)
            return rc;
    }
    /* The last line, without its newline. */
    size_t n = avail(s);
    bool blank = true;
    for (size_t i = 0; i < n && blank; i++)
        blank = s->win[s->start + i] == '\r' || s->win[s->start + i] == ' ' ||
                s->win[s->start + i] == '\t';
    if (blank) {
        s->start = s->end;
        return KILN_CONTINUE;
    }
    if (n + 1 > s->max_payload)
        return too_big(s, n + 1, d);
    take(s, n);
    buf_addc(&s->rec, '\n');
    return 0;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* One RecordIO record, its parts joined: a first part (flag 1) is
 * followed by middle ones (2) and a last one (3). */
static int next_recordio(struct splitter *s, struct kiln_diag *d)
{
    bool first = true;
    for (;;) {
        int rc = fill(s, 8, d);
        if (rc)
            return rc;
        if (avail(s) == 0 && first)
            return KILN_CONTINUE;
        if (avail(s) < 8)
            return truncated(s, "RecordIO", d);
        const uint8_t *h = s->win + s->start;
        if (le32(h) != RECORDIO_MAGIC)
            return diag_set(d, KILN_EINVAL,
                            "The input is not RecordIO: no magic number "
                            "0xced7230a at byte %llu.",
                            (unsigned long long)s->offset);
        uint32_t flag = le32(h + 4) >> 29, len = le32(h + 4) & 0x1fffffffu;
        uint64_t size = 8 + (((uint64_t)len + 3) & ~(uint64_t)3);
        if ((first && flag != 0 && flag != 1) ||
            (!first && flag != 2 && flag != 3))
            return diag_set(d, KILN_EINVAL,
                            "The RecordIO input has a record part out of "
                            "order at byte %llu.",
                            (unsigned long long)s->offset);
        if (s->rec.len + size > s->max_payload)
            return too_big(s, s->rec.len + size, d);
        rc = fill(s, (size_t)size, d);
        if (rc)
            return rc;
        if (avail(s) < size)
            return truncated(s, "RecordIO", d);
        take(s, (size_t)size);
        if (flag == 0 || flag == 3)
            return 0;
        first = false;
    }
}

static int next_tfrecord(struct splitter *s, struct kiln_diag *d)
{
    int rc = fill(s, 12, d);
    if (rc)
        return rc;
    if (avail(s) == 0)
        return KILN_CONTINUE;
    if (avail(s) < 12)
        return truncated(s, "TFRecord", d);
    const uint8_t *h = s->win + s->start;
    uint64_t len = le32(h) | (uint64_t)le32(h + 4) << 32;
    if (len > s->max_payload || 16 + len > s->max_payload)
        return too_big(s, len + 16, d);
    rc = fill(s, (size_t)len + 16, d);
    if (rc)
        return rc;
    if (avail(s) < len + 16)
        return truncated(s, "TFRecord", d);
    take(s, (size_t)len + 16);
    return 0;
}

static int next_whole(struct splitter *s, struct kiln_diag *d)
{
    for (;;) {
        if (avail(s) > s->max_payload)
            return too_big(s, avail(s), d);
        if (s->eof)
            break;
        int rc = fill(s, avail(s) + 1, d);
        if (rc)
            return rc;
    }
    /* An empty object has no record (and gets an empty answer). */
    if (avail(s) == 0)
        return KILN_CONTINUE;
    take(s, avail(s));
    return 0;
}

static int next_record(struct splitter *s, struct kiln_diag *d)
{
    buf_reset(&s->rec);
    switch (s->type) {
    case SPLIT_LINE:
        return next_line(s, d);
    case SPLIT_RECORDIO:
        return next_recordio(s, d);
    case SPLIT_TFRECORD:
        return next_tfrecord(s, d);
    case SPLIT_NONE:
        break;
    }
    return next_whole(s, d);
}

int splitter_next(struct splitter *s, struct buf *out, size_t *records,
                  struct kiln_diag *d)
{
    buf_reset(out);
    *records = 0;
    if (s->held) {
        s->held = false;
        if (buf_add(out, s->rec.data, s->rec.len) != 0)
            return diag_set(d, KILN_ETOOBIG, "a mini-batch is too large");
        (*records)++;
    }
    while (!(s->single && *records == 1)) {
        int rc = next_record(s, d);
        if (rc == KILN_CONTINUE)
            break;
        if (rc)
            return rc;
        if (out->len + s->rec.len > s->max_payload) {
            s->held = true;
            return 0;
        }
        if (buf_add(out, s->rec.data, s->rec.len) != 0)
            return diag_set(d, KILN_ETOOBIG, "a mini-batch is too large");
        (*records)++;
    }
    return *records ? 0 : KILN_CONTINUE;
}
