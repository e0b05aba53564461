/* cpu_x86_avx2.c: the AVX2+FMA variant of the vector-width-bound cpu ops (see
 * cpu_internal.h, "SIMD variants"). Empty unless the build targets x86-64 with GCC below
 * AVX2; cpu_dispatch.c calls these only where the CPU has AVX2 and FMA. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__AVX2__)
#pragma GCC target("avx2,fma")
#define IT_CPU_SUFFIX _avx2
#include "kernels/cpu/cpu_attn.c"
#include "kernels/cpu/cpu_norm.c"
#include "kernels/cpu/cpu_bf16_norm.c"
#else
typedef int it_cpu_x86_avx2_unused; /* ISO C wants a non-empty file */
#endif
