/* cpu_backend.c: the "cpu" backend table. Each entry sets the context's thread count for
 * the call (then restores the caller's), and picks the fp32 kernel or its bf16 twin
 * (it_cpu_bf16_*, cpu_internal.h). FSQ, the ELBO map, the pixel conversions, the transpose and
 * the row add are the ref functions on purpose: they are cheap, and tokens and maps must be
 * bit-identical across backends and between it-encode and it-pack. */
#include "kernels/cpu/cpu_internal.h"

static int cpu_supports(int op, int precision)
{
    return op >= 0 && op < IT_OP_COUNT && precision >= 0 && precision < IT_PRECISION_COUNT;
}

static int cpu_open(const it_ctx_opts *o, it_ctx **out)
{
    return it_host_open(it_backend_cpu(), o, out);
}

/* Run `call` with ctx's threads (0: the caller's setting). */
#ifdef _OPENMP
#define WITH_THREADS(ctx, call)                                                              \
    do {                                                                                     \
        int old_ = (ctx)->threads > 0 ? omp_get_max_threads() : 0;                           \
        if (old_)                                                                            \
            omp_set_num_threads((ctx)->threads);                                             \
        int rc_ = (call);                                                                    \
        if (old_)                                                                            \
            omp_set_num_threads(old_);                                                       \
        return rc_;                                                                          \
    } while (0)
#else
#define WITH_THREADS(ctx, call) return (call)
#endif

static int prepare_weight(it_ctx *ctx, int op, const void *wt, int rows, int cols)
{
    if (!it_ctx_bf16(ctx))
        return 0;
    WITH_THREADS(ctx, it_cpu_bf16_prepare_weight(ctx, op, wt, rows, cols));
}
static int conv3d(it_ctx *ctx, const it_conv3d_params *p, const void *x, const void *wt,
                  const void *bias, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_conv3d(ctx, p, x, wt, bias, y)
                                       : it_cpu_conv3d(ctx, p, x, wt, bias, y));
}
static int groupnorm(it_ctx *ctx, int n, int c, int t, int hw, const void *x, const void *g,
                     const void *b, float eps, int silu, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_groupnorm(ctx, n, c, t, hw, x, g, b, eps, silu, y)
                                       : it_cpu_groupnorm(ctx, n, c, t, hw, x, g, b, eps, silu, y));
}
static int silu(it_ctx *ctx, size_t len, const void *x, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_silu(ctx, len, x, y) : it_cpu_silu(ctx, len, x, y));
}
static int add(it_ctx *ctx, size_t len, const void *a, const void *b, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_add(ctx, len, a, b, y) : it_cpu_add(ctx, len, a, b, y));
}
static int scale(it_ctx *ctx, size_t len, const void *x, float s, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_scale(ctx, len, x, s, y) : it_cpu_scale(ctx, len, x, s, y));
}
static int avgpool(it_ctx *ctx, int nc, int t, int h, int w, int kt, int kh, int kw, int tpad,
                   const void *x, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_avgpool(ctx, nc, t, h, w, kt, kh, kw, tpad, x, y)
                                       : it_cpu_avgpool(ctx, nc, t, h, w, kt, kh, kw, tpad, x, y));
}
static int upsample_hw(it_ctx *ctx, int nc, int t, int h, int w, const void *x, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_upsample_hw(ctx, nc, t, h, w, x, y)
                                       : it_cpu_upsample_hw(ctx, nc, t, h, w, x, y));
}
static int upsample_t(it_ctx *ctx, int nc, int t, int hw, const void *x, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_upsample_t(ctx, nc, t, hw, x, y)
                                       : it_cpu_upsample_t(ctx, nc, t, hw, x, y));
}
static int haar_fwd(it_ctx *ctx, int n, int t, int h, int w, const void *x, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_haar_fwd(ctx, n, t, h, w, x, y)
                                       : it_cpu_haar_fwd(ctx, n, t, h, w, it_haar_fwd_scale(IT_PRECISION_FP32), x, y));
}
static int haar_inv(it_ctx *ctx, int n, int t, int h, int w, const void *x, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_haar_inv(ctx, n, t, h, w, x, y)
                                       : it_cpu_haar_inv(ctx, n, t, h, w, it_haar_inv_scale(IT_PRECISION_FP32), x, y));
}
static int attn_spatial(it_ctx *ctx, int n, int c, int t, int hw, const void *q, const void *k,
                        const void *v, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_attn_spatial(ctx, n, c, t, hw, q, k, v, y)
                                       : it_cpu_attn_spatial(ctx, n, c, t, hw, q, k, v, y));
}
static int attn_temporal(it_ctx *ctx, int n, int c, int t, int hw, const void *q, const void *k,
                         const void *v, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_attn_temporal(ctx, n, c, t, hw, q, k, v, y)
                                       : it_cpu_attn_temporal(ctx, n, c, t, hw, q, k, v, y));
}
static int linear(it_ctx *ctx, int rows, int k, int m, const void *x, const void *wt,
                  const void *bias, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_linear(ctx, rows, k, m, x, wt, bias, y)
                                       : it_cpu_linear(ctx, rows, k, m, x, wt, bias, y));
}
static int rmsnorm(it_ctx *ctx, int rows, int d, const void *x, const void *wt, float eps, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_rmsnorm(ctx, rows, d, x, wt, eps, y)
                                       : it_cpu_rmsnorm(ctx, rows, d, x, wt, eps, y));
}
static int rope2d(it_ctx *ctx, int rows, int nh, int hd, int hw, int w, int ld, const void *x,
                  const void *cs, const void *sn, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_rope2d(ctx, rows, nh, hd, hw, w, ld, x, cs, sn, y)
                                       : it_cpu_rope2d(ctx, rows, nh, hd, hw, w, ld, x, cs, sn, y));
}
static int mha(it_ctx *ctx, int n, int s, int nh, int hd, int hw, const void *q, const void *k,
               const void *v, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_mha(ctx, n, s, nh, hd, hw, q, k, v, y)
                                       : it_cpu_mha(ctx, n, s, nh, hd, hw, q, k, v, y));
}
static int swiglu(it_ctx *ctx, int rows, int d, int f, const void *x, const void *w1,
                  const void *w3, const void *w2, void *y)
{
    WITH_THREADS(ctx, it_ctx_bf16(ctx) ? it_cpu_bf16_swiglu(ctx, rows, d, f, x, w1, w3, w2, y)
                                       : it_cpu_swiglu(ctx, rows, d, f, x, w1, w3, w2, y));
}

static const it_backend cpu_backend = {
    .name = "cpu",
    .host_memory = 1,
    .supports = cpu_supports,
    .open = cpu_open,
    .close = it_host_close,
    .alloc = it_host_alloc,
    .free = it_host_free,
    .upload = it_host_upload,
    .download = it_host_download,
    .copy = it_host_copy,
    .sync = it_host_sync,
    .prepare_weight = prepare_weight,
    .conv3d = conv3d,
    .groupnorm = groupnorm,
    .silu = silu,
    .add = add,
    .scale = scale,
    .avgpool = avgpool,
    .upsample_hw = upsample_hw,
    .upsample_t = upsample_t,
    .haar_fwd = haar_fwd,
    .haar_inv = haar_inv,
    .attn_spatial = attn_spatial,
    .attn_temporal = attn_temporal,
    .linear = linear,
    .rmsnorm = rmsnorm,
    .rope2d = rope2d,
    .mha = mha,
    .swiglu = swiglu,
    .fsq = it_ref_fsq,
    .fsq_decode = it_ref_fsq_decode,
    .elbo_map = it_ref_elbo_map,
    .pixels_in = it_ref_pixels_in,
    .pixels_out = it_ref_pixels_out,
    .transpose = it_ref_transpose,
    .add_rows = it_ref_add_rows,
};

const it_backend *it_backend_cpu(void)
{
    return &cpu_backend;
}
