/* ref_resample.c: average pooling (window == stride, causal first-frame pad) and the nearest
 * upsamplers of the hybrid up/down blocks, naive. Dimension letters: see it_kernels.h. */
#include "kernels/kernels_internal.h"

/* x [NC][T][H][W] -> y [NC][(T+tpad)/kt][H/kh][W/kw] */
int it_ref_avgpool(it_ctx *ctx, int c, int t, int h, int w, int kt, int kh, int kw, int tpad,
                   const float *x, float *y)
{
    IT_KCHECK(c > 0 && t > 0 && h > 0 && w > 0 && kt > 0 && kh > 0 && kw > 0 && tpad >= 0 &&
                  t + tpad >= kt && h >= kh && w >= kw,
              "avgpool");
    int to = (t + tpad) / kt, ho = h / kh, wo = w / kw;
    for (int ch = 0; ch < c; ch++)
        for (int ot = 0; ot < to; ot++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) {
                    double acc = 0;
                    for (int dt = 0; dt < kt; dt++) {
                        int it = ot * kt + dt - tpad;
                        if (it < 0)
                            it = 0;
                        for (int dy = 0; dy < kh; dy++)
                            for (int dx = 0; dx < kw; dx++)
                                acc += x[(((size_t)ch * t + it) * h + oy * kh + dy) * w + ox * kw + dx];
                    }
                    y[(((size_t)ch * to + ot) * ho + oy) * wo + ox] = (float)(acc / (kt * kh * kw));
                }
    return 0;
}

/* x [NC][T][H][W] -> y [NC][T][2H][2W] */
int it_ref_upsample_hw(it_ctx *ctx, int c, int t, int h, int w, const float *x, float *y)
{
    IT_KCHECK(c > 0 && t > 0 && h > 0 && w > 0, "upsample_hw");
    size_t planes = (size_t)c * t;
    for (size_t pl = 0; pl < planes; pl++)
        for (int oy = 0; oy < 2 * h; oy++)
            for (int ox = 0; ox < 2 * w; ox++)
                y[(pl * 2 * h + oy) * 2 * w + ox] = x[(pl * h + oy / 2) * w + ox / 2];
    return 0;
}

/* x [NC][T][HW] -> y [NC][2T-1][HW] */
int it_ref_upsample_t(it_ctx *ctx, int c, int t, int hw, const float *x, float *y)
{
    IT_KCHECK(c > 0 && t > 0 && hw > 0, "upsample_t");
    int to = 2 * t - 1;
    for (int ch = 0; ch < c; ch++)
        for (int ot = 0; ot < to; ot++)
            for (int i = 0; i < hw; i++) /* frames 0,0,1,1,2,2,.. with the first dropped */
                y[((size_t)ch * to + ot) * hw + i] = x[((size_t)ch * t + (ot + 1) / 2) * hw + i];
    return 0;
}
