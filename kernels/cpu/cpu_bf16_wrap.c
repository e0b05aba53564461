/* cpu_bf16_wrap.c: the cpu backend's bf16 ops as the fp32 cpu kernels run through the bf16
 * wrappers (kernels/bf16_wrap.c): inputs converted to fp32 scratch, output rounded once, which
 * are exactly the oracle's rounding points, so these differ from ref bf16 only by the fp32
 * kernels' summation order. They make every op work in bf16 (and are the baseline a native
 * kernel is measured against). conv3d, linear and swiglu call the native AVX512-BF16 kernels
 * (cpu_bf16_native.c) instead where the CPU has them, and mha its own (cpu_bf16_attn.c);
 * groupnorm and the elementwise ops are native on every CPU (cpu_bf16_norm.c: memory-bound,
 * one pass instead of four), and so are the upsamplers (cpu_resample.c: copies). */
#include "kernels/cpu/cpu_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define NATIVE (it_cpu_isa() >= IT_ISA_AVX512BF16)
#else
#define NATIVE 0
#endif

/* Nothing to prepare: the wrappers read the bf16 weights as they are. */
int it_cpu_bf16_prepare_weight(it_ctx *ctx, int op, const void *wt, int rows, int cols)
{
    (void)ctx, (void)op, (void)wt, (void)rows, (void)cols;
    return 0;
}

int it_cpu_bf16_conv3d(it_ctx *ctx, const it_conv3d_params *p, const void *x, const void *wt,
                       const void *bias, void *y)
{
    if (NATIVE)
        return it_cpu_bf16n_conv3d(ctx, p, x, wt, bias, y);
    return it_bf16w_conv3d(ctx, it_cpu_conv3d, p, x, wt, bias, y);
}

int it_cpu_bf16_linear(it_ctx *ctx, int rows, int k, int m, const void *x, const void *wt,
                       const void *bias, void *y)
{
    if (NATIVE)
        return it_cpu_bf16n_linear(ctx, rows, k, m, x, wt, bias, y);
    return it_bf16w_linear(ctx, it_cpu_linear, rows, k, m, x, wt, bias, y);
}

int it_cpu_bf16_swiglu(it_ctx *ctx, int rows, int d, int f, const void *x, const void *w1,
                       const void *w3, const void *w2, void *y)
{
    if (NATIVE)
        return it_cpu_bf16n_swiglu(ctx, rows, d, f, x, w1, w3, w2, y);
    return it_bf16w_swiglu(ctx, it_cpu_swiglu, rows, d, f, x, w1, w3, w2, y);
}

int it_cpu_bf16_attn_spatial(it_ctx *ctx, int n, int c, int t, int hw, const void *q,
                             const void *k, const void *v, void *y)
{
    return it_bf16w_attn(ctx, it_cpu_attn_spatial, n, c, t, hw, q, k, v, y);
}

int it_cpu_bf16_attn_temporal(it_ctx *ctx, int n, int c, int t, int hw, const void *q,
                              const void *k, const void *v, void *y)
{
    return it_bf16w_attn(ctx, it_cpu_attn_temporal, n, c, t, hw, q, k, v, y);
}

int it_cpu_bf16_mha(it_ctx *ctx, int n, int s, int nh, int hd, int hw, const void *q,
                    const void *k, const void *v, void *y)
{
    if (NATIVE && it_cpu_bf16n_mha_fits(hd))
        return it_cpu_bf16n_mha(ctx, n, s, nh, hd, hw, q, k, v, y);
    return it_bf16w_mha(ctx, it_cpu_mha, n, s, nh, hd, hw, q, k, v, y);
}

int it_cpu_bf16_rmsnorm(it_ctx *ctx, int rows, int d, const void *x, const void *wt, float eps,
                        void *y)
{
    return it_bf16w_rmsnorm(ctx, it_cpu_rmsnorm, rows, d, x, wt, eps, y);
}

int it_cpu_bf16_avgpool(it_ctx *ctx, int nc, int t, int h, int w, int kt, int kh, int kw, int tpad,
                        const void *x, void *y)
{
    return it_bf16w_avgpool(ctx, it_cpu_avgpool, nc, t, h, w, kt, kh, kw, tpad, x, y);
}

int it_cpu_bf16_haar_fwd(it_ctx *ctx, int n, int t, int h, int w, const void *x, void *y)
{
    return it_bf16w_haar_fwd(ctx, it_cpu_haar_fwd, n, t, h, w, x, y);
}

int it_cpu_bf16_haar_inv(it_ctx *ctx, int n, int t, int h, int w, const void *x, void *y)
{
    return it_bf16w_haar_inv(ctx, it_cpu_haar_inv, n, t, h, w, x, y);
}

int it_cpu_bf16_rope2d(it_ctx *ctx, int rows, int nh, int hd, int hw, int w, int ld, const void *x,
                       const void *cs, const void *sn, void *y)
{
    return it_bf16w_rope2d(ctx, it_cpu_rope2d, rows, nh, hd, hw, w, ld, x, cs, sn, y);
}
