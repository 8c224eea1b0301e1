/*
 * fuzz_artifact.c - the model.tar.gz member reader (libarchive over
 * hostile bytes).
 */
#include "formats/artifact.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_diag d = {0};
    struct buf b = BUF_INIT(1 << 20);

    artifact_member(data, size, "model_algo-1", &b, &d);
    buf_release(&b);
    return 0;
}
