/*
 * fuzz_manifest.c - ManifestFile and AugmentedManifestFile parsers.
 */
#include "formats/manifest.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const attrs[] = {"source-ref", "label", NULL};
    struct manifest m;
    struct kiln_diag d = {0};
    if (manifest_parse((const char *)data, size, &m, &d) == 0)
        manifest_release(&m);
    if (manifest_parse_augmented((const char *)data, size, attrs, &m, &d) == 0)
        manifest_release(&m);
    return 0;
}
