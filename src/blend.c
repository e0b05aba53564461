/* blend.c: joining two decoded windows that share frames (spec §4.8, forward_with_overlap):
 * the k shared frames are a linear cross-fade in float32, clipped and truncated to uint8. */
#include <math.h>

#include "infotok/core.h"

void it_blend_overlap(int k, size_t frame_bytes, const uint8_t *prev_tail, const uint8_t *next_head,
                      uint8_t *out)
{
    for (int i = 0; i < k; i++) {
        /* As numpy computes it: alpha rounded to float32, 1 - alpha in float32, two float32
         * products and a float32 sum (no fused multiply-add: ISO C mode keeps them apart). */
        const float a = (float)((double)(k - i) / (double)(k + 1)), b = 1.0f - a;
        const uint8_t *p = prev_tail + (size_t)i * frame_bytes, *n = next_head + (size_t)i * frame_bytes;
        uint8_t *o = out + (size_t)i * frame_bytes;
        for (size_t j = 0; j < frame_bytes; j++) {
            float pa = a * (float)p[j], nb = b * (float)n[j];
            float v = pa + nb;
            v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
            o[j] = (uint8_t)v; /* astype(uint8): truncation, not rounding */
        }
    }
}
