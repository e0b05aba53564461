/* bench_model: time the engine on one window shape: it_model_tokenize (frames in, pixel
 * conversion, encode + full-rate decode + ELBO map, indices and map out: what it-encode runs
 * per window), end to end and per op family, with the load time, the first (planning) window
 * apart from the steady state, and the steady state's page faults and system time (getrusage).
 * Ops are timed through a wrapper backend around "cpu", so the numbers are the real kernels'
 * (the wrapper adds two clock reads per call). Not a test: results go to tests/bench/RESULTS.md
 * (tests/bench/engine-vs-torch.sh, tests/bench/precision.sh).
 *   bench_model WEIGHTS T H W THREADS REPS [fp32|bf16 [BATCH]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "infotok/core.h"
#include "kernels/it_kernels.h"
#include "infotok/model.h"

static const it_backend *base;
static double op_time[IT_OP_COUNT], op_flops[IT_OP_COUNT];
static long op_calls[IT_OP_COUNT];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The wrapper's context holds a context of the base backend. */
#define IN(ctx) ((it_ctx *)(ctx)->priv)
#define TIMED(op, call) do { double t0 = now(); int rc_ = (call); op_time[op] += now() - t0; op_calls[op]++; return rc_; } while (0)

static int p_supports(int op, int prec) { return base->supports(op, prec); }
static const it_backend *profiled_table(void);
static int p_open(const it_ctx_opts *o, it_ctx **out)
{
    it_ctx *in, *ctx = calloc(1, sizeof *ctx);
    int rc = ctx ? base->open(o, &in) : IT_E_NOMEM;
    if (rc < 0) {
        free(ctx);
        return rc;
    }
    *ctx = *in;
    ctx->be = profiled_table();
    ctx->priv = in;
    *out = ctx;
    return 0;
}
static void p_close(it_ctx *ctx)
{
    if (ctx) {
        base->close(IN(ctx));
        free(ctx);
    }
}
static int p_alloc(it_ctx *c, size_t n, void **p) { return base->alloc(IN(c), n, p); }
static void p_free(it_ctx *c, void *p) { base->free(IN(c), p); }
static int p_upload(it_ctx *c, void *d, const void *s, size_t n) { return base->upload(IN(c), d, s, n); }
static int p_download(it_ctx *c, void *d, const void *s, size_t n) { return base->download(IN(c), d, s, n); }
static int p_copy(it_ctx *c, void *d, const void *s, size_t n) { return base->copy(IN(c), d, s, n); }
static int p_sync(it_ctx *c) { return base->sync(IN(c)); }
static int p_prepare(it_ctx *c, int op, const void *w, int r, int k)
{
    return base->prepare_weight ? base->prepare_weight(IN(c), op, w, r, k) : 0;
}
static int p_conv3d(it_ctx *c, const it_conv3d_params *p, const void *x, const void *wt, const void *b, void *y)
{
    int to, ho, wo;
    if (it_conv3d_out_shape(p, &to, &ho, &wo) == 0)
        op_flops[IT_OP_CONV3D] += 2.0 * p->n * p->co * p->ci * p->kt * p->kh * p->kw * (double)to * ho * wo;
    TIMED(IT_OP_CONV3D, base->conv3d(IN(c), p, x, wt, b, y));
}
static int p_groupnorm(it_ctx *c, int n, int ch, int t, int hw, const void *x, const void *g, const void *b, float eps, int silu, void *y) { TIMED(IT_OP_GROUPNORM, base->groupnorm(IN(c), n, ch, t, hw, x, g, b, eps, silu, y)); }
static int p_silu(it_ctx *c, size_t n, const void *x, void *y) { TIMED(IT_OP_SILU, base->silu(IN(c), n, x, y)); }
static int p_add(it_ctx *c, size_t n, const void *a, const void *b, void *y) { TIMED(IT_OP_ADD, base->add(IN(c), n, a, b, y)); }
static int p_scale(it_ctx *c, size_t n, const void *x, float s, void *y) { TIMED(IT_OP_SCALE, base->scale(IN(c), n, x, s, y)); }
static int p_avgpool(it_ctx *c, int nc, int t, int h, int w, int kt, int kh, int kw, int tp, const void *x, void *y) { TIMED(IT_OP_AVGPOOL, base->avgpool(IN(c), nc, t, h, w, kt, kh, kw, tp, x, y)); }
static int p_up_hw(it_ctx *c, int nc, int t, int h, int w, const void *x, void *y) { TIMED(IT_OP_UPSAMPLE_HW, base->upsample_hw(IN(c), nc, t, h, w, x, y)); }
static int p_up_t(it_ctx *c, int nc, int t, int hw, const void *x, void *y) { TIMED(IT_OP_UPSAMPLE_T, base->upsample_t(IN(c), nc, t, hw, x, y)); }
static int p_haar_fwd(it_ctx *c, int n, int t, int h, int w, const void *x, void *y) { TIMED(IT_OP_HAAR_FWD, base->haar_fwd(IN(c), n, t, h, w, x, y)); }
static int p_haar_inv(it_ctx *c, int n, int t, int h, int w, const void *x, void *y) { TIMED(IT_OP_HAAR_INV, base->haar_inv(IN(c), n, t, h, w, x, y)); }
static int p_attn_s(it_ctx *c, int n, int ch, int t, int hw, const void *q, const void *k, const void *v, void *y) { TIMED(IT_OP_ATTN_SPATIAL, base->attn_spatial(IN(c), n, ch, t, hw, q, k, v, y)); }
static int p_attn_t(it_ctx *c, int n, int ch, int t, int hw, const void *q, const void *k, const void *v, void *y) { TIMED(IT_OP_ATTN_TEMPORAL, base->attn_temporal(IN(c), n, ch, t, hw, q, k, v, y)); }
static int p_linear(it_ctx *c, int s, int k, int n, const void *x, const void *w, const void *b, void *y)
{
    op_flops[IT_OP_LINEAR] += 2.0 * s * k * n;
    TIMED(IT_OP_LINEAR, base->linear(IN(c), s, k, n, x, w, b, y));
}
static int p_rmsnorm(it_ctx *c, int s, int d, const void *x, const void *w, float eps, void *y) { TIMED(IT_OP_RMSNORM, base->rmsnorm(IN(c), s, d, x, w, eps, y)); }
static int p_rope(it_ctx *c, int s, int nh, int hd, int hw, int w, int ld, const void *x, const void *cs, const void *sn, void *y) { TIMED(IT_OP_ROPE2D, base->rope2d(IN(c), s, nh, hd, hw, w, ld, x, cs, sn, y)); }
static int p_mha(it_ctx *c, int n, int s, int nh, int hd, int hw, const void *q, const void *k, const void *v, void *y) { TIMED(IT_OP_MHA, base->mha(IN(c), n, s, nh, hd, hw, q, k, v, y)); }
static int p_swiglu(it_ctx *c, int s, int d, int f, const void *x, const void *w1, const void *w3, const void *w2, void *y)
{
    op_flops[IT_OP_SWIGLU] += 6.0 * s * d * f;
    TIMED(IT_OP_SWIGLU, base->swiglu(IN(c), s, d, f, x, w1, w3, w2, y));
}
static int p_fsq(it_ctx *c, int n, size_t nt, const void *z, float *b, void *cd, int32_t *i) { TIMED(IT_OP_FSQ, base->fsq(IN(c), n, nt, z, b, cd, i)); }
static int p_fsq_dec(it_ctx *c, int n, size_t nt, const int32_t *i, const uint8_t *k, void *cd) { TIMED(IT_OP_FSQ_DECODE, base->fsq_decode(IN(c), n, nt, i, k, cd)); }
static int p_elbo(it_ctx *c, int n, int t, int h, int w, const void *x, const void *r, float *l) { TIMED(IT_OP_ELBO_MAP, base->elbo_map(IN(c), n, t, h, w, x, r, l)); }
static int p_pin(it_ctx *c, int n, int t, int h, int w, const uint8_t *rgb, void *x) { TIMED(IT_OP_PIXELS_IN, base->pixels_in(IN(c), n, t, h, w, rgb, x)); }
static int p_pout(it_ctx *c, int n, int t, int h, int w, const void *y, uint8_t *rgb) { TIMED(IT_OP_PIXELS_OUT, base->pixels_out(IN(c), n, t, h, w, y, rgb)); }
static int p_tr(it_ctx *c, int n, int a, int b, const void *x, void *y) { TIMED(IT_OP_TRANSPOSE, base->transpose(IN(c), n, a, b, x, y)); }
static int p_addrows(it_ctx *c, int n, int s, int d, int hw, const void *t, void *x) { TIMED(IT_OP_ADD_ROWS, base->add_rows(IN(c), n, s, d, hw, t, x)); }

static const it_backend profiled = {
    .name = "prof", .host_memory = 1, .supports = p_supports, .open = p_open, .close = p_close,
    .alloc = p_alloc, .free = p_free, .upload = p_upload, .download = p_download, .copy = p_copy,
    .sync = p_sync, .prepare_weight = p_prepare, .conv3d = p_conv3d, .groupnorm = p_groupnorm,
    .silu = p_silu, .add = p_add, .scale = p_scale, .avgpool = p_avgpool,
    .upsample_hw = p_up_hw, .upsample_t = p_up_t, .haar_fwd = p_haar_fwd, .haar_inv = p_haar_inv,
    .attn_spatial = p_attn_s, .attn_temporal = p_attn_t, .linear = p_linear,
    .rmsnorm = p_rmsnorm, .rope2d = p_rope, .mha = p_mha, .swiglu = p_swiglu, .fsq = p_fsq,
    .fsq_decode = p_fsq_dec, .elbo_map = p_elbo, .pixels_in = p_pin, .pixels_out = p_pout,
    .transpose = p_tr, .add_rows = p_addrows};
static const it_backend *profiled_table(void) { return &profiled; }

/* System and user CPU seconds and minor faults of the process so far. On a shared machine
 * wall time moves with the load; CPU time and fault counts do not. */
static double user_s;
static void usage_now(double *sys_s, long *minflt)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *sys_s = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
    user_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6;
    *minflt = ru.ru_minflt;
}

int main(int argc, char **argv)
{
    if (argc < 7 || argc > 9) {
        fprintf(stderr, "usage: bench_model WEIGHTS T H W THREADS REPS [fp32|bf16 [BATCH]]\n");
        return 2;
    }
    const int T = atoi(argv[2]), H = atoi(argv[3]), W = atoi(argv[4]), reps = atoi(argv[6]);
    const int batch = argc > 8 ? atoi(argv[8]) : 1;
    int precision = IT_PRECISION_FP32;
    if (argc > 7 && it_precision_parse(argv[7], &precision) < 0) {
        fprintf(stderr, "bench_model: %s\n", it_error_message());
        return 2;
    }
    base = it_backend_cpu();
    it_kernels_set_threads(atoi(argv[5]));
    if (it_backend_register(&profiled) < 0)
        return 3;
    it_model *m = NULL;
    double sys0, sys1;
    long flt0, flt1;
    usage_now(&sys0, &flt0);
    double u0 = user_s, t0 = now();
    it_model_opts mo = {.backend = "prof", .precision = precision, .max_batch = batch};
    if (it_model_load_opts(&m, argv[1], &mo) < 0) {
        fprintf(stderr, "bench_model: %s\n", it_error_message());
        return 3;
    }
    double load_s = now() - t0;
    usage_now(&sys1, &flt1);
    printf("load_s %.3f load_user_s %.3f load_sys_s %.3f load_minflt %ld\n", load_s, user_s - u0, sys1 - sys0,
           flt1 - flt0);
    int t, h, w;
    if (it_model_latent_shape(m, T, H, W, &t, &h, &w) < 0) {
        fprintf(stderr, "bench_model: %s\n", it_error_message());
        return 3;
    }
    size_t npix = (size_t)batch * T * H * W * 3, nt = (size_t)batch * t * h * w;
    uint8_t *rgb = malloc(npix);
    uint16_t *idx = malloc(nt * sizeof *idx);
    float *loss = malloc(nt * sizeof *loss);
    if (!rgb || !idx || !loss)
        return 3;
    /* Smooth moving content: timing does not depend on the pixels, only the sizes. */
    for (size_t i = 0; i < npix; i++)
        rgb[i] = (uint8_t)((i * 2654435761u) >> 24);
    /* The first window plans the activation memory (and faults it in). */
    usage_now(&sys0, &flt0);
    u0 = user_s, t0 = now();
    if (it_model_tokenize(m, batch, T, H, W, rgb, idx, loss) < 0) {
        fprintf(stderr, "bench_model: %s\n", it_error_message());
        return 3;
    }
    double first_s = now() - t0;
    usage_now(&sys1, &flt1);
    printf("first_window_s %.3f first_user_s %.3f first_sys_s %.3f first_minflt %ld\n", first_s, user_s - u0,
           sys1 - sys0, flt1 - flt0);
    if (reps <= 0) { /* load and first window only */
        it_model_free(&m);
        free(rgb), free(idx), free(loss);
        return 0;
    }
    memset(op_time, 0, sizeof op_time);
    memset(op_calls, 0, sizeof op_calls);
    memset(op_flops, 0, sizeof op_flops);
    usage_now(&sys0, &flt0);
    u0 = user_s, t0 = now();
    for (int r = 0; r < reps; r++)
        if (it_model_tokenize(m, batch, T, H, W, rgb, idx, loss) < 0) {
            fprintf(stderr, "bench_model: %s\n", it_error_message());
            return 3;
        }
    double total = (now() - t0) / reps;
    usage_now(&sys1, &flt1);
    const double user_per = (user_s - u0) / reps / batch;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    /* Op families as PyTorch's profiler groups them (engine-vs-torch.sh). */
    double conv = op_time[IT_OP_CONV3D];
    double attn = op_time[IT_OP_ATTN_SPATIAL] + op_time[IT_OP_ATTN_TEMPORAL];
    double vit = op_time[IT_OP_LINEAR] + op_time[IT_OP_RMSNORM] + op_time[IT_OP_ROPE2D] +
                 op_time[IT_OP_MHA] + op_time[IT_OP_SWIGLU];
    double other = 0;
    for (int op = 0; op < IT_OP_COUNT; op++)
        other += op_time[op];
    other -= conv + attn + vit;
    printf("params %lld window %dx%dx%d latent %dx%dx%d threads %s precision %s batch %d\n",
           (long long)it_model_param_count(m), T, H, W, t, h, w, argv[5], it_precision_name(precision), batch);
    printf("per_window_s %.4f frames_per_s %.2f\n", total / batch, batch * T / total);
    printf("steady_user_s_per_window %.4f steady_sys_s_per_window %.4f steady_minflt_per_window %.1f max_rss_mb %.1f\n",
           user_per, (sys1 - sys0) / reps / batch, (double)(flt1 - flt0) / reps / batch, ru.ru_maxrss / 1024.0);
    printf("conv_s %.4f attn_s %.4f transformer_s %.4f other_s %.4f\n", conv / reps, attn / reps, vit / reps, other / reps);
    if (op_time[IT_OP_CONV3D] > 0)
        printf("conv_gflops %.1f\n", op_flops[IT_OP_CONV3D] / op_time[IT_OP_CONV3D] / 1e9);
    for (int op = 0; op < IT_OP_COUNT; op++) {
        if (!op_calls[op])
            continue;
        printf("op %-14s %8.4f s %6ld calls", it_op_name(op), op_time[op] / reps, op_calls[op] / reps);
        if (op_flops[op] > 0)
            printf(" %7.1f GFLOP/s", op_flops[op] / op_time[op] / 1e9);
        printf("\n");
    }
    it_model_free(&m);
    free(rgb), free(idx), free(loss);
    return 0;
}
