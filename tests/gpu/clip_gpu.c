/* clip_gpu: the bundled (or any) model on real frames, on the cpu and the cuda backend in one
 * precision, tokens compared: check.sh's "clips" step. Frames come as raw rgb24 (extracted by
 * tests/gpu/prepare.sh with ffmpeg), so the GPU machine needs no FFmpeg.
 *
 *     clip_gpu WEIGHTS RAW T H W PRECISION
 *
 * RAW holds T frames of H x W (T = 1 + 4k, H and W multiples of 8): one window. Prints the
 * fraction of identical FSQ indices and of identical keep flags at rate 0.5 (the quantile
 * mask of each backend's own ELBO map); exit 1 when fewer than the stated fraction of indices
 * agree: 0.99 in fp32 (tokens flip only near an FSQ rounding boundary: test_model's bound),
 * 0.9 in bf16 (the precision's rounding moves more values across). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/infotok.h"
#include "kernels/it_kernels.h"

static int tokens(const char *weights, const char *backend, int precision, int T, int H, int W, const uint8_t *rgb,
                  uint16_t *idx, float *elbo)
{
    it_model_opts o = {.backend = backend, .precision = precision, .max_batch = 1};
    it_model *m = NULL;
    int rc = it_model_load_opts(&m, weights, &o);
    if (rc == 0)
        rc = it_model_tokenize(m, 1, T, H, W, rgb, idx, elbo);
    if (rc < 0)
        fprintf(stderr, "clip_gpu: %s: %s\n", backend, it_error_message());
    it_model_free(&m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: clip_gpu WEIGHTS RAW T H W PRECISION\n");
        return 2;
    }
    const int T = atoi(argv[3]), H = atoi(argv[4]), W = atoi(argv[5]);
    int precision;
    if (T < 1 || H < 8 || W < 8 || it_precision_parse(argv[6], &precision) < 0)
        return 2;
    const size_t npix = (size_t)T * H * W * 3, nt = (size_t)((T + 3) / 4) * (H / 8) * (W / 8);
    uint8_t *rgb = malloc(npix), *ka = malloc(nt), *kb = malloc(nt);
    uint16_t *ia = malloc(nt * 2), *ib = malloc(nt * 2);
    float *ea = malloc(nt * 4), *eb = malloc(nt * 4);
    FILE *f = fopen(argv[2], "rb");
    if (!rgb || !ka || !kb || !ia || !ib || !ea || !eb || !f || fread(rgb, 1, npix, f) != npix) {
        fprintf(stderr, "clip_gpu: cannot read %zu bytes of frames from %s\n", npix, argv[2]);
        return 2;
    }
    fclose(f);
    if (tokens(argv[1], "cpu", precision, T, H, W, rgb, ia, ea) < 0 ||
        tokens(argv[1], "cuda", precision, T, H, W, rgb, ib, eb) < 0)
        return 3;
    size_t same = 0, keep = 0, ka_n = 0, kb_n = 0;
    if (it_quantile_mask(nt, ea, 0.5f, ka, &ka_n, NULL) < 0 || it_quantile_mask(nt, eb, 0.5f, kb, &kb_n, NULL) < 0)
        return 3;
    for (size_t i = 0; i < nt; i++) {
        same += ia[i] == ib[i];
        keep += ka[i] == kb[i];
    }
    const double need = precision == IT_PRECISION_FP32 ? 0.99 : 0.9;
    printf("%s: %zu tokens: %.4f identical indices (need %.2f), %.4f identical keep flags at rate 0.5\n", argv[6], nt,
           (double)same / nt, need, (double)keep / nt);
    return (double)same / nt >= need ? 0 : 1;
}
