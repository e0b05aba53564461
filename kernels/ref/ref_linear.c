/* ref_linear.c: the transformer's dense layers, naive: Linear (PyTorch weight layout) and the
 * SwiGLU MLP built from it. Dot products are summed in double. Dimension letters: see
 * it_kernels.h. */
#include <math.h>

#include "kernels/kernels_internal.h"

/* x [rows][K], wt [M][K], bias [M] or NULL -> y [rows][M] */
int it_ref_linear(it_ctx *ctx, int rows, int k, int n, const float *x, const float *wt,
                  const float *bias, float *y)
{
    IT_KCHECK(rows > 0 && k > 0 && n > 0, "linear");
    for (size_t i = 0; i < (size_t)rows; i++)
        for (size_t j = 0; j < (size_t)n; j++) {
            double acc = bias ? bias[j] : 0.0;
            for (size_t l = 0; l < (size_t)k; l++)
                acc += (double)x[i * k + l] * wt[j * k + l];
            y[i * n + j] = (float)acc;
        }
    return 0;
}

/* x [rows][D], w1, w3 [F][D], w2 [D][F] -> y [rows][D] */
int it_ref_swiglu(it_ctx *ctx, int rows, int d, int f, const float *x, const float *w1,
                  const float *w3, const float *w2, float *y)
{
    IT_KCHECK(rows > 0 && d > 0 && f > 0, "swiglu");
    int rc = 0;
    float *a = it_host_scratch(ctx, IT_SCR_OP0, sizeof(float) * (size_t)rows * f);
    float *b = it_host_scratch(ctx, IT_SCR_OP1, sizeof(float) * (size_t)rows * f);
    if (!a || !b)
        return IT_E_NOMEM;
    IT_TRY(it_ref_linear(ctx, rows, d, f, x, w1, NULL, a)); /* a [rows][F] */
    IT_TRY(it_ref_linear(ctx, rows, d, f, x, w3, NULL, b)); /* b [rows][F] */
    for (size_t i = 0; i < (size_t)rows * f; i++)
        a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
    IT_TRY(it_ref_linear(ctx, rows, f, d, a, w2, NULL, y));
done:
    return rc;
}
