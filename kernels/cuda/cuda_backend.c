/* cuda_backend.c: the "cuda" backend table (it_kernels.h) of the module infotok-cuda.so.
 * A context is one device, one non-blocking stream, one cuBLAS handle (cuda_blas.c) and its
 * scratch in device memory; the ops are the op layer of cuda_ops.cu on that environment.
 * The library loads this module on first use of the name "cuda" (kernels/backend.c), so
 * libinfotok itself never links libcudart: without the CUDA runtime there is simply no cuda
 * backend, and without a GPU opening a context fails with a message naming the device.
 *
 * Rules kept from the host backends: upload/download are complete on return (they follow
 * the stream's queued ops); copy and the ops are queued; errors of queued work surface at
 * the next download() or sync(). fsq runs on the host (kernels/ref/ref_fsq.c, compiled into
 * this module) on the downloaded latent: the tokens must be bit-identical to the cpu
 * backend's, and glibc's tanhf is not the GPU's. The latent is 6 values per token, so this
 * costs one small transfer each way per window. */
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "kernels/cuda/cuda_blas.h"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/kernels_internal.h"

typedef struct cuda_priv {
    itc_env env;
    cudaStream_t stream;
    void *blas;
    struct { void *p; size_t bytes; } scr[ITC_SCR_COUNT];
    /* host staging of fsq */
    struct { void *p; size_t bytes; } host[3];
} cuda_priv;

static const it_backend *cuda_table(void);

static int cuda_fail(cudaError_t e, const char *what)
{
    return it_error_set(e == cudaErrorMemoryAllocation ? IT_E_NOMEM : IT_E_INTERNAL, "CUDA: %s: %s (%s)", what,
                        cudaGetErrorString(e), cudaGetErrorName(e));
}

/* Make ctx's device current on the calling thread (a context serves one thread at a time,
 * but a process may hold contexts of several devices). */
static cuda_priv *enter(it_ctx *ctx)
{
    cudaSetDevice(ctx->device);
    return ctx->priv;
}

static int env_gemm(itc_env *e, int type, int m, int n, int k, const void *a, int lda, const void *b, int ldb,
                    int b_trans, float *c, int ldc)
{
    return itc_blas_gemm(((cuda_priv *)e->user)->blas, type, m, n, k, a, lda, b, ldb, b_trans, c, ldc);
}

static void *env_scratch(itc_env *e, int slot, size_t bytes)
{
    cuda_priv *p = e->user;
    if (slot < 0 || slot >= ITC_SCR_COUNT) {
        it_error_set(IT_E_INTERNAL, "cuda: scratch slot %d out of range", slot);
        return NULL;
    }
    if (bytes <= p->scr[slot].bytes)
        return p->scr[slot].p;
    /* queued work may still read the old buffer */
    cudaError_t err = cudaStreamSynchronize(p->stream);
    if (err != cudaSuccess) {
        cuda_fail(err, "work queued before growing scratch");
        return NULL;
    }
    cudaFree(p->scr[slot].p);
    p->scr[slot].p = NULL;
    p->scr[slot].bytes = 0;
    size_t size = (bytes + 255) / 256 * 256;
    if ((err = cudaMalloc(&p->scr[slot].p, size)) != cudaSuccess) {
        p->scr[slot].p = NULL;
        cudaGetLastError(); /* clear the sticky-free allocation error */
        it_error_set(IT_E_NOMEM, "CUDA: out of device memory for %zu bytes of scratch", bytes);
        return NULL;
    }
    p->scr[slot].bytes = size;
    return p->scr[slot].p;
}

static int env_check(itc_env *e, const char *what)
{
    (void)e;
    cudaError_t err = cudaGetLastError();
    return err == cudaSuccess ? 0 : cuda_fail(err, what);
}

static void *host_buf(cuda_priv *p, int i, size_t bytes)
{
    if (bytes > p->host[i].bytes) {
        free(p->host[i].p);
        p->host[i].p = malloc(bytes);
        p->host[i].bytes = p->host[i].p ? bytes : 0;
        if (!p->host[i].p)
            it_error_set(IT_E_NOMEM, "cuda: out of host memory (%zu bytes)", bytes);
    }
    return p->host[i].p;
}

/* ---- contexts and memory ---- */
static void cuda_close(it_ctx *ctx)
{
    if (!ctx)
        return;
    cuda_priv *p = ctx->priv;
    if (p) {
        cudaSetDevice(ctx->device);
        if (p->stream)
            cudaStreamSynchronize(p->stream);
        for (int i = 0; i < ITC_SCR_COUNT; i++)
            cudaFree(p->scr[i].p);
        for (int i = 0; i < 3; i++)
            free(p->host[i].p);
        itc_blas_destroy(p->blas);
        if (p->stream)
            cudaStreamDestroy(p->stream);
        free(p);
    }
    free(ctx);
}

static int cuda_open(const it_ctx_opts *o, it_ctx **out)
{
    *out = NULL;
    if (o->precision < 0 || o->precision >= IT_PRECISION_COUNT)
        return it_error_set(IT_E_INVALID, "backend 'cuda': unknown precision %d", o->precision);
    int count = 0;
    cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess || count == 0) {
        cudaGetLastError();
        return it_error_set(IT_E_UNSUPPORTED, "cuda:%d: no CUDA device (%s)", o->device,
                            err != cudaSuccess ? cudaGetErrorString(err) : "the driver sees none");
    }
    if (o->device < 0 || o->device >= count)
        return it_error_set(IT_E_UNSUPPORTED, "cuda:%d: no such device (this machine has %d: cuda:0..cuda:%d)",
                            o->device, count, count - 1);
    if ((err = cudaSetDevice(o->device)) != cudaSuccess)
        return cuda_fail(err, "selecting the device");
    it_ctx *ctx = calloc(1, sizeof *ctx);
    cuda_priv *p = calloc(1, sizeof *p);
    if (!ctx || !p) {
        free(ctx);
        free(p);
        return it_error_set(IT_E_NOMEM, "out of memory opening a 'cuda' context");
    }
    ctx->be = cuda_table();
    ctx->precision = o->precision;
    ctx->device = o->device;
    ctx->threads = o->threads > 0 ? o->threads : 0;
    ctx->priv = p;
    int rc = 0;
    if ((err = cudaStreamCreateWithFlags(&p->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        p->stream = NULL;
        rc = cuda_fail(err, "creating a stream");
    } else {
        rc = itc_blas_create(&p->blas, p->stream);
    }
    if (rc < 0) {
        cuda_close(ctx);
        return rc;
    }
    p->env.stream = p->stream;
    p->env.precision = o->precision;
    p->env.gemm = env_gemm;
    p->env.scratch = env_scratch;
    p->env.check = env_check;
    p->env.user = p;
    *out = ctx;
    return 0;
}

static int cuda_alloc(it_ctx *ctx, size_t bytes, void **out)
{
    enter(ctx);
    cudaError_t err = cudaMalloc(out, bytes ? bytes : 1);
    if (err != cudaSuccess) {
        *out = NULL;
        cudaGetLastError();
        return it_error_set(IT_E_NOMEM, "CUDA: out of device memory: %zu bytes on cuda:%d (%s)", bytes, ctx->device,
                            cudaGetErrorString(err));
    }
    return 0;
}

static void cuda_free(it_ctx *ctx, void *ptr)
{
    if (!ptr)
        return;
    cuda_priv *p = enter(ctx);
    cudaStreamSynchronize(p->stream); /* queued ops may still use it */
    cudaFree(ptr);
}

static int copy_sync(it_ctx *ctx, void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                     const char *what)
{
    cuda_priv *p = enter(ctx);
    if (!bytes)
        return 0;
    cudaError_t err = cudaMemcpyAsync(dst, src, bytes, kind, p->stream);
    if (err == cudaSuccess)
        err = cudaStreamSynchronize(p->stream);
    return err == cudaSuccess ? 0 : cuda_fail(err, what);
}

static int cuda_upload(it_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    return copy_sync(ctx, dst, src, bytes, cudaMemcpyHostToDevice, "upload");
}

static int cuda_download(it_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    return copy_sync(ctx, dst, src, bytes, cudaMemcpyDeviceToHost, "download");
}

static int cuda_copy(it_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    cuda_priv *p = enter(ctx);
    if (!bytes || dst == src)
        return 0;
    cudaError_t err = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, p->stream);
    return err == cudaSuccess ? 0 : cuda_fail(err, "copy");
}

static int cuda_sync(it_ctx *ctx)
{
    cuda_priv *p = enter(ctx);
    cudaError_t err = cudaStreamSynchronize(p->stream);
    return err == cudaSuccess ? 0 : cuda_fail(err, "queued work");
}

static int cuda_supports(int op, int precision)
{
    return op >= 0 && op < IT_OP_COUNT && precision >= 0 && precision < IT_PRECISION_COUNT;
}

/* ---- ops ---- */
#define ENV(ctx) (&enter(ctx)->env)
static int conv3d(it_ctx *c, const it_conv3d_params *p, const void *x, const void *wt, const void *b, void *y)
{
    return itc_conv3d(ENV(c), p, x, wt, b, y);
}
static int groupnorm(it_ctx *c, int n, int ch, int t, int hw, const void *x, const void *g, const void *b,
                     float eps, int silu, void *y)
{
    return itc_groupnorm(ENV(c), n, ch, t, hw, x, g, b, eps, silu, y);
}
static int silu(it_ctx *c, size_t len, const void *x, void *y) { return itc_silu(ENV(c), len, x, y); }
static int add(it_ctx *c, size_t len, const void *a, const void *b, void *y) { return itc_add(ENV(c), len, a, b, y); }
static int scale(it_ctx *c, size_t len, const void *x, float s, void *y) { return itc_scale(ENV(c), len, x, s, y); }
static int avgpool(it_ctx *c, int nc, int t, int h, int w, int kt, int kh, int kw, int tpad, const void *x, void *y)
{
    return itc_avgpool(ENV(c), nc, t, h, w, kt, kh, kw, tpad, x, y);
}
static int upsample_hw(it_ctx *c, int nc, int t, int h, int w, const void *x, void *y)
{
    return itc_upsample_hw(ENV(c), nc, t, h, w, x, y);
}
static int upsample_t(it_ctx *c, int nc, int t, int hw, const void *x, void *y)
{
    return itc_upsample_t(ENV(c), nc, t, hw, x, y);
}
static int haar_fwd(it_ctx *c, int n, int t, int h, int w, const void *x, void *y)
{
    return itc_haar_fwd(ENV(c), n, t, h, w, x, y);
}
static int haar_inv(it_ctx *c, int n, int t, int h, int w, const void *x, void *y)
{
    return itc_haar_inv(ENV(c), n, t, h, w, x, y);
}
static int attn_spatial(it_ctx *c, int n, int ch, int t, int hw, const void *q, const void *k, const void *v, void *y)
{
    return itc_attn_spatial(ENV(c), n, ch, t, hw, q, k, v, y);
}
static int attn_temporal(it_ctx *c, int n, int ch, int t, int hw, const void *q, const void *k, const void *v,
                         void *y)
{
    return itc_attn_temporal(ENV(c), n, ch, t, hw, q, k, v, y);
}
static int linear(it_ctx *c, int rows, int k, int m, const void *x, const void *wt, const void *b, void *y)
{
    return itc_linear(ENV(c), rows, k, m, x, wt, b, y);
}
static int rmsnorm(it_ctx *c, int rows, int d, const void *x, const void *wt, float eps, void *y)
{
    return itc_rmsnorm(ENV(c), rows, d, x, wt, eps, y);
}
static int rope2d(it_ctx *c, int rows, int nh, int hd, int hw, int w, int ld, const void *x, const void *cs,
                  const void *sn, void *y)
{
    return itc_rope2d(ENV(c), rows, nh, hd, hw, w, ld, x, cs, sn, y);
}
static int mha(it_ctx *c, int n, int s, int nh, int hd, int hw, const void *q, const void *k, const void *v, void *y)
{
    return itc_mha(ENV(c), n, s, nh, hd, hw, q, k, v, y);
}
static int swiglu(it_ctx *c, int rows, int d, int f, const void *x, const void *w1, const void *w3, const void *w2,
                  void *y)
{
    return itc_swiglu(ENV(c), rows, d, f, x, w1, w3, w2, y);
}

/* z (device) -> host -> kernels/ref/ref_fsq.c -> bounded, codes, idx (device) */
static int fsq(it_ctx *c, int n, size_t nt, const void *z, float *bounded, void *codes, int32_t *idx)
{
    IT_KCHECK(n > 0, "fsq");
    cuda_priv *p = enter(c);
    const size_t nz = (size_t)n * IT_FSQ_DIM * nt, esz = it_precision_size(c->precision);
    if (!nz)
        return 0;
    void *hz = host_buf(p, 0, nz * (esz + sizeof(float)));
    void *hc = codes ? host_buf(p, 1, nz * esz) : NULL;
    int32_t *hi = idx ? host_buf(p, 2, (size_t)n * nt * sizeof(int32_t)) : NULL;
    if (!hz || (codes && !hc) || (idx && !hi))
        return IT_E_NOMEM;
    float *hb = bounded ? (float *)((unsigned char *)hz + nz * esz) : NULL;
    int rc = cuda_download(c, hz, z, nz * esz);
    if (rc == 0)
        rc = it_ref_fsq(c, n, nt, hz, hb, hc, hi);
    if (rc == 0 && bounded)
        rc = cuda_upload(c, bounded, hb, nz * sizeof(float));
    if (rc == 0 && codes)
        rc = cuda_upload(c, codes, hc, nz * esz);
    if (rc == 0 && idx)
        rc = cuda_upload(c, idx, hi, (size_t)n * nt * sizeof(int32_t));
    return rc;
}
static int fsq_decode(it_ctx *c, int n, size_t nt, const int32_t *idx, const uint8_t *keep, void *codes)
{
    return itc_fsq_decode(ENV(c), n, nt, idx, keep, codes);
}
static int elbo_map(it_ctx *c, int n, int t, int h, int w, const void *x, const void *r, float *loss)
{
    return itc_elbo_map(ENV(c), n, t, h, w, x, r, loss);
}
static int pixels_in(it_ctx *c, int n, int t, int h, int w, const uint8_t *rgb, void *x)
{
    return itc_pixels_in(ENV(c), n, t, h, w, rgb, x);
}
static int pixels_out(it_ctx *c, int n, int t, int h, int w, const void *y, uint8_t *rgb)
{
    return itc_pixels_out(ENV(c), n, t, h, w, y, rgb);
}
static int transpose(it_ctx *c, int n, int a, int b, const void *x, void *y)
{
    return itc_transpose(ENV(c), n, a, b, x, y);
}
static int add_rows(it_ctx *c, int n, int s, int d, int hw, const void *table, void *x)
{
    return itc_add_rows(ENV(c), n, s, d, hw, table, x);
}

static const it_backend cuda_backend = {
    .name = "cuda",
    .host_memory = 0,
    .supports = cuda_supports,
    .open = cuda_open,
    .close = cuda_close,
    .alloc = cuda_alloc,
    .free = cuda_free,
    .upload = cuda_upload,
    .download = cuda_download,
    .copy = cuda_copy,
    .sync = cuda_sync,
    .conv3d = conv3d,
    .groupnorm = groupnorm,
    .silu = silu,
    .add = add,
    .scale = scale,
    .avgpool = avgpool,
    .upsample_hw = upsample_hw,
    .upsample_t = upsample_t,
    .haar_fwd = haar_fwd,
    .haar_inv = haar_inv,
    .attn_spatial = attn_spatial,
    .attn_temporal = attn_temporal,
    .linear = linear,
    .rmsnorm = rmsnorm,
    .rope2d = rope2d,
    .mha = mha,
    .swiglu = swiglu,
    .fsq = fsq,
    .fsq_decode = fsq_decode,
    .elbo_map = elbo_map,
    .pixels_in = pixels_in,
    .pixels_out = pixels_out,
    .transpose = transpose,
    .add_rows = add_rows,
};

static const it_backend *cuda_table(void)
{
    return &cuda_backend;
}

/* The module's one exported symbol: the library calls it once after dlopen. */
__attribute__((visibility("default"))) int it_cuda_module_init(void);
int it_cuda_module_init(void)
{
    return it_backend_register(&cuda_backend);
}
