/* bf16_wrap.c: run an fp32 op on bf16 tensors at the oracle's rounding points: every input
 * converted exactly to fp32 scratch, the fp32 op, each output element rounded once to bf16
 * (it_kernels.h, "Precision"). With the ref fp32 ops this IS the bf16 oracle; with the cpu
 * fp32 ops it is the cpu backend's bf16 mode until native bf16 kernels replace an op.
 * Large ops run one sample (or one block of channels/elements) at a time so that the fp32
 * copies stay a bounded scratch; samples, channels and elements are independent in those ops,
 * so the split changes no result. Dimension letters: see it_kernels.h. */
#include "kernels/kernels_internal.h"

/* Elements per chunk of the elementwise and per-channel ops: 16 MiB of fp32 per buffer. */
#define CHUNK_ELEMS ((size_t)1 << 22)

/* fp32 copy of n bf16 elements in a scratch slot (NULL stays NULL). */
static int to_f32(it_ctx *ctx, int slot, const void *src, size_t n, float **out)
{
    *out = NULL;
    if (!src)
        return 0;
    float *d = it_host_scratch(ctx, slot, n * sizeof(float));
    if (!d)
        return IT_E_NOMEM;
    it_bf16_to_f32_n(n, src, d);
    *out = d;
    return 0;
}

static float *out_f32(it_ctx *ctx, size_t n)
{
    return it_host_scratch(ctx, IT_SCR_BF16_OUT, n * sizeof(float));
}

#define B16(p, off) ((const it_bf16 *)(p) + (off))
#define B16W(p, off) ((it_bf16 *)(p) + (off))

int it_bf16w_conv3d(it_ctx *ctx, it_conv3d_f32 f, const it_conv3d_params *p, const void *x,
                    const void *wt, const void *bias, void *y)
{
    int rc = 0, to, ho, wo;
    IT_TRY(it_conv3d_out_shape(p, &to, &ho, &wo));
    const size_t nx = (size_t)p->ci * p->t * p->h * p->w, ny = (size_t)p->co * to * ho * wo;
    float *wf, *bf, *xf, *yf;
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN1, wt, (size_t)p->co * p->ci * p->kt * p->kh * p->kw, &wf));
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN2, bias, (size_t)p->co, &bf));
    if (!(yf = out_f32(ctx, ny)))
        return IT_E_NOMEM;
    it_conv3d_params one = *p;
    one.n = 1;
    for (int s = 0; s < p->n; s++) {
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, B16(x, s * nx), nx, &xf));
        IT_TRY(f(ctx, &one, xf, wf, bf, yf));
        it_bf16_from_f32_n(ny, yf, B16W(y, s * ny));
    }
done:
    return rc;
}

/* One frame at a time: GroupNorm's statistics are per sample and frame, so converting one
 * frame's [C][HW] rows (strided in [C][T][HW]) and normalising it alone is the same
 * arithmetic as the whole sample, with scratch of one frame instead of two fp32 copies of the
 * largest activation. */
int it_bf16w_groupnorm(it_ctx *ctx, it_groupnorm_f32 f, int n, int c, int t, int hw, const void *x,
                       const void *gamma, const void *beta, float eps, int silu, void *y)
{
    int rc = 0;
    IT_KCHECK(n > 0 && c > 0 && t > 0 && hw > 0, "groupnorm");
    const size_t ns = (size_t)c * t * hw, nf = (size_t)c * hw;
    float *gf, *bf, *xf, *yf;
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN1, gamma, (size_t)c, &gf));
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN2, beta, (size_t)c, &bf));
    if (!(yf = out_f32(ctx, nf)) || !(xf = it_host_scratch(ctx, IT_SCR_BF16_IN0, nf * sizeof(float))))
        return IT_E_NOMEM;
    for (int s = 0; s < n; s++)
        for (int ft = 0; ft < t; ft++) {
            const it_bf16 *xs = B16(x, s * ns + (size_t)ft * hw);
#pragma omp parallel for schedule(static) if (nf >= (1 << 18))
            for (int ch = 0; ch < c; ch++)
                for (size_t i = 0; i < (size_t)hw; i++)
                    xf[(size_t)ch * hw + i] = it_bf16_to_f32(xs[(size_t)ch * t * hw + i]);
            IT_TRY(f(ctx, 1, c, 1, hw, xf, gf, bf, eps, silu, yf));
            it_bf16 *ys = B16W(y, s * ns + (size_t)ft * hw);
#pragma omp parallel for schedule(static) if (nf >= (1 << 18))
            for (int ch = 0; ch < c; ch++)
                for (size_t i = 0; i < (size_t)hw; i++)
                    ys[(size_t)ch * t * hw + i] = it_bf16_from_f32(yf[(size_t)ch * hw + i]);
        }
done:
    return rc;
}

int it_bf16w_eltwise(it_ctx *ctx, it_eltwise_f32 f, size_t len, const void *x, void *y)
{
    int rc = 0;
    float *xf, *yf = out_f32(ctx, len < CHUNK_ELEMS ? len : CHUNK_ELEMS);
    if (!yf)
        return IT_E_NOMEM;
    for (size_t i = 0; i < len; i += CHUNK_ELEMS) {
        size_t m = len - i < CHUNK_ELEMS ? len - i : CHUNK_ELEMS;
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, B16(x, i), m, &xf));
        IT_TRY(f(ctx, m, xf, yf));
        it_bf16_from_f32_n(m, yf, B16W(y, i));
    }
done:
    return rc;
}

int it_bf16w_add(it_ctx *ctx, it_add_f32 f, size_t len, const void *a, const void *b, void *y)
{
    int rc = 0;
    float *af, *bf, *yf = out_f32(ctx, len < CHUNK_ELEMS ? len : CHUNK_ELEMS);
    if (!yf)
        return IT_E_NOMEM;
    for (size_t i = 0; i < len; i += CHUNK_ELEMS) {
        size_t m = len - i < CHUNK_ELEMS ? len - i : CHUNK_ELEMS;
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, B16(a, i), m, &af));
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN1, B16(b, i), m, &bf));
        IT_TRY(f(ctx, m, af, bf, yf));
        it_bf16_from_f32_n(m, yf, B16W(y, i));
    }
done:
    return rc;
}

int it_bf16w_scale(it_ctx *ctx, it_scale_f32 f, size_t len, const void *x, float s, void *y)
{
    int rc = 0;
    float *xf, *yf = out_f32(ctx, len < CHUNK_ELEMS ? len : CHUNK_ELEMS);
    if (!yf)
        return IT_E_NOMEM;
    for (size_t i = 0; i < len; i += CHUNK_ELEMS) {
        size_t m = len - i < CHUNK_ELEMS ? len - i : CHUNK_ELEMS;
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, B16(x, i), m, &xf));
        IT_TRY(f(ctx, m, xf, s, yf));
        it_bf16_from_f32_n(m, yf, B16W(y, i));
    }
done:
    return rc;
}

/* Channels per chunk for a per-channel op whose channel holds `per` input elements. */
static int channel_chunk(size_t per, int nc)
{
    size_t k = per ? CHUNK_ELEMS / per : (size_t)nc;
    if (k < 1)
        k = 1;
    return k < (size_t)nc ? (int)k : nc;
}

int it_bf16w_avgpool(it_ctx *ctx, it_avgpool_f32 f, int nc, int t, int h, int w, int kt, int kh,
                     int kw, int tpad, const void *x, void *y)
{
    int rc = 0;
    IT_KCHECK(nc > 0 && t > 0 && h > 0 && w > 0 && kt > 0 && kh > 0 && kw > 0 && tpad >= 0 &&
                  t + tpad >= kt && h >= kh && w >= kw, "avgpool");
    const size_t in = (size_t)t * h * w, out = (size_t)((t + tpad) / kt) * (h / kh) * (w / kw);
    const int cc = channel_chunk(in, nc);
    float *xf, *yf = out_f32(ctx, out * cc);
    if (!yf)
        return IT_E_NOMEM;
    for (int c0 = 0; c0 < nc; c0 += cc) {
        int m = nc - c0 < cc ? nc - c0 : cc;
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, B16(x, c0 * in), m * in, &xf));
        IT_TRY(f(ctx, m, t, h, w, kt, kh, kw, tpad, xf, yf));
        it_bf16_from_f32_n(m * out, yf, B16W(y, c0 * out));
    }
done:
    return rc;
}

int it_bf16w_upsample_hw(it_ctx *ctx, it_upsample_hw_f32 f, int nc, int t, int h, int w,
                         const void *x, void *y)
{
    int rc = 0;
    IT_KCHECK(nc > 0 && t > 0 && h > 0 && w > 0, "upsample_hw");
    const size_t in = (size_t)t * h * w, out = 4 * in;
    const int cc = channel_chunk(out, nc);
    float *xf, *yf = out_f32(ctx, out * cc);
    if (!yf)
        return IT_E_NOMEM;
    for (int c0 = 0; c0 < nc; c0 += cc) {
        int m = nc - c0 < cc ? nc - c0 : cc;
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, B16(x, c0 * in), m * in, &xf));
        IT_TRY(f(ctx, m, t, h, w, xf, yf));
        it_bf16_from_f32_n(m * out, yf, B16W(y, c0 * out));
    }
done:
    return rc;
}

int it_bf16w_upsample_t(it_ctx *ctx, it_upsample_t_f32 f, int nc, int t, int hw, const void *x,
                        void *y)
{
    int rc = 0;
    IT_KCHECK(nc > 0 && t > 0 && hw > 0, "upsample_t");
    const size_t in = (size_t)t * hw, out = (size_t)(2 * t - 1) * hw;
    const int cc = channel_chunk(out, nc);
    float *xf, *yf = out_f32(ctx, out * cc);
    if (!yf)
        return IT_E_NOMEM;
    for (int c0 = 0; c0 < nc; c0 += cc) {
        int m = nc - c0 < cc ? nc - c0 : cc;
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, B16(x, c0 * in), m * in, &xf));
        IT_TRY(f(ctx, m, t, hw, xf, yf));
        it_bf16_from_f32_n(m * out, yf, B16W(y, c0 * out));
    }
done:
    return rc;
}

static int haar(it_ctx *ctx, it_haar_f32 f, int inverse, int n, int t, int h, int w, const void *x,
                void *y)
{
    int rc = 0;
    IT_KCHECK(n > 0 && t > 0 && h > 0 && w > 0, inverse ? "haar_inv" : "haar_fwd");
    const size_t nx = (size_t)(inverse ? 24 : 3) * t * h * w;
    const size_t ny = inverse ? (size_t)3 * (2 * t - 1) * 4 * h * w : (size_t)24 * ((t + 1) / 2) * (h / 2) * (w / 2);
    const float scale = inverse ? it_haar_inv_scale(IT_PRECISION_BF16) : it_haar_fwd_scale(IT_PRECISION_BF16);
    float *xf, *yf = out_f32(ctx, ny);
    if (!yf)
        return IT_E_NOMEM;
    for (int s = 0; s < n; s++) {
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, B16(x, s * nx), nx, &xf));
        IT_TRY(f(ctx, 1, t, h, w, scale, xf, yf));
        it_bf16_from_f32_n(ny, yf, B16W(y, s * ny));
    }
done:
    return rc;
}

int it_bf16w_haar_fwd(it_ctx *ctx, it_haar_f32 f, int n, int t, int h, int w, const void *x, void *y)
{
    return haar(ctx, f, 0, n, t, h, w, x, y);
}

int it_bf16w_haar_inv(it_ctx *ctx, it_haar_f32 f, int n, int t, int h, int w, const void *x, void *y)
{
    return haar(ctx, f, 1, n, t, h, w, x, y);
}

int it_bf16w_attn(it_ctx *ctx, it_attn_f32 f, int n, int c, int t, int hw, const void *q,
                  const void *k, const void *v, void *y)
{
    int rc = 0;
    IT_KCHECK(n > 0 && c > 0 && t > 0 && hw > 0, "attention");
    const size_t ns = (size_t)c * t * hw;
    float *qf, *kf, *vf, *yf = out_f32(ctx, ns);
    if (!yf)
        return IT_E_NOMEM;
    for (int s = 0; s < n; s++) {
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, B16(q, s * ns), ns, &qf));
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN1, B16(k, s * ns), ns, &kf));
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN2, B16(v, s * ns), ns, &vf));
        IT_TRY(f(ctx, 1, c, t, hw, qf, kf, vf, yf));
        it_bf16_from_f32_n(ns, yf, B16W(y, s * ns));
    }
done:
    return rc;
}

int it_bf16w_linear(it_ctx *ctx, it_linear_f32 f, int rows, int k, int m, const void *x,
                    const void *wt, const void *bias, void *y)
{
    int rc = 0;
    IT_KCHECK(rows > 0 && k > 0 && m > 0, "linear");
    float *xf, *wf, *bf, *yf = out_f32(ctx, (size_t)rows * m);
    if (!yf)
        return IT_E_NOMEM;
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, x, (size_t)rows * k, &xf));
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN1, wt, (size_t)m * k, &wf));
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN2, bias, (size_t)m, &bf));
    IT_TRY(f(ctx, rows, k, m, xf, wf, bf, yf));
    it_bf16_from_f32_n((size_t)rows * m, yf, y);
done:
    return rc;
}

int it_bf16w_rmsnorm(it_ctx *ctx, it_rmsnorm_f32 f, int rows, int d, const void *x, const void *wt,
                     float eps, void *y)
{
    int rc = 0;
    IT_KCHECK(rows > 0 && d > 0, "rmsnorm");
    float *xf, *wf, *yf = out_f32(ctx, (size_t)rows * d);
    if (!yf)
        return IT_E_NOMEM;
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, x, (size_t)rows * d, &xf));
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN1, wt, (size_t)d, &wf));
    IT_TRY(f(ctx, rows, d, xf, wf, eps, yf));
    it_bf16_from_f32_n((size_t)rows * d, yf, y);
done:
    return rc;
}

int it_bf16w_rope2d(it_ctx *ctx, it_rope2d_f32 f, int rows, int nh, int hd, int hw, int w, int ld,
                    const void *x, const void *cs, const void *sn, void *y)
{
    int rc = 0;
    IT_KCHECK(rows > 0 && nh > 0 && hd > 0 && hd % 2 == 0 && hw > 0 && w > 0 && ld >= w, "rope2d");
    /* rows of the table a position p < hw can address: y = p / w < ceil(hw / w) */
    const size_t trows = (size_t)ld * ((hw + w - 1) / w), dm = (size_t)nh * hd;
    float *xf, *cf, *sf, *yf = out_f32(ctx, (size_t)rows * dm);
    if (!yf)
        return IT_E_NOMEM;
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, x, (size_t)rows * dm, &xf));
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN1, cs, trows * (hd / 2), &cf));
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN2, sn, trows * (hd / 2), &sf));
    IT_TRY(f(ctx, rows, nh, hd, hw, w, ld, xf, cf, sf, yf));
    it_bf16_from_f32_n((size_t)rows * dm, yf, y);
done:
    return rc;
}

int it_bf16w_mha(it_ctx *ctx, it_mha_f32 f, int n, int s, int nh, int hd, int hw, const void *q,
                 const void *k, const void *v, void *y)
{
    int rc = 0;
    IT_KCHECK(n > 0 && s > 0 && nh > 0 && hd > 0 && hw > 0, "mha");
    const size_t ns = (size_t)s * nh * hd;
    float *qf, *kf, *vf, *yf = out_f32(ctx, ns);
    if (!yf)
        return IT_E_NOMEM;
    for (int i = 0; i < n; i++) {
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, B16(q, i * ns), ns, &qf));
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN1, B16(k, i * ns), ns, &kf));
        IT_TRY(to_f32(ctx, IT_SCR_BF16_IN2, B16(v, i * ns), ns, &vf));
        IT_TRY(f(ctx, 1, s, nh, hd, hw, qf, kf, vf, yf));
        it_bf16_from_f32_n(ns, yf, B16W(y, i * ns));
    }
done:
    return rc;
}

int it_bf16w_swiglu(it_ctx *ctx, it_swiglu_f32 f, int rows, int d, int fd, const void *x,
                    const void *w1, const void *w3, const void *w2, void *y)
{
    int rc = 0;
    IT_KCHECK(rows > 0 && d > 0 && fd > 0, "swiglu");
    float *xf, *f1, *f3, *f2, *yf = out_f32(ctx, (size_t)rows * d);
    if (!yf)
        return IT_E_NOMEM;
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN0, x, (size_t)rows * d, &xf));
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN1, w1, (size_t)fd * d, &f1));
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN2, w3, (size_t)fd * d, &f3));
    IT_TRY(to_f32(ctx, IT_SCR_BF16_IN3, w2, (size_t)d * fd, &f2));
    IT_TRY(f(ctx, rows, d, fd, xf, f1, f3, f2, yf));
    it_bf16_from_f32_n((size_t)rows * d, yf, y);
done:
    return rc;
}
