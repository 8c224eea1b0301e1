/*
 * fuzz_dataproc.c - batch transform's DataProcessing: the input is
 * "<input filter>\n<output filter>\n<record>\n<answer>", its first byte's
 * low bits choosing CSV or JSON records and answers and the join.
 */
#include <string.h>

#include "formats/dataproc.h"
#include "fuzz.h"

/* The next '\n'-ended piece of [*p, end), as a C string in out. */
static void piece(const uint8_t **p, const uint8_t *end, char *out, size_t size,
                  size_t *len)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    if (n >= size)
        n = size - 1;
    memcpy(out, *p, n);
    out[n] = '\0';
    *len = n;
    *p = nl ? nl + 1 : end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    const uint8_t *p = data + 1, *end = data + size;
    char in_f[128], out_f[128], rec[4096], ans[4096];
    size_t n, rlen, alen;
    piece(&p, end, in_f, sizeof(in_f), &n);
    piece(&p, end, out_f, sizeof(out_f), &n);
    piece(&p, end, rec, sizeof(rec), &rlen);
    piece(&p, end, ans, sizeof(ans), &alen);

    struct dataproc dp;
    struct kiln_diag d = {0};
    struct buf out = BUF_INIT(1 << 20);
    if (dataproc_init(&dp, in_f, out_f, mode & 1, mode & 2, mode & 4, &d) ==
        0) {
        dataproc_input(&dp, rec, rlen, &out, &d);
        dataproc_output(&dp, rec, rlen, ans, alen, &out, &d);
        dataproc_release(&dp);
    }
    buf_release(&out);
    return 0;
}
