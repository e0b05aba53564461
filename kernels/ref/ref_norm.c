/* ref_norm.c: GroupNorm per frame (one group), RMSNorm and the elementwise ops, naive.
 * Statistics are summed in double with a two-pass variance, so the oracle's own error is far
 * below what the tests tolerate. Dimension letters: see it_kernels.h. */
#include <math.h>

#include "kernels/kernels_internal.h"

static float silu1(float v)
{
    return v / (1.0f + expf(-v));
}

/* x, y [N][C][T][HW]; gamma, beta [C] */
int it_ref_groupnorm(it_ctx *ctx, int n, int c, int t, int hw, const float *x, const float *gamma,
                     const float *beta, float eps, int silu, float *y)
{
    IT_KCHECK(n > 0 && c > 0 && t > 0 && hw > 0, "groupnorm");
    const size_t T = t, HW = hw;
    for (int smp = 0; smp < n; smp++, x += (size_t)c * T * HW, y += (size_t)c * T * HW)
    for (size_t ft = 0; ft < T; ft++) {
        double sum = 0, sq = 0, n = (double)c * hw;
        for (size_t ch = 0; ch < (size_t)c; ch++)
            for (size_t i = 0; i < HW; i++)
                sum += x[(ch * T + ft) * HW + i];
        double mean = sum / n;
        for (size_t ch = 0; ch < (size_t)c; ch++)
            for (size_t i = 0; i < HW; i++) {
                double d = x[(ch * T + ft) * HW + i] - mean;
                sq += d * d;
            }
        double rstd = 1.0 / sqrt(sq / n + eps);
        for (size_t ch = 0; ch < (size_t)c; ch++)
            for (size_t i = 0; i < HW; i++) {
                size_t at = (ch * T + ft) * HW + i;
                float v = (float)((x[at] - mean) * rstd * gamma[ch] + beta[ch]);
                y[at] = silu ? silu1(v) : v;
            }
    }
    return 0;
}

/* x, y [len] */
int it_ref_silu(it_ctx *ctx, size_t len, const float *x, float *y)
{
    for (size_t i = 0; i < len; i++)
        y[i] = silu1(x[i]);
    return 0;
}

/* a, b, y [len] */
int it_ref_add(it_ctx *ctx, size_t len, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < len; i++)
        y[i] = a[i] + b[i];
    return 0;
}

/* x, y [len] */
int it_ref_scale(it_ctx *ctx, size_t len, const float *x, float s, float *y)
{
    for (size_t i = 0; i < len; i++)
        y[i] = s * x[i];
    return 0;
}

/* x, y [rows][D], wt [D] */
int it_ref_rmsnorm(it_ctx *ctx, int rows, int d, const float *x, const float *wt, float eps, float *y)
{
    IT_KCHECK(rows > 0 && d > 0, "rmsnorm");
    for (size_t i = 0; i < (size_t)rows; i++) {
        const float *row = x + i * d;
        double sq = 0;
        for (int j = 0; j < d; j++)
            sq += (double)row[j] * row[j];
        double r = 1.0 / sqrt(sq / d + eps);
        for (int j = 0; j < d; j++)
            y[i * d + j] = (float)(row[j] * r) * wt[j];
    }
    return 0;
}
