/* pixels.c: uint8 RGB frames <-> the network's [-1, 1] planes (spec §4.2 numpy2tensor,
 * §4.7 tensor2numpy). */
#include <math.h>

#include "infotok/core.h"

void it_pixels_from_u8(int t, int h, int w, const uint8_t *rgb, float *x)
{
    const size_t plane = (size_t)t * h * w;
    /* x/255*2-1 in double, then rounded once, as numpy2tensor computes it. */
    for (size_t i = 0; i < plane; i++)
        for (int c = 0; c < 3; c++)
            x[c * plane + i] = (float)((double)rgb[i * 3 + c] / 255.0 * 2.0 - 1.0);
}

void it_pixels_to_u8(int t, int h, int w, const float *y, const it_pad *crop, uint8_t *rgb)
{
    const size_t plane = (size_t)t * h * w;
    const int t0 = crop ? crop->t0 : 0, h0 = crop ? crop->h0 : 0, w0 = crop ? crop->w0 : 0;
    const int ot = crop ? crop->t : t, oh = crop ? crop->h : h, ow = crop ? crop->w : w;
    for (int f = 0; f < ot; f++)
        for (int r = 0; r < oh; r++)
            for (int q = 0; q < ow; q++) {
                size_t src = ((size_t)(f + t0) * h + (r + h0)) * w + (q + w0);
                uint8_t *dst = rgb + (((size_t)f * oh + r) * ow + q) * 3;
                for (int c = 0; c < 3; c++) {
                    /* (x+1)/2, clamp to [0,1], *255 + 0.5, truncate: round half up. */
                    float v = (y[c * plane + src] + 1.0f) / 2.0f;
                    v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
                    dst[c] = (uint8_t)(v * 255.0f + 0.5f);
                }
            }
}
