/*
 * fuzz.h - the libFuzzer entry point every fuzz_<parser>.c defines
 * (STYLE.md K18). replay.c drives the same function over the committed
 * corpus in every build, so the targets always compile and `make test`
 * replays every seed and every crash ever found.
 */
#ifndef KILN_FUZZ_H
#define KILN_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
