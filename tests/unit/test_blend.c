/* test_blend: the decoder's pixel output against the PyTorch reference's cases in
 * tests/model/fixtures/ops.safetensors, exact byte for byte: the float -> uint8 conversion
 * (spec §4.7: clamp, *255 + 0.5, truncate) and the overlap blend (§4.8, ov = 3, numpy float32
 * arithmetic); plus the blend's truncation pinned by hand. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/weights.h"
#include "infotok/core.h"

int main(void)
{
    char path[4096];
    const char *src = getenv("top_srcdir");
    snprintf(path, sizeof path, "%s/tests/model/fixtures/ops.safetensors", src ? src : ".");
    it_weights *ops = NULL;
    if (it_weights_open(&ops, path) < 0) {
        fprintf(stderr, "%s\n", it_error_message());
        return 99;
    }
    const it_tensor_view *prev = it_weights_find(ops, "blend_prev"), *next = it_weights_find(ops, "blend_next"),
                         *want = it_weights_find(ops, "blend_out");
    if (!prev || !next || !want)
        return 99;
    const int tp = (int)prev->shape[0], tn = (int)next->shape[0], k = 3;
    const size_t fb = (size_t)prev->shape[1] * prev->shape[2] * prev->shape[3];
    uint8_t *out = malloc((size_t)(tp + tn - k) * fb);
    /* prev[:-k] ++ blend ++ next[k:] */
    memcpy(out, prev->data, (size_t)(tp - k) * fb);
    it_blend_overlap(k, fb, (const uint8_t *)prev->data + (size_t)(tp - k) * fb, next->data, out + (size_t)(tp - k) * fb);
    memcpy(out + (size_t)tp * fb, (const uint8_t *)next->data + (size_t)k * fb, (size_t)(tn - k) * fb);
    int failures = 0;
    if ((size_t)want->nbytes != (size_t)(tp + tn - k) * fb || memcmp(out, want->data, want->nbytes) != 0) {
        fprintf(stderr, "FAIL: blend differs from the reference\n");
        failures++;
    }
    /* Truncation, not rounding: 0.75*1 + 0.25*2 = 1.25 -> 1; 0.5*1 + 0.5*2 = 1.5 -> 1. */
    uint8_t p1[2] = {1, 1}, n1[2] = {2, 2}, o1[2];
    it_blend_overlap(1, 1, p1, n1, o1);
    if (o1[0] != 1) {
        fprintf(stderr, "FAIL: 0.5*1 + 0.5*2 gave %d, expected 1 (truncation)\n", o1[0]);
        failures++;
    }
    uint8_t p3[3] = {1, 1, 1}, n3[3] = {2, 2, 2}, o3[3];
    it_blend_overlap(3, 1, p3, n3, o3);
    if (o3[0] != 1 || o3[1] != 1 || o3[2] != 1) {
        fprintf(stderr, "FAIL: k = 3 gave %d %d %d, expected 1 1 1\n", o3[0], o3[1], o3[2]);
        failures++;
    }
    /* §4.7 on values around every rounding edge: to_u8_in [1,3,1,1,N] -> to_u8_out [1,1,N,3]. */
    const it_tensor_view *uin = it_weights_find(ops, "to_u8_in"), *uout = it_weights_find(ops, "to_u8_out");
    if (!uin || !uout)
        return 99;
    const int n = (int)uin->shape[4];
    float *y = malloc(sizeof(float) * 3 * (size_t)n);
    uint8_t *rgb = malloc(3 * (size_t)n);
    if (!y || !rgb || it_tensor_to_f32(uin, y) < 0)
        return 99;
    it_pixels_to_u8(1, 1, n, y, NULL, rgb);
    for (int i = 0; i < 3 * n; i++)
        if (rgb[i] != ((const uint8_t *)uout->data)[i]) {
            fprintf(stderr, "FAIL: to_u8 value %d: %d, reference %d\n", i, rgb[i], ((const uint8_t *)uout->data)[i]);
            failures++;
            break;
        }
    free(y);
    free(rgb);
    free(out);
    it_weights_close(&ops);
    return failures ? 1 : 0;
}
