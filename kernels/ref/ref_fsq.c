/* ref_fsq.c: the FSQ quantiser (spec 3.6) and its inverse. Exactly the official fp32 maths:
 * b = tanh(z + shift)*half_l - offset, q = round-half-to-even(b), code = q/(L/2),
 * index = sum (q + L/2)*basis. The cpu table uses these directly: tokens must not depend on
 * the backend. Dimension letters: NT tokens. */
#include <math.h>

#include "kernels/kernels_internal.h"

/* z [6][NT] -> bounded [6][NT] or NULL, codes [6][NT] or NULL, idx [NT] or NULL */
int it_ref_fsq(size_t nt, const float *z, float *bounded, float *codes, int32_t *idx)
{
    float half_l[IT_FSQ_DIM], offset[IT_FSQ_DIM], shift[IT_FSQ_DIM];
    for (int c = 0; c < IT_FSQ_DIM; c++) {
        int L = it_fsq_levels[c];
        half_l[c] = (float)(L - 1) * 1.001f / 2.0f; /* (L-1)*(1+eps)/2, eps 1e-3 */
        offset[c] = L % 2 == 0 ? 0.5f : 0.0f;
        shift[c] = atanhf(offset[c] / half_l[c]);
    }
    for (size_t i = 0; i < nt; i++) {
        int32_t index = 0;
        for (int c = 0; c < IT_FSQ_DIM; c++) {
            int L = it_fsq_levels[c], half_w = L / 2;
            float b = tanhf(z[c * nt + i] + shift[c]) * half_l[c] - offset[c];
            float q = nearbyintf(b); /* default rounding mode: ties to even, like torch.round */
            if (bounded)
                bounded[c * nt + i] = b;
            if (codes)
                codes[c * nt + i] = q / (float)half_w;
            index += (int32_t)(q + half_w) * it_fsq_basis[c];
        }
        if (idx)
            idx[i] = index;
    }
    return 0;
}

/* idx [NT] -> codes [6][NT] */
int it_ref_fsq_decode(size_t nt, const int32_t *idx, float *codes)
{
    for (size_t i = 0; i < nt; i++) {
        if (idx[i] < 0 || idx[i] >= IT_FSQ_CODES)
            return it_error_set(IT_E_FORMAT, "fsq_decode: token %zu has index %d outside [0, %d)", i,
                                (int)idx[i], IT_FSQ_CODES);
        for (int c = 0; c < IT_FSQ_DIM; c++) {
            int L = it_fsq_levels[c], half_w = L / 2;
            int digit = idx[i] / it_fsq_basis[c] % L;
            codes[c * nt + i] = (float)(digit - half_w) / (float)half_w;
        }
    }
    return 0;
}
