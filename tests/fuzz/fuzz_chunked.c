/*
 * fuzz_chunked.c - the aws-chunked decoder, fed in pieces whose sizes come
 * from the input, in both the signed and the unsigned variant.
 */
#include "auth/chunked.h"
#include "fuzz.h"

static int sink(void *ctx, const char *data, size_t len)
{
    size_t *total = ctx;
    (void)data;
    *total += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t key[32] = {1, 2, 3};
    char v[128];

    for (int sign = 0; sign < 2; sign++) {
        struct chunked c;
        struct kiln_diag d = {0};
        size_t total = 0, off = 0, step = size ? (size_t)data[0] % 7 + 1 : 1;
        int rc = 0;

        chunked_init(&c, sign, key, "20250101T000000Z",
                     "20250101/us-east-1/s3/aws4_request",
                     "0000000000000000000000000000000000000000000000000000000"
                     "000000000",
                     sink, &total);
        while (off < size && rc == 0) {
            size_t n = size - off < step ? size - off : step;
            rc = chunked_feed(&c, (const char *)data + off, n, &d);
            off += n;
        }
        if (rc == 0)
            chunked_finish(&c, &d);
        chunked_trailer(&c, "x-amz-checksum-crc32", v, sizeof(v));
        chunked_release(&c);
    }
    return 0;
}
