/* cpu_linear.c: Linear and the SwiGLU MLP on the packed SGEMM. The weight is used in its
 * PyTorch layout [N][K]; the GEMM's B-packing reads it transposed. SwiGLU runs over row
 * chunks so its hidden activations stay a bounded scratch (the context's OP0/OP1 slots).
 * Dimension letters: see it_kernels.h. */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"

/* x [rows][K], wt [M][K], bias [M] or NULL -> y [rows][M] */
int it_cpu_linear(it_ctx *ctx, int s, int k, int n, const float *x, const float *wt,
                  const float *bias, float *y)
{
    IT_KCHECK(s > 0 && k > 0 && n > 0, "linear");
    struct it_gemm_rowmajor w = {wt, (size_t)k};
    return it_cpu_gemm(ctx, s, n, k, x, (size_t)k, 1, it_gemm_pack_transposed, &w, NULL, bias, y,
                       (size_t)n);
}

#define SWIGLU_ROWS 1024

/* x [rows][D], w1, w3 [F][D], w2 [D][F] -> y [rows][D] */
int it_cpu_swiglu(it_ctx *ctx, int s, int d, int f, const float *x, const float *w1,
                  const float *w3, const float *w2, float *y)
{
    IT_KCHECK(s > 0 && d > 0 && f > 0, "swiglu");
    int rc = 0, rows = s < SWIGLU_ROWS ? s : SWIGLU_ROWS;
    float *a = it_host_scratch(ctx, IT_SCR_OP0, sizeof *a * (size_t)rows * f);
    float *b = it_host_scratch(ctx, IT_SCR_OP1, sizeof *b * (size_t)rows * f);
    if (!a || !b)
        return IT_E_NOMEM;
    for (int r0 = 0; r0 < s; r0 += rows) {
        int nr = s - r0 < rows ? s - r0 : rows;
        const float *xr = x + (size_t)r0 * d;
        IT_TRY(it_cpu_linear(ctx, nr, d, f, xr, w1, NULL, a)); /* a [nr][F] */
        IT_TRY(it_cpu_linear(ctx, nr, d, f, xr, w3, NULL, b)); /* b [nr][F] */
        size_t cnt = (size_t)nr * f;
#pragma omp parallel for schedule(static)
        for (size_t i0 = 0; i0 < cnt; i0 += IT_VL) {
            if (i0 + IT_VL <= cnt) {
                it_vf av = vf_load(a + i0);
                vf_store(a + i0, av / (1.0f + vf_exp(-av)) * vf_load(b + i0));
            } else {
                for (size_t i = i0; i < cnt; i++)
                    a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
            }
        }
        IT_TRY(it_cpu_linear(ctx, nr, f, d, a, w2, NULL, y + (size_t)r0 * d));
    }
done:
    return rc;
}
