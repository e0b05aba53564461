/* ref_linear.c: the transformer's dense layers, naive: Linear (PyTorch weight layout) and the
 * SwiGLU MLP built from it. Dot products are summed in double. Dimension letters: see
 * it_kernels.h. */
#include <math.h>
#include <stdlib.h>

#include "kernels/kernels_internal.h"

/* x [S][K], wt [N][K], bias [N] or NULL -> y [S][N] */
int it_ref_linear(int s, int k, int n, const float *x, const float *wt, const float *bias,
                  float *y)
{
    IT_KCHECK(s > 0 && k > 0 && n > 0, "linear");
    for (size_t i = 0; i < (size_t)s; i++)
        for (size_t j = 0; j < (size_t)n; j++) {
            double acc = bias ? bias[j] : 0.0;
            for (size_t l = 0; l < (size_t)k; l++)
                acc += (double)x[i * k + l] * wt[j * k + l];
            y[i * n + j] = (float)acc;
        }
    return 0;
}

/* x [S][D], w1, w3 [F][D], w2 [D][F] -> y [S][D] */
int it_ref_swiglu(int s, int d, int f, const float *x, const float *w1, const float *w3,
                  const float *w2, float *y)
{
    IT_KCHECK(s > 0 && d > 0 && f > 0, "swiglu");
    int rc = 0;
    float *a = malloc(sizeof *a * (size_t)s * f), *b = malloc(sizeof *b * (size_t)s * f);
    IT_CHECK_ALLOC(a && b, "swiglu scratch");
    IT_TRY(it_ref_linear(s, d, f, x, w1, NULL, a)); /* a [S][F] */
    IT_TRY(it_ref_linear(s, d, f, x, w3, NULL, b)); /* b [S][F] */
    for (size_t i = 0; i < (size_t)s * f; i++)
        a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
    IT_TRY(it_ref_linear(s, f, d, a, w2, NULL, y));
done:
    free(a);
    free(b);
    return rc;
}
