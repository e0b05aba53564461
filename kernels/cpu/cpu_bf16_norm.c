/* cpu_bf16_norm.c: the bf16 GroupNorm (fused SiLU) and elementwise ops read and write bf16
 * directly, on every CPU: they are memory-bound, and the wrappers' convert / fp32 op / round
 * passes over fp32 copies (of a whole sample, for GroupNorm) cost more time and memory than
 * the arithmetic. The rounding points are the oracle's: bf16 inputs read exactly, fp32
 * arithmetic (GroupNorm's statistics summed as cpu_norm.c sums them: 256-element fp32 chunks
 * into a double per row, rows combined in channel order), each output rounded once.
 * Compiled once per SIMD variant like cpu_norm.c (the base build's 4-float vectors made the
 * SiLU's exp the slowest part of a bf16 window), hence the IT_CPU_V names. Dimension letters:
 * see it_kernels.h. */
#include <math.h>

#include "kernels/cpu/cpu_internal.h"

#define BLOCK 4096 /* elements per parallel work item of the elementwise ops */
#define CHUNK 256  /* floats summed in float lanes before moving into the double total */

static inline float bf_silu1(float v)
{
    return v / (1.0f + expf(-v));
}

/* The loops below work on CHUNK floats on the stack so that the compiler vectorises the
 * conversions (written branch-free: it_bf16_from_f32's NaN test as a select) and SiLU uses
 * the vectorised exp, as the fp32 kernels do. */
static inline void bf_to_f32(const it_bf16 *src, size_t n, float *dst)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)src[i] << 16;
        memcpy(dst + i, &u, 4);
    }
}
static inline void bf_from_f32(const float *src, size_t n, it_bf16 *dst)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, src + i, 4);
        uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, q = (u >> 16) | 0x40u;
        dst[i] = (it_bf16)((u & 0x7fffffffu) > 0x7f800000u ? q : r);
    }
}
static void bf_silu_n(float *v, size_t n)
{
    size_t i = 0;
    for (; i + IT_VL <= n; i += IT_VL) {
        it_vf x = vf_load(v + i);
        vf_store(v + i, x / (1.0f + vf_exp(-x)));
    }
    for (; i < n; i++)
        v[i] = bf_silu1(v[i]);
}

/* x, y [len]; y may be x */
int IT_CPU_V(it_cpu_bf16_silu)(it_ctx *ctx, size_t n, const void *xv, void *yv)
{
    (void)ctx;
    const it_bf16 *x = xv;
    it_bf16 *y = yv;
#pragma omp parallel for schedule(static)
    for (size_t b0 = 0; b0 < n; b0 += BLOCK) {
        size_t b1 = b0 + BLOCK < n ? b0 + BLOCK : n;
        float v[CHUNK];
        for (size_t c0 = b0; c0 < b1; c0 += CHUNK) {
            size_t m = b1 - c0 < CHUNK ? b1 - c0 : CHUNK;
            bf_to_f32(x + c0, m, v);
            bf_silu_n(v, m);
            bf_from_f32(v, m, y + c0);
        }
    }
    return 0;
}

/* a, b, y [len]; y may be a or b */
int IT_CPU_V(it_cpu_bf16_add)(it_ctx *ctx, size_t n, const void *av, const void *bv, void *yv)
{
    (void)ctx;
    const it_bf16 *a = av, *b = bv;
    it_bf16 *y = yv;
#pragma omp parallel for schedule(static)
    for (size_t b0 = 0; b0 < n; b0 += BLOCK) {
        size_t b1 = b0 + BLOCK < n ? b0 + BLOCK : n;
        float u[CHUNK], v[CHUNK];
        for (size_t c0 = b0; c0 < b1; c0 += CHUNK) {
            size_t m = b1 - c0 < CHUNK ? b1 - c0 : CHUNK;
            bf_to_f32(a + c0, m, u);
            bf_to_f32(b + c0, m, v);
            for (size_t i = 0; i < m; i++)
                u[i] += v[i];
            bf_from_f32(u, m, y + c0);
        }
    }
    return 0;
}

/* x, y [len]; y may be x */
int IT_CPU_V(it_cpu_bf16_scale)(it_ctx *ctx, size_t n, const void *xv, float s, void *yv)
{
    (void)ctx;
    const it_bf16 *x = xv;
    it_bf16 *y = yv;
#pragma omp parallel for schedule(static)
    for (size_t b0 = 0; b0 < n; b0 += BLOCK) {
        size_t b1 = b0 + BLOCK < n ? b0 + BLOCK : n;
        float v[CHUNK];
        for (size_t c0 = b0; c0 < b1; c0 += CHUNK) {
            size_t m = b1 - c0 < CHUNK ? b1 - c0 : CHUNK;
            bf_to_f32(x + c0, m, v);
            for (size_t i = 0; i < m; i++)
                v[i] *= s;
            bf_from_f32(v, m, y + c0);
        }
    }
    return 0;
}

/* sum of (row[i] - mean)^2 if sq, else of row[i]; row [n] bf16 */
static double bf_row_sum(const it_bf16 *row, size_t n, float mean, int sq)
{
    double total = 0;
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t c1 = c0 + CHUNK < n ? c0 + CHUNK : n;
        float v[CHUNK], part = 0;
        bf_to_f32(row + c0, c1 - c0, v);
        it_vf acc = {0};
        size_t i = 0, m = c1 - c0;
        for (; i + IT_VL <= m; i += IT_VL) {
            it_vf d = vf_load(v + i) - mean;
            acc += sq ? d * d : d;
        }
        for (; i < m; i++) {
            float d = v[i] - mean;
            part += sq ? d * d : d;
        }
        for (int l = 0; l < IT_VL; l++)
            part += acc[l];
        total += part;
    }
    return total;
}

/* x, y [N][C][T][HW]; gamma, beta [C]; y may be x. Per sample and frame: two passes (mean,
 * then squared deviations), as the oracle does. */
int IT_CPU_V(it_cpu_bf16_groupnorm)(it_ctx *ctx, int ns, int c, int t, int hw, const void *xv,
                          const void *gv, const void *bv, float eps, int silu, void *yv)
{
    IT_KCHECK(ns > 0 && c > 0 && t > 0 && hw > 0, "groupnorm");
    const it_bf16 *gamma = gv, *beta = bv;
    const long rows = (long)c * t; /* row r = ch*T + ft is contiguous [HW] */
    const size_t HW = hw, len = (size_t)rows * hw;
    const double cnt = (double)c * hw;
    double *part = it_host_scratch(ctx, IT_SCR_OP0, sizeof *part * rows);
    float *mean = it_host_scratch(ctx, IT_SCR_OP1, sizeof *mean * 2 * t), *rstd = mean + t;
    if (!part || !mean)
        return IT_E_NOMEM;
    for (int smp = 0; smp < ns; smp++) {
        const it_bf16 *x = (const it_bf16 *)xv + smp * len;
        it_bf16 *y = (it_bf16 *)yv + smp * len;
        for (int pass = 0; pass < 2; pass++) {
#pragma omp parallel for schedule(static)
            for (long r = 0; r < rows; r++)
                part[r] = bf_row_sum(x + r * HW, HW, pass ? mean[r % t] : 0.0f, pass);
            for (int ft = 0; ft < t; ft++) {
                double s = 0;
                for (int ch = 0; ch < c; ch++)
                    s += part[(long)ch * t + ft];
                if (pass == 0)
                    mean[ft] = (float)(s / cnt);
                else
                    rstd[ft] = (float)(1.0 / sqrt(s / cnt + eps));
            }
        }
#pragma omp parallel for schedule(static)
        for (long r = 0; r < rows; r++) {
            int ch = (int)(r / t), ft = (int)(r % t);
            float a = it_bf16_to_f32(gamma[ch]) * rstd[ft], b = it_bf16_to_f32(beta[ch]) - mean[ft] * a;
            const it_bf16 *xr = x + r * HW;
            it_bf16 *yr = y + r * HW;
            float v[CHUNK];
            for (size_t c0 = 0; c0 < HW; c0 += CHUNK) {
                size_t m = HW - c0 < CHUNK ? HW - c0 : CHUNK;
                bf_to_f32(xr + c0, m, v);
                for (size_t i = 0; i < m; i++)
                    v[i] = v[i] * a + b;
                if (silu)
                    bf_silu_n(v, m);
                bf_from_f32(v, m, yr + c0);
            }
        }
    }
    return 0;
}
