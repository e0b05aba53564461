/* cpu_norm.c: GroupNorm per frame with fused SiLU, RMSNorm and the elementwise ops, with
 * OpenMP over rows and vector loops inside. Reductions are deterministic: each [HW] row is
 * summed by one thread as fixed 256-element vector chunks accumulated into a double, and the
 * per-row sums are combined in channel order by one thread. Compiled once per SIMD variant
 * (cpu_x86_*.c include this file), hence the IT_CPU_V names. Dimension letters: see
 * it_kernels.h. */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"

#define CHUNK 256 /* floats summed in float lanes before moving into the double total */

/* sum of (row[i] - mean)^2 if sq, else of row[i]; row [n] */
static double row_sum(const float *row, size_t n, float mean, int sq)
{
    double total = 0;
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t c1 = c0 + CHUNK < n ? c0 + CHUNK : n, i = c0;
        it_vf acc = {0};
        for (; i + IT_VL <= c1; i += IT_VL) {
            it_vf v = vf_load(row + i) - mean;
            acc += sq ? v * v : v;
        }
        float part = 0;
        for (; i < c1; i++) {
            float v = row[i] - mean;
            part += sq ? v * v : v;
        }
        for (int l = 0; l < IT_VL; l++)
            part += acc[l];
        total += part;
    }
    return total;
}

/* One sample: x, y [C][T][HW]; part [C*T], mean, rstd [T] scratch. */
static void groupnorm_one(int c, int t, int hw, const float *x, const float *gamma,
                          const float *beta, float eps, int silu, float *y, double *part,
                          float *mean, float *rstd)
{
    const long rows = (long)c * t; /* row r = ch*T + ft is contiguous [HW] */
    const size_t HW = hw;
    const double n = (double)c * hw;
    /* two passes (mean, then squared deviations), as the oracle does: no cancellation */
    for (int pass = 0; pass < 2; pass++) {
#pragma omp parallel for schedule(static)
        for (long r = 0; r < rows; r++)
            part[r] = row_sum(x + r * HW, HW, pass ? mean[r % t] : 0.0f, pass);
        for (int ft = 0; ft < t; ft++) {
            double s = 0;
            for (int ch = 0; ch < c; ch++)
                s += part[(long)ch * t + ft];
            if (pass == 0)
                mean[ft] = (float)(s / n);
            else
                rstd[ft] = (float)(1.0 / sqrt(s / n + eps));
        }
    }
#pragma omp parallel for schedule(static)
    for (long r = 0; r < rows; r++) {
        int ch = (int)(r / t), ft = (int)(r % t);
        float a = gamma[ch] * rstd[ft], b = beta[ch] - mean[ft] * a;
        const float *xr = x + r * HW;
        float *yr = y + r * HW;
        size_t i = 0;
        for (; i + IT_VL <= HW; i += IT_VL) {
            it_vf v = vf_load(xr + i) * a + b;
            if (silu)
                v = v / (1.0f + vf_exp(-v));
            vf_store(yr + i, v);
        }
        for (; i < HW; i++) {
            float v = xr[i] * a + b;
            yr[i] = silu ? v / (1.0f + expf(-v)) : v;
        }
    }
}

/* x, y [N][C][T][HW]; gamma, beta [C]: one sample at a time */
int IT_CPU_V(it_cpu_groupnorm)(it_ctx *ctx, int ns, int c, int t, int hw, const float *x,
                               const float *gamma, const float *beta, float eps, int silu, float *y)
{
    IT_KCHECK(ns > 0 && c > 0 && t > 0 && hw > 0, "groupnorm");
    const size_t len = (size_t)c * t * hw;
    double *part = it_host_scratch(ctx, IT_SCR_OP0, sizeof *part * c * t);
    float *mean = it_host_scratch(ctx, IT_SCR_OP1, sizeof *mean * 2 * t);
    if (!part || !mean)
        return IT_E_NOMEM;
    for (int smp = 0; smp < ns; smp++)
        groupnorm_one(c, t, hw, x + smp * len, gamma, beta, eps, silu, y + smp * len, part, mean, mean + t);
    return 0;
}

#define ELEMWISE_BLOCK 4096 /* elements per parallel work item; a multiple of IT_VL */

/* x, y [len] */
int IT_CPU_V(it_cpu_silu)(it_ctx *ctx, size_t n, const float *x, float *y)
{
#pragma omp parallel for schedule(static)
    for (size_t b0 = 0; b0 < n; b0 += ELEMWISE_BLOCK) {
        size_t b1 = b0 + ELEMWISE_BLOCK < n ? b0 + ELEMWISE_BLOCK : n, i = b0;
        for (; i + IT_VL <= b1; i += IT_VL) {
            it_vf v = vf_load(x + i);
            vf_store(y + i, v / (1.0f + vf_exp(-v)));
        }
        for (; i < b1; i++)
            y[i] = x[i] / (1.0f + expf(-x[i]));
    }
    return 0;
}

/* a, b, y [len] */
int IT_CPU_V(it_cpu_add)(it_ctx *ctx, size_t n, const float *a, const float *b, float *y)
{
#pragma omp parallel for schedule(static)
    for (size_t b0 = 0; b0 < n; b0 += ELEMWISE_BLOCK) {
        size_t b1 = b0 + ELEMWISE_BLOCK < n ? b0 + ELEMWISE_BLOCK : n;
        for (size_t i = b0; i < b1; i++)
            y[i] = a[i] + b[i];
    }
    return 0;
}

/* x, y [len] */
int IT_CPU_V(it_cpu_scale)(it_ctx *ctx, size_t n, const float *x, float s, float *y)
{
#pragma omp parallel for schedule(static)
    for (size_t b0 = 0; b0 < n; b0 += ELEMWISE_BLOCK) {
        size_t b1 = b0 + ELEMWISE_BLOCK < n ? b0 + ELEMWISE_BLOCK : n;
        for (size_t i = b0; i < b1; i++)
            y[i] = s * x[i];
    }
    return 0;
}

/* x, y [rows][D], wt [D] */
int IT_CPU_V(it_cpu_rmsnorm)(it_ctx *ctx, int s, int d, const float *x, const float *wt, float eps,
                             float *y)
{
    IT_KCHECK(s > 0 && d > 0, "rmsnorm");
#pragma omp parallel for schedule(static)
    for (long i = 0; i < s; i++) {
        const float *row = x + (size_t)i * d;
        double sq = row_sum(row, d, 0.0f, 1);
        float r = (float)(1.0 / sqrt(sq / d + eps));
        for (int j = 0; j < d; j++)
            y[(size_t)i * d + j] = row[j] * r * wt[j];
    }
    return 0;
}
