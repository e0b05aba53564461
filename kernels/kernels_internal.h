/* kernels_internal.h: what the host backends (ref, cpu) share: argument checks, the host
 * context (memory = aligned host memory, per-context scratch kept across calls), the bf16
 * wrappers that run an fp32 op on bf16 tensors with the oracle's rounding points, and the
 * ref backend's fp32 entry points. Not part of any public interface. */
#ifndef IT_KERNELS_INTERNAL_H
#define IT_KERNELS_INTERNAL_H

#include "error_internal.h"
#include "kernels/it_kernels.h"

/* Return IT_E_SHAPE with a message naming the op when a size condition fails. */
#define IT_KCHECK(cond, opname)                                                              \
    do {                                                                                     \
        if (!(cond))                                                                         \
            return it_error_set(IT_E_SHAPE, "%s: bad sizes (%s)", (opname), #cond);          \
    } while (0)

/* ---- host contexts (kernels/host.c) ----
 * Scratch lives in numbered slots of the context: a slot is grown when a call needs more and
 * kept until close, so a steady state of same-shape calls allocates (and page-faults)
 * nothing. Two buffers in use at the same time must be in different slots: the bf16 wrappers
 * use the BF16_* slots around an fp32 op, which uses OP* for its own buffers and calls the
 * GEMM, which uses GEMM_*. */
enum {
    IT_SCR_BF16_IN0 = 0, IT_SCR_BF16_IN1, IT_SCR_BF16_IN2, IT_SCR_BF16_IN3, IT_SCR_BF16_OUT,
    IT_SCR_OP0, IT_SCR_OP1, IT_SCR_OP2, IT_SCR_OP3,
    IT_SCR_GEMM_A, IT_SCR_GEMM_THREADS,
    IT_SCR_EXT0, IT_SCR_EXT1, IT_SCR_EXT2, IT_SCR_EXT3, /* free for the cpu bf16 kernels */
    IT_SCR_COUNT
};

typedef struct it_host_priv {
    struct { void *p; size_t bytes; } scratch[IT_SCR_COUNT];
    /* a backend's own state (e.g. cpu bf16 prepared weights), released by free_state at close */
    void *state;
    void (*free_state)(void *state);
} it_host_priv;

/* Open/close/memory functions of a host backend (alloc = 256-aligned host memory). */
int it_host_open(const it_backend *be, const it_ctx_opts *o, it_ctx **out);
void it_host_close(it_ctx *ctx);
int it_host_alloc(it_ctx *ctx, size_t bytes, void **out);
void it_host_free(it_ctx *ctx, void *p);
int it_host_upload(it_ctx *ctx, void *dst, const void *src, size_t bytes);
int it_host_download(it_ctx *ctx, void *dst, const void *src, size_t bytes);
int it_host_copy(it_ctx *ctx, void *dst, const void *src, size_t bytes);
int it_host_sync(it_ctx *ctx);
/* At least `bytes` of 64-byte aligned scratch in slot (kept, grown as needed; contents are
 * not preserved when it grows). NULL with IT_E_NOMEM set on failure. */
void *it_host_scratch(it_ctx *ctx, int slot, size_t bytes);
static inline it_host_priv *it_host_priv_of(it_ctx *ctx)
{
    return (it_host_priv *)ctx->priv;
}

/* 1 when ctx computes in bf16 (its tensors are it_bf16). */
static inline int it_ctx_bf16(const it_ctx *ctx)
{
    return ctx->precision == IT_PRECISION_BF16;
}

/* ---- element access by precision (for the cheap ops written once for both) ---- */
static inline float it_act_get(int precision, const void *p, size_t i)
{
    return precision == IT_PRECISION_BF16 ? it_bf16_to_f32(((const it_bf16 *)p)[i])
                                          : ((const float *)p)[i];
}
static inline void it_act_set(int precision, void *p, size_t i, float v)
{
    if (precision == IT_PRECISION_BF16)
        ((it_bf16 *)p)[i] = it_bf16_from_f32(v);
    else
        ((float *)p)[i] = v;
}

/* ---- bf16 <-> fp32 buffers ---- */
void it_bf16_to_f32_n(size_t n, const it_bf16 *src, float *dst);
void it_bf16_from_f32_n(size_t n, const float *src, it_bf16 *dst);

/* ---- fp32 op signatures (the table's, on float) ----
 * A backend's fp32 ops have these types; the bf16 wrappers (kernels/bf16_wrap.c) run one on
 * bf16 tensors: convert the inputs to fp32 scratch, call it, round the output once. */
typedef int (*it_conv3d_f32)(it_ctx *, const it_conv3d_params *, const float *x, const float *wt,
                             const float *bias, float *y);
typedef int (*it_groupnorm_f32)(it_ctx *, int n, int c, int t, int hw, const float *x,
                                const float *gamma, const float *beta, float eps, int silu, float *y);
typedef int (*it_eltwise_f32)(it_ctx *, size_t len, const float *x, float *y);
typedef int (*it_add_f32)(it_ctx *, size_t len, const float *a, const float *b, float *y);
typedef int (*it_scale_f32)(it_ctx *, size_t len, const float *x, float s, float *y);
typedef int (*it_avgpool_f32)(it_ctx *, int nc, int t, int h, int w, int kt, int kh, int kw,
                              int tpad, const float *x, float *y);
typedef int (*it_upsample_hw_f32)(it_ctx *, int nc, int t, int h, int w, const float *x, float *y);
typedef int (*it_upsample_t_f32)(it_ctx *, int nc, int t, int hw, const float *x, float *y);
typedef int (*it_haar_f32)(it_ctx *, int n, int t, int h, int w, float scale, const float *x,
                           float *y);
typedef int (*it_attn_f32)(it_ctx *, int n, int c, int t, int hw, const float *q, const float *k,
                           const float *v, float *y);
typedef int (*it_linear_f32)(it_ctx *, int rows, int k, int m, const float *x, const float *wt,
                             const float *bias, float *y);
typedef int (*it_rmsnorm_f32)(it_ctx *, int rows, int d, const float *x, const float *wt,
                              float eps, float *y);
typedef int (*it_rope2d_f32)(it_ctx *, int rows, int nh, int hd, int hw, int w, int ld,
                             const float *x, const float *cs, const float *sn, float *y);
typedef int (*it_mha_f32)(it_ctx *, int n, int s, int nh, int hd, int hw, const float *q,
                          const float *k, const float *v, float *y);
typedef int (*it_swiglu_f32)(it_ctx *, int rows, int d, int f, const float *x, const float *w1,
                             const float *w3, const float *w2, float *y);

/* bf16 wrappers: the same arguments as the table entry, plus the fp32 op to run. Tensors
 * are it_bf16; scratch comes from the BF16_* slots. rope2d converts only the table rows the
 * call can read (ld * ceil(hw / w) rows). */
int it_bf16w_conv3d(it_ctx *, it_conv3d_f32, const it_conv3d_params *, const void *x,
                    const void *wt, const void *bias, void *y);
int it_bf16w_groupnorm(it_ctx *, it_groupnorm_f32, int n, int c, int t, int hw, const void *x,
                       const void *gamma, const void *beta, float eps, int silu, void *y);
int it_bf16w_eltwise(it_ctx *, it_eltwise_f32, size_t len, const void *x, void *y);
int it_bf16w_add(it_ctx *, it_add_f32, size_t len, const void *a, const void *b, void *y);
int it_bf16w_scale(it_ctx *, it_scale_f32, size_t len, const void *x, float s, void *y);
int it_bf16w_avgpool(it_ctx *, it_avgpool_f32, int nc, int t, int h, int w, int kt, int kh, int kw,
                     int tpad, const void *x, void *y);
int it_bf16w_upsample_hw(it_ctx *, it_upsample_hw_f32, int nc, int t, int h, int w, const void *x,
                         void *y);
int it_bf16w_upsample_t(it_ctx *, it_upsample_t_f32, int nc, int t, int hw, const void *x, void *y);
int it_bf16w_haar_fwd(it_ctx *, it_haar_f32, int n, int t, int h, int w, const void *x, void *y);
int it_bf16w_haar_inv(it_ctx *, it_haar_f32, int n, int t, int h, int w, const void *x, void *y);
int it_bf16w_attn(it_ctx *, it_attn_f32, int n, int c, int t, int hw, const void *q, const void *k,
                  const void *v, void *y);
int it_bf16w_linear(it_ctx *, it_linear_f32, int rows, int k, int m, const void *x, const void *wt,
                    const void *bias, void *y);
int it_bf16w_rmsnorm(it_ctx *, it_rmsnorm_f32, int rows, int d, const void *x, const void *wt,
                     float eps, void *y);
int it_bf16w_rope2d(it_ctx *, it_rope2d_f32, int rows, int nh, int hd, int hw, int w, int ld,
                    const void *x, const void *cs, const void *sn, void *y);
int it_bf16w_mha(it_ctx *, it_mha_f32, int n, int s, int nh, int hd, int hw, const void *q,
                 const void *k, const void *v, void *y);
int it_bf16w_swiglu(it_ctx *, it_swiglu_f32, int rows, int d, int f, const void *x, const void *w1,
                    const void *w3, const void *w2, void *y);

/* ---- ref backend (kernels/ref/): every op, naive, fp32 ----
 * Shapes are documented once, on the table in it_kernels.h; the tensors here are float. */
int it_ref_conv3d(it_ctx *, const it_conv3d_params *p, const float *x, const float *wt,
                  const float *bias, float *y);
int it_ref_groupnorm(it_ctx *, int n, int c, int t, int hw, const float *x, const float *gamma,
                     const float *beta, float eps, int silu, float *y);
int it_ref_silu(it_ctx *, size_t len, const float *x, float *y);
int it_ref_add(it_ctx *, size_t len, const float *a, const float *b, float *y);
int it_ref_scale(it_ctx *, size_t len, const float *x, float s, float *y);
int it_ref_rmsnorm(it_ctx *, int rows, int d, const float *x, const float *wt, float eps, float *y);
int it_ref_avgpool(it_ctx *, int nc, int t, int h, int w, int kt, int kh, int kw, int tpad,
                   const float *x, float *y);
int it_ref_upsample_hw(it_ctx *, int nc, int t, int h, int w, const float *x, float *y);
int it_ref_upsample_t(it_ctx *, int nc, int t, int hw, const float *x, float *y);
int it_ref_haar_fwd(it_ctx *, int n, int t, int h, int w, float scale, const float *x, float *y);
int it_ref_haar_inv(it_ctx *, int n, int t, int h, int w, float scale, const float *x, float *y);
int it_ref_attn_spatial(it_ctx *, int n, int c, int t, int hw, const float *q, const float *k,
                        const float *v, float *y);
int it_ref_attn_temporal(it_ctx *, int n, int c, int t, int hw, const float *q, const float *k,
                         const float *v, float *y);
int it_ref_mha(it_ctx *, int n, int s, int nh, int hd, int hw, const float *q, const float *k,
               const float *v, float *y);
int it_ref_rope2d(it_ctx *, int rows, int nh, int hd, int hw, int w, int ld, const float *x,
                  const float *cs, const float *sn, float *y);
int it_ref_linear(it_ctx *, int rows, int k, int m, const float *x, const float *wt,
                  const float *bias, float *y);
int it_ref_swiglu(it_ctx *, int rows, int d, int f, const float *x, const float *w1,
                  const float *w3, const float *w2, float *y);

/* ---- ops shared by ref and cpu in both precisions (kernels/ref/): cheap, and tokens and
 * the ELBO map must not depend on the backend. Arguments as the table's. ---- */
int it_ref_fsq(it_ctx *, int n, size_t nt, const void *z, float *bounded, void *codes,
               int32_t *idx);
int it_ref_fsq_decode(it_ctx *, int n, size_t nt, const int32_t *idx, const uint8_t *keep,
                      void *codes);
int it_ref_elbo_map(it_ctx *, int n, int t, int h, int w, const void *x, const void *recon,
                    float *loss);
int it_ref_pixels_in(it_ctx *, int n, int t, int h, int w, const uint8_t *rgb, void *x);
int it_ref_pixels_out(it_ctx *, int n, int t, int h, int w, const void *y, uint8_t *rgb);
int it_ref_transpose(it_ctx *, int n, int a, int b, const void *x, void *y);
int it_ref_add_rows(it_ctx *, int n, int s, int d, int hw, const void *table, void *x);

#endif
