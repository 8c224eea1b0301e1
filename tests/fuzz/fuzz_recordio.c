/*
 * fuzz_recordio.c - RecordIO framing and the Record protobuf decoder, with
 * every record densified to a small width as training would.
 */
#include "formats/record.h"
#include "formats/recordio.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct recordio_reader r;
    struct record_ws *ws = record_ws_new();
    struct record_view v;
    struct kiln_diag d = {0};
    const uint8_t *p;
    size_t n;
    float row[16];
    int count = 0;

    recordio_reader_init_mem(&r, data, size);
    r.max_record = 1 << 20;
    while (count++ < 1000 && recordio_next(&r, &p, &n, &d) == 0) {
        if (record_decode(ws, p, n, &v, &d) != 0)
            continue;
        record_to_dense(&v.features, row, 3, &d);
        record_to_dense(&v.features, row, 16, &d);
        if (v.label.n)
            (void)record_value(&v.label, 0);
    }
    recordio_reader_release(&r);
    record_ws_free(ws);
    return 0;
}
