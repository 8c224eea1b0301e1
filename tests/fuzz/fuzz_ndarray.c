/*
 * fuzz_ndarray.c - the model file reader (MXNet NDArray lists).
 */
#include "base/mem.h"
#include "formats/ndarray.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_diag d = {0};
    float *m = NULL;
    size_t rows, cols;

    if (ndarray_read(data, size, &m, &rows, &cols, &d) == 0)
        mem_free(m);
    return 0;
}
