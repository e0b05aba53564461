/* agree_model: how far the bf16 engine is from the fp32 engine on real windows, in the terms
 * of the official code's own bf16-vs-fp32 agreement (issue #17): the share of equal full-rate
 * indices, the IoU of the rate-0.5 keep masks, and the PSNR between the two precisions'
 * full-rate reconstructions (each decoded in its own precision), plus each one's PSNR against
 * the source. Not a test (it needs the official-size weights and takes minutes): numbers go to
 * man/infotok-precision.7 and tests/bench/RESULTS.md (tests/bench/precision.sh).
 *   agree_model WEIGHTS T H W THREADS RGBFILE...   (each file: T*H*W*3 bytes of rgb24) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/core.h"
#include "infotok/model.h"
#include "kernels/it_kernels.h"

static double psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
    double se = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        se += d * d;
    }
    return se == 0 ? INFINITY : 10.0 * log10(255.0 * 255.0 / (se / n));
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr, "usage: agree_model WEIGHTS T H W THREADS RGBFILE...\n");
        return 2;
    }
    const int T = atoi(argv[2]), H = atoi(argv[3]), W = atoi(argv[4]);
    it_kernels_set_threads(atoi(argv[5]));
    it_model *m[2] = {NULL, NULL};
    for (int p = 0; p < 2; p++) {
        it_model_opts mo = {.precision = p ? IT_PRECISION_BF16 : IT_PRECISION_FP32};
        if (it_model_load_opts(&m[p], argv[1], &mo) < 0) {
            fprintf(stderr, "agree_model: %s\n", it_error_message());
            return 3;
        }
    }
    int t, h, w;
    if (it_model_latent_shape(m[0], T, H, W, &t, &h, &w) < 0) {
        fprintf(stderr, "agree_model: %s\n", it_error_message());
        return 3;
    }
    const size_t npix = (size_t)T * H * W * 3, nt = (size_t)t * h * w;
    uint8_t *rgb = malloc(npix), *rec[2] = {malloc(npix), malloc(npix)}, *keep[2] = {malloc(nt), malloc(nt)};
    uint16_t *idx[2] = {malloc(nt * 2), malloc(nt * 2)};
    float *elbo[2] = {malloc(nt * 4), malloc(nt * 4)};
    if (!rgb || !rec[0] || !rec[1] || !keep[0] || !keep[1] || !idx[0] || !idx[1] || !elbo[0] || !elbo[1])
        return 3;
    for (int a = 6; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb");
        if (!f || fread(rgb, 1, npix, f) != npix) {
            fprintf(stderr, "agree_model: %s: cannot read %zu bytes of rgb24\n", argv[a], npix);
            return 3;
        }
        fclose(f);
        for (int p = 0; p < 2; p++)
            if (it_model_tokenize(m[p], 1, T, H, W, rgb, idx[p], elbo[p]) < 0 ||
                it_quantile_mask(nt, elbo[p], 0.5f, keep[p], NULL, NULL) < 0 ||
                it_model_detokenize(m[p], 1, t, h, w, idx[p], NULL, rec[p]) < 0) {
                fprintf(stderr, "agree_model: %s\n", it_error_message());
                return 3;
            }
        size_t same = 0, inter = 0, uni = 0;
        for (size_t i = 0; i < nt; i++) {
            same += idx[0][i] == idx[1][i];
            inter += keep[0][i] && keep[1][i];
            uni += keep[0][i] || keep[1][i];
        }
        printf("%s window %dx%dx%d tokens %zu: indices equal %.1f%% mask IoU(r=0.5) %.3f "
               "recon bf16-vs-fp32 %.1f dB; vs source: fp32 %.1f dB bf16 %.1f dB\n",
               argv[a], T, H, W, nt, 100.0 * same / nt, uni ? (double)inter / uni : 1.0,
               psnr(rec[0], rec[1], npix), psnr(rgb, rec[0], npix), psnr(rgb, rec[1], npix));
        fflush(stdout);
    }
    it_model_free(&m[0]);
    it_model_free(&m[1]);
    free(rgb), free(rec[0]), free(rec[1]), free(keep[0]), free(keep[1]);
    free(idx[0]), free(idx[1]), free(elbo[0]), free(elbo[1]);
    return 0;
}
