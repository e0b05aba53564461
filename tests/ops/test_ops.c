/* test_ops.c: every cpu op against its ref twin (the naive oracle) on fixed-seed random inputs
 * of awkward sizes (odd, not multiples of the tiles, T = 1), in fp32 and in bf16; the
 * thread-count check (the cpu result at 1, 2 and 3 threads must be bit-identical); and the
 * batch check (one call on n = 3 samples equals three n = 1 calls bit for bit, ref and cpu,
 * both precisions). Outputs start as NaN, so an element no thread wrote fails the comparison.
 *
 * Tolerances, fp32, as relative L2 error ||cpu - ref|| / ||ref|| and as max error over max |ref|:
 *  - TOL_SUM 2e-5: GEMM-shaped ops (conv3d, linear, swiglu) and attention. ref sums in double
 *    and rounds once; cpu sums in fp32 (FMA, blocked order) over K <= ~1200 products, whose
 *    rounding error grows like sqrt(K) * 2^-24 ~ 2e-6, and attention adds the vectorised exp
 *    (~2e-7 relative). 2e-5 is 10x that: a wrong index or a lost block gives errors of 1e-2
 *    and more.
 *  - TOL_ELEM 2e-6: per-element maths (norms, SiLU, RoPE): a few fp32 roundings and the
 *    vectorised exp.
 *  - 0 (bit-exact): data movement and ops whose cpu version does the oracle's arithmetic in
 *    the oracle's order (add, scale, pooling, upsampling, Haar) or is the oracle (FSQ, ELBO,
 *    pixels, transpose, add_rows: tokens and maps must not depend on the backend).
 * bf16, cpu against ref (both bf16): the same rounding points, so an output differs only where
 * the two fp32 results (as close as above) fall on either side of a bf16 rounding boundary:
 * at most 1 bf16 ulp of max(|ref|, 2^-10 max|ref|) per element (the floor covers outputs that
 * cancel to near zero, where the fp32 error is relative to the terms, not the result), on at
 * most 2% of the elements (expected: fp32 error / bf16 ulp ~ 1e-5 / 4e-3 = 0.3% at most).
 * Exact ops stay exact.
 * bf16 against fp32 (ref both, the cost of the precision, stated not hidden): inputs rounded to
 * bf16 (relative error up to 2^-9, rms 2^-9/sqrt 3 ~ 1.1e-3) and the output rounded once (the
 * same again): a random-sign sum keeps that relative rms, so relative L2 ~2e-3; TOL_BF16 1.5e-2
 * allows 7x. Attention and the norms amplify by the logits' and the inverse std's range: TOL
 * 3e-2 there. A per-op result is printed.
 */
#include "tests/ops/ops_util.h"
#include "kernels/cpu/cpu_internal.h"

/* The backend under test: cpu, or (built as test_cuda_ops with -DIT_TEST_CAND=fn) the cuda
 * backend's op layer run on the CPU through the execution shim (tests/ops/cuda_shim_backend.cc).
 * The tolerances above hold for it as stated for cpu: its GEMM-shaped ops and attention sum in
 * fp32 in another order, and its exact ops do ref's arithmetic in ref's order. */
#ifdef IT_TEST_CAND
const it_backend *IT_TEST_CAND(void);
#define CAND() IT_TEST_CAND()
#else
#define CAND() it_backend_cpu()
#endif

#define TOL_SUM 2e-5
#define TOL_ELEM 2e-6
#define TOL_BF16 1.5e-2
#define TOL_BF16_AMP 3e-2
#define BF16_MAX_FRAC 0.02

/* One op call: its sizes, scalar, conv params, float inputs and their lengths, which inputs
 * are per-sample (split by the batch check), and the output length. */
struct opcase {
    int op;
    int n[8];
    float f;
    it_conv3d_params cp;
    const float *in[6];
    size_t len[6];
    int batched[6]; /* 1: input i holds `batch` samples */
    int batch;      /* samples (ops that take n); 0 for ops that do not */
    size_t nout;
    double tol, tol_bf16;
    /* bf16: the op rounds inside (attention's probabilities), where backends may round a value
     * one ulp apart: an output may then move by up to one ulp of the largest output, not of
     * its own (cancelling sums), so that is the bound per element */
    int rounds_inside;
};

static it_ctx *ctx_ref[2], *ctx_cpu[2]; /* [precision] */

/* Inputs in the context's precision: float, or bf16 rounded from the float values; integer
 * inputs (indices, keep flags, u8 pixels) are carried in floats and converted per op. */
static void *to_prec(int prec, const float *x, size_t n)
{
    if (!x)
        return NULL;
    if (prec == IT_PRECISION_FP32) {
        float *p = xalloc(sizeof(float) * n);
        memcpy(p, x, sizeof(float) * n);
        return p;
    }
    it_bf16 *p = xalloc(sizeof(it_bf16) * n);
    for (size_t i = 0; i < n; i++)
        p[i] = it_bf16_from_f32(x[i]);
    return p;
}

/* Output element i as float. */
static float out_get(int prec, const void *y, size_t i)
{
    return prec == IT_PRECISION_BF16 ? it_bf16_to_f32(((const it_bf16 *)y)[i]) : ((const float *)y)[i];
}

/* Device memory for a backend that has its own (the cuda backend under tests/gpu/check.sh):
 * inputs are uploaded, outputs downloaded. On a host backend these pass host pointers
 * through, so ref and cpu run exactly as before. */
static void *dev_in(it_ctx *ctx, const void *host, size_t bytes)
{
    if (!host || ctx->be->host_memory)
        return (void *)host;
    void *d = NULL;
    if (ctx->be->alloc(ctx, bytes ? bytes : 1, &d) < 0 || ctx->be->upload(ctx, d, host, bytes) < 0) {
        fprintf(stderr, "%s: %s\n", ctx->be->name, it_error_message());
        exit(99);
    }
    return d;
}
static void dev_back(it_ctx *ctx, void *host, const void *dev, size_t bytes)
{
    if (!ctx->be->host_memory && ctx->be->download(ctx, host, dev, bytes) < 0) {
        fprintf(stderr, "%s: %s\n", ctx->be->name, it_error_message());
        exit(99);
    }
}
static void dev_free(it_ctx *ctx, void *dev)
{
    if (!ctx->be->host_memory)
        ctx->be->free(ctx, dev);
}

static int run(it_ctx *ctx, const struct opcase *c, float *y)
{
    const int *n = c->n, prec = ctx->precision, bt = c->batch;
    const it_backend *be = ctx->be;
    const size_t esz = it_precision_size(prec), nout = c->nout;
    void *in[6] = {0}, *d[6] = {0};
    for (int i = 0; i < 6; i++) {
        in[i] = to_prec(prec, c->in[i], c->len[i]);
        d[i] = dev_in(ctx, in[i], esz * c->len[i]);
    }
    void *yb = xalloc(esz * nout);
    memset(yb, 0xff, esz * nout); /* NaN in both precisions */
    void *yd = dev_in(ctx, yb, esz * nout);
    int rc = IT_E_INTERNAL, done = 0;
    switch (c->op) {
    case IT_OP_CONV3D: rc = be->conv3d(ctx, &c->cp, d[0], d[1], d[2], yd); break;
    case IT_OP_GROUPNORM: rc = be->groupnorm(ctx, bt, n[0], n[1], n[2], d[0], d[1], d[2], c->f, n[3], yd); break;
    case IT_OP_SILU: rc = be->silu(ctx, (size_t)n[0], d[0], yd); break;
    case IT_OP_ADD: rc = be->add(ctx, (size_t)n[0], d[0], d[1], yd); break;
    case IT_OP_SCALE: rc = be->scale(ctx, (size_t)n[0], d[0], c->f, yd); break;
    case IT_OP_AVGPOOL: rc = be->avgpool(ctx, n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], d[0], yd); break;
    case IT_OP_UPSAMPLE_HW: rc = be->upsample_hw(ctx, n[0], n[1], n[2], n[3], d[0], yd); break;
    case IT_OP_UPSAMPLE_T: rc = be->upsample_t(ctx, n[0], n[1], n[2], d[0], yd); break;
    case IT_OP_HAAR_FWD: rc = be->haar_fwd(ctx, bt, n[0], n[1], n[2], d[0], yd); break;
    case IT_OP_HAAR_INV: rc = be->haar_inv(ctx, bt, n[0], n[1], n[2], d[0], yd); break;
    case IT_OP_ATTN_SPATIAL: rc = be->attn_spatial(ctx, bt, n[0], n[1], n[2], d[0], d[1], d[2], yd); break;
    case IT_OP_ATTN_TEMPORAL: rc = be->attn_temporal(ctx, bt, n[0], n[1], n[2], d[0], d[1], d[2], yd); break;
    case IT_OP_LINEAR: rc = be->linear(ctx, n[0], n[1], n[2], d[0], d[1], d[2], yd); break;
    case IT_OP_RMSNORM: rc = be->rmsnorm(ctx, n[0], n[1], d[0], d[1], c->f, yd); break;
    case IT_OP_ROPE2D: rc = be->rope2d(ctx, n[0], n[1], n[2], n[3], n[4], n[5], d[0], d[1], d[2], yd); break;
    case IT_OP_MHA: rc = be->mha(ctx, bt, n[0], n[1], n[2], n[3], d[0], d[1], d[2], yd); break;
    case IT_OP_SWIGLU: rc = be->swiglu(ctx, n[0], n[1], n[2], d[0], d[1], d[2], d[3], yd); break;
    case IT_OP_TRANSPOSE: rc = be->transpose(ctx, bt, n[0], n[1], d[0], yd); break;
    case IT_OP_ADD_ROWS: { /* in place on a copy of in[0] */
        void *xd = dev_in(ctx, in[0], esz * nout);
        rc = be->add_rows(ctx, bt, n[0], n[1], n[2], d[1], xd);
        dev_back(ctx, yb, xd, esz * nout);
        if (be->host_memory)
            memcpy(yb, xd, esz * nout);
        dev_free(ctx, xd);
        break;
    }
    case IT_OP_ELBO_MAP: { /* float output */
        void *ld = dev_in(ctx, y, sizeof(float) * nout);
        rc = be->elbo_map(ctx, bt, n[0], n[1], n[2], d[0], d[1], ld);
        dev_back(ctx, y, ld, sizeof(float) * nout);
        dev_free(ctx, ld);
        done = 1;
        break;
    }
    case IT_OP_FSQ: { /* outputs packed as bounded [N][6][NT], codes [N][6][NT], idx [N][NT] as floats */
        size_t nt = (size_t)n[0], all = nt * bt;
        int32_t *idx = xalloc(sizeof *idx * all);
        void *codes = xalloc(esz * 6 * all);
        void *bd = dev_in(ctx, y, sizeof(float) * 6 * all), *cd = dev_in(ctx, codes, esz * 6 * all),
             *id = dev_in(ctx, idx, sizeof *idx * all);
        rc = be->fsq(ctx, bt, nt, d[0], bd, cd, id);
        dev_back(ctx, y, bd, sizeof(float) * 6 * all);
        dev_back(ctx, codes, cd, esz * 6 * all);
        dev_back(ctx, idx, id, sizeof *idx * all);
        dev_free(ctx, bd), dev_free(ctx, cd), dev_free(ctx, id);
        for (size_t i = 0; i < 6 * all; i++)
            y[6 * all + i] = out_get(prec, codes, i);
        for (size_t i = 0; i < all; i++)
            y[12 * all + i] = (float)idx[i];
        free(idx), free(codes);
        done = 1;
        break;
    }
    case IT_OP_FSQ_DECODE: { /* in[0] indices, in[1] keep flags (or none) */
        size_t all = (size_t)n[0] * bt;
        int32_t *idx = xalloc(sizeof *idx * all);
        uint8_t *keep = c->in[1] ? xalloc(all) : NULL;
        for (size_t i = 0; i < all; i++) {
            idx[i] = (int32_t)c->in[0][i];
            if (keep)
                keep[i] = c->in[1][i] != 0;
        }
        void *id = dev_in(ctx, idx, sizeof *idx * all), *kd = dev_in(ctx, keep, all);
        rc = be->fsq_decode(ctx, bt, (size_t)n[0], id, kd, yd);
        dev_free(ctx, id), dev_free(ctx, kd);
        free(idx), free(keep);
        break;
    }
    case IT_OP_PIXELS_IN: {
        size_t all = c->len[0];
        uint8_t *rgb = xalloc(all);
        for (size_t i = 0; i < all; i++)
            rgb[i] = (uint8_t)c->in[0][i];
        void *rd = dev_in(ctx, rgb, all);
        rc = be->pixels_in(ctx, bt, n[0], n[1], n[2], rd, yd);
        dev_free(ctx, rd);
        free(rgb);
        break;
    }
    case IT_OP_PIXELS_OUT: {
        uint8_t *rgb = xalloc(nout);
        void *rd = dev_in(ctx, rgb, nout);
        rc = be->pixels_out(ctx, bt, n[0], n[1], n[2], d[0], rd);
        dev_back(ctx, rgb, rd, nout);
        dev_free(ctx, rd);
        for (size_t i = 0; i < nout; i++)
            y[i] = rgb[i];
        free(rgb);
        done = 1;
        break;
    }
    }
    if (rc == 0 && !be->host_memory)
        rc = be->sync(ctx); /* a device backend's queued failures surface here */
    if (c->op != IT_OP_ADD_ROWS)
        dev_back(ctx, yb, yd, esz * nout);
    if (!done)
        for (size_t i = 0; i < nout; i++)
            y[i] = out_get(prec, yb, i);
    for (int i = 0; i < 6; i++) {
        dev_free(ctx, d[i]);
        free(in[i]);
    }
    dev_free(ctx, yd);
    free(yb);
    return rc;
}

/* Elements of got further than 1 bf16 ulp of max(|ref|, floor * max|ref|) from ref (bad) and
 * elements that differ at all (differ). */
static void bf16_diff(const float *ref, const float *got, size_t n, double floor, size_t *bad, size_t *differ)
{
    double mr = 0;
    for (size_t i = 0; i < n; i++)
        mr = fabs(ref[i]) > mr ? fabs(ref[i]) : mr;
    *bad = *differ = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (d != d) {
            (*bad)++;
            continue;
        }
        if (d == 0)
            continue;
        (*differ)++;
        double mag = fabs(ref[i]) > mr * floor ? fabs(ref[i]) : mr * floor;
        int e;
        frexp(mag, &e);
        if (d > ldexp(1.0, e - 8)) /* bf16: 8 significant bits, ulp = 2^(e-8) for mag in [2^(e-1), 2^e) */
            (*bad)++;
    }
}

/* One case, batch as given: fp32 cpu vs ref within tol and thread-invariant; bf16 cpu vs ref
 * within 1 ulp on <= 2% (exact when tol is 0) and thread-invariant; bf16 ref vs fp32 ref within
 * tol_bf16 (skipped when 0). */
static void compare(const char *name, const struct opcase *c)
{
    const size_t nout = c->nout;
    float *yr = FALLOC(nout), *y1 = FALLOC(nout), *y2 = FALLOC(nout), *y3 = FALLOC(nout), *br = FALLOC(nout);
    for (int prec = 0; prec < IT_PRECISION_COUNT; prec++) {
        CALL(run(ctx_ref[prec], c, yr));
        it_kernels_set_threads(1);
        CALL(run(ctx_cpu[prec], c, y1));
        if (CAND() == it_backend_cpu()) { /* OpenMP threads: only the cpu backend has them */
            it_kernels_set_threads(2);
            CALL(run(ctx_cpu[prec], c, y2));
            it_kernels_set_threads(3);
            CALL(run(ctx_cpu[prec], c, y3));
            CHECK(!memcmp(y1, y2, sizeof(float) * nout), "%s %s: 1 and 2 threads differ", name, it_precision_name(prec));
            CHECK(!memcmp(y1, y3, sizeof(float) * nout), "%s %s: 1 and 3 threads differ", name, it_precision_name(prec));
        }
        it_kernels_set_threads(0);
        if (prec == IT_PRECISION_FP32) {
            double e2 = rel_l2(yr, y1, nout), em = rel_max(yr, y1, nout);
            CHECK(e2 <= c->tol && em <= c->tol, "%s: relL2 %.3g relmax %.3g > tol %.3g", name, e2, em, c->tol);
            printf("%-28s fp32 n=%-7zu relL2=%.2e relmax=%.2e tol=%.0e", name, nout, e2, em, c->tol);
            memcpy(br, yr, sizeof(float) * nout); /* fp32 oracle, for the bf16 cost */
        } else {
            size_t bad, differ;
            bf16_diff(yr, y1, nout, c->rounds_inside ? 1.0 : 1.0 / 1024, &bad, &differ);
            if (c->tol == 0)
                CHECK(differ == 0, "%s bf16: cpu differs from ref in %zu of %zu (must be exact)", name, differ, nout);
            CHECK(bad == 0 && differ <= BF16_MAX_FRAC * nout, "%s bf16: %zu of %zu differ from ref, %zu by more than 1 ulp",
                  name, differ, nout, bad);
            double e2 = rel_l2(br, yr, nout);
            if (c->tol_bf16 > 0)
                CHECK(e2 <= c->tol_bf16, "%s: bf16 vs fp32 relL2 %.3g > %.3g", name, e2, c->tol_bf16);
            printf(" | bf16 cpu~ref %zu differ | bf16 vs fp32 relL2=%.2e\n", differ, e2);
        }
    }
    free(yr), free(y1), free(y2), free(y3), free(br);
}

/* The batch check: one call on c->batch samples equals c->batch calls on one sample each, bit
 * for bit, on ref and cpu in both precisions. */
static void batch_check(const char *name, const struct opcase *c)
{
    const int nb = c->batch;
    const size_t nout = c->nout, per_out = nout / nb;
    float *whole = FALLOC(nout), *part = FALLOC(nout);
    it_ctx *ctxs[4] = {ctx_ref[0], ctx_ref[1], ctx_cpu[0], ctx_cpu[1]};
    for (int k = 0; k < 4; k++) {
        CALL(run(ctxs[k], c, whole));
        for (int b = 0; b < nb; b++) {
            struct opcase one = *c;
            one.batch = 1;
            one.cp.n = 1;
            one.nout = per_out;
            for (int i = 0; i < 6; i++)
                if (c->batched[i] && c->in[i]) {
                    one.len[i] = c->len[i] / nb;
                    one.in[i] = c->in[i] + (size_t)b * one.len[i];
                }
            CALL(run(ctxs[k], &one, part + (size_t)b * per_out));
        }
        CHECK(!memcmp(whole, part, sizeof(float) * nout), "%s: batch of %d on %s %s differs from %d single calls",
              name, nb, ctxs[k]->be->name, it_precision_name(ctxs[k]->precision), nb);
    }
    free(whole), free(part);
}

static void test_conv(const char *name, it_conv3d_params p)
{
    int to, ho, wo;
    CALL(it_conv3d_out_shape(&p, &to, &ho, &wo));
    size_t nx = (size_t)p.n * p.ci * p.t * p.h * p.w, nw = (size_t)p.co * p.ci * p.kt * p.kh * p.kw;
    float *x = rnd(nx, -1, 1), *w = rnd(nw, -0.5f, 0.5f), *b = rnd(p.co, -1, 1);
    struct opcase c = {.op = IT_OP_CONV3D, .cp = p, .in = {x, w, b}, .len = {nx, nw, (size_t)p.co},
                       .batched = {1}, .batch = p.n, .nout = (size_t)p.n * p.co * to * ho * wo,
                       .tol = TOL_SUM, .tol_bf16 = TOL_BF16};
    compare(name, &c);
    if (p.n > 1)
        batch_check(name, &c);
    c.in[2] = NULL; /* no bias */
    compare(name, &c);
    free(x), free(w), free(b);
}

static void conv_cases(void)
{
    /* CausalConv3d k(1,3,3) pad 1; T = 1 */
    test_conv("conv3d k133 pad1", (it_conv3d_params){5, 7, 3, 9, 11, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1, 1});
    test_conv("conv3d k133 pad1 T=1", (it_conv3d_params){3, 4, 1, 1, 1, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1, 1});
    /* CausalConv3d k(3,1,1): 2 replicated first frames; T = 1 reads frame 0 three times */
    test_conv("conv3d k311 tpad2", (it_conv3d_params){13, 17, 4, 5, 6, 3, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 1});
    test_conv("conv3d k311 tpad2 T=1", (it_conv3d_params){9, 5, 1, 3, 7, 3, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 1});
    /* the temporal downsample: stride 2 in time, 1 + 1 replicated frames */
    test_conv("conv3d k311 st2", (it_conv3d_params){6, 9, 5, 4, 3, 3, 1, 1, 2, 1, 1, 2, 0, 0, 0, 0, 1});
    /* the spatial downsample: stride 2, zero pad bottom/right only */
    test_conv("conv3d k133 s2 pad br", (it_conv3d_params){7, 5, 2, 10, 14, 1, 3, 3, 1, 2, 2, 0, 0, 1, 0, 1, 1});
    /* 1x1x1 = plain GEMM; K > KC (256) and Co > MC (120), positions > NC */
    test_conv("conv3d k111 gemm", (it_conv3d_params){300, 130, 1, 7, 37, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1});
    /* general im2col with K = 360 > KC, Co > MC, odd sizes */
    test_conv("conv3d k133 big", (it_conv3d_params){40, 125, 2, 6, 45, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1, 1});
    /* the bf16 kernel's K block is 512: K = 648 and 601 (odd) over two blocks with Co not a
     * multiple of the 6-row tile (its last rows carry sums across blocks), and a pointwise
     * conv whose 57 positions are one full 32-column tile read in place and a partial one */
    test_conv("conv3d k333 K>512", (it_conv3d_params){24, 13, 3, 5, 9, 3, 3, 3, 1, 1, 1, 2, 1, 1, 1, 1, 1});
    test_conv("conv3d k111 K>512 odd", (it_conv3d_params){601, 7, 1, 3, 19, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1});
    /* Wo a multiple of 16 with unit spatial stride: the bf16 kernel's implicit GEMM (input
     * read in place as channel pairs); odd Ci, K over two blocks, temporal stride and causal
     * padding, two output rows per 32-column tile (Wo = 16), a column count that ends in a
     * half tile, asymmetric padding, several samples */
    test_conv("conv3d k133 W16 direct", (it_conv3d_params){5, 7, 3, 4, 16, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1, 1});
    test_conv("conv3d k333 W32 direct", (it_conv3d_params){24, 13, 5, 3, 32, 3, 3, 3, 2, 1, 1, 2, 1, 1, 1, 1, 1});
    test_conv("conv3d k311 W16 direct", (it_conv3d_params){9, 8, 4, 3, 16, 3, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 2});
    test_conv("conv3d k111 W48 direct", (it_conv3d_params){601, 7, 1, 1, 48, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1});
    test_conv("conv3d k133 W16 pad tl", (it_conv3d_params){3, 6, 2, 5, 17, 1, 3, 3, 1, 1, 1, 0, 2, 0, 1, 0, 1});
    /* a full 3x3x3 kernel with everything at once */
    test_conv("conv3d k333 mixed", (it_conv3d_params){4, 3, 3, 5, 7, 3, 3, 3, 2, 1, 2, 1, 2, 0, 1, 3, 1});
    /* batches: 3 samples, causal time, a pointwise GEMM */
    test_conv("conv3d k311 n=3", (it_conv3d_params){5, 6, 3, 4, 5, 3, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 3});
    test_conv("conv3d k111 n=3", (it_conv3d_params){7, 9, 2, 3, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 3});
}

static void norm_cases(void)
{
    const int sizes[][4] = {{5, 3, 37, 1}, {130, 1, 300, 1}, {3, 2, 1, 1}, {4, 3, 10, 3}};
    for (int i = 0; i < 4; i++)
        for (int silu = 0; silu < 2; silu++) {
            int c = sizes[i][0], t = sizes[i][1], hw = sizes[i][2], nb = sizes[i][3];
            size_t n = (size_t)nb * c * t * hw;
            float *x = rnd(n, -3, 5), *g = rnd(c, 0.5f, 1.5f), *b = rnd(c, -1, 1);
            struct opcase oc = {.op = IT_OP_GROUPNORM, .n = {c, t, hw, silu}, .f = 1e-6f, .in = {x, g, b},
                                .len = {n, (size_t)c, (size_t)c}, .batched = {1}, .batch = nb, .nout = n,
                                .tol = TOL_ELEM, .tol_bf16 = TOL_BF16_AMP};
            compare(silu ? "groupnorm+silu" : "groupnorm", &oc);
            if (nb > 1)
                batch_check("groupnorm n=3", &oc);
            free(x), free(g), free(b);
        }
    size_t n = 10007; /* more than one elementwise block, not a multiple of the vector */
    float *a = rnd(n, -20, 20), *b = rnd(n, -1, 1);
    compare("silu", &(struct opcase){.op = IT_OP_SILU, .n = {(int)n}, .in = {a}, .len = {n}, .nout = n,
                                     .tol = TOL_ELEM, .tol_bf16 = TOL_BF16});
    compare("add", &(struct opcase){.op = IT_OP_ADD, .n = {(int)n}, .in = {a, b}, .len = {n, n}, .nout = n,
                                    .tol = 0, .tol_bf16 = TOL_BF16});
    compare("scale", &(struct opcase){.op = IT_OP_SCALE, .n = {(int)n}, .f = -0.37f, .in = {a}, .len = {n}, .nout = n,
                                      .tol = 0, .tol_bf16 = TOL_BF16});
    free(a), free(b);
    const int rs[][2] = {{13, 37}, {1, 256}, {40, 5}};
    for (int i = 0; i < 3; i++) {
        size_t len = (size_t)rs[i][0] * rs[i][1];
        float *x = rnd(len, -2, 2), *w = rnd(rs[i][1], 0.5f, 1.5f);
        compare("rmsnorm", &(struct opcase){.op = IT_OP_RMSNORM, .n = {rs[i][0], rs[i][1]}, .f = 1e-5f, .in = {x, w},
                                            .len = {len, (size_t)rs[i][1]}, .nout = len, .tol = TOL_ELEM,
                                            .tol_bf16 = TOL_BF16});
        free(x), free(w);
    }
}

static void resample_cases(void)
{
    /* avgpool (1,2,2) on odd sizes (floor), (2,1,1) with the downsample's 1-frame pad */
    const int ap[][8] = {{3, 3, 7, 9, 1, 2, 2, 0}, {5, 5, 4, 3, 2, 1, 1, 1}, {2, 1, 3, 3, 2, 1, 1, 1}};
    for (int i = 0; i < 3; i++) {
        const int *a = ap[i];
        size_t len = (size_t)a[0] * a[1] * a[2] * a[3];
        float *x = rnd(len, -1, 1);
        struct opcase c = {.op = IT_OP_AVGPOOL, .in = {x}, .len = {len}, .tol = 0, .tol_bf16 = TOL_BF16,
                           .nout = (size_t)a[0] * ((a[1] + a[7]) / a[4]) * (a[2] / a[5]) * (a[3] / a[6])};
        memcpy(c.n, a, sizeof c.n);
        compare("avgpool", &c);
        free(x);
    }
    size_t len = 3 * 4 * 5 * 7;
    float *x = rnd(len, -1, 1);
    compare("upsample_hw", &(struct opcase){.op = IT_OP_UPSAMPLE_HW, .n = {3, 4, 5, 7}, .in = {x}, .len = {len},
                                            .nout = 3 * 4 * 10 * 14, .tol_bf16 = TOL_BF16});
    compare("upsample_t", &(struct opcase){.op = IT_OP_UPSAMPLE_T, .n = {3, 4, 35}, .in = {x}, .len = {len},
                                           .nout = 3 * 7 * 35, .tol_bf16 = TOL_BF16});
    compare("upsample_t T=1", &(struct opcase){.op = IT_OP_UPSAMPLE_T, .n = {3, 1, 35}, .in = {x}, .len = {3 * 35},
                                               .nout = 3 * 1 * 35, .tol_bf16 = TOL_BF16});
    free(x);
    len = 3 * 3 * 5 * 6 * 10;
    x = rnd(len, -1, 1);
    struct opcase hf = {.op = IT_OP_HAAR_FWD, .n = {5, 6, 10}, .in = {x}, .len = {len / 3}, .batched = {1}, .batch = 1,
                        .nout = 24 * 3 * 3 * 5, .tol_bf16 = TOL_BF16};
    compare("haar_fwd", &hf);
    hf.batch = 3, hf.len[0] = len, hf.nout *= 3;
    batch_check("haar_fwd n=3", &hf);
    compare("haar_fwd T=1", &(struct opcase){.op = IT_OP_HAAR_FWD, .n = {1, 2, 4}, .in = {x}, .len = {3 * 8}, .batch = 1,
                                             .nout = 24 * 1 * 1 * 2, .tol_bf16 = TOL_BF16});
    free(x);
    len = 3 * 24 * 3 * 5 * 3;
    x = rnd(len, -1, 1);
    struct opcase hi = {.op = IT_OP_HAAR_INV, .n = {3, 5, 3}, .in = {x}, .len = {len / 3}, .batched = {1}, .batch = 1,
                        .nout = 3 * 5 * 10 * 6, .tol_bf16 = TOL_BF16};
    compare("haar_inv", &hi);
    hi.batch = 3, hi.len[0] = len, hi.nout *= 3;
    batch_check("haar_inv n=3", &hi);
    compare("haar_inv t=1", &(struct opcase){.op = IT_OP_HAAR_INV, .n = {1, 5, 3}, .in = {x}, .len = {24 * 15}, .batch = 1,
                                             .nout = 3 * 1 * 10 * 6, .tol_bf16 = TOL_BF16});
    free(x);
}

static void attn_cases(void)
{
    /* CNN mid-block: [N][C][T][HW]; hw not a multiple of the query/key tiles, T = 1 */
    const int sp[][4] = {{12, 2, 37, 1}, {64, 1, 130, 1}, {5, 3, 1, 1}, {33, 1, 200, 1}, {6, 3, 11, 3}};
    for (int i = 0; i < 5; i++) {
        int nb = sp[i][3];
        size_t n = (size_t)nb * sp[i][0] * sp[i][1] * sp[i][2];
        float *q = rnd(n, -2, 2), *k = rnd(n, -2, 2), *v = rnd(n, -1, 1);
        struct opcase c = {.op = IT_OP_ATTN_SPATIAL, .n = {sp[i][0], sp[i][1], sp[i][2]}, .in = {q, k, v},
                           .len = {n, n, n}, .batched = {1, 1, 1}, .batch = nb, .nout = n, .tol = TOL_SUM,
                           .tol_bf16 = TOL_BF16_AMP, .rounds_inside = 1};
        compare("attn_spatial", &c);
        if (nb > 1)
            batch_check("attn_spatial n=3", &c);
        c.op = IT_OP_ATTN_TEMPORAL;
        compare("attn_temporal", &c);
        if (nb > 1)
            batch_check("attn_temporal n=3", &c);
        free(q), free(k), free(v);
    }
    const int tp[][3] = {{20, 7, 19}, {7, 9, 3}};
    for (int i = 0; i < 2; i++) {
        size_t n = (size_t)tp[i][0] * tp[i][1] * tp[i][2];
        float *q = rnd(n, -2, 2), *k = rnd(n, -2, 2), *v = rnd(n, -1, 1);
        compare("attn_temporal", &(struct opcase){.op = IT_OP_ATTN_TEMPORAL, .n = {tp[i][0], tp[i][1], tp[i][2]},
                                                  .in = {q, k, v}, .len = {n, n, n}, .batch = 1, .nout = n,
                                                  .tol = TOL_SUM, .tol_bf16 = TOL_BF16_AMP, .rounds_inside = 1});
        free(q), free(k), free(v);
    }
    /* ViT: s, nh, hd, hw (tokens per frame), batch; hw >= s is unmasked, hw = 1 is
     * token-causal */
    const int mh[][5] = {{111, 3, 8, 37, 1}, {150, 2, 20, 150, 1}, {70, 1, 8, 1, 1}, {200, 4, 8, 16, 1},
                         {5, 2, 4, 2, 1}, {40, 2, 8, 8, 3}, {64, 2, 16, 16, 2}, {32, 3, 8, 16, 1}};
    for (int i = 0; i < 8; i++) {
        int nb = mh[i][4];
        size_t n = (size_t)nb * mh[i][0] * mh[i][1] * mh[i][2];
        float *q = rnd(n, -3, 3), *k = rnd(n, -3, 3), *v = rnd(n, -1, 1);
        struct opcase c = {.op = IT_OP_MHA, .n = {mh[i][0], mh[i][1], mh[i][2], mh[i][3]}, .in = {q, k, v},
                           .len = {n, n, n}, .batched = {1, 1, 1}, .batch = nb, .nout = n, .tol = TOL_SUM,
                           .tol_bf16 = TOL_BF16_AMP, .rounds_inside = 1};
        compare("mha block-causal", &c);
        if (nb > 1)
            batch_check("mha n=3", &c);
        free(q), free(k), free(v);
    }
    /* RoPE with a random (cos, sin) table: per token (hw = w = rows), and the model's way,
     * 2 frames of 3x4 tokens reading rows y*5 + x of a 5x5 table, for 2 samples of rows */
    const int rp[][6] = {{37, 3, 8, 37, 37, 37}, {2 * 24, 3, 8, 12, 4, 5}};
    for (int i = 0; i < 2; i++) {
        int s = rp[i][0], nh = rp[i][1], hd = rp[i][2], ld = rp[i][5];
        size_t tab = (size_t)(i ? 25 : s) * hd / 2;
        float *x = rnd((size_t)s * nh * hd, -2, 2), *cs = FALLOC(tab), *sn = FALLOC(tab);
        for (size_t j = 0; j < tab; j++) {
            float a = rng_uniform(-10, 10);
            cs[j] = cosf(a), sn[j] = sinf(a);
        }
        compare("rope2d", &(struct opcase){.op = IT_OP_ROPE2D, .n = {s, nh, hd, rp[i][3], rp[i][4], ld},
                                           .in = {x, cs, sn}, .len = {(size_t)s * nh * hd, tab, tab},
                                           .nout = (size_t)s * nh * hd, .tol = TOL_ELEM, .tol_bf16 = TOL_BF16});
        free(x), free(cs), free(sn);
    }
}

static void linear_cases(void)
{
    const int ln[][3] = {{37, 300, 45}, {130, 19, 257}, {1, 256, 768}, {300, 8, 5}};
    for (int i = 0; i < 4; i++) {
        int s = ln[i][0], k = ln[i][1], n = ln[i][2];
        float *x = rnd((size_t)s * k, -1, 1), *w = rnd((size_t)n * k, -0.5f, 0.5f), *b = rnd(n, -1, 1);
        struct opcase c = {.op = IT_OP_LINEAR, .n = {s, k, n}, .in = {x, w, i % 2 ? NULL : b},
                           .len = {(size_t)s * k, (size_t)n * k, (size_t)n}, .nout = (size_t)s * n, .tol = TOL_SUM,
                           .tol_bf16 = TOL_BF16};
        compare("linear", &c);
        free(x), free(w), free(b);
    }
    /* s = 1030 crosses the cpu version's 1024-row chunk */
    const int sw[][3] = {{37, 24, 50}, {1030, 8, 12}};
    for (int i = 0; i < 2; i++) {
        int s = sw[i][0], d = sw[i][1], f = sw[i][2];
        float *x = rnd((size_t)s * d, -1, 1), *w1 = rnd((size_t)f * d, -0.5f, 0.5f),
              *w3 = rnd((size_t)f * d, -0.5f, 0.5f), *w2 = rnd((size_t)d * f, -0.5f, 0.5f);
        compare("swiglu", &(struct opcase){.op = IT_OP_SWIGLU, .n = {s, d, f}, .in = {x, w1, w3, w2},
                                           .len = {(size_t)s * d, (size_t)f * d, (size_t)f * d, (size_t)d * f},
                                           .nout = (size_t)s * d, .tol = TOL_SUM, .tol_bf16 = TOL_BF16});
        free(x), free(w1), free(w3), free(w2);
    }
}

static void token_cases(void)
{
    const int nb = 3;
    size_t nt = 3 * 5 * 7;
    float *z = rnd(6 * nt * nb, -3, 3);
    struct opcase fq = {.op = IT_OP_FSQ, .n = {(int)nt}, .in = {z}, .len = {6 * nt * nb}, .batched = {1}, .batch = nb,
                        .nout = 13 * nt * nb};
    /* bounded, codes and indices of one sample are not contiguous in the packed output, so
     * the batch is checked by comparing with the samples run one by one through run() */
    compare("fsq", &fq);
    float *idx = FALLOC(nt * nb), *keep = FALLOC(nt * nb);
    for (size_t i = 0; i < nt * nb; i++) {
        idx[i] = (float)(rng_next() % IT_FSQ_CODES);
        keep[i] = (float)(rng_next() % 3 != 0);
    }
    struct opcase fd = {.op = IT_OP_FSQ_DECODE, .n = {(int)nt}, .in = {idx, keep}, .len = {nt * nb, nt * nb},
                        .batched = {1, 1}, .batch = nb, .nout = 6 * nt * nb};
    compare("fsq_decode+keep", &fd);
    batch_check("fsq_decode n=3", &fd);
    fd.in[1] = NULL;
    compare("fsq_decode", &fd);
    free(z), free(idx), free(keep);
    int t = 3, h = 2, w = 3;
    size_t npx = 3 * (size_t)(4 * t - 3) * 8 * h * 8 * w;
    float *x = rnd(npx * nb, -1, 1), *r = rnd(npx * nb, -1, 1);
    struct opcase el = {.op = IT_OP_ELBO_MAP, .n = {t, h, w}, .in = {x, r}, .len = {npx * nb, npx * nb},
                        .batched = {1, 1}, .batch = nb, .nout = (size_t)t * h * w * nb, .tol_bf16 = TOL_BF16};
    compare("elbo_map", &el);
    batch_check("elbo_map n=3", &el);
    free(x), free(r);
    /* pixels: u8 in, act out; act in (with values past [-1, 1]), u8 out */
    size_t np = (size_t)3 * 5 * 6 * 3;
    float *u8 = FALLOC(np * nb);
    for (size_t i = 0; i < np * nb; i++)
        u8[i] = (float)(rng_next() % 256);
    struct opcase pi = {.op = IT_OP_PIXELS_IN, .n = {3, 5, 6}, .in = {u8}, .len = {np * nb}, .batched = {1},
                        .batch = nb, .nout = np * nb, .tol_bf16 = 4e-3};
    compare("pixels_in", &pi);
    batch_check("pixels_in n=3", &pi);
    float *y = rnd(np * nb, -1.2f, 1.2f);
    struct opcase po = {.op = IT_OP_PIXELS_OUT, .n = {3, 5, 6}, .in = {y}, .len = {np * nb}, .batched = {1},
                        .batch = nb, .nout = np * nb, .tol_bf16 = 1e-2};
    compare("pixels_out", &po);
    batch_check("pixels_out n=3", &po);
    free(u8), free(y);
    /* transpose and the temporal-embedding row add */
    float *a = rnd(7 * 11 * nb, -1, 1), *tab = rnd(4 * 11, -1, 1);
    struct opcase tr = {.op = IT_OP_TRANSPOSE, .n = {7, 11}, .in = {a}, .len = {7 * 11 * nb}, .batched = {1},
                        .batch = nb, .nout = 7 * 11 * nb, .tol_bf16 = TOL_BF16};
    compare("transpose", &tr);
    batch_check("transpose n=3", &tr);
    struct opcase ar = {.op = IT_OP_ADD_ROWS, .n = {7, 11, 2}, .in = {a, tab}, .len = {7 * 11 * nb, 4 * 11},
                        .batched = {1}, .batch = nb, .nout = 7 * 11 * nb, .tol_bf16 = TOL_BF16};
    compare("add_rows", &ar);
    batch_check("add_rows n=3", &ar);
    free(a), free(tab);
}

static void open_all(void)
{
    for (int p = 0; p < IT_PRECISION_COUNT; p++) {
        it_ctx_opts o = {p, 0, 0};
        if (it_ctx_open(it_backend_ref(), &o, &ctx_ref[p]) < 0 || it_ctx_open(CAND(), &o, &ctx_cpu[p]) < 0) {
            fprintf(stderr, "%s\n", it_error_message());
            exit(99);
        }
    }
}

/* The native bf16 GEMM rounds its fp32 sums with vector integer code: bit for bit against
 * it_bf16_from_f32 on every high half (sign, exponent, 7 mantissa bits) with the low halves
 * that decide a rounding (ties 0x8000 with odd and even kept parts, 0x7fff, 0x8001, 0, 0xffff),
 * so infinities, NaNs and the carry into the exponent are all there; lengths that are not a
 * multiple of the 16 lanes, with and without a per-column bias. */
static void round_cases(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vl")) {
        printf("bf16 round_row: skipped (no AVX512-BW/VL)\n");
        return;
    }
    static const uint32_t lows[] = {0x0000, 0x0001, 0x7fff, 0x8000, 0x8001, 0xffff};
    enum { N = 37 };
    float row[N];
    it_bf16 bias[N], got[N + 1];
    long bad = 0, total = 0;
    for (int b = 0; b < N; b++)
        bias[b] = it_bf16_from_f32((float)(b - 18) * 0.375f);
    for (uint32_t hi = 0; hi < 65536; hi++)
        for (size_t l = 0; l < sizeof lows / sizeof *lows; l += 1) {
            int fill = (int)((hi + l) % N) + 1;
            for (int j = 0; j < fill; j++) {
                uint32_t u = hi << 16 | (lows[(l + (size_t)j) % 6] ^ (uint32_t)(j & 1) << 16);
                memcpy(&row[j], &u, 4);
            }
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                float bm = with_bias ? 0.5f : 0.0f;
                got[fill] = 0x5a5a;
                it_cpu_bf16n_round_row(row, bm, with_bias ? bias : NULL, got, fill);
                bad += got[fill] != 0x5a5a; /* nothing written past n */
                for (int j = 0; j < fill; j++, total++) {
                    float s = row[j] + bm + (with_bias ? it_bf16_to_f32(bias[j]) : 0.0f);
                    bad += got[j] != it_bf16_from_f32(s);
                }
            }
        }
    CHECK(bad == 0, "bf16 round_row: %ld of %ld values differ from it_bf16_from_f32", bad, total);
    if (bad == 0)
        printf("bf16 round_row: %ld values bit-exact\n", total);
#endif
}

int main(void)
{
    for (int p = 0; p < IT_PRECISION_COUNT; p++)
        for (int op = 0; op < IT_OP_COUNT; op++)
            CHECK(it_backend_require(CAND(), op, p) == 0 && it_backend_require(it_backend_ref(), op, p) == 0,
                  "op %s unsupported in %s", it_op_name(op), it_precision_name(p));
    open_all();
    /* the SIMD-dependent ops once per variant this CPU has (IT_KERNELS_ISA caps the choice;
     * "best" is the default): the x86 build carries base, AVX2 and AVX-512 code, and the
     * native AVX512-BF16 conv3d/linear/swiglu, which "avx512" turns off (so the bf16 wrapper
     * path is tested on a CPU that has them too; on one without, "best" is that path again) */
    const char *caps[] = {"base", "avx2", "avx512", NULL};
    for (int i = CAND() == it_backend_cpu() ? 0 : 3; i < 4; i++) {
        printf("-- SIMD variant: %s\n", caps[i] ? caps[i] : "best");
        if (caps[i])
            setenv("IT_KERNELS_ISA", caps[i], 1);
        else
            unsetenv("IT_KERNELS_ISA");
        conv_cases();
        norm_cases();
        attn_cases();
        linear_cases();
    }
    /* the native bf16 conv3d in passes of one output frame (its input pair layout is bounded
     * by IT_KERNELS_XW_BYTES; tiny here, 8 MiB by default, more than these cases need) */
    if (CAND() == it_backend_cpu()) {
        printf("-- SIMD variant: best, conv3d one output frame per pass\n");
        setenv("IT_KERNELS_XW_BYTES", "1", 1);
        conv_cases();
        unsetenv("IT_KERNELS_XW_BYTES");
    }
    resample_cases();
    token_cases();
    if (CAND() == it_backend_cpu())
        round_cases();
    for (int p = 0; p < IT_PRECISION_COUNT; p++) {
        it_ctx_close(&ctx_ref[p]);
        it_ctx_close(&ctx_cpu[p]);
    }
    return report(CAND()->name);
}
