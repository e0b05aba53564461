/* cpu_conv.c: conv3d as implicit GEMM: Y[Co][To*Ho*Wo] = Wt[Co][Ci*kt*kh*kw] x Xcol, where
 * Xcol is never built whole: the GEMM's B-packing callback gathers each KC x NC slice of it
 * straight into the fixed-size per-thread panel (im2col in tiles), applying the causal
 * first-frame replication and the zero padding as it reads. A 1x1x1 unstrided conv is a
 * plain GEMM over the input viewed as [Ci][T*H*W]. Dimension letters: see it_kernels.h;
 * P = To*Ho*Wo output positions, KK = Ci*kt*kh*kw. */
#include "kernels/cpu/cpu_internal.h"

#define NR IT_GEMM_NR

struct conv_ctx {
    const it_conv3d_params *p;
    const float *x; /* [Ci][T][H][W] */
    int to, ho, wo;
};

/* Columns [n0, n0+nc) of Xcol, rows [k0, k0+kc), into panels [kc][NR]. Output columns are
 * split into runs that share an output row (ot, oy), so each run reads one input row. */
static void pack_conv(const void *vctx, int k0, int kc, int n0, int nc, float *dst)
{
    const struct conv_ctx *cx = vctx;
    const it_conv3d_params *p = cx->p;
    const int khw = p->kh * p->kw, kthw = p->kt * khw;
    struct run { int tb, yb, xb, j, len; } runs[NR];
    for (int j0 = 0; j0 < nc; j0 += NR) {
        int nr = nc - j0 < NR ? nc - j0 : NR, nrun = 0;
        float *d = dst + (size_t)(j0 / NR) * kc * NR;
        int col = n0 + j0, ox = col % cx->wo, rest = col / cx->wo, oy = rest % cx->ho, ot = rest / cx->ho;
        for (int j = 0; j < nr;) {
            int len = nr - j < cx->wo - ox ? nr - j : cx->wo - ox;
            runs[nrun++] = (struct run){ot * p->st - p->tpad, oy * p->sh - p->pad_top,
                                        ox * p->sw - p->pad_left, j, len};
            j += len;
            ox = 0;
            if (++oy == cx->ho) {
                oy = 0;
                ot++;
            }
        }
        int ci = k0 / kthw, rem = k0 % kthw, dt = rem / khw, dy = rem % khw / p->kw, dx = rem % p->kw;
        for (int l = 0; l < kc; l++) {
            float *row = d + (size_t)l * NR;
            for (int r = 0; r < nrun; r++) {
                const struct run *ru = &runs[r];
                float *o = row + ru->j;
                int it = ru->tb + dt, iy = ru->yb + dy, xs = ru->xb + dx;
                if (it < 0)
                    it = 0; /* frames before 0 replicate frame 0 */
                if (iy < 0 || iy >= p->h) {
                    for (int q = 0; q < ru->len; q++)
                        o[q] = 0.0f;
                    continue;
                }
                const float *src = cx->x + (((size_t)ci * p->t + it) * p->h + iy) * p->w;
                if (p->sw == 1) {
                    int qa = xs < 0 ? -xs : 0, qb = p->w - xs < ru->len ? p->w - xs : ru->len;
                    if (qb < qa)
                        qb = qa;
                    for (int q = 0; q < qa && q < ru->len; q++)
                        o[q] = 0.0f;
                    if (qb > qa)
                        memcpy(o + qa, src + xs + qa, sizeof(float) * (qb - qa));
                    for (int q = qb > qa ? qb : qa; q < ru->len; q++)
                        o[q] = 0.0f;
                } else {
                    for (int q = 0; q < ru->len; q++) {
                        int ix = xs + q * p->sw;
                        o[q] = ix >= 0 && ix < p->w ? src[ix] : 0.0f;
                    }
                }
            }
            for (int j = nr; j < NR; j++)
                row[j] = 0.0f;
            if (++dx == p->kw) { /* next (ci, dt, dy, dx) in weight order */
                dx = 0;
                if (++dy == p->kh) {
                    dy = 0;
                    if (++dt == p->kt) {
                        dt = 0;
                        ci++;
                    }
                }
            }
        }
    }
}

/* x [N][Ci][T][H][W], wt [Co][Ci][kt][kh][kw], bias [Co] or NULL -> y [N][Co][To][Ho][Wo];
 * one GEMM per sample */
int it_cpu_conv3d(it_ctx *ctx, const it_conv3d_params *p, const float *x, const float *wt,
                  const float *bias, float *y)
{
    int to, ho, wo;
    int rc = it_conv3d_out_shape(p, &to, &ho, &wo);
    if (rc < 0)
        return rc;
    long long np = (long long)to * ho * wo, kk = (long long)p->ci * p->kt * p->kh * p->kw;
    if (np > INT32_MAX || kk > INT32_MAX)
        return it_error_set(IT_E_SHAPE, "conv3d: tensor too large");
    const int pointwise = p->kt == 1 && p->kh == 1 && p->kw == 1 && p->st == 1 && p->sh == 1 &&
                          p->sw == 1 && p->tpad == 0 && !p->pad_top && !p->pad_bottom && !p->pad_left &&
                          !p->pad_right;
    const size_t nx = (size_t)p->ci * p->t * p->h * p->w, ny = (size_t)p->co * np;
    for (int s = 0; s < p->n && rc == 0; s++, x += nx, y += ny) {
        if (pointwise) {
            struct it_gemm_rowmajor b = {x, (size_t)np}; /* x viewed as [Ci][P] */
            rc = it_cpu_gemm(ctx, p->co, (int)np, p->ci, wt, p->ci, 1, it_gemm_pack_rowmajor, &b, bias,
                             NULL, y, (size_t)np);
        } else {
            struct conv_ctx cx = {p, x, to, ho, wo};
            rc = it_cpu_gemm(ctx, p->co, (int)np, (int)kk, wt, (size_t)kk, 1, pack_conv, &cx, bias, NULL,
                             y, (size_t)np);
        }
    }
    return rc;
}
