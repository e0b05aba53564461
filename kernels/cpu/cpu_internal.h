/* cpu_internal.h: what the cpu backend's files share: the SIMD vector type (GCC/Clang vector
 * extensions, so the same source becomes SSE, AVX2 or AVX-512 code depending on -march; no
 * intrinsics, no -march=native by default), a vectorised exp, per-thread scratch from the
 * context, the blocked SGEMM driver that conv3d and linear are built on, and the fp32 and
 * bf16 entry points the table (cpu_backend.c) dispatches to. Not a public interface.
 *
 * Scratch: no op allocates; buffers come from the context's slots (kernels_internal.h),
 * grown on first use and kept, so a steady state of same-shape windows page-faults nothing.
 * Per-thread scratch is one slot cut into it_cpu_max_threads() 64-byte aligned pieces,
 * piece it_cpu_thread_num() for the thread inside a parallel region. */
#ifndef IT_CPU_INTERNAL_H
#define IT_CPU_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_internal.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Threads a parallel region started now may have, and this thread's number in it. */
static inline int it_cpu_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}
static inline int it_cpu_thread_num(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}
/* Bytes of one thread's piece of per-thread scratch (a multiple of 64). */
static inline size_t it_cpu_piece(size_t bytes)
{
    return (bytes + 63) / 64 * 64;
}

/* SIMD variants. On x86-64 with GCC, the files whose speed hangs on the vector width
 * (cpu_attn.c, cpu_norm.c, cpu_bf16_norm.c) are compiled again by cpu_x86_avx2.c and cpu_x86_avx512.c under
 * "#pragma GCC target", which also sets __AVX2__/__AVX512F__ and so IT_VL below. Their op
 * definitions are named IT_CPU_V(it_cpu_op): it_cpu_op_base in the ordinary build,
 * it_cpu_op_avx2 / _avx512 in the variants; cpu_dispatch.c defines it_cpu_op itself and
 * calls the widest variant it_cpu_isa() allows. */
#ifndef IT_CPU_SUFFIX
#define IT_CPU_SUFFIX _base
#endif
#define IT_CPU_CAT2(a, b) a##b
#define IT_CPU_CAT(a, b) IT_CPU_CAT2(a, b)
#define IT_CPU_V(name) IT_CPU_CAT(name, IT_CPU_SUFFIX)
enum { IT_ISA_BASE = 0, IT_ISA_AVX2 = 1, IT_ISA_AVX512 = 2, IT_ISA_AVX512BF16 = 3 };
/* The widest variant this CPU runs, capped by the environment variable
 * IT_KERNELS_ISA=base|avx2|avx512 (the tests check every variant on one machine).
 * IT_ISA_AVX512BF16 (AVX-512 with the bf16 dot product) adds the native bf16 kernels of
 * cpu_bf16_native.c; the fp32 variants are those of AVX-512. */
int it_cpu_isa(void);

/* Floats per vector: one register of the widest unit the build targets (SSE2 by default,
 * AVX/AVX2 or AVX-512 with --enable-native). */
#if defined(__AVX512F__)
#define IT_VL 16
#elif defined(__AVX__)
#define IT_VL 8
#else
#define IT_VL 4
#endif
typedef float it_vf __attribute__((vector_size(IT_VL * sizeof(float))));
typedef int32_t it_vi __attribute__((vector_size(IT_VL * sizeof(int32_t))));

static inline it_vf vf_load(const float *p) /* p: any alignment */
{
    it_vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vf_store(float *p, it_vf v)
{
    memcpy(p, &v, sizeof v);
}
static inline it_vf vf_set1(float x)
{
    return x - (it_vf){0}; /* not 0 + x: that cannot fold (-0 + 0 = +0) and costs an add */
}
static inline it_vf vf_max(it_vf a, it_vf b)
{
    it_vi m = a < b; /* all-ones lanes where b wins */
    return (it_vf)(((it_vi)a & ~m) | ((it_vi)b & m));
}
/* Each lane rounded to bf16 (nearest even; NaN stays a quiet NaN) and widened back to fp32:
 * it_bf16_round, lane by lane (the attention's probabilities in bf16). */
static inline it_vf vf_bf16_round(it_vf x)
{
    typedef uint32_t vu __attribute__((vector_size(IT_VL * sizeof(uint32_t))));
    vu u = (vu)x, r = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    vu nan = (vu)((u & 0x7fffffffu) > 0x7f800000u), q = (u | 0x400000u) & 0xffff0000u;
    return (it_vf)((r & ~nan) | (q & nan));
}
/* 64-byte aligned scratch; the size is rounded up to a multiple of 64 as C11's
 * aligned_alloc (and ASan) require. Free with free(). */
static inline void *it_cpu_alloc(size_t bytes)
{
    return aligned_alloc(64, (bytes + 63) / 64 * 64);
}

/* exp(x) for x in any range (clamped to [-87.3, 88.3]); relative error ~2e-7 (Cephes
 * polynomial). Lanes below -87.3 give ~1e-38, not 0: callers that need exact zeros (masked
 * keys) must not feed them in. */
static inline it_vf vf_exp(it_vf x)
{
    x = vf_max(x, vf_set1(-87.3f));
    it_vi hi = x > vf_set1(88.3f);
    x = (it_vf)(((it_vi)x & ~hi) | ((it_vi)vf_set1(88.3f) & hi));
    const it_vf magic = vf_set1(12582912.0f); /* 1.5*2^23: adding it rounds to an integer */
    it_vf t = x * 1.44269504088896341f;
    it_vf nf = (t + magic) - magic;
    it_vf r = x - nf * 0.693359375f - nf * -2.12194440e-4f;
    it_vf p = vf_set1(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    it_vi n = __builtin_convertvector(nf, it_vi);
    it_vi pow2 = (n + 127) << 23;
    return p * (it_vf)pow2;
}

/* ---- SGEMM: C[M][N] = A[M][K] B[K][N] (+ bias) ----
 * A element (i, l) is at a[i*ars + l*acs] (row-major: ars = lda, acs = 1). B is never read directly: pack_b writes the slice
 * rows [k0, k0+kc) x columns [n0, n0+nc) as ceil(nc/IT_GEMM_NR) panels of [kc][IT_GEMM_NR]
 * floats, zero-padded past nc; that is where conv3d does its im2col. Each C element is
 * produced by one thread with a fixed summation order, whatever the thread count. Scratch:
 * the GEMM_* slots of ctx. */
#define IT_GEMM_MR 6
#define IT_GEMM_NR 32 /* two AVX-512 vectors; narrower units make several passes */
typedef void (*it_pack_b_fn)(const void *pctx, int k0, int kc, int n0, int nc, float *dst);
/* a [M][K] (strided), bias_m [M] or NULL, bias_n [N] or NULL -> c [M][ldc] */
int it_cpu_gemm(it_ctx *ctx, int m, int n, int k, const float *a, size_t ars, size_t acs,
                it_pack_b_fn pack_b, const void *pctx, const float *bias_m, const float *bias_n,
                float *c, size_t ldc);
/* pack_b for a row-major B [K][ldb]: pctx points at a struct it_gemm_rowmajor */
struct it_gemm_rowmajor {
    const float *b;
    size_t ldb;
};
void it_gemm_pack_rowmajor(const void *pctx, int k0, int kc, int n0, int nc, float *dst);
/* pack_b for B = Wt where W is row-major [N][ldw] (PyTorch Linear weights) */
void it_gemm_pack_transposed(const void *pctx, int k0, int kc, int n0, int nc, float *dst);

/* cpu fp32 entry points (shapes: the table in it_kernels.h, tensors float). The SIMD-variant
 * ones are dispatched in cpu_dispatch.c. */
int it_cpu_conv3d(it_ctx *, const it_conv3d_params *p, const float *x, const float *wt,
                  const float *bias, float *y);
int it_cpu_linear(it_ctx *, int rows, int k, int m, const float *x, const float *wt,
                  const float *bias, float *y);
int it_cpu_swiglu(it_ctx *, int rows, int d, int f, const float *x, const float *w1,
                  const float *w3, const float *w2, float *y);
int it_cpu_groupnorm(it_ctx *, int n, int c, int t, int hw, const float *x, const float *gamma,
                     const float *beta, float eps, int silu, float *y);
int it_cpu_silu(it_ctx *, size_t len, const float *x, float *y);
int it_cpu_add(it_ctx *, size_t len, const float *a, const float *b, float *y);
int it_cpu_scale(it_ctx *, size_t len, const float *x, float s, float *y);
int it_cpu_rmsnorm(it_ctx *, int rows, int d, const float *x, const float *wt, float eps, float *y);
int it_cpu_avgpool(it_ctx *, int nc, int t, int h, int w, int kt, int kh, int kw, int tpad,
                   const float *x, float *y);
int it_cpu_upsample_hw(it_ctx *, int nc, int t, int h, int w, const float *x, float *y);
int it_cpu_upsample_t(it_ctx *, int nc, int t, int hw, const float *x, float *y);
int it_cpu_haar_fwd(it_ctx *, int n, int t, int h, int w, float scale, const float *x, float *y);
int it_cpu_haar_inv(it_ctx *, int n, int t, int h, int w, float scale, const float *x, float *y);
int it_cpu_attn_spatial(it_ctx *, int n, int c, int t, int hw, const float *q, const float *k,
                        const float *v, float *y);
int it_cpu_attn_temporal(it_ctx *, int n, int c, int t, int hw, const float *q, const float *k,
                         const float *v, float *y);
int it_cpu_mha(it_ctx *, int n, int s, int nh, int hd, int hw, const float *q, const float *k,
               const float *v, float *y);
int it_cpu_rope2d(it_ctx *, int rows, int nh, int hd, int hw, int w, int ld, const float *x,
                  const float *cs, const float *sn, float *y);

/* ---- bf16 ----
 * The table's bf16 entries (cpu_backend.c) call it_cpu_bf16_<op>, with the table's own
 * signature (tensors it_bf16). cpu_bf16_wrap.c defines each of them as the fp32 cpu op through
 * the bf16 wrappers (exact oracle rounding points); a native bf16 kernel (AVX512-BF16 etc.)
 * replaces an op by taking its it_cpu_bf16_<op> definition out of cpu_bf16_wrap.c into its own
 * file. Native kernels must round where ref bf16 rounds (it_kernels.h, "Precision"), may
 * keep prepared weights through the table's prepare_weight hook (it_cpu_bf16_prepare_weight;
 * state in it_host_priv.state) and have the EXT* scratch slots to themselves. */
/* The bf16 pair (lo, hi) as one word, lo in the low half: vdpbf16ps's operand layout. */
static inline uint32_t it_bf16_pair(it_bf16 lo, it_bf16 hi)
{
    return (uint32_t)lo | (uint32_t)hi << 16;
}
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* The low n of 16 lanes (none for n <= 0). */
static inline __mmask16 it_cpu_low16(int n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1u);
}
/* Each lane of x rounded to bf16 as it_bf16_from_f32 rounds (nearest even, NaN kept quiet),
 * left in the high half of the lane (the low half is garbage): the native kernels' rounding. */
__attribute__((target("avx512f"))) static inline __m512i it_cpu_bf16_round_hi(__m512 x)
{
    __m512i u = _mm512_castps_si512(x);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), odd);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)),
                                            _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(u, _mm512_set1_epi32(0x400000)));
}
#endif
/* The native AVX512-BF16 kernels (cpu_bf16_native.c; x86-64 with GCC/Clang only), called by
 * cpu_bf16_wrap.c's conv3d, linear and swiglu where it_cpu_isa() == IT_ISA_AVX512BF16. */
/* dst[j] = bf16(row[j] + bm (+ bias_n[j])), j < n: the native GEMM's output rounding (needs
 * AVX512-BW/VL; x86-64 GCC builds only) */
void it_cpu_bf16n_round_row(const float *row, float bm, const it_bf16 *bias_n, it_bf16 *dst, int n);
int it_cpu_bf16n_conv3d(it_ctx *, const it_conv3d_params *p, const void *x, const void *wt,
                        const void *bias, void *y);
int it_cpu_bf16n_linear(it_ctx *, int rows, int k, int m, const void *x, const void *wt,
                        const void *bias, void *y);
int it_cpu_bf16n_swiglu(it_ctx *, int rows, int d, int f, const void *x, const void *w1,
                        const void *w3, const void *w2, void *y);
/* The native bf16 multi-head attention (cpu_bf16_attn.c) takes even head dims up to 16. */
static inline int it_cpu_bf16n_mha_fits(int hd)
{
    return hd >= 2 && hd <= 16 && hd % 2 == 0;
}
int it_cpu_bf16n_mha(it_ctx *, int n, int s, int nh, int hd, int hw, const void *q, const void *k,
                     const void *v, void *y);
int it_cpu_bf16_prepare_weight(it_ctx *ctx, int op, const void *wt, int rows, int cols);
int it_cpu_bf16_conv3d(it_ctx *, const it_conv3d_params *p, const void *x, const void *wt,
                       const void *bias, void *y);
int it_cpu_bf16_linear(it_ctx *, int rows, int k, int m, const void *x, const void *wt,
                       const void *bias, void *y);
int it_cpu_bf16_swiglu(it_ctx *, int rows, int d, int f, const void *x, const void *w1,
                       const void *w3, const void *w2, void *y);
int it_cpu_bf16_attn_spatial(it_ctx *, int n, int c, int t, int hw, const void *q, const void *k,
                             const void *v, void *y);
int it_cpu_bf16_attn_temporal(it_ctx *, int n, int c, int t, int hw, const void *q, const void *k,
                              const void *v, void *y);
int it_cpu_bf16_mha(it_ctx *, int n, int s, int nh, int hd, int hw, const void *q, const void *k,
                    const void *v, void *y);
int it_cpu_bf16_groupnorm(it_ctx *, int n, int c, int t, int hw, const void *x, const void *gamma,
                          const void *beta, float eps, int silu, void *y);
int it_cpu_bf16_silu(it_ctx *, size_t len, const void *x, void *y);
int it_cpu_bf16_add(it_ctx *, size_t len, const void *a, const void *b, void *y);
int it_cpu_bf16_scale(it_ctx *, size_t len, const void *x, float s, void *y);
int it_cpu_bf16_rmsnorm(it_ctx *, int rows, int d, const void *x, const void *wt, float eps,
                        void *y);
int it_cpu_bf16_avgpool(it_ctx *, int nc, int t, int h, int w, int kt, int kh, int kw, int tpad,
                        const void *x, void *y);
int it_cpu_bf16_upsample_hw(it_ctx *, int nc, int t, int h, int w, const void *x, void *y);
int it_cpu_bf16_upsample_t(it_ctx *, int nc, int t, int hw, const void *x, void *y);
int it_cpu_bf16_haar_fwd(it_ctx *, int n, int t, int h, int w, const void *x, void *y);
int it_cpu_bf16_haar_inv(it_ctx *, int n, int t, int h, int w, const void *x, void *y);
int it_cpu_bf16_rope2d(it_ctx *, int rows, int nh, int hd, int hw, int w, int ld, const void *x,
                       const void *cs, const void *sn, void *y);

#endif
