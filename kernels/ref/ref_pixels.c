/* ref_pixels.c: the ops that move data in and out of the network and between its layouts:
 * uint8 frames <-> activations (spec 4.2, 4.7), the token transpose and the temporal
 * embedding's row add. Cheap, written once for both precisions and used by the cpu table too.
 * Dimension letters: see it_kernels.h. */
#include "kernels/kernels_internal.h"

/* rgb u8 [N][T][H][W][3] -> x act [N][3][T][H][W] */
int it_ref_pixels_in(it_ctx *ctx, int n, int t, int h, int w, const uint8_t *rgb, void *x)
{
    IT_KCHECK(n > 0 && t > 0 && h > 0 && w > 0, "pixels_in");
    const int prec = ctx->precision;
    float lut[256];
    /* v/255*2-1 in double, rounded to fp32 (numpy2tensor), then to bf16 as torch's .to() does
     * (through fp32; for these 256 values it equals a direct rounding, tests/ops/test_ref.c) */
    for (int v = 0; v < 256; v++) {
        lut[v] = (float)((double)v / 255.0 * 2.0 - 1.0);
        if (prec == IT_PRECISION_BF16)
            lut[v] = it_bf16_round(lut[v]);
    }
    const size_t plane = (size_t)t * h * w;
    for (size_t s = 0; s < (size_t)n; s++) {
        const uint8_t *src = rgb + s * plane * 3;
        for (size_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++)
                it_act_set(prec, x, (s * 3 + c) * plane + i, lut[src[i * 3 + c]]);
    }
    return 0;
}

/* y act [N][3][T][H][W] -> rgb u8 [N][T][H][W][3] */
int it_ref_pixels_out(it_ctx *ctx, int n, int t, int h, int w, const void *y, uint8_t *rgb)
{
    IT_KCHECK(n > 0 && t > 0 && h > 0 && w > 0, "pixels_out");
    const int prec = ctx->precision;
    const size_t plane = (size_t)t * h * w;
    for (size_t s = 0; s < (size_t)n; s++) {
        uint8_t *dst = rgb + s * plane * 3;
        for (size_t i = 0; i < plane; i++)
            for (int c = 0; c < 3; c++) {
                /* (x+1)/2, clamp to [0,1] (NaN to 0), *255 + 0.5, truncate: round half up */
                float v = (it_act_get(prec, y, (s * 3 + c) * plane + i) + 1.0f) / 2.0f;
                v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
                dst[i * 3 + c] = (uint8_t)(v * 255.0f + 0.5f);
            }
    }
    return 0;
}

/* x act [N][A][B] -> y act [N][B][A] */
int it_ref_transpose(it_ctx *ctx, int n, int a, int b, const void *x, void *y)
{
    IT_KCHECK(n > 0 && a > 0 && b > 0, "transpose");
    const size_t A = a, B = b, esz = it_precision_size(ctx->precision);
    const unsigned char *src = x;
    unsigned char *dst = y;
    for (size_t s = 0; s < (size_t)n; s++, src += A * B * esz, dst += A * B * esz)
        for (size_t r = 0; r < A; r++)
            for (size_t c = 0; c < B; c++)
                memcpy(dst + (c * A + r) * esz, src + (r * B + c) * esz, esz);
    return 0;
}

/* x act [N][S][D] += table param [S/hw][D] by frame (row s reads table row s / hw) */
int it_ref_add_rows(it_ctx *ctx, int n, int s, int d, int hw, const void *table, void *x)
{
    IT_KCHECK(n > 0 && s > 0 && d > 0 && hw > 0, "add_rows");
    const int prec = ctx->precision;
    for (size_t i = 0; i < (size_t)n * s; i++) {
        size_t trow = i % (size_t)s / (size_t)hw;
        for (size_t j = 0; j < (size_t)d; j++)
            it_act_set(prec, x, i * d + j, it_act_get(prec, x, i * d + j) + it_act_get(prec, table, trow * d + j));
    }
    return 0;
}
