/*
 * fuzz_csv.c - the CSV row reader (width discovery, then rows with one
 * label column) and the float parser. Rows are read twice in lockstep,
 * byte by byte and with SSE4.1 where the CPU has it: the two must agree
 * on every float, every error and its message.
 */
#include <stdlib.h>
#include <string.h>

#include "formats/csv.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct csv_reader r, r2;
    struct kiln_diag d = {0}, d2 = {0};
    size_t ncols = 0;
    float row[64], row2[64], label, label2, f;
    bool was = csv_simd(-1);

    csv_reader_init_mem(&r, (const char *)data, size);
    r.max_line = 1 << 16;
    if (csv_next(&r, NULL, 0, NULL, 0, &ncols, &d) == 0 && ncols >= 2 &&
        ncols <= 65) {
        csv_reader_release(&r);
        csv_reader_init_mem(&r, (const char *)data, size);
        csv_reader_init_mem(&r2, (const char *)data, size);
        r.max_line = r2.max_line = 1 << 16;
        for (;;) {
            memset(row, 0, sizeof(row));
            memset(row2, 0, sizeof(row2));
            label = label2 = 0;
            csv_simd(1);
            int rc = csv_next(&r, row, ncols - 1, &label, 1, NULL, &d);
            csv_simd(0);
            int rc2 = csv_next(&r2, row2, ncols - 1, &label2, 1, NULL, &d2);
            if (rc != rc2 || (rc && strcmp(d.msg, d2.msg) != 0) ||
                memcmp(row, row2, sizeof(row)) != 0 ||
                memcmp(&label, &label2, sizeof(label)) != 0)
                abort();
            if (rc)
                break;
        }
        csv_reader_release(&r2);
    }
    csv_reader_release(&r);
    csv_simd(was);
    csv_parse_float((const char *)data, size < 64 ? size : 64, true, &f);
    return 0;
}
