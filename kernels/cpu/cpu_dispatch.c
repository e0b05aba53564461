/* cpu_dispatch.c: picks the SIMD variant of the cpu ops at run time (see cpu_internal.h,
 * "SIMD variants"): it_cpu_isa() once per call, then the widest variant compiled in. */
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_internal.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define X86_VARIANTS 1
#endif
#if defined(X86_VARIANTS) && !defined(__AVX2__)
#define HAVE_AVX2_VARIANT 1
#endif
#if defined(X86_VARIANTS) && !defined(__AVX512F__)
#define HAVE_AVX512_VARIANT 1
#endif

int it_cpu_isa(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    const char *cap = getenv("IT_KERNELS_ISA");
    int max = !cap                   ? IT_ISA_AVX512BF16
              : !strcmp(cap, "base")   ? IT_ISA_BASE
              : !strcmp(cap, "avx2")   ? IT_ISA_AVX2
              : !strcmp(cap, "avx512") ? IT_ISA_AVX512
                                       : IT_ISA_AVX512BF16;
    __builtin_cpu_init();
    if (max >= IT_ISA_AVX512BF16 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16"))
        return IT_ISA_AVX512BF16;
    if (max >= IT_ISA_AVX512 && __builtin_cpu_supports("avx512f"))
        return IT_ISA_AVX512;
    if (max >= IT_ISA_AVX2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return IT_ISA_AVX2;
#endif
    return IT_ISA_BASE;
}

/* Declare name_base/_avx2/_avx512 and define name() calling the widest available one. */
#ifdef HAVE_AVX512_VARIANT
#define DECL512(name, params) int name##_avx512 params;
#define CALL512(name, args) if (isa >= IT_ISA_AVX512) return name##_avx512 args;
#else
#define DECL512(name, params)
#define CALL512(name, args)
#endif
#ifdef HAVE_AVX2_VARIANT
#define DECL2(name, params) int name##_avx2 params;
#define CALL2(name, args) if (isa >= IT_ISA_AVX2) return name##_avx2 args;
#else
#define DECL2(name, params)
#define CALL2(name, args)
#endif
#define DISPATCH(name, params, args)                                                         \
    int name##_base params;                                                                  \
    DECL2(name, params)                                                                      \
    DECL512(name, params)                                                                    \
    int name params                                                                          \
    {                                                                                        \
        int isa = it_cpu_isa();                                                              \
        (void)isa;                                                                           \
        CALL512(name, args)                                                                  \
        CALL2(name, args)                                                                    \
        return name##_base args;                                                             \
    }

/* shapes: the table in it_kernels.h */
DISPATCH(it_cpu_mha,
         (it_ctx *ctx, int n, int s, int nh, int hd, int hw, const float *q, const float *k, const float *v, float *y),
         (ctx, n, s, nh, hd, hw, q, k, v, y))
DISPATCH(it_cpu_attn_spatial,
         (it_ctx *ctx, int n, int c, int t, int hw, const float *q, const float *k, const float *v, float *y),
         (ctx, n, c, t, hw, q, k, v, y))
DISPATCH(it_cpu_attn_temporal,
         (it_ctx *ctx, int n, int c, int t, int hw, const float *q, const float *k, const float *v, float *y),
         (ctx, n, c, t, hw, q, k, v, y))
DISPATCH(it_cpu_rope2d,
         (it_ctx *ctx, int s, int nh, int hd, int hw, int w, int ld, const float *x, const float *cs, const float *sn,
          float *y),
         (ctx, s, nh, hd, hw, w, ld, x, cs, sn, y))
DISPATCH(it_cpu_groupnorm,
         (it_ctx *ctx, int n, int c, int t, int hw, const float *x, const float *gamma, const float *beta, float eps,
          int silu, float *y),
         (ctx, n, c, t, hw, x, gamma, beta, eps, silu, y))
DISPATCH(it_cpu_silu, (it_ctx *ctx, size_t n, const float *x, float *y), (ctx, n, x, y))
DISPATCH(it_cpu_add, (it_ctx *ctx, size_t n, const float *a, const float *b, float *y), (ctx, n, a, b, y))
DISPATCH(it_cpu_scale, (it_ctx *ctx, size_t n, const float *x, float s, float *y), (ctx, n, x, s, y))
DISPATCH(it_cpu_rmsnorm, (it_ctx *ctx, int s, int d, const float *x, const float *wt, float eps, float *y),
         (ctx, s, d, x, wt, eps, y))
DISPATCH(it_cpu_bf16_groupnorm,
         (it_ctx *ctx, int n, int c, int t, int hw, const void *x, const void *gamma, const void *beta, float eps,
          int silu, void *y),
         (ctx, n, c, t, hw, x, gamma, beta, eps, silu, y))
DISPATCH(it_cpu_bf16_silu, (it_ctx *ctx, size_t n, const void *x, void *y), (ctx, n, x, y))
DISPATCH(it_cpu_bf16_add, (it_ctx *ctx, size_t n, const void *a, const void *b, void *y), (ctx, n, a, b, y))
DISPATCH(it_cpu_bf16_scale, (it_ctx *ctx, size_t n, const void *x, float s, void *y), (ctx, n, x, s, y))
