/* cuda_ops.h: the op layer of the CUDA backend (kernels/cuda/cuda_ops.cu), between the
 * backend table (cuda_backend.c) and the kernels. It is plain C so that both of its users can
 * include it: the "cuda" backend, which fills the environment with a stream, cuBLAS
 * (cuda_blas.c) and device scratch; and the tests, which compile cuda_ops.cu with g++ and the
 * CPU execution shim (shim/cuda_shim.h) and fill it with a host GEMM and host scratch, so that
 * every kernel and every layout decision of an op runs in make check on a machine without a
 * GPU. Only the GEMM itself (cuda_blas.c) is left for tests/gpu/check.sh.
 *
 * Every itc_* function takes the arguments of the it_backend entry of the same name
 * (it_kernels.h, shapes and rules there) with the environment in place of the context, and
 * returns 0 or a negative IT_E_* code with a message set. Pointers are device pointers (host
 * pointers under the shim). Work is queued on env->stream; nothing synchronises.
 * Not here: fsq (the cuda backend runs kernels/ref/ref_fsq.c on the host on the downloaded
 * latent, so that tokens are bit-identical to the cpu backend's: the GPU's tanhf is not
 * glibc's). */
#ifndef IT_CUDA_OPS_H
#define IT_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/it_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scratch slots of an environment: a slot's buffer is grown when a call needs more, kept
 * until the environment goes; two buffers live at once must use different slots. */
enum {
    ITC_SCR_COL = 0,  /* conv3d: im2col of a chunk of output frames */
    ITC_SCR_ACC,      /* fp32 GEMM results before the epilogue */
    ITC_SCR_HID_A,    /* swiglu: fp32 hidden layer */
    ITC_SCR_HID_B,
    ITC_SCR_W32,      /* swiglu bf16: w2 widened to fp32 */
    ITC_SCR_STATS,    /* groupnorm: per-chunk moments and per-frame mean/rstd */
    ITC_SCR_COUNT
};

typedef struct itc_env itc_env;
struct itc_env {
    void *stream;  /* cudaStream_t (NULL under the shim) */
    int precision; /* IT_PRECISION_*: the element type of act and param tensors */
    /* Row-major C[m][n] (ldc) = A[m][k] (lda) * B, B = [k][n] (ldb) or, with b_trans, the
     * transpose of [n][k] (ldb). A and B are of `type` (IT_PRECISION_*: float or bf16), C is
     * fp32, the sum fp32 (no TF32, no reduced-precision accumulation). */
    int (*gemm)(itc_env *e, int type, int m, int n, int k, const void *a, int lda, const void *b, int ldb,
                int b_trans, float *c, int ldc);
    /* At least `bytes` of device memory in slot (see above); NULL with an error set. */
    void *(*scratch)(itc_env *e, int slot, size_t bytes);
    /* After a group of launches: 0, or the launch error (cudaGetLastError) as an IT_E_* code
     * with a message naming `what`. */
    int (*check)(itc_env *e, const char *what);
    void *user; /* the owner's state */
};

/* Elements of one im2col chunk at most (bounds the conv3d scratch: 2^26 elements, 256 MiB
 * in fp32); a conv that needs more runs in several chunks of output frames. */
#define ITC_COL_CHUNK ((size_t)1 << 26)

int itc_conv3d(itc_env *e, const it_conv3d_params *p, const void *x, const void *wt, const void *bias, void *y);
int itc_groupnorm(itc_env *e, int n, int c, int t, int hw, const void *x, const void *gamma, const void *beta,
                  float eps, int silu, void *y);
int itc_silu(itc_env *e, size_t len, const void *x, void *y);
int itc_add(itc_env *e, size_t len, const void *a, const void *b, void *y);
int itc_scale(itc_env *e, size_t len, const void *x, float s, void *y);
int itc_avgpool(itc_env *e, int nc, int t, int h, int w, int kt, int kh, int kw, int tpad, const void *x, void *y);
int itc_upsample_hw(itc_env *e, int nc, int t, int h, int w, const void *x, void *y);
int itc_upsample_t(itc_env *e, int nc, int t, int hw, const void *x, void *y);
int itc_haar_fwd(itc_env *e, int n, int t, int h, int w, const void *x, void *y);
int itc_haar_inv(itc_env *e, int n, int t, int h, int w, const void *x, void *y);
int itc_attn_spatial(itc_env *e, int n, int c, int t, int hw, const void *q, const void *k, const void *v,
                     void *y);
int itc_attn_temporal(itc_env *e, int n, int c, int t, int hw, const void *q, const void *k, const void *v,
                      void *y);
int itc_linear(itc_env *e, int rows, int k, int m, const void *x, const void *wt, const void *bias, void *y);
int itc_rmsnorm(itc_env *e, int rows, int d, const void *x, const void *wt, float eps, void *y);
int itc_rope2d(itc_env *e, int rows, int nh, int hd, int hw, int w, int ld, const void *x, const void *cs,
               const void *sn, void *y);
int itc_mha(itc_env *e, int n, int s, int nh, int hd, int hw, const void *q, const void *k, const void *v,
            void *y);
int itc_swiglu(itc_env *e, int rows, int d, int f, const void *x, const void *w1, const void *w3,
               const void *w2, void *y);
/* indices outside [0, 64000) decode to the zero code (callers check indices on the host,
 * it_kernels.h; a kernel cannot return IT_E_FORMAT without a synchronisation) */
int itc_fsq_decode(itc_env *e, int n, size_t nt, const int32_t *idx, const uint8_t *keep, void *codes);
int itc_elbo_map(itc_env *e, int n, int t, int h, int w, const void *x, const void *recon, float *loss);
int itc_pixels_in(itc_env *e, int n, int t, int h, int w, const uint8_t *rgb, void *x);
int itc_pixels_out(itc_env *e, int n, int t, int h, int w, const void *y, uint8_t *rgb);
int itc_transpose(itc_env *e, int n, int a, int b, const void *x, void *y);
int itc_add_rows(itc_env *e, int n, int s, int d, int hw, const void *table, void *x);

/* Largest head/channel width of the attention kernels (the network's is 512). */
#define ITC_ATTN_MAX_DIM 512

#ifdef __cplusplus
}
#endif
#endif
