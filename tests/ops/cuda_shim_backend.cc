/* cuda_shim_backend.cc: a backend table, "cuda-shim", made of the cuda backend's op layer
 * (kernels/cuda/cuda_ops.cu, compiled here with the CPU execution shim) on host memory, so
 * that tests/ops/test_ops.c can hold every CUDA kernel and every layout decision of the cuda
 * ops to the same tolerances as the cpu backend, on a machine without a GPU.
 * What differs from the real cuda backend (kernels/cuda/cuda_backend.c), and so is left to
 * tests/gpu/check.sh: memory (host here), the stream, and the GEMM: here a plain host loop
 * with the cuBLAS call's contract (row-major C = A * B or A * B^T, fp32 result, inputs of one
 * type), summing in double, which stands for cuBLAS's fp32 sum (whose own order is cuBLAS's
 * business; the tolerances cover any fp32 order). fsq is ref's on the host in both, as in the
 * cuda backend. */
#define IT_CUDA_SHIM 1
#include "kernels/cuda/shim/cuda_shim.h"

extern "C" {
#include "kernels/kernels_internal.h"
}
#include "kernels/cuda/cuda_ops.cu"

namespace {

struct shim_state {
    itc_env env;
    it_ctx *ctx;
    struct {
        void *p;
        size_t bytes;
    } scr[ITC_SCR_COUNT];
};

float elem(int type, const void *p, size_t i)
{
    return type == IT_PRECISION_BF16 ? it_bf16_to_f32(((const it_bf16 *)p)[i]) : ((const float *)p)[i];
}

int host_gemm(itc_env *, int type, int m, int n, int k, const void *a, int lda, const void *b, int ldb, int b_trans,
              float *c, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int l = 0; l < k; l++)
                acc += (double)elem(type, a, (size_t)i * lda + l) *
                       elem(type, b, b_trans ? (size_t)j * ldb + l : (size_t)l * ldb + j);
            c[(size_t)i * ldc + j] = (float)acc;
        }
    return 0;
}

void *host_scratch(itc_env *e, int slot, size_t bytes)
{
    shim_state *s = (shim_state *)e->user;
    if (slot < 0 || slot >= ITC_SCR_COUNT) {
        it_error_set(IT_E_INTERNAL, "cuda-shim: scratch slot %d", slot);
        return NULL;
    }
    if (bytes > s->scr[slot].bytes) {
        free(s->scr[slot].p);
        s->scr[slot].p = aligned_alloc(256, (bytes + 255) / 256 * 256);
        s->scr[slot].bytes = s->scr[slot].p ? bytes : 0;
        if (!s->scr[slot].p)
            it_error_set(IT_E_NOMEM, "cuda-shim: out of memory (%zu bytes of scratch)", bytes);
    }
    return s->scr[slot].p;
}

int host_check(itc_env *, const char *)
{
    return 0; /* the shim aborts on a bad launch or a deadlock */
}

void free_state(void *p)
{
    shim_state *s = (shim_state *)p;
    for (int i = 0; i < ITC_SCR_COUNT; i++)
        free(s->scr[i].p);
    free(s);
}

itc_env *env_of(it_ctx *ctx)
{
    return &((shim_state *)it_host_priv_of(ctx)->state)->env;
}

int supports(int op, int precision)
{
    return op >= 0 && op < IT_OP_COUNT && precision >= 0 && precision < IT_PRECISION_COUNT;
}

int open_ctx(const it_ctx_opts *o, it_ctx **out);

#define E(ctx) env_of(ctx)
int conv3d(it_ctx *c, const it_conv3d_params *p, const void *x, const void *wt, const void *b, void *y)
{
    return itc_conv3d(E(c), p, x, wt, b, y);
}
int groupnorm(it_ctx *c, int n, int ch, int t, int hw, const void *x, const void *g, const void *b, float eps,
              int silu, void *y)
{
    return itc_groupnorm(E(c), n, ch, t, hw, x, g, b, eps, silu, y);
}
int silu(it_ctx *c, size_t len, const void *x, void *y) { return itc_silu(E(c), len, x, y); }
int add(it_ctx *c, size_t len, const void *a, const void *b, void *y) { return itc_add(E(c), len, a, b, y); }
int scale(it_ctx *c, size_t len, const void *x, float s, void *y) { return itc_scale(E(c), len, x, s, y); }
int avgpool(it_ctx *c, int nc, int t, int h, int w, int kt, int kh, int kw, int tpad, const void *x, void *y)
{
    return itc_avgpool(E(c), nc, t, h, w, kt, kh, kw, tpad, x, y);
}
int upsample_hw(it_ctx *c, int nc, int t, int h, int w, const void *x, void *y)
{
    return itc_upsample_hw(E(c), nc, t, h, w, x, y);
}
int upsample_t(it_ctx *c, int nc, int t, int hw, const void *x, void *y)
{
    return itc_upsample_t(E(c), nc, t, hw, x, y);
}
int haar_fwd(it_ctx *c, int n, int t, int h, int w, const void *x, void *y) { return itc_haar_fwd(E(c), n, t, h, w, x, y); }
int haar_inv(it_ctx *c, int n, int t, int h, int w, const void *x, void *y) { return itc_haar_inv(E(c), n, t, h, w, x, y); }
int attn_spatial(it_ctx *c, int n, int ch, int t, int hw, const void *q, const void *k, const void *v, void *y)
{
    return itc_attn_spatial(E(c), n, ch, t, hw, q, k, v, y);
}
int attn_temporal(it_ctx *c, int n, int ch, int t, int hw, const void *q, const void *k, const void *v, void *y)
{
    return itc_attn_temporal(E(c), n, ch, t, hw, q, k, v, y);
}
int linear(it_ctx *c, int rows, int k, int m, const void *x, const void *wt, const void *b, void *y)
{
    return itc_linear(E(c), rows, k, m, x, wt, b, y);
}
int rmsnorm(it_ctx *c, int rows, int d, const void *x, const void *wt, float eps, void *y)
{
    return itc_rmsnorm(E(c), rows, d, x, wt, eps, y);
}
int rope2d(it_ctx *c, int rows, int nh, int hd, int hw, int w, int ld_, const void *x, const void *cs,
           const void *sn, void *y)
{
    return itc_rope2d(E(c), rows, nh, hd, hw, w, ld_, x, cs, sn, y);
}
int mha(it_ctx *c, int n, int s, int nh, int hd, int hw, const void *q, const void *k, const void *v, void *y)
{
    return itc_mha(E(c), n, s, nh, hd, hw, q, k, v, y);
}
int swiglu(it_ctx *c, int rows, int d, int f, const void *x, const void *w1, const void *w3, const void *w2, void *y)
{
    return itc_swiglu(E(c), rows, d, f, x, w1, w3, w2, y);
}
int fsq_decode(it_ctx *c, int n, size_t nt, const int32_t *idx, const uint8_t *keep, void *codes)
{
    /* the table's contract (IT_E_FORMAT for a bad index) is checked on the host, as the cuda
     * backend does before it uploads */
    for (size_t i = 0; i < (size_t)n * nt; i++)
        if (idx[i] < 0 || idx[i] >= IT_FSQ_CODES)
            return it_error_set(IT_E_FORMAT, "fsq_decode: token %zu has index %d outside [0, %d)", i, (int)idx[i],
                                IT_FSQ_CODES);
    return itc_fsq_decode(E(c), n, nt, idx, keep, codes);
}
int elbo_map(it_ctx *c, int n, int t, int h, int w, const void *x, const void *r, float *loss)
{
    return itc_elbo_map(E(c), n, t, h, w, x, r, loss);
}
int pixels_in(it_ctx *c, int n, int t, int h, int w, const uint8_t *rgb, void *x)
{
    return itc_pixels_in(E(c), n, t, h, w, rgb, x);
}
int pixels_out(it_ctx *c, int n, int t, int h, int w, const void *y, uint8_t *rgb)
{
    return itc_pixels_out(E(c), n, t, h, w, y, rgb);
}
int transpose(it_ctx *c, int n, int a, int b, const void *x, void *y) { return itc_transpose(E(c), n, a, b, x, y); }
int add_rows(it_ctx *c, int n, int s, int d, int hw, const void *table, void *x)
{
    return itc_add_rows(E(c), n, s, d, hw, table, x);
}

it_backend make_table()
{
    it_backend b;
    memset(&b, 0, sizeof b);
    b.name = "cuda-shim";
    b.host_memory = 1;
    b.supports = supports;
    b.open = open_ctx;
    b.close = it_host_close;
    b.alloc = it_host_alloc;
    b.free = it_host_free;
    b.upload = it_host_upload;
    b.download = it_host_download;
    b.copy = it_host_copy;
    b.sync = it_host_sync;
    b.conv3d = conv3d;
    b.groupnorm = groupnorm;
    b.silu = silu;
    b.add = add;
    b.scale = scale;
    b.avgpool = avgpool;
    b.upsample_hw = upsample_hw;
    b.upsample_t = upsample_t;
    b.haar_fwd = haar_fwd;
    b.haar_inv = haar_inv;
    b.attn_spatial = attn_spatial;
    b.attn_temporal = attn_temporal;
    b.linear = linear;
    b.rmsnorm = rmsnorm;
    b.rope2d = rope2d;
    b.mha = mha;
    b.swiglu = swiglu;
    b.fsq = it_ref_fsq;
    b.fsq_decode = fsq_decode;
    b.elbo_map = elbo_map;
    b.pixels_in = pixels_in;
    b.pixels_out = pixels_out;
    b.transpose = transpose;
    b.add_rows = add_rows;
    return b;
}
const it_backend table = make_table();

int open_ctx(const it_ctx_opts *o, it_ctx **out)
{
    int rc = it_host_open(&table, o, out);
    if (rc < 0)
        return rc;
    shim_state *s = (shim_state *)calloc(1, sizeof *s);
    if (!s) {
        it_host_close(*out);
        *out = NULL;
        return it_error_set(IT_E_NOMEM, "cuda-shim: out of memory");
    }
    s->ctx = *out;
    s->env.stream = NULL;
    s->env.precision = o->precision;
    s->env.gemm = host_gemm;
    s->env.scratch = host_scratch;
    s->env.check = host_check;
    s->env.user = s;
    it_host_priv *priv = it_host_priv_of(*out);
    priv->state = s;
    priv->free_state = free_state;
    return 0;
}

} /* namespace */

extern "C" const it_backend *it_backend_cuda_shim(void)
{
    return &table;
}
