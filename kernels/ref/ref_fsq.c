/* ref_fsq.c: the FSQ quantiser (spec 3.6) and its inverse. Exactly the official fp32 maths:
 * b = tanh(z + shift)*half_l - offset, q = round-half-to-even(b), code = q/(L/2),
 * index = sum (q + L/2)*basis, in fp32 in every precision (spec 3.6). The cpu table uses these
 * directly: tokens must not depend on the backend. Dimension letters: N samples, NT tokens. */
#include <math.h>

#include "kernels/kernels_internal.h"

/* z act [N][6][NT] -> bounded float [N][6][NT] or NULL, codes act [N][6][NT] or NULL,
 * idx [N][NT] or NULL. z's value (exact in fp32 from bf16) goes through fp32 maths. */
int it_ref_fsq(it_ctx *ctx, int n, size_t nt, const void *z, float *bounded, void *codes,
               int32_t *idx)
{
    IT_KCHECK(n > 0, "fsq");
    const int prec = ctx->precision;
    float half_l[IT_FSQ_DIM], offset[IT_FSQ_DIM], shift[IT_FSQ_DIM];
    for (int c = 0; c < IT_FSQ_DIM; c++) {
        int L = it_fsq_levels[c];
        half_l[c] = (float)(L - 1) * 1.001f / 2.0f; /* (L-1)*(1+eps)/2, eps 1e-3 */
        offset[c] = L % 2 == 0 ? 0.5f : 0.0f;
        shift[c] = atanhf(offset[c] / half_l[c]);
    }
    for (size_t s = 0; s < (size_t)n; s++)
        for (size_t i = 0; i < nt; i++) {
            int32_t index = 0;
            for (int c = 0; c < IT_FSQ_DIM; c++) {
                int L = it_fsq_levels[c], half_w = L / 2;
                size_t at = (s * IT_FSQ_DIM + c) * nt + i;
                float b = tanhf(it_act_get(prec, z, at) + shift[c]) * half_l[c] - offset[c];
                float q = nearbyintf(b); /* default rounding mode: ties to even, like torch.round */
                if (bounded)
                    bounded[at] = b;
                if (codes) /* q/4 or q/2: exact in bf16 */
                    it_act_set(prec, codes, at, q / (float)half_w);
                index += (int32_t)(q + half_w) * it_fsq_basis[c];
            }
            if (idx)
                idx[s * nt + i] = index;
        }
    return 0;
}

/* idx [N][NT], keep [N][NT] or NULL -> codes act [N][6][NT]; keep 0 gives the zero code */
int it_ref_fsq_decode(it_ctx *ctx, int n, size_t nt, const int32_t *idx, const uint8_t *keep,
                      void *codes)
{
    IT_KCHECK(n > 0, "fsq_decode");
    const int prec = ctx->precision;
    for (size_t s = 0; s < (size_t)n; s++)
        for (size_t i = 0; i < nt; i++) {
            int32_t v = idx[s * nt + i];
            if (v < 0 || v >= IT_FSQ_CODES)
                return it_error_set(IT_E_FORMAT, "fsq_decode: token %zu of sample %zu has index %d outside [0, %d)",
                                    i, s, (int)v, IT_FSQ_CODES);
            int kept = !keep || keep[s * nt + i];
            for (int c = 0; c < IT_FSQ_DIM; c++) {
                int L = it_fsq_levels[c], half_w = L / 2;
                int digit = v / it_fsq_basis[c] % L;
                it_act_set(prec, codes, (s * IT_FSQ_DIM + c) * nt + i,
                           kept ? (float)(digit - half_w) / (float)half_w : 0.0f);
            }
        }
    return 0;
}
