/*
 * fuzz_jsonrows.c - JSON and JSON Lines inference payloads.
 */
#include "formats/jsonrows.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf rows = BUF_INIT(1 << 20);
    struct kiln_diag d = {0};
    size_t n;
    jsonrows_parse((const char *)data, size, false, 4, &rows, &n, &d);
    buf_reset(&rows);
    jsonrows_parse((const char *)data, size, true, 4, &rows, &n, &d);
    buf_release(&rows);
    return 0;
}
