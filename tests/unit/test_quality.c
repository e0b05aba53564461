/* test_quality: PSNR and SSIM (src/quality.c) against naive formulas: the uint8 subtraction
 * pitfall (10 - 250 counts as 240^2, not as a wrapped 16^2), identical frames (MSE 0: PSNR
 * +inf, SSIM 1), a hand-computable case, SSIM's symmetry and its drop with noise, and the
 * small-frame fallback (one window over the frame).
 *
 * With arguments, `test_quality A.rgb B.rgb W H` prints the TokenBench PSNR and the mean
 * SSIM of two raw RGB24 clips, for tests/unit/test_quality.sh to compare with ffmpeg. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/quality.h"

static int failures;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, "FAIL: " __VA_ARGS__); fprintf(stderr, "\n"); failures++; } } while (0)

/* The comparison mode: whole clips as one video, as it-stats --psnr accumulates them. */
static int compare_files(const char *pa, const char *pb, int w, int h)
{
    FILE *fa = fopen(pa, "rb"), *fb = fopen(pb, "rb");
    const size_t n = (size_t)w * h * 3;
    uint8_t *a = malloc(n), *b = malloc(n);
    it_quality q = {0};
    int rc = fa && fb && a && b ? 0 : 1;
    while (rc == 0) {
        size_t ra = fread(a, 1, n, fa), rb = fread(b, 1, n, fb);
        if (ra == 0 && rb == 0)
            break;
        if (ra != n || rb != n) {
            fprintf(stderr, "test_quality: %s and %s are not the same number of %dx%d frames\n", pa, pb, w, h);
            rc = 1;
            break;
        }
        it_quality_add_frame(&q, a, b, h, w, 1);
    }
    if (rc == 0)
        printf("%.8f %.8f\n", it_quality_psnr(&q), it_quality_ssim(&q));
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    free(a);
    free(b);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 5)
        return compare_files(argv[1], argv[2], atoi(argv[3]), atoi(argv[4]));
    /* the pitfall: unsigned bytes must not wrap */
    uint8_t a[3] = {10, 250, 0}, b[3] = {250, 10, 255};
    double sse = it_sse_u8(a, b, 3);
    CHECK(sse == 240.0 * 240 * 2 + 255.0 * 255, "sse %g: uint8 differences wrapped", sse);
    uint8_t wrapped = (uint8_t)(a[0] - b[0]); /* what a naive uint8 subtraction gives */
    CHECK(wrapped == 16 && sse != 16.0 * 16 * 2 + 1, "the pitfall case is not the pitfall");

    /* identical frames: infinite PSNR, SSIM exactly 1 */
    enum { H = 24, W = 20 };
    uint8_t *f = malloc(H * W * 3), *g = malloc(H * W * 3);
    for (int i = 0; i < H * W * 3; i++)
        f[i] = (uint8_t)((i * 37) % 251);
    memcpy(g, f, H * W * 3);
    it_quality q = {0};
    it_quality_add_frame(&q, f, g, H, W, 1);
    CHECK(isinf(it_quality_psnr(&q)) && it_quality_psnr(&q) > 0, "identical frames: PSNR %g", it_quality_psnr(&q));
    CHECK(fabs(it_quality_ssim(&q) - 1.0) < 1e-12, "identical frames: SSIM %.15g", it_quality_ssim(&q));

    /* every value off by 5: MSE 25, PSNR = 10 log10(255^2/25) */
    for (int i = 0; i < H * W * 3; i++)
        g[i] = (uint8_t)(f[i] > 127 ? f[i] - 5 : f[i] + 5);
    it_quality q2 = {0};
    it_quality_add_frame(&q2, f, g, H, W, 1);
    it_quality_add_frame(&q2, f, f, H, W, 1); /* a second, identical frame halves the MSE */
    const double want = 10 * log10(255.0 * 255 / 12.5);
    CHECK(fabs(it_quality_psnr(&q2) - want) < 1e-12, "PSNR %.15g, expected %.15g", it_quality_psnr(&q2), want);
    const double s1 = it_ssim_rgb(f, g, H, W), s2 = it_ssim_rgb(g, f, H, W);
    CHECK(s1 < 1 && s1 > 0.9, "SSIM of a small offset %g", s1);
    CHECK(fabs(s1 - s2) < 1e-12, "SSIM is not symmetric: %g %g", s1, s2);

    /* noise lowers SSIM more than a small offset does */
    unsigned x = 1;
    for (int i = 0; i < H * W * 3; i++) {
        x = x * 1103515245u + 12345u;
        int v = f[i] + (int)((x >> 16) % 61) - 30;
        g[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    CHECK(it_ssim_rgb(f, g, H, W) < s1, "noise did not lower SSIM");

    /* frames smaller than the 11x11 window: one window over the whole frame, by hand */
    uint8_t p[2 * 2 * 3] = {0}, r[2 * 2 * 3] = {0};
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++) {
            p[3 * i + c] = (uint8_t)(i * 60);
            r[3 * i + c] = (uint8_t)(i * 60 + 10);
        }
    /* per channel: means 90 and 100, variances 4500 both, covariance 4500 */
    const double C1 = 6.5025, C2 = 58.5225;
    const double want_s = ((2 * 90.0 * 100 + C1) * (2 * 4500 + C2)) / ((90.0 * 90 + 100.0 * 100 + C1) * (9000 + C2));
    CHECK(fabs(it_ssim_rgb(p, r, 2, 2) - want_s) < 1e-12, "small-frame SSIM %.15g, expected %.15g",
          it_ssim_rgb(p, r, 2, 2), want_s);
    CHECK(isnan(it_quality_psnr(&(it_quality){0})), "an empty accumulator must be NaN, not a number");
    free(f);
    free(g);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
