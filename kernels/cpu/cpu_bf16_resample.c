/* cpu_bf16_resample.c: the nearest upsamplers in bf16. They only copy values, so the bf16
 * output is the input's bits (what the wrappers' widen, copy and round gives, without the
 * two fp32 copies of the tensor). Dimension letters: see it_kernels.h. */
#include "kernels/cpu/cpu_internal.h"

/* x [NC][T][H][W] -> y [NC][T][2H][2W] */
int it_cpu_bf16_upsample_hw(it_ctx *ctx, int c, int t, int h, int w, const void *xv, void *yv)
{
    (void)ctx;
    IT_KCHECK(c > 0 && t > 0 && h > 0 && w > 0, "upsample_hw");
    const it_bf16 *x = xv;
    it_bf16 *y = yv;
#pragma omp parallel for schedule(static)
    for (long r = 0; r < (long)c * t * h; r++) { /* one input row -> two output rows */
        const it_bf16 *src = x + (size_t)r * w;
        it_bf16 *d0 = y + (size_t)r * 4 * w, *d1 = d0 + 2 * w;
        for (int ox = 0; ox < 2 * w; ox++)
            d0[ox] = src[ox / 2];
        memcpy(d1, d0, sizeof *d0 * 2 * w);
    }
    return 0;
}

/* x [NC][T][HW] -> y [NC][2T-1][HW] */
int it_cpu_bf16_upsample_t(it_ctx *ctx, int c, int t, int hw, const void *xv, void *yv)
{
    (void)ctx;
    IT_KCHECK(c > 0 && t > 0 && hw > 0, "upsample_t");
    const it_bf16 *x = xv;
    it_bf16 *y = yv;
    const int to = 2 * t - 1;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < (long)c * to; pl++) {
        long ch = pl / to, ot = pl % to;
        memcpy(y + (size_t)pl * hw, x + ((size_t)ch * t + (ot + 1) / 2) * hw, sizeof *y * hw);
    }
    return 0;
}
