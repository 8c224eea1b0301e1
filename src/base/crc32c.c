/*
 * crc32c.c - reflected polynomial 0x82F63B78; the table is built once at
 * first use (pthread_once) so there is no start-up hook.
 */
#include "base/crc32c.h"

#include <pthread.h>
#include <string.h>

#include "base/cpu.h"

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[i] = c;
    }
}

static uint32_t update_table(uint32_t crc, const uint8_t *p, size_t len)
{
    pthread_once(&table_once, build);
    crc = ~crc;
    while (len--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
/* SSE4.2's crc32 instruction is CRC-32C: 8 bytes an instruction, about
 * twenty times the table's speed. */
__attribute__((target("sse4.2"))) static uint32_t
update_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = ~crc;
    for (; len && ((uintptr_t)p & 7); len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    for (; len >= 8; len -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
    }
    for (; len; len--)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

static bool sse42_probe(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2");
}

static struct cpu_switch sse42 = CPU_SWITCH_INIT(sse42_probe);
#endif

uint32_t crc32c_update(uint32_t crc, const void *data, size_t len)
{
#if defined(__x86_64__)
    if (cpu_switch_on(&sse42))
        return update_sse42(crc, data, len);
#endif
    return update_table(crc, data, len);
}

bool crc32c_simd(int on)
{
#if defined(__x86_64__)
    return cpu_switch_set(&sse42, on);
#else
    (void)on;
    return false;
#endif
}

/* GF(2) matrix times vector: the 32x32 matrix `m` (one column a word). */
static uint32_t gf2_times(const uint32_t *m, uint32_t v)
{
    uint32_t sum = 0;
    for (; v; v >>= 1, m++)
        if (v & 1)
            sum ^= *m;
    return sum;
}

static void gf2_square(uint32_t *sq, const uint32_t *m)
{
    for (int n = 0; n < 32; n++)
        sq[n] = gf2_times(m, m[n]);
}

/*
 * Appending len_b zero bytes to A multiplies its CRC register by a fixed
 * matrix; square that operator for each bit of len_b (zlib's method),
 * then add B's CRC. The ~ of update() cancels out: what is combined are
 * the finished CRCs.
 */
uint32_t crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
    uint32_t even[32], odd[32], row = 1;

    if (len_b == 0)
        return crc_a;
    odd[0] = 0x82F63B78u; /* one zero bit */
    for (int n = 1; n < 32; n++) {
        odd[n] = row;
        row <<= 1;
    }
    gf2_square(even, odd); /* two zero bits */
    gf2_square(odd, even); /* four */
    do {
        gf2_square(even, odd); /* one zero byte, then 2, 4, ... */
        if (len_b & 1)
            crc_a = gf2_times(even, crc_a);
        len_b >>= 1;
        if (!len_b)
            break;
        gf2_square(odd, even);
        if (len_b & 1)
            crc_a = gf2_times(odd, crc_a);
        len_b >>= 1;
    } while (len_b);
    return crc_a ^ crc_b;
}
