/* cpu_x86_avx512.c: the AVX-512 variant of the vector-width-bound cpu ops (see
 * cpu_internal.h, "SIMD variants"). Empty unless the build targets x86-64 with GCC below
 * AVX-512; cpu_dispatch.c calls these only where the CPU has AVX-512F. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX512F__)
#pragma GCC target("avx512f")
#define IT_CPU_SUFFIX _avx512
#include "kernels/cpu/cpu_attn.c"
#include "kernels/cpu/cpu_norm.c"
#include "kernels/cpu/cpu_bf16_norm.c"
#else
typedef int it_cpu_x86_avx512_unused; /* ISO C wants a non-empty file */
#endif
