/* it_kernels_v1.h: the v1 table, kept only until ref and cpu are ported to it_kernels.h (v2).
 * it_kernels.h: the compute ops of the InfoTok network behind a small backend table.
 *
 * What it is: one function pointer per op (conv3d, norms, resampling, Haar, attention, GEMM,
 * FSQ, ELBO map, mask), a supports(op) query, and getters for the two built-in backends:
 *   - "ref": naive, obviously correct C (kernels/ref/), the oracle every other backend is
 *     tested against;
 *   - "cpu": OpenMP + SIMD (kernels/cpu/); each output element is written by exactly one
 *     thread with a fixed reduction order, so results do not depend on the thread count.
 * A CUDA backend registers itself through it_backend_register(). What it is not: a tensor
 * library. Ops take raw fp32 pointers and sizes; the caller owns every buffer.
 *
 * Conventions (caveats first):
 *  - Activations are fp32, batch 1, channel-major [C][T][H][W] (PyTorch NCTHW with N = 1).
 *    Transformer tokens are row-major [S][D], token s = (t*h + y)*w + x.
 *  - Every op returns 0 or a negative IT_E_* code (IT_E_SHAPE for impossible sizes,
 *    IT_E_NOMEM when scratch cannot be allocated), with a message set via it_error_set().
 *  - Outputs must not alias inputs unless the op says so.
 *  - Ops allocate their own scratch per call: fixed-size tiles per thread, plus for mha and
 *    linear-shaped GEMMs up to about the size of their inputs (transposed K/V, packed A).
 *  - Ops keep no state: they may be called from several threads at once on different
 *    buffers (each call then runs its own OpenMP team).
 *  - Arithmetic is fp32 throughout (the official pipeline runs bf16): expect agreement with
 *    PyTorch to bf16 precision, not bits. FSQ, the ELBO map and the mask are bit-identical
 *    between the ref and cpu backends (the cpu table uses the ref code).
 *
 * Dimension letters used in shape comments:
 *   C, Ci, Co  channels (in, out)        T, H, W  frames, rows, columns of an input
 *   To, Ho, Wo output frames/rows/cols   t, h, w  latent grid (tokens: S = t*h*w)
 *   S tokens   D model width   K, N GEMM inner and output width   F MLP hidden width
 *   NH heads   HD head dim (D = NH*HD)   NT tokens in the mask/ELBO map (= t*h*w)
 */
#ifndef IT_KERNELS_V1_H
#define IT_KERNELS_V1_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- ops ------------------------------------------------------------------------------ */
typedef enum it_op {
    IT_OP_CONV3D = 0,   /* 3D convolution, first-frame causal pad, zero spatial pad */
    IT_OP_GROUPNORM,    /* GroupNorm(1 group) per frame, affine, optional fused SiLU */
    IT_OP_SILU,
    IT_OP_ADD,          /* y = a + b */
    IT_OP_SCALE,        /* y = s * x */
    IT_OP_AVGPOOL,      /* kernel == stride, with first-frame causal pad */
    IT_OP_UPSAMPLE_HW,  /* nearest x2 in H and W */
    IT_OP_UPSAMPLE_T,   /* repeat each frame twice, drop the first: T -> 2T-1 */
    IT_OP_HAAR_FWD,     /* 3 ch -> 24 ch, (T+1)/2 x H/2 x W/2 */
    IT_OP_HAAR_INV,     /* 24 ch -> 3 ch, 2t-1 x 2h x 2w */
    IT_OP_ATTN_SPATIAL, /* per frame, single head over h*w positions */
    IT_OP_ATTN_TEMPORAL,/* per position, causal over t */
    IT_OP_LINEAR,       /* Y = X W^T + b */
    IT_OP_RMSNORM,
    IT_OP_ROPE2D,       /* interleaved pairs, per head, from a cos/sin table */
    IT_OP_MHA,          /* multi-head SDPA with the block-causal mask */
    IT_OP_SWIGLU,       /* w2(silu(w1 x) * w3 x) */
    IT_OP_FSQ,          /* latent -> bounded, codes, indices */
    IT_OP_FSQ_DECODE,   /* indices -> codes */
    IT_OP_ELBO_MAP,     /* pooled L1 error map, spec 4.4 */
    IT_OP_MASK,         /* quantile threshold mask, spec 4.6 */
    IT_OP_COUNT
} it_op;

/* "conv3d", "groupnorm", ... ; NULL for an unknown op. */
const char *it_op_name(int op);

/* ---- parameters ----------------------------------------------------------------------- */

/* One conv3d call. The input is read as if `tpad` copies of frame 0 were prepended
 * (CausalConv3d k(3,1,1): tpad 2; the temporal downsample: 1 + 1 = 2 with st 2) and
 * zeros were added around each frame (pad_* rows/columns; the downsample pads only
 * bottom/right). Output size: To = (T+tpad-kt)/st + 1, Ho = (H+pt+pb-kh)/sh + 1, likewise Wo. */
typedef struct it_conv3d_params {
    int ci, co;                 /* channels in, out */
    int t, h, w;                /* input frames, rows, columns */
    int kt, kh, kw;             /* kernel */
    int st, sh, sw;             /* strides (>= 1) */
    int tpad;                   /* frames of first-frame replication before frame 0 */
    int pad_top, pad_bottom, pad_left, pad_right; /* zero padding */
} it_conv3d_params;

/* Output size of a conv3d; IT_E_SHAPE (message set) when a size is impossible. */
int it_conv3d_out_shape(const it_conv3d_params *p, int *to, int *ho, int *wo);

/* FSQ levels and index basis of the released model (spec 3.6). */
#define IT_FSQ_DIM 6
extern const int it_fsq_levels[IT_FSQ_DIM]; /* {8,8,8,5,5,5} */
extern const int it_fsq_basis[IT_FSQ_DIM];  /* {1,8,64,512,2560,12800} */
#define IT_FSQ_CODES 64000
#define IT_FSQ_ZERO_INDEX 32036             /* the all-zero code: a masked token */

/* ---- the backend table ---------------------------------------------------------------- */
typedef struct it_backend {
    const char *name;
    /* 1 when this backend implements op (an it_op), else 0. */
    int (*supports)(int op);

    /* x [Ci][T][H][W], wt [Co][Ci][kt][kh][kw], bias [Co] or NULL -> y [Co][To][Ho][Wo] */
    int (*conv3d)(const it_conv3d_params *p, const float *x, const float *wt,
                  const float *bias, float *y);
    /* x, y [C][T][HW]; gamma, beta [C]. Per frame t: stats over (C, HW), biased variance,
     * y = (x - mean)/sqrt(var + eps)*gamma + beta, then SiLU when silu != 0. y may be x. */
    int (*groupnorm)(int c, int t, int hw, const float *x, const float *gamma,
                     const float *beta, float eps, int silu, float *y);
    /* x, y [n]; y may be x */
    int (*silu)(size_t n, const float *x, float *y);
    /* a, b, y [n]; y may be a or b */
    int (*add)(size_t n, const float *a, const float *b, float *y);
    /* x, y [n]; y may be x */
    int (*scale)(size_t n, const float *x, float s, float *y);
    /* x [C][T][H][W] -> y [C][(T+tpad)/kt][H/kh][W/kw]; window == stride == (kt,kh,kw);
     * tpad copies of frame 0 are prepended first (the temporal downsample uses 1). */
    int (*avgpool)(int c, int t, int h, int w, int kt, int kh, int kw, int tpad,
                   const float *x, float *y);
    /* x [C][T][H][W] -> y [C][T][2H][2W], nearest */
    int (*upsample_hw)(int c, int t, int h, int w, const float *x, float *y);
    /* x [C][T][HW] -> y [C][2T-1][HW]: output frame i is input frame (i+1)/2 */
    int (*upsample_t)(int c, int t, int hw, const float *x, float *y);
    /* x [3][T][H][W] (T odd, H and W even) -> y [24][(T+1)/2][H/2][W/2], channel = band*3+rgb,
     * band = 4*bt + 2*bh + bw (0 = low/sum, 1 = high/first minus second) */
    int (*haar_fwd)(int t, int h, int w, const float *x, float *y);
    /* x [24][t][h][w] -> y [3][2t-1][2h][2w] (the first of the 2t frames is dropped) */
    int (*haar_inv)(int t, int h, int w, const float *x, float *y);
    /* q, k, v, y [C][T][HW]. Per frame: softmax over all HW keys of q.k * C^-1/2. */
    int (*attn_spatial)(int c, int t, int hw, const float *q, const float *k,
                        const float *v, float *y);
    /* q, k, v, y [C][T][HW]. Per position: softmax over keys j <= i of q.k * C^-1/2. */
    int (*attn_temporal)(int c, int t, int hw, const float *q, const float *k,
                         const float *v, float *y);
    /* x [S][K], wt [N][K] (PyTorch layout), bias [N] or NULL -> y [S][N] */
    int (*linear)(int s, int k, int n, const float *x, const float *wt, const float *bias,
                  float *y);
    /* x, y [S][D], wt [D]: y = x / sqrt(mean(x^2) + eps) * wt. y may be x. */
    int (*rmsnorm)(int s, int d, const float *x, const float *wt, float eps, float *y);
    /* x, y [S][NH*HD], cs, sn [S][HD/2]: pair p of each head rotated by angle (cs, sn):
     * (a, b) -> (a*cs - b*sn, a*sn + b*cs) on dims (2p, 2p+1). y may be x. */
    int (*rope2d)(int s, int nh, int hd, const float *x, const float *cs, const float *sn,
                  float *y);
    /* q, k, v, y [S][NH*HD]: per head softmax(q.k / sqrt(HD)) v with the block-causal mask:
     * token i sees token j iff j/hw <= i/hw (hw = tokens per frame; hw >= S means no mask). */
    int (*mha)(int s, int nh, int hd, int hw, const float *q, const float *k,
               const float *v, float *y);
    /* x [S][D], w1, w3 [F][D], w2 [D][F] -> y [S][D] = w2(silu(w1 x) * (w3 x)) */
    int (*swiglu)(int s, int d, int f, const float *x, const float *w1, const float *w3,
                  const float *w2, float *y);
    /* z [6][NT] -> bounded [6][NT] or NULL, codes [6][NT] or NULL, idx [NT] or NULL */
    int (*fsq)(size_t nt, const float *z, float *bounded, float *codes, int32_t *idx);
    /* idx [NT] -> codes [6][NT]; IT_E_FORMAT for an index outside [0, 64000) */
    int (*fsq_decode)(size_t nt, const int32_t *idx, float *codes);
    /* x, recon [3][T][H][W] (T = 4t-3, H = 8h, W = 8w) -> loss [t][h][w]: mean over rgb of
     * |x - recon|, then over pixel frame 0 alone (latent 0) or frames 4j-3..4j (latent j),
     * then over each 8x8 block; fp32 sums in that order (PyTorch rounds each step to bf16). */
    int (*elbo_map)(int t, int h, int w, const float *x, const float *recon, float *loss);
    /* loss [NT] -> keep [NT] (1 kept, 0 dropped), kept count and bound (either may be NULL):
     * keep = loss > quantile(loss, 1 - r), the fp32 linear-interpolated quantile exactly as
     * torch.quantile computes it (a NaN loss makes the bound NaN: nothing kept).
     * IT_E_INVALID for r outside [0, 1]. */
    int (*mask)(size_t nt, const float *loss, float r, uint8_t *keep, size_t *kept,
                float *bound);
} it_backend;

/* The built-in backends (static tables, never NULL). */
const it_backend *it_backend_ref(void);
const it_backend *it_backend_cpu(void);

/* Add a backend (a CUDA build calls this once at start-up, before any lookup). The table
 * must stay valid for the life of the process. IT_E_INVALID for a NULL/unnamed table or a
 * name already registered, IT_E_UNSUPPORTED when the registry is full. Not thread-safe. */
int it_backend_register(const it_backend *be);
/* Find "ref", "cpu" or a registered backend by name; NULL if there is none. */
const it_backend *it_backend_find(const char *name);
/* 0 when be supports op, else IT_E_UNSUPPORTED naming backend and op: model loading calls
 * this for every op it uses so a missing op fails at load time, never per call. */
int it_backend_require(const it_backend *be, int op);

/* Threads for the cpu backend (OpenMP, the calling thread's setting); n <= 0 restores the
 * default. Results do not depend on it.
 * SIMD: the cpu backend is compiled for the build's -march (SSE2 on x86-64 by default); on
 * x86-64 its GEMM micro-kernel (conv3d, linear, swiglu, attn_spatial) also has AVX2+FMA and
 * AVX-512 variants picked at run time. The environment variable IT_KERNELS_ISA=base|avx2
 * caps that choice (for tests). Results may differ between variants, never between thread
 * counts. */
void it_kernels_set_threads(int n);
int it_kernels_threads(void);

#ifdef __cplusplus
}
#endif
#endif
