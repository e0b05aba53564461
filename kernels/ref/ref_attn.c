/* ref_attn.c: the attention ops, naive: the CNN mid-block's spatial and temporal-causal
 * single-head attention over [C][T][HW] maps, the ViT's multi-head attention with the
 * block-causal mask, and 2D RoPE. Scores are built one query row at a time in double with a
 * max-subtracted softmax; the mask is a bound on the key loop, never a matrix.
 * In bf16 the probabilities are rounded to bf16 before P.V, as the official bf16 run's fused
 * attention does (man/infotok-precision.7): exp(s_j - m) with m the row's exact max (two
 * passes, so the rounding does not depend on a tiling), rounded through fp32 to bf16; the
 * normaliser l sums the unrounded values. Dimension letters: see it_kernels.h. */
#include <math.h>

#include "kernels/kernels_internal.h"

/* One softmax-attention row: out[d*os] = sum_j softmax_j(scale * q.k_j) v_j[d], with the
 * weights exp(s_j - max s) rounded to bf16 when round_p.
 * q: element d at q[d*qs]; key j element d at k[j*kjs + d*kds]; v likewise; p [nk] scratch. */
static void attn_row(int nk, int dim, double scale, const float *q, size_t qs, const float *k,
                     size_t kjs, size_t kds, const float *v, size_t vjs, size_t vds, float *out,
                     size_t os, double *p, int round_p)
{
    double mx = -INFINITY, sum = 0;
    for (int j = 0; j < nk; j++) {
        double dot = 0;
        for (int d = 0; d < dim; d++)
            dot += (double)q[d * qs] * k[j * kjs + d * kds];
        p[j] = dot * scale;
        if (p[j] > mx)
            mx = p[j];
    }
    for (int j = 0; j < nk; j++) {
        p[j] = exp(p[j] - mx);
        sum += p[j];
        if (round_p)
            p[j] = it_bf16_round((float)p[j]);
    }
    for (int d = 0; d < dim; d++) {
        double acc = 0;
        for (int j = 0; j < nk; j++)
            acc += p[j] * v[j * vjs + d * vds];
        out[d * os] = (float)(acc / sum);
    }
}

/* q, k, v, y [N][C][T][HW] */
int it_ref_attn_spatial(it_ctx *ctx, int n, int c, int t, int hw, const float *q, const float *k,
                        const float *v, float *y)
{
    IT_KCHECK(n > 0 && c > 0 && t > 0 && hw > 0, "attn_spatial");
    double *p = it_host_scratch(ctx, IT_SCR_OP0, sizeof *p * hw);
    if (!p)
        return IT_E_NOMEM;
    size_t cs = (size_t)t * hw, ns = (size_t)c * cs; /* channel stride, sample stride */
    for (int smp = 0; smp < n; smp++, q += ns, k += ns, v += ns, y += ns)
        for (int ft = 0; ft < t; ft++)
            for (int i = 0; i < hw; i++) {
                size_t at = (size_t)ft * hw + i, base = (size_t)ft * hw;
                attn_row(hw, c, 1.0 / sqrt(c), q + at, cs, k + base, 1, cs, v + base, 1, cs, y + at, cs, p,
                         it_ctx_bf16(ctx));
            }
    return 0;
}

/* q, k, v, y [N][C][T][HW] */
int it_ref_attn_temporal(it_ctx *ctx, int n, int c, int t, int hw, const float *q, const float *k,
                         const float *v, float *y)
{
    IT_KCHECK(n > 0 && c > 0 && t > 0 && hw > 0, "attn_temporal");
    double *p = it_host_scratch(ctx, IT_SCR_OP0, sizeof *p * t);
    if (!p)
        return IT_E_NOMEM;
    size_t cs = (size_t)t * hw, ns = (size_t)c * cs;
    for (int smp = 0; smp < n; smp++, q += ns, k += ns, v += ns, y += ns)
        for (int pos = 0; pos < hw; pos++)
            for (int i = 0; i < t; i++) { /* causal: keys 0..i */
                size_t at = (size_t)i * hw + pos;
                attn_row(i + 1, c, 1.0 / sqrt(c), q + at, cs, k + pos, hw, cs, v + pos, hw, cs, y + at, cs, p,
                         it_ctx_bf16(ctx));
            }
    return 0;
}

/* q, k, v, y [N][S][NH*HD] */
int it_ref_mha(it_ctx *ctx, int n, int s, int nh, int hd, int hw, const float *q, const float *k,
               const float *v, float *y)
{
    IT_KCHECK(n > 0 && s > 0 && nh > 0 && hd > 0 && hw > 0, "mha");
    double *p = it_host_scratch(ctx, IT_SCR_OP0, sizeof *p * s);
    if (!p)
        return IT_E_NOMEM;
    size_t dm = (size_t)nh * hd, ns = (size_t)s * dm;
    for (int smp = 0; smp < n; smp++, q += ns, k += ns, v += ns, y += ns)
        for (int hh = 0; hh < nh; hh++)
            for (int i = 0; i < s; i++) {
                /* block-causal: j is visible iff frame(j) <= frame(i), i.e. j < (i/hw + 1)*hw */
                long end = ((long)i / hw + 1) * hw;
                int nk = end < s ? (int)end : s;
                size_t off = (size_t)hh * hd;
                attn_row(nk, hd, 1.0 / sqrt(hd), q + i * dm + off, 1, k + off, dm, 1, v + off, dm, 1,
                         y + i * dm + off, 1, p, it_ctx_bf16(ctx));
            }
    return 0;
}

/* x, y [rows][NH*HD], cs, sn [*][HD/2] with row stride ld: token r reads row
 * ((r % hw) / w) * ld + (r % hw) % w */
int it_ref_rope2d(it_ctx *ctx, int rows, int nh, int hd, int hw, int w, int ld, const float *x,
                  const float *cs, const float *sn, float *y)
{
    IT_KCHECK(rows > 0 && nh > 0 && hd > 0 && hd % 2 == 0 && hw > 0 && w > 0 && ld >= w, "rope2d");
    size_t dm = (size_t)nh * hd;
    for (size_t i = 0; i < (size_t)rows; i++) {
        size_t pos = i % (size_t)hw, row = pos / (size_t)w * (size_t)ld + pos % (size_t)w;
        for (int hh = 0; hh < nh; hh++)
            for (int pr = 0; pr < hd / 2; pr++) {
                size_t at = i * dm + (size_t)hh * hd + 2 * pr;
                float a = x[at], b = x[at + 1];
                float c = cs[row * (hd / 2) + pr], sv = sn[row * (hd / 2) + pr];
                y[at] = a * c - b * sv;
                y[at + 1] = a * sv + b * c;
            }
    }
    return 0;
}
