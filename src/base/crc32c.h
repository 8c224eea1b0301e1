/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum S3 clients send as
 * x-amz-checksum-crc32c. Debian has no packaged library for it, so this is
 * the one checksum kiln computes itself: with SSE4.2's crc32 instruction
 * where the CPU has it, else a byte table. Any thread.
 */
#ifndef KILN_CRC32C_H
#define KILN_CRC32C_H

#include "base/kiln.h"

/* Continues a CRC-32C over data; start with crc = 0. */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t len);

/* Whether the SSE4.2 path is on; on: 0 turns it off, 1 back on where the
 * CPU has it, -1 only asks (see base/cpu.h). For tests. */
bool crc32c_simd(int on);

/* The CRC-32C of A then B from crc_a, crc_b and B's length (as zlib's
 * crc32_combine does for CRC-32): S3's full-object checksum of a
 * multipart upload from its parts' checksums. */
uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

#endif
