/* it_kernels.h (v2): the compute ops of the InfoTok network behind a small backend table that
 * also owns memory, so that a device backend keeps weights and activations resident.
 *
 * What it is: a static table per implementation (it_backend: name, supports(op, precision),
 * open/close of a context, memory functions, one function pointer per op) and a context
 * instance (it_ctx: one per model, device and precision) that every call takes first.
 * Built-in tables:
 *   - "ref": naive, obviously correct C (kernels/ref/), the oracle every other backend is
 *     tested against, in both precisions (bf16: see "Precision" below);
 *   - "cpu": OpenMP + SIMD (kernels/cpu/); each output element is written by exactly one
 *     thread with a fixed reduction order, so results do not depend on the thread count.
 *   - "cuda" (kernels/cuda/): the module infotok-cuda.so, which it_backend_find("cuda") loads
 *     on first use (kernels/backend.c) and which registers through it_backend_register().
 * What it is not: a tensor library. Ops take raw backend pointers and sizes; the caller owns every buffer.
 *
 * Conventions (caveats first):
 *  - A context serves one thread at a time (it owns the ops' scratch, and a device backend's
 *    stream). Use one context per thread.
 *  - Every op argument that points at a tensor is a backend pointer: memory from ctx's
 *    alloc(), or an offset into it (plain pointer arithmetic on the returned address is
 *    allowed). Host backends (be->host_memory) also take any host pointer.
 *  - Ops never allocate per call: scratch belongs to the context (grown the first time a
 *    shape needs more, kept, freed at close) or comes from the caller's buffers.
 *  - Batches: activations are batch-outermost, [N][C][T][H][W]; transformer tokens are
 *    row-major [N*S][D], token s = (t*h + y)*w + x within a sample. Ops that would mix
 *    samples take n; per-channel or per-token ops fold n into a size (avgpool and upsample:
 *    channels = N*C; linear, rmsnorm, swiglu, rope2d: rows = N*S; silu, add, scale: length).
 *  - Every op returns 0 or a negative IT_E_* code (IT_E_SHAPE for impossible sizes,
 *    IT_E_NOMEM when scratch cannot be grown), with a message set via it_error_set(). A device
 *    backend may report an asynchronous failure at the next download() or sync().
 *  - Outputs must not alias inputs unless the op says so.
 *
 * Precision (fixed per context; the full rules: man/infotok-precision.7):
 *  - IT_PRECISION_FP32: every "act" and "param" tensor below is float.
 *  - IT_PRECISION_BF16: every "act" and "param" tensor is it_bf16 (bfloat16 bits). Each op
 *    reads its bf16 inputs exactly, computes in fp32 (fp32 accumulation, fp32 softmax and norm
 *    statistics; the ref oracle may use double where its fp32 code does) and rounds each
 *    output element once, to nearest even (it_bf16_from_f32). Nothing else is rounded inside
 *    an op (swiglu's hidden layer and the attention scores stay fp32; the double in-projection
 *    is separate ops and so is rounded between them) except the attention probabilities, as
 *    the official bf16 run's fused attention rounds them: P_j = bf16(exp(s_j - max_j s_j))
 *    with the row's exact max, the normaliser summing the unrounded values. Constants: the
 *    Haar filter is bf16(1/sqrt 2) = 0.70703125 (scale a^3/(2 sqrt 2) forward, a^3 * 2 sqrt 2
 *    inverse, in fp32); RoPE tables and the pixel LUT are rounded by their producer. Fixed
 *    types whatever the precision: u8 pixels, int32 indices, uint8 keep flags, float ELBO map
 *    and FSQ "bounded" values.
 *  - kernels/ref in bf16 is the oracle: it converts inputs to fp32, runs its fp32 code and
 *    rounds the output once. Other backends round at exactly those points, so they differ from
 *    it only by fp32 summation order (tests: a few bf16 ulps on a small fraction of outputs).
 *
 * Dimension letters used in shape comments:
 *   N batch (windows)   C, Ci, Co channels (in, out)   T, H, W frames, rows, columns of an input
 *   To, Ho, Wo output frames/rows/cols   t, h, w latent grid (tokens per sample: S = t*h*w)
 *   S tokens   D model width   K, M GEMM inner and output width   F MLP hidden width
 *   NH heads   HD head dim (D = NH*HD)   NT tokens per sample (= t*h*w)   R rope table side
 */
#ifndef IT_KERNELS_H
#define IT_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "infotok/core.h"

/* Exported from libinfotok.so: the backend ABI (a CUDA module registers through it) (the library builds with hidden visibility). */
#pragma GCC visibility push(default)

#ifdef __cplusplus
extern "C" {
#endif

/* ---- precision: enum it_precision, it_precision_name/parse (infotok.h) ------------------- */
/* Bytes of one activation/parameter element: 4 or 2. */
size_t it_precision_size(int precision);

typedef uint16_t it_bf16; /* bfloat16 bits: the upper half of an IEEE binary32 */

/* fp32 -> bf16, round to nearest, ties to even; NaN stays a (quiet) NaN, infinities stay.
 * Branch-free (the NaN case a select), so that loops over it vectorise. */
static inline it_bf16 it_bf16_from_f32(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, quiet_nan = (u >> 16) | 0x40u;
    return (it_bf16)((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
}
static inline float it_bf16_to_f32(it_bf16 b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
/* f rounded to bf16 and back: the value a bf16 tensor holds. */
static inline float it_bf16_round(float f)
{
    return it_bf16_to_f32(it_bf16_from_f32(f));
}

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
    IT_OP_ROPE2D,       /* interleaved pairs, per head, from the resident cos/sin tables */
    IT_OP_MHA,          /* multi-head SDPA with the block-causal mask */
    IT_OP_SWIGLU,       /* w2(silu(w1 x) * w3 x) */
    IT_OP_FSQ,          /* latent -> bounded, codes, indices */
    IT_OP_FSQ_DECODE,   /* indices (+ keep) -> codes */
    IT_OP_ELBO_MAP,     /* pooled L1 error map, spec 4.4 */
    IT_OP_PIXELS_IN,    /* u8 RGB frames -> act in [-1, 1] */
    IT_OP_PIXELS_OUT,   /* act -> u8 RGB frames */
    IT_OP_TRANSPOSE,    /* [N][A][B] -> [N][B][A] */
    IT_OP_ADD_ROWS,     /* x[N][S][D] += table[s / hw][D] (the temporal embedding) */
    IT_OP_COUNT
} it_op;

/* "conv3d", "groupnorm", ... ; NULL for an unknown op. */
const char *it_op_name(int op);

/* ---- parameters ----------------------------------------------------------------------- */

/* One conv3d call on n samples. The input is read as if `tpad` copies of frame 0 were
 * prepended (CausalConv3d k(3,1,1): tpad 2; the temporal downsample: 1 + 1 = 2 with st 2) and
 * zeros were added around each frame (pad_* rows/columns; the downsample pads only
 * bottom/right). Output size: To = (T+tpad-kt)/st + 1, Ho = (H+pt+pb-kh)/sh + 1, likewise Wo.
 * n is last so that a positional initializer that forgets it leaves 0, which is refused. */
typedef struct it_conv3d_params {
    int ci, co;                 /* channels in, out */
    int t, h, w;                /* input frames, rows, columns */
    int kt, kh, kw;             /* kernel */
    int st, sh, sw;             /* strides (>= 1) */
    int tpad;                   /* frames of first-frame replication before frame 0 */
    int pad_top, pad_bottom, pad_left, pad_right; /* zero padding */
    int n;                      /* samples (>= 1) */
} it_conv3d_params;

/* Output size of a conv3d; IT_E_SHAPE (message set) when a size is impossible (n < 1 too). */
int it_conv3d_out_shape(const it_conv3d_params *p, int *to, int *ho, int *wo);

/* FSQ levels and index basis of the released model (spec 3.6). */
#define IT_FSQ_DIM 6
extern const int it_fsq_levels[IT_FSQ_DIM]; /* {8,8,8,5,5,5} */
extern const int it_fsq_basis[IT_FSQ_DIM];  /* {1,8,64,512,2560,12800} */
#define IT_FSQ_CODES 64000
#define IT_FSQ_ZERO_INDEX 32036             /* the all-zero code: a masked token */

/* The Haar scale factors of a precision (fp32: exactly 1/8 and 1; bf16: from 0.70703125). */
float it_haar_fwd_scale(int precision);
float it_haar_inv_scale(int precision);

/* ---- contexts ------------------------------------------------------------------------- */
typedef struct it_ctx_opts {
    int precision;  /* IT_PRECISION_* */
    int device;     /* device index (cuda:N); host backends require 0 */
    int threads;    /* cpu: OpenMP threads for this context's ops; <= 0: the calling thread's
                       current setting (it_kernels_set_threads) at each call */
} it_ctx_opts;

struct it_backend;
/* The public head of a context; a backend keeps its own state (scratch, streams, handles,
 * prepared weights) behind priv. Created by be->open, destroyed by be->close. */
typedef struct it_ctx {
    const struct it_backend *be;
    int precision;
    int device;
    int threads;
    void *priv;
} it_ctx;

/* ---- the backend table ----------------------------------------------------------------
 * Shapes below: "act" = element type of the context's precision (float or it_bf16), the
 * same for "param" (weights, biases, norm gains, tables). Every pointer is a backend pointer. */
typedef struct it_backend {
    const char *name;
    /* 1 when device memory is host memory (ref, cpu): callers may pass host pointers (e.g.
     * an mmapped weight file) to ops without upload, and upload/download are memcpy. */
    int host_memory;
    /* 1 when this backend implements op (an it_op) at precision (IT_PRECISION_*), else 0. */
    int (*supports)(int op, int precision);

    /* Create a context (IT_E_UNSUPPORTED for a precision or device it lacks); close is
     * NULL-safe and frees everything the context allocated, alloc()ed memory included. */
    int (*open)(const it_ctx_opts *o, it_ctx **out);
    void (*close)(it_ctx *ctx);

    /* ---- memory (device memory for a device backend; host for ref/cpu) ----
     * alloc: bytes >= 1, 256-byte aligned, contents undefined; IT_E_NOMEM on failure. free is
     * NULL-safe. upload/download copy host <-> device and are complete on return; copy is
     * device -> device (may be queued). sync waits for every queued op of ctx. */
    int (*alloc)(it_ctx *ctx, size_t bytes, void **out);
    void (*free)(it_ctx *ctx, void *p);
    int (*upload)(it_ctx *ctx, void *dst, const void *host_src, size_t bytes);
    int (*download)(it_ctx *ctx, void *host_dst, const void *src, size_t bytes);
    int (*copy)(it_ctx *ctx, void *dst, const void *src, size_t bytes);
    int (*sync)(it_ctx *ctx);

    /* Optional (NULL: nothing to do). Called once per GEMM/conv weight after it is resident,
     * at model load: a backend may build and keep a second form of it (e.g. bf16 panels in
     * its micro-kernel's layout) and find it again from the pointer wt when an op receives
     * wt. rows x cols is the weight as a matrix: conv3d [Co][Ci*kt*kh*kw], linear and the
     * swiglu weights [out][in]. op is the op that will read it (IT_OP_CONV3D, IT_OP_LINEAR,
     * IT_OP_SWIGLU). Freed at close. wt stays valid and unchanged until close. */
    int (*prepare_weight)(it_ctx *ctx, int op, const void *wt, int rows, int cols);

    /* ---- ops ---- */
    /* x act [N][Ci][T][H][W], wt param [Co][Ci][kt][kh][kw], bias param [Co] or NULL
     * -> y act [N][Co][To][Ho][Wo] */
    int (*conv3d)(it_ctx *ctx, const it_conv3d_params *p, const void *x, const void *wt,
                  const void *bias, void *y);
    /* x, y act [N][C][T][HW]; gamma, beta param [C]. Per sample and frame: stats over (C, HW),
     * biased variance, y = (x - mean)/sqrt(var + eps)*gamma + beta, then SiLU when silu != 0.
     * y may be x. */
    int (*groupnorm)(it_ctx *ctx, int n, int c, int t, int hw, const void *x, const void *gamma,
                     const void *beta, float eps, int silu, void *y);
    /* x, y act [len]; y may be x */
    int (*silu)(it_ctx *ctx, size_t len, const void *x, void *y);
    /* a, b, y act [len]; y may be a or b */
    int (*add)(it_ctx *ctx, size_t len, const void *a, const void *b, void *y);
    /* x, y act [len]; y may be x */
    int (*scale)(it_ctx *ctx, size_t len, const void *x, float s, void *y);
    /* x act [NC][T][H][W] -> y act [NC][(T+tpad)/kt][H/kh][W/kw]; window == stride ==
     * (kt,kh,kw); tpad copies of frame 0 are prepended first (the temporal downsample: 1). */
    int (*avgpool)(it_ctx *ctx, int nc, int t, int h, int w, int kt, int kh, int kw, int tpad,
                   const void *x, void *y);
    /* x act [NC][T][H][W] -> y act [NC][T][2H][2W], nearest */
    int (*upsample_hw)(it_ctx *ctx, int nc, int t, int h, int w, const void *x, void *y);
    /* x act [NC][T][HW] -> y act [NC][2T-1][HW]: output frame i is input frame (i+1)/2 */
    int (*upsample_t)(it_ctx *ctx, int nc, int t, int hw, const void *x, void *y);
    /* x act [N][3][T][H][W] (T odd, H and W even) -> y act [N][24][(T+1)/2][H/2][W/2],
     * channel = band*3+rgb, band = 4*bt + 2*bh + bw (0 = low/sum, 1 = high/first minus
     * second): y = it_haar_fwd_scale * sum of +-x over the 2x2x2 cube, frame 0 duplicated */
    int (*haar_fwd)(it_ctx *ctx, int n, int t, int h, int w, const void *x, void *y);
    /* x act [N][24][t][h][w] -> y act [N][3][2t-1][2h][2w] (the first of the 2t frames is
     * dropped): y = it_haar_inv_scale * sum over bands of +-x */
    int (*haar_inv)(it_ctx *ctx, int n, int t, int h, int w, const void *x, void *y);
    /* q, k, v, y act [N][C][T][HW]. Per sample and frame: softmax over all HW keys of
     * q.k * C^-1/2. */
    int (*attn_spatial)(it_ctx *ctx, int n, int c, int t, int hw, const void *q, const void *k,
                        const void *v, void *y);
    /* q, k, v, y act [N][C][T][HW]. Per sample and position: softmax over keys j <= i of
     * q.k * C^-1/2. */
    int (*attn_temporal)(it_ctx *ctx, int n, int c, int t, int hw, const void *q, const void *k,
                         const void *v, void *y);
    /* x act [rows][K], wt param [M][K] (PyTorch layout), bias param [M] or NULL
     * -> y act [rows][M] */
    int (*linear)(it_ctx *ctx, int rows, int k, int m, const void *x, const void *wt,
                  const void *bias, void *y);
    /* x, y act [rows][D], wt param [D]: y = x / sqrt(mean(x^2) + eps) * wt. y may be x. */
    int (*rmsnorm)(it_ctx *ctx, int rows, int d, const void *x, const void *wt, float eps,
                   void *y);
    /* x, y act [rows][NH*HD]; cs, sn param [*][HD/2] tables with row stride ld (>= w):
     * row r is token r of a sample (rows = N*S, S a multiple of hw), at position
     * p = r % hw of its frame, i.e. (y, x) = (p / w, p % w), and reads table row y*ld + x.
     * Pair p of each head is rotated by (c, s) from that row: (a, b) -> (a*c - b*s, a*s + b*c)
     * on dims (2p, 2p+1). y may be x. (A per-token table: hw = w = rows.) */
    int (*rope2d)(it_ctx *ctx, int rows, int nh, int hd, int hw, int w, int ld, const void *x,
                  const void *cs, const void *sn, void *y);
    /* q, k, v, y act [N][S][NH*HD]: per sample and head softmax(q.k / sqrt(HD)) v with the
     * block-causal mask: token i sees token j iff j/hw <= i/hw (hw = tokens per frame;
     * hw >= S means no mask). Never across samples. */
    int (*mha)(it_ctx *ctx, int n, int s, int nh, int hd, int hw, const void *q, const void *k,
               const void *v, void *y);
    /* x act [rows][D], w1, w3 param [F][D], w2 param [D][F] -> y act [rows][D] =
     * w2(silu(w1 x) * (w3 x)); the hidden layer stays fp32 inside the op. */
    int (*swiglu)(it_ctx *ctx, int rows, int d, int f, const void *x, const void *w1,
                  const void *w3, const void *w2, void *y);
    /* z act [N][6][NT] -> bounded float [N][6][NT] or NULL, codes act [N][6][NT] or NULL,
     * idx int32 [N][NT] or NULL. The bound/round maths is fp32 on z's value (spec 3.6) in
     * every precision; codes are exact in bf16. */
    int (*fsq)(it_ctx *ctx, int n, size_t nt, const void *z, float *bounded, void *codes,
               int32_t *idx);
    /* idx int32 [N][NT], keep uint8 [N][NT] or NULL (NULL: all kept) -> codes act [N][6][NT];
     * a token with keep 0 gets the zero code. Indices must lie in [0, 64000): host backends
     * return IT_E_FORMAT otherwise; callers check on the host (it_model_detokenize does). */
    int (*fsq_decode)(it_ctx *ctx, int n, size_t nt, const int32_t *idx, const uint8_t *keep,
                      void *codes);
    /* x, recon act [N][3][T][H][W] (T = 4t-3, H = 8h, W = 8w) -> loss float [N][t][h][w]:
     * mean over rgb of |x - recon|, then over pixel frame 0 alone (latent 0) or frames
     * 4j-3..4j (latent j), then over each 8x8 block; fp32 sums in that order on the values
     * the tensors hold. In bf16 the rounding steps are those of man/infotok-precision.7
     * (kernels/ref/ref_elbo.c is the definition). */
    int (*elbo_map)(it_ctx *ctx, int n, int t, int h, int w, const void *x, const void *recon,
                    float *loss);
    /* rgb u8 [N][T][H][W][3] (a backend pointer) -> x act [N][3][T][H][W] = the precision's
     * rounding of v/255*2-1 computed in double (spec 4.2; a 256-entry table). */
    int (*pixels_in)(it_ctx *ctx, int n, int t, int h, int w, const uint8_t *rgb, void *x);
    /* y act [N][3][T][H][W] -> rgb u8 [N][T][H][W][3]: v = (y+1)/2 in fp32, clamped to
     * [0, 1], then (uint8)(v*255 + 0.5) (round half up, spec 4.7). */
    int (*pixels_out)(it_ctx *ctx, int n, int t, int h, int w, const void *y, uint8_t *rgb);
    /* x act [N][A][B] -> y act [N][B][A] */
    int (*transpose)(it_ctx *ctx, int n, int a, int b, const void *x, void *y);
    /* x act [N][S][D] in place: row s of each sample += table[s / hw] (table param [*][D],
     * S/hw rows used); computed in fp32, rounded once. */
    int (*add_rows)(it_ctx *ctx, int n, int s, int d, int hw, const void *table, void *x);
} it_backend;

/* The built-in backends (static tables, never NULL). */
const it_backend *it_backend_ref(void);
const it_backend *it_backend_cpu(void);

/* Add a backend (a CUDA build calls this once at start-up, before any lookup). The table
 * must stay valid for the life of the process. IT_E_INVALID for a NULL/unnamed table or a
 * name already registered, IT_E_UNSUPPORTED when the registry is full. Not thread-safe. */
int it_backend_register(const it_backend *be);
/* Find "ref", "cpu" or a registered backend by name; NULL if there is none. "cuda" loads the
 * CUDA module the first time (INFOTOK_CUDA_MODULE, else the build tree's or the installed
 * one); when that fails the thread's error message says why. */
const it_backend *it_backend_find(const char *name);
/* 0 when be supports op at precision, else IT_E_UNSUPPORTED naming backend, op and
 * precision: model loading calls this for every op it uses so a missing op fails at load
 * time, never per call. */
int it_backend_require(const it_backend *be, int op, int precision);

/* Open a context of be (checks the table is complete); the caller closes it with
 * it_ctx_close. */
int it_ctx_open(const it_backend *be, const it_ctx_opts *o, it_ctx **out);
void it_ctx_close(it_ctx **ctx); /* NULL-safe */

/* The quantile mask (spec 4.6), a host function on the downloaded fp32 map (not a backend
 * op: allocation is host-side). loss [NT] -> keep [NT] (1 kept, 0 dropped) or NULL, kept
 * count and bound (either may be NULL): keep = loss > quantile(loss, 1 - r), the fp32
 * linear-interpolated quantile exactly as torch.quantile computes it (a NaN loss makes the
 * bound NaN: nothing kept). IT_E_INVALID for r outside [0, 1]. */
int it_quantile_mask(size_t nt, const float *loss, float r, uint8_t *keep, size_t *kept,
                     float *bound);

/* Default threads for the cpu backend (OpenMP, the calling thread's setting): used by a
 * context opened with threads <= 0. n <= 0 restores the default. Results do not depend on
 * it.
 * SIMD: the cpu backend is compiled for the build's -march (SSE2 on x86-64 by default); on
 * x86-64 its GEMM micro-kernel (conv3d, linear, swiglu, attn_spatial) also has AVX2+FMA and
 * AVX-512 variants picked at run time, and in bf16 conv3d, linear and swiglu run on
 * AVX512-BF16 (vdpbf16ps) where the CPU has it. The environment variable
 * IT_KERNELS_ISA=base|avx2|avx512 caps that choice (for tests; avx512 leaves out the bf16
 * instructions). Results may differ between variants, never between thread counts. */
void it_kernels_set_threads(int n);
int it_kernels_threads(void);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop
#endif
