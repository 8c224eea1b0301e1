/*
 * fuzz_config.c - the configuration-file parser.
 */
#include "cmd/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kiln_config c;
    struct kiln_diag d = {0};
    config_init(&c);
    config_parse_text(&c, (const char *)data, size, "fuzz", &d);
    config_release(&c);
    return 0;
}
