/* ref_elbo.c: the per-token ELBO map (spec 4.4) and the quantile mask (spec 4.6).
 * Both feed the token mask, which must be bit-identical wherever it is computed (it-encode,
 * it-pack), so the cpu table uses the map too and their arithmetic is fixed: fp32, sums in a
 * fixed order, torch.quantile's rank/lerp formulas. In bf16 the map reads the bf16 values and
 * does the same fp32 arithmetic (man/infotok-precision.7). The mask is a host function on the
 * map, outside the backend table. Dimension letters: see it_kernels.h; NT = t*h*w tokens. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_internal.h"

/* x, recon act [N][3][T][H][W] (T = 4t-3, H = 8h, W = 8w) -> loss [N][t][h][w] */
int it_ref_elbo_map(it_ctx *ctx, int n, int t, int h, int w, const void *xv, const void *rv,
                    float *loss)
{
    IT_KCHECK(n > 0 && t > 0 && h > 0 && w > 0, "elbo_map");
    const int prec = ctx->precision;
    const size_t T = 4 * (size_t)t - 3, H = 8 * (size_t)h, W = 8 * (size_t)w, plane = H * W;
    const size_t npx = 3 * T * plane, ntok = (size_t)t * h * w;
    for (size_t s = 0; s < (size_t)n; s++)
    for (int lt = 0; lt < t; lt++) {
        /* latent frame 0 is pixel frame 0 alone; frame j >= 1 averages pixel frames 4j-3..4j */
        size_t f0 = lt == 0 ? 0 : 4 * (size_t)lt - 3, nf = lt == 0 ? 1 : 4;
        for (int by = 0; by < h; by++)
            for (int bx = 0; bx < w; bx++) {
                float block = 0;
                for (int dy = 0; dy < 8; dy++)
                    for (int dx = 0; dx < 8; dx++) {
                        size_t px = (by * 8 + dy) * W + bx * 8 + dx;
                        float tsum = 0;
                        for (size_t f = f0; f < f0 + nf; f++) {
                            float csum = 0;
                            for (int c = 0; c < 3; c++) {
                                size_t at = s * npx + ((size_t)c * T + f) * plane + px;
                                csum += fabsf(it_act_get(prec, xv, at) - it_act_get(prec, rv, at));
                            }
                            tsum += csum / 3.0f;
                        }
                        block += tsum / (float)nf;
                    }
                loss[s * ntok + ((size_t)lt * h + by) * w + bx] = block / 64.0f;
            }
    }
    return 0;
}

/* Ascending, NaN last (like torch.sort), so the order is total and the result deterministic. */
static int cmp_float(const void *pa, const void *pb)
{
    float a = *(const float *)pa, b = *(const float *)pb;
    if (isnan(a) || isnan(b))
        return isnan(a) - isnan(b);
    return (a > b) - (a < b);
}

/* loss [NT] -> keep [NT], kept, bound (a host function, not a backend op) */
int it_quantile_mask(size_t nt, const float *loss, float r, uint8_t *keep, size_t *kept,
                     float *bound)
{
    IT_KCHECK(nt > 0, "mask");
    float q = 1.0f - r; /* r promoted to fp32, like float32(1 - r) */
    if (!(q >= 0.0f && q <= 1.0f))
        return it_error_set(IT_E_INVALID, "mask: rate %g outside [0, 1]", (double)r);
    float *s = malloc(sizeof *s * nt);
    if (!s)
        return it_error_set(IT_E_NOMEM, "mask: out of memory");
    memcpy(s, loss, sizeof *s * nt);
    qsort(s, nt, sizeof *s, cmp_float);
    if (isnan(s[nt - 1])) { /* torch.quantile of data with a NaN is NaN: nothing is kept */
        free(s);
        if (keep)
            memset(keep, 0, nt);
        if (kept)
            *kept = 0;
        if (bound)
            *bound = NAN;
        return 0;
    }
    /* torch.quantile, interpolation='linear', all in fp32 */
    float pos = q * (float)(nt - 1);
    size_t lo = (size_t)pos, hi = (size_t)ceilf(pos);
    if (hi > nt - 1) /* (float)(nt-1) may round up past the last index for huge nt */
        hi = nt - 1;
    if (lo > hi)
        lo = hi;
    float wgt = pos - (float)lo, a = s[lo], b = s[hi];
    /* torch.lerp's two-sided formula, unfused. Bit for bit with the Python package
     * (infotok.rate); torch.quantile itself (1.13, CPU) was measured one ulp off on some
     * inputs (its vectorised lerp may fuse the multiply-add), so torch is not the oracle of
     * this bound: this function is. */
    float bnd = wgt < 0.5f ? a + wgt * (b - a) : b - (b - a) * (1.0f - wgt);
    free(s);
    size_t n = 0;
    for (size_t i = 0; i < nt; i++) {
        uint8_t k = loss[i] > bnd; /* strict: ties with the bound are dropped */
        if (keep)
            keep[i] = k;
        n += k;
    }
    if (kept)
        *kept = n;
    if (bound)
        *bound = bnd;
    return 0;
}
