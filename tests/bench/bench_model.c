/* bench_model: time the engine on one window: encode + full-rate decode (what it-encode
 * runs per window), end to end and per op family. Ops are timed through a wrapper backend
 * around "cpu", so the numbers are the real kernels' (the wrapper adds two clock reads per
 * call). Not a test: results go to tests/bench/RESULTS.md through engine-vs-torch.sh.
 *   bench_model WEIGHTS T H W THREADS REPS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infotok.h"
#include "kernels/it_kernels_v1.h"
#include "src/model.h"

static const it_backend *base;
static double op_time[IT_OP_COUNT], op_flops[IT_OP_COUNT];
static long op_calls[IT_OP_COUNT];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define TIMED(op, call) do { double t0 = now(); int rc_ = (call); op_time[op] += now() - t0; op_calls[op]++; return rc_; } while (0)

static int p_supports(int op) { return base->supports(op); }
static int p_conv3d(const it_conv3d_params *p, const float *x, const float *wt, const float *b, float *y)
{
    int to, ho, wo;
    if (it_conv3d_out_shape(p, &to, &ho, &wo) == 0)
        op_flops[IT_OP_CONV3D] += 2.0 * p->co * p->ci * p->kt * p->kh * p->kw * (double)to * ho * wo;
    TIMED(IT_OP_CONV3D, base->conv3d(p, x, wt, b, y));
}
static int p_groupnorm(int c, int t, int hw, const float *x, const float *g, const float *b, float eps, int silu, float *y) { TIMED(IT_OP_GROUPNORM, base->groupnorm(c, t, hw, x, g, b, eps, silu, y)); }
static int p_silu(size_t n, const float *x, float *y) { TIMED(IT_OP_SILU, base->silu(n, x, y)); }
static int p_add(size_t n, const float *a, const float *b, float *y) { TIMED(IT_OP_ADD, base->add(n, a, b, y)); }
static int p_scale(size_t n, const float *x, float s, float *y) { TIMED(IT_OP_SCALE, base->scale(n, x, s, y)); }
static int p_avgpool(int c, int t, int h, int w, int kt, int kh, int kw, int tp, const float *x, float *y) { TIMED(IT_OP_AVGPOOL, base->avgpool(c, t, h, w, kt, kh, kw, tp, x, y)); }
static int p_up_hw(int c, int t, int h, int w, const float *x, float *y) { TIMED(IT_OP_UPSAMPLE_HW, base->upsample_hw(c, t, h, w, x, y)); }
static int p_up_t(int c, int t, int hw, const float *x, float *y) { TIMED(IT_OP_UPSAMPLE_T, base->upsample_t(c, t, hw, x, y)); }
static int p_haar_fwd(int t, int h, int w, const float *x, float *y) { TIMED(IT_OP_HAAR_FWD, base->haar_fwd(t, h, w, x, y)); }
static int p_haar_inv(int t, int h, int w, const float *x, float *y) { TIMED(IT_OP_HAAR_INV, base->haar_inv(t, h, w, x, y)); }
static int p_attn_s(int c, int t, int hw, const float *q, const float *k, const float *v, float *y) { TIMED(IT_OP_ATTN_SPATIAL, base->attn_spatial(c, t, hw, q, k, v, y)); }
static int p_attn_t(int c, int t, int hw, const float *q, const float *k, const float *v, float *y) { TIMED(IT_OP_ATTN_TEMPORAL, base->attn_temporal(c, t, hw, q, k, v, y)); }
static int p_linear(int s, int k, int n, const float *x, const float *w, const float *b, float *y)
{
    op_flops[IT_OP_LINEAR] += 2.0 * s * k * n;
    TIMED(IT_OP_LINEAR, base->linear(s, k, n, x, w, b, y));
}
static int p_rmsnorm(int s, int d, const float *x, const float *w, float eps, float *y) { TIMED(IT_OP_RMSNORM, base->rmsnorm(s, d, x, w, eps, y)); }
static int p_rope(int s, int nh, int hd, const float *x, const float *c, const float *sn, float *y) { TIMED(IT_OP_ROPE2D, base->rope2d(s, nh, hd, x, c, sn, y)); }
static int p_mha(int s, int nh, int hd, int hw, const float *q, const float *k, const float *v, float *y) { TIMED(IT_OP_MHA, base->mha(s, nh, hd, hw, q, k, v, y)); }
static int p_swiglu(int s, int d, int f, const float *x, const float *w1, const float *w3, const float *w2, float *y)
{
    op_flops[IT_OP_SWIGLU] += 6.0 * s * d * f;
    TIMED(IT_OP_SWIGLU, base->swiglu(s, d, f, x, w1, w3, w2, y));
}
static int p_fsq(size_t nt, const float *z, float *b, float *c, int32_t *i) { TIMED(IT_OP_FSQ, base->fsq(nt, z, b, c, i)); }
static int p_fsq_dec(size_t nt, const int32_t *i, float *c) { TIMED(IT_OP_FSQ_DECODE, base->fsq_decode(nt, i, c)); }
static int p_elbo(int t, int h, int w, const float *x, const float *r, float *l) { TIMED(IT_OP_ELBO_MAP, base->elbo_map(t, h, w, x, r, l)); }
static int p_mask(size_t nt, const float *l, float r, uint8_t *k, size_t *kept, float *b) { TIMED(IT_OP_MASK, base->mask(nt, l, r, k, kept, b)); }

static const it_backend profiled = {
    .name = "prof", .supports = p_supports, .conv3d = p_conv3d, .groupnorm = p_groupnorm,
    .silu = p_silu, .add = p_add, .scale = p_scale, .avgpool = p_avgpool,
    .upsample_hw = p_up_hw, .upsample_t = p_up_t, .haar_fwd = p_haar_fwd, .haar_inv = p_haar_inv,
    .attn_spatial = p_attn_s, .attn_temporal = p_attn_t, .linear = p_linear,
    .rmsnorm = p_rmsnorm, .rope2d = p_rope, .mha = p_mha, .swiglu = p_swiglu, .fsq = p_fsq,
    .fsq_decode = p_fsq_dec, .elbo_map = p_elbo, .mask = p_mask};

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: bench_model WEIGHTS T H W THREADS REPS\n");
        return 2;
    }
    const int T = atoi(argv[2]), H = atoi(argv[3]), W = atoi(argv[4]), reps = atoi(argv[6]);
    base = it_backend_cpu();
    it_kernels_set_threads(atoi(argv[5]));
    if (it_backend_register(&profiled) < 0)
        return 3;
    it_model *m = NULL;
    if (it_model_load(&m, argv[1], "prof") < 0) {
        fprintf(stderr, "bench_model: %s\n", it_error_message());
        return 3;
    }
    int t, h, w;
    if (it_model_latent_shape(m, T, H, W, &t, &h, &w) < 0) {
        fprintf(stderr, "bench_model: %s\n", it_error_message());
        return 3;
    }
    size_t npix = (size_t)3 * T * H * W, nt = (size_t)t * h * w;
    float *x = malloc(npix * sizeof *x), *y = malloc(npix * sizeof *y), *codes = malloc(6 * nt * sizeof *codes);
    int32_t *idx = malloc(nt * sizeof *idx);
    float *loss = malloc(nt * sizeof *loss);
    /* Smooth moving content: timing does not depend on the pixels, only the sizes. */
    for (size_t i = 0; i < npix; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    /* One warm-up pass plans the activation memory. */
    if (it_model_encode(m, T, H, W, x, NULL, codes, idx, NULL) < 0 || it_model_decode(m, t, h, w, codes, y) < 0) {
        fprintf(stderr, "bench_model: %s\n", it_error_message());
        return 3;
    }
    memset(op_time, 0, sizeof op_time);
    memset(op_calls, 0, sizeof op_calls);
    memset(op_flops, 0, sizeof op_flops);
    double t0 = now();
    for (int r = 0; r < reps; r++) {
        it_model_encode(m, T, H, W, x, NULL, codes, idx, NULL);
        it_model_decode(m, t, h, w, codes, y);
        it_model_backend(m)->elbo_map(t, h, w, x, y, loss);
    }
    double total = (now() - t0) / reps;
    /* Op families as PyTorch's profiler groups them (engine-vs-torch.sh). */
    double conv = op_time[IT_OP_CONV3D];
    double attn = op_time[IT_OP_ATTN_SPATIAL] + op_time[IT_OP_ATTN_TEMPORAL];
    double vit = op_time[IT_OP_LINEAR] + op_time[IT_OP_RMSNORM] + op_time[IT_OP_ROPE2D] +
                 op_time[IT_OP_MHA] + op_time[IT_OP_SWIGLU];
    double other = 0;
    for (int op = 0; op < IT_OP_COUNT; op++)
        other += op_time[op];
    other -= conv + attn + vit;
    printf("params %lld window %dx%dx%d latent %dx%dx%d threads %s\n", (long long)it_model_param_count(m), T, H, W, t, h, w, argv[5]);
    printf("per_window_s %.4f frames_per_s %.2f\n", total, T / total);
    printf("conv_s %.4f attn_s %.4f transformer_s %.4f other_s %.4f\n", conv / reps, attn / reps, vit / reps, other / reps);
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
    free(x); free(y); free(codes); free(idx); free(loss);
    return 0;
}
