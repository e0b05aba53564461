/* bench_ops.c: times each cpu op against its ref twin on one representative shape and prints
 * GFLOP/s (or Gelem/s for memory-bound ops) and the speed-up, measured in the same run. Not a
 * test: numbers depend on the machine and its load. Results go in BENCH.md.
 *   bench_ops [threads] [op...]   ops (names containing any of the words; default all), cpu at
 *                                 1 thread and at `threads` (default: the OpenMP default)
 *   bench_ops --model [threads]   cpu only, on the network's real conv/attention sizes
 * With IT_BENCH_PRECISION=bf16 in the environment, both backends run their bf16 mode (inputs
 * are then bf16 bit patterns of the same random values). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infotok/core.h"
#include "kernels/it_kernels.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int precision; /* IT_PRECISION_*, from IT_BENCH_PRECISION */

/* n random elements in [-0.5, 0.5) of the benchmark's precision (float or bf16 bits) */
static float *buf(size_t n)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    if (!p) {
        fprintf(stderr, "bench_ops: out of memory\n");
        exit(3);
    }
    uint64_t s = n * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)((s >> 40) * (1.0 / 16777216.0)) - 0.5f;
    }
    if (precision == IT_PRECISION_BF16) /* in place: the bf16 array is the first half */
        for (size_t i = 0; i < n; i++)
            ((it_bf16 *)p)[i] = it_bf16_from_f32(p[i]);
    return p;
}

/* A benchmark: sizes, inputs, work per call, and the call. */
struct bench {
    const char *name, *unit; /* unit: "GFLOP/s" or "Gelem/s" */
    double work;             /* flops or elements per call */
    int (*call)(it_ctx *ctx, struct bench *b);
    it_conv3d_params cp;
    int n[4];
    float *in[4], *out;
};

static int call_conv(it_ctx *ctx, struct bench *b)
{
    return ctx->be->conv3d(ctx, &b->cp, b->in[0], b->in[1], b->in[2], b->out);
}
static int call_linear(it_ctx *ctx, struct bench *b)
{
    return ctx->be->linear(ctx, b->n[0], b->n[1], b->n[2], b->in[0], b->in[1], b->in[2], b->out);
}
static int call_swiglu(it_ctx *ctx, struct bench *b)
{
    return ctx->be->swiglu(ctx, b->n[0], b->n[1], b->n[2], b->in[0], b->in[1], b->in[2], b->in[3], b->out);
}
static int call_mha(it_ctx *ctx, struct bench *b)
{
    return ctx->be->mha(ctx, 1, b->n[0], b->n[1], b->n[2], b->n[3], b->in[0], b->in[1], b->in[2], b->out);
}
static int call_spatial(it_ctx *ctx, struct bench *b)
{
    return ctx->be->attn_spatial(ctx, 1, b->n[0], b->n[1], b->n[2], b->in[0], b->in[1], b->in[2], b->out);
}
static int call_temporal(it_ctx *ctx, struct bench *b)
{
    return ctx->be->attn_temporal(ctx, 1, b->n[0], b->n[1], b->n[2], b->in[0], b->in[1], b->in[2], b->out);
}
static int call_groupnorm(it_ctx *ctx, struct bench *b)
{
    return ctx->be->groupnorm(ctx, 1, b->n[0], b->n[1], b->n[2], b->in[0], b->in[1], b->in[2], 1e-6f, 1, b->out);
}
static int call_rmsnorm(it_ctx *ctx, struct bench *b)
{
    return ctx->be->rmsnorm(ctx, b->n[0], b->n[1], b->in[0], b->in[1], 1e-5f, b->out);
}
static int call_add(it_ctx *ctx, struct bench *b)
{
    return ctx->be->add(ctx, (size_t)b->n[0] * b->n[1], b->in[0], b->in[1], b->out);
}
static int call_upsample_hw(it_ctx *ctx, struct bench *b)
{
    return ctx->be->upsample_hw(ctx, b->n[0], b->n[1], b->n[2], b->n[3], b->in[0], b->out);
}
static int call_haar(it_ctx *ctx, struct bench *b)
{
    return ctx->be->haar_fwd(ctx, 1, b->n[0], b->n[1], b->n[2], b->in[0], b->out);
}

/* Seconds per call: the fastest of at least `min_reps` calls and of those made in `budget`
 * seconds. The machine may be shared, so the minimum is the stable statistic. */
static double time_op(it_ctx *ctx, struct bench *b, int min_reps, double budget)
{
    double best = INFINITY, t0 = now();
    for (int reps = 0; reps < min_reps || now() - t0 < budget; reps++) {
        double t1 = now();
        if (b->call(ctx, b) < 0) {
            fprintf(stderr, "bench_ops: %s on %s: %s\n", b->name, ctx->be->name, it_error_message());
            exit(3);
        }
        double dt = now() - t1;
        best = dt < best ? dt : best;
    }
    return best;
}

static it_ctx *open_ctx(const it_backend *be)
{
    it_ctx *ctx;
    it_ctx_opts o = {precision, 0, 0};
    if (it_ctx_open(be, &o, &ctx) < 0) {
        fprintf(stderr, "bench_ops: %s\n", it_error_message());
        exit(3);
    }
    return ctx;
}

static struct bench make_conv(const char *name, it_conv3d_params p)
{
    struct bench b = {.name = name, .unit = "GFLOP/s", .call = call_conv, .cp = p};
    int to, ho, wo;
    it_conv3d_out_shape(&p, &to, &ho, &wo);
    size_t kk = (size_t)p.ci * p.kt * p.kh * p.kw, np = (size_t)to * ho * wo;
    b.work = 2.0 * p.co * kk * np;
    b.in[0] = buf((size_t)p.ci * p.t * p.h * p.w);
    b.in[1] = buf(p.co * kk);
    b.in[2] = buf(p.co);
    b.out = buf(p.co * np);
    return b;
}

/* cpu only, at the sizes of the network for a 33x256x416 window (spec 3.8): too big for ref */
static int bench_model(int threads)
{
    static const struct {
        const char *name;
        it_conv3d_params p;
    } convs[] = {
        {"enc conv_in k133 24->128 17x128x208", {24, 128, 17, 128, 208, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1, 1}},
        {"enc k311 128->128 17x128x208", {128, 128, 17, 128, 208, 3, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 1}},
        {"enc down.0 k133 s2 256 17x128x208", {256, 256, 17, 128, 208, 1, 3, 3, 1, 2, 2, 0, 0, 1, 0, 1, 1}},
        {"mid k133 512->512 9x32x52", {512, 512, 9, 32, 52, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1, 1}},
        {"mid k311 512->512 9x32x52", {512, 512, 9, 32, 52, 3, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 1}},
        {"dec conv_out k133 256->24 17x128x208", {256, 24, 17, 128, 208, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1, 1}},
    };
    it_kernels_set_threads(threads);
    it_ctx *cpu = open_ctx(it_backend_cpu());
    printf("%-40s %10s %10s   (cpu %s, %d threads, fastest of 3)\n", "op", "seconds", "GFLOP/s",
           it_precision_name(precision), it_kernels_threads());
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
        struct bench b = make_conv(convs[i].name, convs[i].p);
        double t = time_op(cpu, &b, 3, 0.0);
        printf("%-40s %10.3f %10.1f\n", b.name, t, b.work / t * 1e-9);
        fflush(stdout);
        for (int j = 0; j < 3; j++)
            free(b.in[j]);
        free(b.out);
    }
    { /* the ViT's attention over all 9x32x52 latent tokens, 32 heads of 8 */
        int s = 9 * 32 * 52, nh = 32, hd = 8, hw = 32 * 52;
        struct bench b = {.name = "vit mha S=9x32x52 32x8", .unit = "GFLOP/s", .call = call_mha, .n = {s, nh, hd, hw}};
        double pairs = 0;
        for (int i = 0; i < s; i++)
            pairs += (i / hw + 1) * (double)hw;
        b.work = 4.0 * pairs * nh * hd;
        b.in[0] = buf((size_t)s * nh * hd), b.in[1] = buf((size_t)s * nh * hd), b.in[2] = buf((size_t)s * nh * hd);
        b.out = buf((size_t)s * nh * hd);
        double t = time_op(cpu, &b, 3, 0.0);
        printf("%-40s %10.3f %10.1f\n", b.name, t, b.work / t * 1e-9);
        for (int j = 0; j < 3; j++)
            free(b.in[j]);
        free(b.out);
    }
    { /* the CNN mid-block's spatial attention, C = 512 over 32x52 positions, 9 frames */
        int c = 512, t = 9, hw = 32 * 52;
        struct bench b = {.name = "mid attn_spatial C=512 9x32x52", .unit = "GFLOP/s", .call = call_spatial, .n = {c, t, hw}};
        b.work = 4.0 * c * t * hw * (double)hw;
        b.in[0] = buf((size_t)c * t * hw), b.in[1] = buf((size_t)c * t * hw), b.in[2] = buf((size_t)c * t * hw);
        b.out = buf((size_t)c * t * hw);
        double tt = time_op(cpu, &b, 3, 0.0);
        printf("%-40s %10.3f %10.1f\n", b.name, tt, b.work / tt * 1e-9);
        for (int j = 0; j < 3; j++)
            free(b.in[j]);
        free(b.out);
    }
    it_ctx_close(&cpu);
    return 0;
}

int main(int argc, char **argv)
{
    const char *pe = getenv("IT_BENCH_PRECISION");
    if (pe && it_precision_parse(pe, &precision) < 0) {
        fprintf(stderr, "bench_ops: IT_BENCH_PRECISION: %s\n", it_error_message());
        return 2;
    }
    if (argc > 1 && !strcmp(argv[1], "--model"))
        return bench_model(argc > 2 ? atoi(argv[2]) : 0);
    int maxthreads = argc > 1 ? atoi(argv[1]) : 0;
    struct bench bs[16];
    int nb = 0;
    /* encoder/decoder convs at a small latent-ish size (ref must finish in about a second) */
    bs[nb++] = make_conv("conv3d k133 128->128 3x24x24", (it_conv3d_params){128, 128, 3, 24, 24, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1, 1});
    bs[nb++] = make_conv("conv3d k311 128->128 5x24x24", (it_conv3d_params){128, 128, 5, 24, 24, 3, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 1});
    bs[nb++] = make_conv("conv3d k111 256->256 4x24x24", (it_conv3d_params){256, 256, 4, 24, 24, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1});
    {
        struct bench b = {.name = "linear 1024x256 -> 768", .unit = "GFLOP/s", .call = call_linear, .n = {1024, 256, 768}};
        b.work = 2.0 * 1024 * 256 * 768;
        b.in[0] = buf(1024 * 256), b.in[1] = buf(768 * 256), b.in[2] = buf(768), b.out = buf(1024 * 768);
        bs[nb++] = b;
    }
    {
        struct bench b = {.name = "swiglu 1024x256, F 512", .unit = "GFLOP/s", .call = call_swiglu, .n = {1024, 256, 512}};
        b.work = 3 * 2.0 * 1024 * 256 * 512;
        b.in[0] = buf(1024 * 256), b.in[1] = buf(512 * 256), b.in[2] = buf(512 * 256), b.in[3] = buf(512 * 256);
        b.out = buf(1024 * 256);
        bs[nb++] = b;
    }
    {
        /* the ViT's head size; 8 heads instead of 32 so that ref stays quick (cost per head
         * is the same) */
        int s = 8 * 256, nh = 8, hd = 8, hw = 256;
        struct bench b = {.name = "mha S=8x16x16 8 heads x 8", .unit = "GFLOP/s", .call = call_mha, .n = {s, nh, hd, hw}};
        double pairs = 0; /* visible (query, key) pairs under the block-causal mask */
        for (int i = 0; i < s; i++)
            pairs += (i / hw + 1) * hw;
        b.work = 4.0 * pairs * nh * hd;
        b.in[0] = buf((size_t)s * nh * hd), b.in[1] = buf((size_t)s * nh * hd), b.in[2] = buf((size_t)s * nh * hd);
        b.out = buf((size_t)s * nh * hd);
        bs[nb++] = b;
    }
    {
        int c = 512, t = 2, hw = 16 * 16;
        struct bench b = {.name = "attn_spatial C=512 2x16x16", .unit = "GFLOP/s", .call = call_spatial, .n = {c, t, hw}};
        b.work = 4.0 * c * t * hw * (double)hw;
        b.in[0] = buf((size_t)c * t * hw), b.in[1] = buf((size_t)c * t * hw), b.in[2] = buf((size_t)c * t * hw);
        b.out = buf((size_t)c * t * hw);
        bs[nb++] = b;
    }
    {
        int c = 512, t = 9, hw = 16 * 16;
        struct bench b = {.name = "attn_temporal C=512 9x16x16", .unit = "GFLOP/s", .call = call_temporal, .n = {c, t, hw}};
        b.work = 4.0 * c * hw * (t * (t + 1) / 2.0);
        b.in[0] = buf((size_t)c * t * hw), b.in[1] = buf((size_t)c * t * hw), b.in[2] = buf((size_t)c * t * hw);
        b.out = buf((size_t)c * t * hw);
        bs[nb++] = b;
    }
    {
        int c = 256, t = 5, hw = 48 * 48;
        struct bench b = {.name = "groupnorm+silu 256x5x48x48", .unit = "Gelem/s", .call = call_groupnorm, .n = {c, t, hw}};
        b.work = (double)c * t * hw;
        b.in[0] = buf((size_t)c * t * hw), b.in[1] = buf(c), b.in[2] = buf(c), b.out = buf((size_t)c * t * hw);
        bs[nb++] = b;
    }
    {
        struct bench b = {.name = "rmsnorm 4096x256", .unit = "Gelem/s", .call = call_rmsnorm, .n = {4096, 256}};
        b.work = 4096.0 * 256;
        b.in[0] = buf(4096 * 256), b.in[1] = buf(256), b.out = buf(4096 * 256);
        bs[nb++] = b;
    }
    {
        int c = 256, len = 5 * 64 * 64; /* a resblock's residual at 128x128 input */
        struct bench b = {.name = "add 256x5x64x64", .unit = "Gelem/s", .call = call_add, .n = {c, len}};
        b.work = (double)c * len;
        b.in[0] = buf((size_t)c * len), b.in[1] = buf((size_t)c * len), b.out = buf((size_t)c * len);
        bs[nb++] = b;
    }
    {
        int nc = 256, t = 5, h = 32, w = 32;
        struct bench b = {.name = "upsample_hw 256x5x32x32", .unit = "Gelem/s", .call = call_upsample_hw, .n = {nc, t, h, w}};
        b.work = 4.0 * nc * t * h * w;
        b.in[0] = buf((size_t)nc * t * h * w), b.out = buf(4 * (size_t)nc * t * h * w);
        bs[nb++] = b;
    }
    {
        struct bench b = {.name = "haar_fwd 17x256x256", .unit = "Gelem/s", .call = call_haar, .n = {17, 256, 256}};
        b.work = 3.0 * 17 * 256 * 256;
        b.in[0] = buf(3 * 17 * 256 * 256), b.out = buf(24 * 9 * 128 * 128);
        bs[nb++] = b;
    }
    int nthreads = maxthreads > 0 ? maxthreads : it_kernels_threads();
    it_ctx *ref = open_ctx(it_backend_ref()), *cpu = open_ctx(it_backend_cpu());
    printf("%-32s %9s %12s %12s %12s %8s %8s\n", "op", "unit", "ref", "cpu 1 thr", "cpu N thr", "x 1thr", "x Nthr");
    for (int i = 0; i < nb; i++) {
        struct bench *b = &bs[i];
        int wanted = argc <= 2;
        for (int a = 2; a < argc; a++)
            wanted |= strstr(b->name, argv[a]) != NULL;
        if (!wanted)
            continue;
        double tr = time_op(ref, b, 2, 0.0); /* ref: slow, two calls */
        it_kernels_set_threads(1);
        double t1 = time_op(cpu, b, 3, 0.3);
        it_kernels_set_threads(nthreads);
        double tn = time_op(cpu, b, 3, 0.3);
        printf("%-32s %9s %12.3f %12.3f %12.3f %8.1f %8.1f\n", b->name, b->unit, b->work / tr * 1e-9,
               b->work / t1 * 1e-9, b->work / tn * 1e-9, tr / t1, tr / tn);
        fflush(stdout);
    }
    printf("(N = %d threads, %s)\n", nthreads, it_precision_name(precision));
    it_ctx_close(&ref);
    it_ctx_close(&cpu);
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < 4; j++)
            free(bs[i].in[j]);
        free(bs[i].out);
    }
    return 0;
}
