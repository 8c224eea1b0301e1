/*
 * recordio.c - the fd reader keeps a window of at least one header; a
 * payload that does not fit is read into a grown window. Memory readers
 * return pointers into the caller's buffer with no copy.
 */
#include "formats/recordio.h"

#include <errno.h>
#include <unistd.h>

#include "base/mem.h"

#define WINDOW (1u << 20)

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

void recordio_reader_init_fd(struct recordio_reader *r, int fd)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->max_record = RECORDIO_MAX_RECORD;
    buf_init(&r->joined, RECORDIO_MAX_RECORD);
}

void recordio_reader_init_mem(struct recordio_reader *r, const void *mem,
                              size_t len)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    r->mem = mem;
    r->mem_len = len;
    r->win_end = len;
    r->eof = true;
    r->max_record = RECORDIO_MAX_RECORD;
    buf_init(&r->joined, RECORDIO_MAX_RECORD);
}

void recordio_reader_release(struct recordio_reader *r)
{
    mem_free(r->win);
    r->win = NULL;
    buf_release(&r->joined);
}

static const uint8_t *base(const struct recordio_reader *r)
{
    return r->fd >= 0 ? r->win : r->mem;
}

/* Makes at least `need` bytes available from win_start (fd readers);
 * returns the number available (less only at end of input). */
static int fill(struct recordio_reader *r, size_t need, size_t *avail,
                struct kiln_diag *d)
{
    if (r->fd < 0 || r->win_end - r->win_start >= need || r->eof) {
        *avail = r->win_end - r->win_start;
        return 0;
    }
    if (r->win_start > 0) {
        memmove(r->win, r->win + r->win_start, r->win_end - r->win_start);
        r->win_end -= r->win_start;
        r->win_start = 0;
    }
    if (need > r->win_cap) {
        size_t cap = r->win_cap ? r->win_cap : WINDOW;
        while (cap < need)
            cap *= 2;
        r->win = xrealloc(r->win, cap);
        r->win_cap = cap;
    }
    while (r->win_end < need && !r->eof) {
        size_t want = r->win_cap - r->win_end;
        ssize_t n = read(r->fd, r->win + r->win_end, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return diag_set(d, KILN_EIO, "cannot read RecordIO input: %s",
                            strerror(errno));
        if (n == 0)
            r->eof = true;
        r->win_end += (size_t)n;
    }
    *avail = r->win_end - r->win_start;
    return 0;
}

/* Reads one framed part: flag and payload (pointer into the window). */
static int part(struct recordio_reader *r, unsigned *flag, const uint8_t **data,
                size_t *len, struct kiln_diag *d)
{
    size_t avail = 0, plen, padded;
    uint32_t magic, word;
    int rc;

    rc = fill(r, 8, &avail, d);
    if (rc)
        return rc;
    if (avail == 0)
        return KILN_CONTINUE;
    if (avail < 8)
        return diag_set(d, KILN_EINVAL,
                        "RecordIO record %llu at byte %llu is truncated "
                        "(header)",
                        (unsigned long long)r->records + 1,
                        (unsigned long long)r->offset);
    magic = le32(base(r) + r->win_start);
    word = le32(base(r) + r->win_start + 4);
    if (magic != RECORDIO_MAGIC)
        return diag_set(d, KILN_EINVAL,
                        "RecordIO record %llu at byte %llu does not start "
                        "with the magic number 0xced7230a",
                        (unsigned long long)r->records + 1,
                        (unsigned long long)r->offset);
    *flag = word >> 29;
    plen = word & ((1u << 29) - 1);
    if (plen > r->max_record)
        return diag_set(d, KILN_ETOOBIG,
                        "RecordIO record %llu at byte %llu is %zu bytes, "
                        "over the limit of %zu",
                        (unsigned long long)r->records + 1,
                        (unsigned long long)r->offset, plen, r->max_record);
    padded = (plen + 3) & ~(size_t)3;
    rc = fill(r, 8 + padded, &avail, d);
    if (rc)
        return rc;
    if (avail < 8 + plen)
        return diag_set(d, KILN_EINVAL,
                        "RecordIO record %llu at byte %llu is truncated: its "
                        "header announces %zu bytes",
                        (unsigned long long)r->records + 1,
                        (unsigned long long)r->offset, plen);
    *data = base(r) + r->win_start + 8;
    *len = plen;
    /* A final record may lack its padding; accept that. */
    size_t step = 8 + (avail >= 8 + padded ? padded : plen);
    r->win_start += step;
    r->offset += step;
    return 0;
}

int recordio_next(struct recordio_reader *r, const uint8_t **data, size_t *len,
                  struct kiln_diag *d)
{
    static const uint8_t magic_bytes[4] = {0x0a, 0x23, 0xd7, 0xce};
    unsigned flag;
    const uint8_t *p;
    size_t n;
    int rc = part(r, &flag, &p, &n, d);

    if (rc)
        return rc;
    if (flag == 0) {
        r->records++;
        *data = p;
        *len = n;
        return 0;
    }
    if (flag != 1)
        return diag_set(d, KILN_EINVAL,
                        "RecordIO record %llu starts with continuation flag "
                        "%u",
                        (unsigned long long)r->records + 1, flag);
    buf_reset(&r->joined);
    for (;;) {
        if (buf_add(&r->joined, p, n) != 0)
            return diag_set(d, KILN_ETOOBIG, "RecordIO record too large");
        if (flag == 3)
            break;
        if (buf_add(&r->joined, magic_bytes, 4) != 0)
            return diag_set(d, KILN_ETOOBIG, "RecordIO record too large");
        rc = part(r, &flag, &p, &n, d);
        if (rc == KILN_CONTINUE)
            return diag_set(d, KILN_EINVAL,
                            "RecordIO input ends inside a split record");
        if (rc)
            return rc;
        if (flag != 2 && flag != 3)
            return diag_set(d, KILN_EINVAL,
                            "RecordIO split record has continuation flag %u",
                            flag);
    }
    r->records++;
    *data = (const uint8_t *)r->joined.data;
    *len = r->joined.len;
    return 0;
}

int recordio_write(struct buf *out, const void *payload, size_t len)
{
    uint8_t head[8];
    static const uint8_t zeros[4];
    size_t pad = ((len + 3) & ~(size_t)3) - len;

    if (len >= RECORDIO_MAX_RECORD)
        return KILN_ETOOBIG;
    head[0] = 0x0a;
    head[1] = 0x23;
    head[2] = 0xd7;
    head[3] = 0xce;
    head[4] = (uint8_t)len;
    head[5] = (uint8_t)(len >> 8);
    head[6] = (uint8_t)(len >> 16);
    head[7] = (uint8_t)(len >> 24);
    int rc = buf_add(out, head, 8);
    if (!rc)
        rc = buf_add(out, payload, len);
    if (!rc && pad)
        rc = buf_add(out, zeros, pad);
    return rc;
}
