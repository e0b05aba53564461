/* kernels_internal.h: helpers shared by the backends (argument checks, the ref entry points
 * the cpu table falls back to). Not part of any public interface. */
#ifndef IT_KERNELS_INTERNAL_H
#define IT_KERNELS_INTERNAL_H

#include "error_internal.h"
#include "kernels/it_kernels_v1.h"

/* Return IT_E_SHAPE with a message naming the op when a size condition fails. */
#define IT_KCHECK(cond, opname)                                                              \
    do {                                                                                     \
        if (!(cond))                                                                         \
            return it_error_set(IT_E_SHAPE, "%s: bad sizes (%s)", (opname), #cond);          \
    } while (0)

/* ---- ref backend (kernels/ref/): every op, naive ----
 * Shapes are documented once, on the table in it_kernels.h. */
int it_ref_conv3d(const it_conv3d_params *p, const float *x, const float *wt, const float *bias,
                  float *y);
int it_ref_groupnorm(int c, int t, int hw, const float *x, const float *gamma, const float *beta,
                     float eps, int silu, float *y);
int it_ref_silu(size_t n, const float *x, float *y);
int it_ref_add(size_t n, const float *a, const float *b, float *y);
int it_ref_scale(size_t n, const float *x, float s, float *y);
int it_ref_rmsnorm(int s, int d, const float *x, const float *wt, float eps, float *y);
int it_ref_avgpool(int c, int t, int h, int w, int kt, int kh, int kw, int tpad, const float *x,
                   float *y);
int it_ref_upsample_hw(int c, int t, int h, int w, const float *x, float *y);
int it_ref_upsample_t(int c, int t, int hw, const float *x, float *y);
int it_ref_haar_fwd(int t, int h, int w, const float *x, float *y);
int it_ref_haar_inv(int t, int h, int w, const float *x, float *y);
int it_ref_attn_spatial(int c, int t, int hw, const float *q, const float *k, const float *v,
                        float *y);
int it_ref_attn_temporal(int c, int t, int hw, const float *q, const float *k, const float *v,
                         float *y);
int it_ref_mha(int s, int nh, int hd, int hw, const float *q, const float *k, const float *v,
               float *y);
int it_ref_rope2d(int s, int nh, int hd, const float *x, const float *cs, const float *sn,
                  float *y);
int it_ref_linear(int s, int k, int n, const float *x, const float *wt, const float *bias,
                  float *y);
int it_ref_swiglu(int s, int d, int f, const float *x, const float *w1, const float *w3,
                  const float *w2, float *y);
int it_ref_fsq(size_t nt, const float *z, float *bounded, float *codes, int32_t *idx);
int it_ref_fsq_decode(size_t nt, const int32_t *idx, float *codes);
int it_ref_elbo_map(int t, int h, int w, const float *x, const float *recon, float *loss);
int it_ref_mask(size_t nt, const float *loss, float r, uint8_t *keep, size_t *kept, float *bound);

#endif
