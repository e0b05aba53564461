/* hash.c: 64-bit FNV-1a, the one hash behind source ids, model hashes and token checksums. */
#include "infotok/core.h"

uint64_t it_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}
