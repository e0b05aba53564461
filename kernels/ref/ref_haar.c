/* ref_haar.c: the Haar patcher and unpatcher (spec 3.7) written as the 2x2x2 butterfly it
 * amounts to: forward coefficient of band (bt,bh,bw) = (1/8) sum over the cube of +-x, where a
 * high band takes first minus second along its axis; the inverse is x = sum over bands of
 * +-coefficient. Frame 0 is duplicated before the forward pass and the first output frame is
 * dropped after the inverse. The net scales (1/8 and 1 with the exact filters) come from the
 * precision: it_haar_fwd_scale / it_haar_inv_scale. Dimension letters: see it_kernels.h. */
#include "kernels/kernels_internal.h"

/* Sign of cube element (dt,dy,dx) in band (bt,bh,bw): a high band subtracts its second half. */
static int haar_sign(int band, int dt, int dy, int dx)
{
    int neg = (((band >> 2) & 1) & dt) ^ (((band >> 1) & 1) & dy) ^ ((band & 1) & dx);
    return neg ? -1 : 1;
}

/* x [N][3][T][H][W] -> y [N][24][(T+1)/2][H/2][W/2] */
int it_ref_haar_fwd(it_ctx *ctx, int n, int t, int h, int w, float scale, const float *x, float *y)
{
    IT_KCHECK(n > 0 && t > 0 && t % 2 == 1 && h > 0 && h % 2 == 0 && w > 0 && w % 2 == 0, "haar_fwd");
    int to = (t + 1) / 2, ho = h / 2, wo = w / 2;
    for (int s = 0; s < n; s++, x += (size_t)3 * t * h * w, y += (size_t)24 * to * ho * wo)
    for (int band = 0; band < 8; band++)
        for (int rgb = 0; rgb < 3; rgb++)
            for (int ot = 0; ot < to; ot++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++) {
                        float acc = 0;
                        for (int dt = 0; dt < 2; dt++) {
                            int it = 2 * ot + dt - 1; /* padded frame 0 is a copy of frame 0 */
                            if (it < 0)
                                it = 0;
                            for (int dy = 0; dy < 2; dy++)
                                for (int dx = 0; dx < 2; dx++)
                                    acc += haar_sign(band, dt, dy, dx) *
                                           x[(((size_t)rgb * t + it) * h + 2 * oy + dy) * w + 2 * ox + dx];
                        }
                        y[((((size_t)band * 3 + rgb) * to + ot) * ho + oy) * wo + ox] = acc * scale;
                    }
    return 0;
}

/* x [N][24][t][h][w] -> y [N][3][2t-1][2h][2w] */
int it_ref_haar_inv(it_ctx *ctx, int n, int t, int h, int w, float scale, const float *x, float *y)
{
    IT_KCHECK(n > 0 && t > 0 && h > 0 && w > 0, "haar_inv");
    int to = 2 * t - 1, ho = 2 * h, wo = 2 * w;
    for (int s = 0; s < n; s++, x += (size_t)24 * t * h * w, y += (size_t)3 * to * ho * wo)
    for (int rgb = 0; rgb < 3; rgb++)
        for (int ot = 0; ot < to; ot++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) {
                    int ft = ot + 1; /* frame in the undropped output */
                    int it = ft / 2, dt = ft % 2, iy = oy / 2, dy = oy % 2, ix = ox / 2, dx = ox % 2;
                    float acc = 0;
                    for (int band = 0; band < 8; band++)
                        acc += haar_sign(band, dt, dy, dx) *
                               x[((((size_t)band * 3 + rgb) * t + it) * h + iy) * w + ix];
                    /* fp32: scale 1 (the exact filters' product), so acc is exact as before */
                    y[(((size_t)rgb * to + ot) * ho + oy) * wo + ox] = acc * scale;
                }
    return 0;
}
