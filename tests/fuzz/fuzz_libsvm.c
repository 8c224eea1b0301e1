/*
 * fuzz_libsvm.c - the libsvm reader.
 */
#include "formats/libsvm.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct csr m;
    struct kiln_diag d = {0};
    if (libsvm_parse((const char *)data, size, &m, &d) == 0)
        csr_release(&m);
    return 0;
}
