/*
 * fuzz_split.c - batch transform's splitter: the input's first byte picks
 * the split type, batch strategy, payload limit and gzip; the rest is the
 * object, read through a temporary file as the runner reads it.
 */
#include <stdlib.h>
#include <unistd.h>

#include "formats/split.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    char path[] = "/tmp/kiln-fuzz-split-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    unlink(path);
    if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
        close(fd);
        return 0;
    }
    lseek(fd, 0, SEEK_SET);

    struct splitter s;
    struct kiln_diag d = {0};
    struct buf batch = BUF_INIT(1 << 16);
    size_t records, total = 0;
    static const size_t limits[] = {1, 7, 64, 4096};
    int rc = splitter_init(&s, fd, mode & 0x40, (enum split_type)(mode & 3),
                           mode & 4, limits[(mode >> 3) & 3], &d);
    while (!rc && (rc = splitter_next(&s, &batch, &records, &d)) == 0) {
        if (batch.len > limits[(mode >> 3) & 3] || records == 0)
            abort();
        total += records;
    }
    (void)total;
    splitter_release(&s);
    buf_release(&batch);
    close(fd);
    return 0;
}
