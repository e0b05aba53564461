/* quality.h: reconstruction quality of 8-bit RGB frames, as video tokenizer papers report it.
 *
 * PSNR follows TokenBench: per video, the MSE over all its frames and RGB channels of 0..255
 * values (differences taken in double, never in uint8), PSNR = 10 log10(255^2 / MSE); a
 * corpus reports the mean of the videos' PSNRs, and here also the PSNR of the pooled MSE.
 * Identical frames give MSE 0 and PSNR +infinity: it_psnr returns INFINITY, and the mean of
 * a set that contains one is infinite too; printers show "inf".
 *
 * SSIM is Wang et al. (2004): Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, L 255,
 * over the "valid" positions (no padding), computed per RGB channel and averaged over
 * channels, then over frames. Frames smaller than the window use the whole frame as one
 * window. Not ffmpeg's ssim filter, which uses 8x8 uniform windows on a 4-pixel grid (x264's
 * SSIM; 0.78 against our 0.88 on a typical lossy pair): tests/unit/test_quality.sh ties the
 * two together through one numpy implementation of both. */
#ifndef IT_QUALITY_H
#define IT_QUALITY_H

#include <stddef.h>
#include <stdint.h>

/* Exported from libinfotok.so: the public API (the library builds with hidden visibility). */
#pragma GCC visibility push(default)

#ifdef __cplusplus
extern "C" {
#endif

/* Sum of squared differences of n bytes (e.g. one frame, h*w*3). */
double it_sse_u8(const uint8_t *a, const uint8_t *b, size_t n);
/* PSNR in dB of a mean squared error on 0..255 values; INFINITY for 0. */
double it_psnr(double mse);
/* Mean SSIM of two h x w RGB24 frames (mean over channels and positions). */
double it_ssim_rgb(const uint8_t *a, const uint8_t *b, int h, int w);

/* One video's accumulator. */
typedef struct it_quality {
    double sse;       /* sum of squared differences */
    uint64_t values;  /* number of compared values (frames * h * w * 3) */
    double ssim_sum;  /* sum of per-frame SSIM */
    uint64_t frames;
} it_quality;
void it_quality_add_frame(it_quality *q, const uint8_t *a, const uint8_t *b, int h, int w, int with_ssim);
double it_quality_psnr(const it_quality *q); /* NAN when empty */
double it_quality_ssim(const it_quality *q); /* NAN when empty or not computed */

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop
#endif
