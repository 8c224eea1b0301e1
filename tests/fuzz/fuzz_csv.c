/*
 * fuzz_csv.c - the CSV row reader (width discovery, then rows with one
 * label column) and the float parser.
 */
#include "formats/csv.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct csv_reader r;
    struct kiln_diag d = {0};
    size_t ncols = 0;
    float row[64], label, f;

    csv_reader_init_mem(&r, (const char *)data, size);
    r.max_line = 1 << 16;
    if (csv_next(&r, NULL, 0, NULL, 0, &ncols, &d) == 0 && ncols >= 2 &&
        ncols <= 65) {
        csv_reader_release(&r);
        csv_reader_init_mem(&r, (const char *)data, size);
        while (csv_next(&r, row, ncols - 1, &label, 1, NULL, &d) == 0)
            ;
    }
    csv_reader_release(&r);
    csv_parse_float((const char *)data, size < 64 ? size : 64, true, &f);
    return 0;
}
