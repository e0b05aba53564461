/* quality.c: PSNR and SSIM of 8-bit RGB frames (quality.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/quality.h"

double it_sse_u8(const uint8_t *a, const uint8_t *b, size_t n)
{
    /* int differences: 10 - 250 is -240, never a wrapped 16 */
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        const int d = (int)a[i] - (int)b[i];
        s += (uint64_t)(d * d);
    }
    return (double)s;
}

double it_psnr(double mse)
{
    if (mse <= 0)
        return INFINITY;
    return 10.0 * log10(255.0 * 255.0 / mse);
}

#define WIN 11

/* The 11-tap Gaussian (sigma 1.5), normalised. */
static void gauss(double g[WIN])
{
    double s = 0;
    for (int i = 0; i < WIN; i++) {
        const double x = i - WIN / 2;
        g[i] = exp(-x * x / (2 * 1.5 * 1.5));
        s += g[i];
    }
    for (int i = 0; i < WIN; i++)
        g[i] /= s;
}

/* SSIM of one channel (stride 3 in the interleaved frame). */
static double ssim_channel(const uint8_t *a, const uint8_t *b, int h, int w, int c)
{
    const double C1 = (0.01 * 255) * (0.01 * 255), C2 = (0.03 * 255) * (0.03 * 255);
    if (h < WIN || w < WIN) {
        /* one window over the whole frame, uniform weights */
        double ma = 0, mb = 0, va = 0, vb = 0, cov = 0;
        const double n = (double)h * w;
        for (int i = 0; i < h * w; i++) {
            ma += a[3 * i + c];
            mb += b[3 * i + c];
        }
        ma /= n;
        mb /= n;
        for (int i = 0; i < h * w; i++) {
            const double x = a[3 * i + c] - ma, y = b[3 * i + c] - mb;
            va += x * x;
            vb += y * y;
            cov += x * y;
        }
        va /= n;
        vb /= n;
        cov /= n;
        return ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
    }
    double g[WIN];
    gauss(g);
    const int oh = h - WIN + 1, ow = w - WIN + 1;
    /* separable filtering: rows first into five planes (a, b, aa, bb, ab) */
    double *rows = malloc(sizeof(double) * 5 * (size_t)h * ow);
    if (!rows)
        return NAN;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < ow; x++) {
            double s[5] = {0, 0, 0, 0, 0};
            for (int k = 0; k < WIN; k++) {
                const double p = a[3 * ((size_t)y * w + x + k) + c], q = b[3 * ((size_t)y * w + x + k) + c];
                s[0] += g[k] * p;
                s[1] += g[k] * q;
                s[2] += g[k] * p * p;
                s[3] += g[k] * q * q;
                s[4] += g[k] * p * q;
            }
            for (int j = 0; j < 5; j++)
                rows[((size_t)j * h + y) * ow + x] = s[j];
        }
    double total = 0;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            double s[5] = {0, 0, 0, 0, 0};
            for (int k = 0; k < WIN; k++)
                for (int j = 0; j < 5; j++)
                    s[j] += g[k] * rows[((size_t)j * h + y + k) * ow + x];
            const double ma = s[0], mb = s[1];
            const double va = s[2] - ma * ma, vb = s[3] - mb * mb, cov = s[4] - ma * mb;
            total += ((2 * ma * mb + C1) * (2 * cov + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
        }
    free(rows);
    return total / ((double)oh * ow);
}

double it_ssim_rgb(const uint8_t *a, const uint8_t *b, int h, int w)
{
    double s = 0;
    for (int c = 0; c < 3; c++)
        s += ssim_channel(a, b, h, w, c);
    return s / 3;
}

void it_quality_add_frame(it_quality *q, const uint8_t *a, const uint8_t *b, int h, int w, int with_ssim)
{
    const size_t n = (size_t)h * w * 3;
    q->sse += it_sse_u8(a, b, n);
    q->values += n;
    q->frames++;
    if (with_ssim)
        q->ssim_sum += it_ssim_rgb(a, b, h, w);
    else
        q->ssim_sum = NAN;
}

double it_quality_psnr(const it_quality *q)
{
    return q->values ? it_psnr(q->sse / (double)q->values) : NAN;
}

double it_quality_ssim(const it_quality *q)
{
    return q->frames ? q->ssim_sum / (double)q->frames : NAN;
}
