/* cpu_resample.c: average pooling, the nearest upsamplers (both precisions) and the Haar
 * patcher/unpatcher, parallel over output planes. They move memory rather than compute; the
 * loops are the oracle's, reordered so the innermost loop runs along a row. Dimension
 * letters: see it_kernels.h. */
#include "kernels/cpu/cpu_internal.h"

/* x [NC][T][H][W] -> y [NC][(T+tpad)/kt][H/kh][W/kw] */
int it_cpu_avgpool(it_ctx *ctx, int c, int t, int h, int w, int kt, int kh, int kw, int tpad,
                   const float *x, float *y)
{
    IT_KCHECK(c > 0 && t > 0 && h > 0 && w > 0 && kt > 0 && kh > 0 && kw > 0 && tpad >= 0 &&
                  t + tpad >= kt && h >= kh && w >= kw,
              "avgpool");
    const int to = (t + tpad) / kt, ho = h / kh, wo = w / kw;
    const double inv = 1.0 / (kt * kh * kw);
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < (long)c * to; pl++) {
        int ch = (int)(pl / to), ot = (int)(pl % to);
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                double acc = 0; /* same order and precision as the oracle */
                for (int dt = 0; dt < kt; dt++) {
                    int it = ot * kt + dt - tpad;
                    if (it < 0)
                        it = 0;
                    const float *src = x + (((size_t)ch * t + it) * h + (size_t)oy * kh) * w + (size_t)ox * kw;
                    for (int dy = 0; dy < kh; dy++)
                        for (int dx = 0; dx < kw; dx++)
                            acc += src[(size_t)dy * w + dx];
                }
                y[((size_t)pl * ho + oy) * wo + ox] = (float)(acc * inv);
            }
    }
    return 0;
}

/* The nearest upsamplers only copy values, so one loop serves both precisions: elements of
 * esz bytes (4: fp32; 2: bf16, whose output is then the input's bits, what the oracle's
 * widen, copy and round gives). */
static void upsample_hw(size_t esz, long rows, int w, const void *x, void *y)
{
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) { /* one input row -> two output rows */
        const char *src = (const char *)x + (size_t)r * w * esz;
        char *d0 = (char *)y + (size_t)r * 4 * w * esz, *d1 = d0 + 2 * w * esz;
        if (esz == sizeof(float))
            for (int ox = 0; ox < 2 * w; ox++)
                ((float *)d0)[ox] = ((const float *)src)[ox / 2];
        else
            for (int ox = 0; ox < 2 * w; ox++)
                ((it_bf16 *)d0)[ox] = ((const it_bf16 *)src)[ox / 2];
        memcpy(d1, d0, esz * 2 * w);
    }
}
static void upsample_t(size_t esz, int c, int t, int hw, const void *x, void *y)
{
    const int to = 2 * t - 1;
#pragma omp parallel for schedule(static)
    for (long pl = 0; pl < (long)c * to; pl++) {
        long ch = pl / to, ot = pl % to;
        memcpy((char *)y + (size_t)pl * hw * esz, (const char *)x + ((size_t)ch * t + (ot + 1) / 2) * hw * esz,
               esz * hw);
    }
}

/* x [NC][T][H][W] -> y [NC][T][2H][2W] */
int it_cpu_upsample_hw(it_ctx *ctx, int c, int t, int h, int w, const float *x, float *y)
{
    IT_KCHECK(c > 0 && t > 0 && h > 0 && w > 0, "upsample_hw");
    upsample_hw(sizeof *x, (long)c * t * h, w, x, y);
    return 0;
}
int it_cpu_bf16_upsample_hw(it_ctx *ctx, int c, int t, int h, int w, const void *x, void *y)
{
    IT_KCHECK(c > 0 && t > 0 && h > 0 && w > 0, "upsample_hw");
    upsample_hw(sizeof(it_bf16), (long)c * t * h, w, x, y);
    return 0;
}

/* x [NC][T][HW] -> y [NC][2T-1][HW] */
int it_cpu_upsample_t(it_ctx *ctx, int c, int t, int hw, const float *x, float *y)
{
    IT_KCHECK(c > 0 && t > 0 && hw > 0, "upsample_t");
    upsample_t(sizeof *x, c, t, hw, x, y);
    return 0;
}
int it_cpu_bf16_upsample_t(it_ctx *ctx, int c, int t, int hw, const void *x, void *y)
{
    IT_KCHECK(c > 0 && t > 0 && hw > 0, "upsample_t");
    upsample_t(sizeof(it_bf16), c, t, hw, x, y);
    return 0;
}

/* x [N][3][T][H][W] -> y [N][24][(T+1)/2][H/2][W/2]: the butterfly of ref_haar.c, all 8 bands
 * of one cube at once (sums of the 8 corners with the oracle's signs and order). */
int it_cpu_haar_fwd(it_ctx *ctx, int n, int t, int h, int w, float scale, const float *x0,
                    float *y0)
{
    IT_KCHECK(n > 0 && t > 0 && t % 2 == 1 && h > 0 && h % 2 == 0 && w > 0 && w % 2 == 0, "haar_fwd");
    const int to = (t + 1) / 2, ho = h / 2, wo = w / 2;
    const size_t band_stride = (size_t)3 * to * ho * wo;
#pragma omp parallel for schedule(static)
    for (long spl = 0; spl < 3L * to * n; spl++) {
        long smp = spl / (3L * to), pl = spl % (3L * to);
        const float *x = x0 + smp * 3 * (size_t)t * h * w;
        float *y = y0 + smp * 8 * band_stride;
        int rgb = (int)(pl / to), ot = (int)(pl % to);
        int f0 = 2 * ot - 1 < 0 ? 0 : 2 * ot - 1, f1 = 2 * ot;
        const float *x0 = x + ((size_t)rgb * t + f0) * h * w, *x1 = x + ((size_t)rgb * t + f1) * h * w;
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                float v[8]; /* cube corner (dt,dy,dx) at index 4dt+2dy+dx */
                size_t a = (size_t)2 * oy * w + 2 * ox;
                v[0] = x0[a], v[1] = x0[a + 1], v[2] = x0[a + w], v[3] = x0[a + w + 1];
                v[4] = x1[a], v[5] = x1[a + 1], v[6] = x1[a + w], v[7] = x1[a + w + 1];
                float *out = y + ((size_t)rgb * to + ot) * ho * wo + (size_t)oy * wo + ox;
                for (int band = 0; band < 8; band++) {
                    float acc = 0;
                    for (int corner = 0; corner < 8; corner++)
                        acc += (__builtin_popcount(band & corner) & 1) ? -v[corner] : v[corner];
                    out[band * band_stride] = acc * scale;
                }
            }
    }
    return 0;
}

/* x [N][24][t][h][w] -> y [N][3][2t-1][2h][2w] */
int it_cpu_haar_inv(it_ctx *ctx, int n, int t, int h, int w, float scale, const float *x0,
                    float *y0)
{
    IT_KCHECK(n > 0 && t > 0 && h > 0 && w > 0, "haar_inv");
    const int to = 2 * t - 1, ho = 2 * h, wo = 2 * w;
    const size_t band_stride = (size_t)3 * t * h * w;
#pragma omp parallel for schedule(static)
    for (long spl = 0; spl < 3L * to * n; spl++) {
        long smp = spl / (3L * to), pl = spl % (3L * to);
        const float *x = x0 + smp * 8 * band_stride;
        float *y = y0 + smp * 3 * (size_t)to * ho * wo;
        int rgb = (int)(pl / to), ot = (int)(pl % to), ft = ot + 1, it = ft / 2, dt = ft % 2;
        const float *src = x + ((size_t)rgb * t + it) * h * w;
        float *dst = y + (size_t)pl * ho * wo;
        for (int oy = 0; oy < ho; oy++)
            for (int ox = 0; ox < wo; ox++) {
                int corner = 4 * dt + 2 * (oy % 2) + ox % 2;
                size_t at = (size_t)(oy / 2) * w + ox / 2;
                float acc = 0;
                for (int band = 0; band < 8; band++) {
                    float c = src[band * band_stride + at];
                    acc += (__builtin_popcount(band & corner) & 1) ? -c : c;
                }
                dst[(size_t)oy * wo + ox] = acc * scale;
            }
    }
    return 0;
}
