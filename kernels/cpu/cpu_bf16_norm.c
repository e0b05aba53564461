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

/* IT_VL bf16 values to and from a float vector, in registers (the conversions vectorise
 * as widening/narrowing moves; the rounding is vf_bf16_round's). */
typedef uint16_t bf_vh __attribute__((vector_size(IT_VL * sizeof(uint16_t))));
typedef uint32_t bf_vu __attribute__((vector_size(IT_VL * sizeof(uint32_t))));
static inline it_vf bf_load(const it_bf16 *p)
{
    bf_vh h;
    memcpy(&h, p, sizeof h);
    return (it_vf)(__builtin_convertvector(h, bf_vu) << 16);
}
static inline void bf_store(it_bf16 *p, it_vf x)
{
    bf_vh h = __builtin_convertvector((bf_vu)vf_bf16_round(x) >> 16, bf_vh);
    memcpy(p, &h, sizeof h);
}
static inline it_vf bf_silu_v(it_vf x)
{
    return x / (1.0f + vf_exp(-x));
}
#define BF(x) it_bf16_to_f32(x)
#define RND(x) it_bf16_from_f32(x)

/* x, y [len]; y may be x */
int IT_CPU_V(it_cpu_bf16_silu)(it_ctx *ctx, size_t n, const void *xv, void *yv)
{
    (void)ctx;
    const it_bf16 *x = xv;
    it_bf16 *y = yv;
#pragma omp parallel for schedule(static)
    for (size_t b0 = 0; b0 < n; b0 += BLOCK) {
        size_t b1 = b0 + BLOCK < n ? b0 + BLOCK : n, i = b0;
        for (; i + IT_VL <= b1; i += IT_VL)
            bf_store(y + i, bf_silu_v(bf_load(x + i)));
        for (; i < b1; i++)
            y[i] = RND(bf_silu1(BF(x[i])));
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
        size_t b1 = b0 + BLOCK < n ? b0 + BLOCK : n, i = b0;
        for (; i + IT_VL <= b1; i += IT_VL)
            bf_store(y + i, bf_load(a + i) + bf_load(b + i));
        for (; i < b1; i++)
            y[i] = RND(BF(a[i]) + BF(b[i]));
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
        size_t b1 = b0 + BLOCK < n ? b0 + BLOCK : n, i = b0;
        for (; i + IT_VL <= b1; i += IT_VL)
            bf_store(y + i, bf_load(x + i) * s);
        for (; i < b1; i++)
            y[i] = RND(BF(x[i]) * s);
    }
    return 0;
}

/* sum of (row[i] - mean)^2 if sq, else of row[i]; row [n] bf16. CHUNK floats at a time in
 * vector lanes, each chunk's total added into a double. */
static double bf_row_sum(const it_bf16 *row, size_t n, float mean, int sq)
{
    double total = 0;
    for (size_t c0 = 0; c0 < n; c0 += CHUNK) {
        size_t c1 = c0 + CHUNK < n ? c0 + CHUNK : n, i = c0;
        float part = 0;
        it_vf acc = {0};
        for (; i + IT_VL <= c1; i += IT_VL) {
            it_vf d = bf_load(row + i) - mean;
            acc += sq ? d * d : d;
        }
        for (; i < c1; i++) {
            float d = BF(row[i]) - mean;
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
            size_t i = 0;
            for (; i + IT_VL <= HW; i += IT_VL) {
                it_vf v = bf_load(xr + i) * a + b;
                bf_store(yr + i, silu ? bf_silu_v(v) : v);
            }
            for (; i < HW; i++) {
                float v = BF(xr[i]) * a + b;
                yr[i] = RND(silu ? bf_silu1(v) : v);
            }
        }
    }
    return 0;
}
