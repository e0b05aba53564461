/* ref_backend.c: the "ref" backend table: every op, naive, in both precisions. fp32 calls
 * the fp32 code directly; bf16 runs the same code through the wrappers of bf16_wrap.c
 * (inputs to fp32, output rounded once), which is the definition of the bf16 numerics. It is
 * the oracle of the tests and a fallback for debugging, not something to run a model on. */
#include "kernels/kernels_internal.h"

static int ref_supports(int op, int precision)
{
    return op >= 0 && op < IT_OP_COUNT && precision >= 0 && precision < IT_PRECISION_COUNT;
}

static int ref_open(const it_ctx_opts *o, it_ctx **out)
{
    return it_host_open(it_backend_ref(), o, out);
}

static int conv3d(it_ctx *ctx, const it_conv3d_params *p, const void *x, const void *wt,
                  const void *bias, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_conv3d(ctx, it_ref_conv3d, p, x, wt, bias, y)
                            : it_ref_conv3d(ctx, p, x, wt, bias, y);
}
static int groupnorm(it_ctx *ctx, int n, int c, int t, int hw, const void *x, const void *g,
                     const void *b, float eps, int silu, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_groupnorm(ctx, it_ref_groupnorm, n, c, t, hw, x, g, b, eps, silu, y)
                            : it_ref_groupnorm(ctx, n, c, t, hw, x, g, b, eps, silu, y);
}
static int silu(it_ctx *ctx, size_t len, const void *x, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_eltwise(ctx, it_ref_silu, len, x, y) : it_ref_silu(ctx, len, x, y);
}
static int add(it_ctx *ctx, size_t len, const void *a, const void *b, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_add(ctx, it_ref_add, len, a, b, y) : it_ref_add(ctx, len, a, b, y);
}
static int scale(it_ctx *ctx, size_t len, const void *x, float s, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_scale(ctx, it_ref_scale, len, x, s, y) : it_ref_scale(ctx, len, x, s, y);
}
static int avgpool(it_ctx *ctx, int nc, int t, int h, int w, int kt, int kh, int kw, int tpad,
                   const void *x, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_avgpool(ctx, it_ref_avgpool, nc, t, h, w, kt, kh, kw, tpad, x, y)
                            : it_ref_avgpool(ctx, nc, t, h, w, kt, kh, kw, tpad, x, y);
}
static int upsample_hw(it_ctx *ctx, int nc, int t, int h, int w, const void *x, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_upsample_hw(ctx, it_ref_upsample_hw, nc, t, h, w, x, y)
                            : it_ref_upsample_hw(ctx, nc, t, h, w, x, y);
}
static int upsample_t(it_ctx *ctx, int nc, int t, int hw, const void *x, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_upsample_t(ctx, it_ref_upsample_t, nc, t, hw, x, y)
                            : it_ref_upsample_t(ctx, nc, t, hw, x, y);
}
static int haar_fwd(it_ctx *ctx, int n, int t, int h, int w, const void *x, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_haar_fwd(ctx, it_ref_haar_fwd, n, t, h, w, x, y)
                            : it_ref_haar_fwd(ctx, n, t, h, w, it_haar_fwd_scale(IT_PRECISION_FP32), x, y);
}
static int haar_inv(it_ctx *ctx, int n, int t, int h, int w, const void *x, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_haar_inv(ctx, it_ref_haar_inv, n, t, h, w, x, y)
                            : it_ref_haar_inv(ctx, n, t, h, w, it_haar_inv_scale(IT_PRECISION_FP32), x, y);
}
static int attn_spatial(it_ctx *ctx, int n, int c, int t, int hw, const void *q, const void *k,
                        const void *v, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_attn(ctx, it_ref_attn_spatial, n, c, t, hw, q, k, v, y)
                            : it_ref_attn_spatial(ctx, n, c, t, hw, q, k, v, y);
}
static int attn_temporal(it_ctx *ctx, int n, int c, int t, int hw, const void *q, const void *k,
                         const void *v, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_attn(ctx, it_ref_attn_temporal, n, c, t, hw, q, k, v, y)
                            : it_ref_attn_temporal(ctx, n, c, t, hw, q, k, v, y);
}
static int linear(it_ctx *ctx, int rows, int k, int m, const void *x, const void *wt,
                  const void *bias, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_linear(ctx, it_ref_linear, rows, k, m, x, wt, bias, y)
                            : it_ref_linear(ctx, rows, k, m, x, wt, bias, y);
}
static int rmsnorm(it_ctx *ctx, int rows, int d, const void *x, const void *wt, float eps, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_rmsnorm(ctx, it_ref_rmsnorm, rows, d, x, wt, eps, y)
                            : it_ref_rmsnorm(ctx, rows, d, x, wt, eps, y);
}
static int rope2d(it_ctx *ctx, int rows, int nh, int hd, int hw, int w, int ld, const void *x,
                  const void *cs, const void *sn, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_rope2d(ctx, it_ref_rope2d, rows, nh, hd, hw, w, ld, x, cs, sn, y)
                            : it_ref_rope2d(ctx, rows, nh, hd, hw, w, ld, x, cs, sn, y);
}
static int mha(it_ctx *ctx, int n, int s, int nh, int hd, int hw, const void *q, const void *k,
               const void *v, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_mha(ctx, it_ref_mha, n, s, nh, hd, hw, q, k, v, y)
                            : it_ref_mha(ctx, n, s, nh, hd, hw, q, k, v, y);
}
static int swiglu(it_ctx *ctx, int rows, int d, int f, const void *x, const void *w1,
                  const void *w3, const void *w2, void *y)
{
    return it_ctx_bf16(ctx) ? it_bf16w_swiglu(ctx, it_ref_swiglu, rows, d, f, x, w1, w3, w2, y)
                            : it_ref_swiglu(ctx, rows, d, f, x, w1, w3, w2, y);
}

static const it_backend ref_backend = {
    .name = "ref",
    .host_memory = 1,
    .supports = ref_supports,
    .open = ref_open,
    .close = it_host_close,
    .alloc = it_host_alloc,
    .free = it_host_free,
    .upload = it_host_upload,
    .download = it_host_download,
    .copy = it_host_copy,
    .sync = it_host_sync,
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

const it_backend *it_backend_ref(void)
{
    return &ref_backend;
}
