/* test_ops.c: every cpu op against its ref twin (the naive oracle) on fixed-seed random inputs
 * of awkward sizes (odd, not multiples of the tiles, T = 1), and the thread-count check: the
 * cpu result at 1, 2 and 3 threads must be bit-identical. Outputs start as NaN, so an element
 * no thread wrote fails the comparison.
 *
 * Tolerances, as relative L2 error ||cpu - ref|| / ||ref|| and as max error over max |ref|:
 *  - TOL_SUM 2e-5: GEMM-shaped ops (conv3d, linear, swiglu) and attention. ref sums in double
 *    and rounds once; cpu sums in fp32 (FMA, blocked order) over K <= ~1200 products, whose
 *    rounding error grows like sqrt(K) * 2^-24 ~ 2e-6, and attention adds the vectorised exp
 *    (~2e-7 relative). 2e-5 is 10x that: a wrong index or a lost block gives errors of 1e-2
 *    and more.
 *  - TOL_ELEM 2e-6: per-element maths (norms, SiLU, RoPE): a few fp32 roundings and the
 *    vectorised exp.
 *  - 0 (bit-exact): data movement and ops whose cpu version does the oracle's arithmetic in
 *    the oracle's order (add, scale, pooling, upsampling, Haar) or is the oracle (FSQ, ELBO,
 *    mask: tokens and masks must not depend on the backend).
 */
#include "tests/ops/ops_util.h"

#define TOL_SUM 2e-5
#define TOL_ELEM 2e-6

/* One op call with its sizes and inputs; run() dispatches it to a backend. */
struct opcase {
    int op;
    int n[8];
    float f;
    it_conv3d_params cp;
    const float *in[6];
};

static int run(const it_backend *be, const struct opcase *c, float *y)
{
    const int *n = c->n;
    const float *const *in = c->in;
    switch (c->op) {
    case IT_OP_CONV3D: return be->conv3d(&c->cp, in[0], in[1], in[2], y);
    case IT_OP_GROUPNORM: return be->groupnorm(n[0], n[1], n[2], in[0], in[1], in[2], c->f, n[3], y);
    case IT_OP_SILU: return be->silu((size_t)n[0], in[0], y);
    case IT_OP_ADD: return be->add((size_t)n[0], in[0], in[1], y);
    case IT_OP_SCALE: return be->scale((size_t)n[0], in[0], c->f, y);
    case IT_OP_AVGPOOL: return be->avgpool(n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], in[0], y);
    case IT_OP_UPSAMPLE_HW: return be->upsample_hw(n[0], n[1], n[2], n[3], in[0], y);
    case IT_OP_UPSAMPLE_T: return be->upsample_t(n[0], n[1], n[2], in[0], y);
    case IT_OP_HAAR_FWD: return be->haar_fwd(n[0], n[1], n[2], in[0], y);
    case IT_OP_HAAR_INV: return be->haar_inv(n[0], n[1], n[2], in[0], y);
    case IT_OP_ATTN_SPATIAL: return be->attn_spatial(n[0], n[1], n[2], in[0], in[1], in[2], y);
    case IT_OP_ATTN_TEMPORAL: return be->attn_temporal(n[0], n[1], n[2], in[0], in[1], in[2], y);
    case IT_OP_LINEAR: return be->linear(n[0], n[1], n[2], in[0], in[1], in[2], y);
    case IT_OP_RMSNORM: return be->rmsnorm(n[0], n[1], in[0], in[1], c->f, y);
    case IT_OP_ROPE2D: return be->rope2d(n[0], n[1], n[2], in[0], in[1], in[2], y);
    case IT_OP_MHA: return be->mha(n[0], n[1], n[2], n[3], in[0], in[1], in[2], y);
    case IT_OP_SWIGLU: return be->swiglu(n[0], n[1], n[2], in[0], in[1], in[2], in[3], y);
    case IT_OP_FSQ: { /* outputs packed as bounded [6][NT], codes [6][NT], idx [NT] as floats */
        size_t nt = (size_t)n[0];
        int32_t *idx = xalloc(sizeof *idx * nt);
        int rc = be->fsq(nt, in[0], y, y + 6 * nt, idx);
        for (size_t i = 0; i < nt; i++)
            y[12 * nt + i] = (float)idx[i];
        free(idx);
        return rc;
    }
    case IT_OP_FSQ_DECODE: {
        size_t nt = (size_t)n[0];
        int32_t *idx = xalloc(sizeof *idx * nt);
        for (size_t i = 0; i < nt; i++)
            idx[i] = (int32_t)in[0][i];
        int rc = be->fsq_decode(nt, idx, y);
        free(idx);
        return rc;
    }
    case IT_OP_ELBO_MAP: return be->elbo_map(n[0], n[1], n[2], in[0], in[1], y);
    case IT_OP_MASK: { /* outputs: keep [NT], kept, bound */
        size_t nt = (size_t)n[0], kept = 0;
        uint8_t *keep = xalloc(nt);
        int rc = be->mask(nt, in[0], c->f, keep, &kept, &y[nt + 1]);
        for (size_t i = 0; i < nt; i++)
            y[i] = keep[i];
        y[nt] = (float)kept;
        free(keep);
        return rc;
    }
    }
    return IT_E_INTERNAL;
}

/* ref vs cpu (1 thread) within tol; cpu at 1, 2 and 3 threads bit-identical (3 splits the
 * work unevenly). */
static void compare(const char *name, const struct opcase *c, size_t nout, double tol)
{
    const it_backend *ref = it_backend_ref(), *cpu = it_backend_cpu();
    float *yr = FALLOC(nout), *y1 = FALLOC(nout), *y2 = FALLOC(nout), *y3 = FALLOC(nout);
    for (size_t i = 0; i < nout; i++)
        yr[i] = y1[i] = y2[i] = y3[i] = NAN;
    CALL(run(ref, c, yr));
    it_kernels_set_threads(1);
    CALL(run(cpu, c, y1));
    it_kernels_set_threads(2);
    CALL(run(cpu, c, y2));
    it_kernels_set_threads(3);
    CALL(run(cpu, c, y3));
    it_kernels_set_threads(0);
    double e2 = rel_l2(yr, y1, nout), em = rel_max(yr, y1, nout);
    CHECK(e2 <= tol && em <= tol, "%s: relL2 %.3g relmax %.3g > tol %.3g", name, e2, em, tol);
    CHECK(!memcmp(y1, y2, sizeof(float) * nout), "%s: 1 and 2 threads differ", name);
    CHECK(!memcmp(y1, y3, sizeof(float) * nout), "%s: 1 and 3 threads differ", name);
    free(y3);
    printf("%-34s n=%-7zu relL2=%.2e relmax=%.2e tol=%.0e\n", name, nout, e2, em, tol);
    free(yr), free(y1), free(y2);
}

static void test_conv(const char *name, it_conv3d_params p)
{
    int to, ho, wo;
    CALL(it_conv3d_out_shape(&p, &to, &ho, &wo));
    size_t nx = (size_t)p.ci * p.t * p.h * p.w, nw = (size_t)p.co * p.ci * p.kt * p.kh * p.kw;
    float *x = rnd(nx, -1, 1), *w = rnd(nw, -0.5f, 0.5f), *b = rnd(p.co, -1, 1);
    struct opcase c = {.op = IT_OP_CONV3D, .cp = p, .in = {x, w, b}};
    compare(name, &c, (size_t)p.co * to * ho * wo, TOL_SUM);
    c.in[2] = NULL; /* no bias */
    compare(name, &c, (size_t)p.co * to * ho * wo, TOL_SUM);
    free(x), free(w), free(b);
}

static void conv_cases(void)
{
    /* CausalConv3d k(1,3,3) pad 1; T = 1 */
    test_conv("conv3d k133 pad1", (it_conv3d_params){5, 7, 3, 9, 11, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1});
    test_conv("conv3d k133 pad1 T=1", (it_conv3d_params){3, 4, 1, 1, 1, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1});
    /* CausalConv3d k(3,1,1): 2 replicated first frames; T = 1 reads frame 0 three times */
    test_conv("conv3d k311 tpad2", (it_conv3d_params){13, 17, 4, 5, 6, 3, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0});
    test_conv("conv3d k311 tpad2 T=1", (it_conv3d_params){9, 5, 1, 3, 7, 3, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0});
    /* the temporal downsample: stride 2 in time, 1 + 1 replicated frames */
    test_conv("conv3d k311 st2", (it_conv3d_params){6, 9, 5, 4, 3, 3, 1, 1, 2, 1, 1, 2, 0, 0, 0, 0});
    /* the spatial downsample: stride 2, zero pad bottom/right only */
    test_conv("conv3d k133 s2 pad br", (it_conv3d_params){7, 5, 2, 10, 14, 1, 3, 3, 1, 2, 2, 0, 0, 1, 0, 1});
    /* 1x1x1 = plain GEMM; K > KC (256) and Co > MC (120), positions > NC */
    test_conv("conv3d k111 gemm", (it_conv3d_params){300, 130, 1, 7, 37, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0});
    /* general im2col with K = 360 > KC, Co > MC, odd sizes */
    test_conv("conv3d k133 big", (it_conv3d_params){40, 125, 2, 6, 45, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1});
    /* a full 3x3x3 kernel with everything at once */
    test_conv("conv3d k333 mixed", (it_conv3d_params){4, 3, 3, 5, 7, 3, 3, 3, 2, 1, 2, 1, 2, 0, 1, 3});
}

static void norm_cases(void)
{
    const int sizes[][3] = {{5, 3, 37}, {130, 1, 300}, {3, 2, 1}};
    for (int i = 0; i < 3; i++)
        for (int silu = 0; silu < 2; silu++) {
            int c = sizes[i][0], t = sizes[i][1], hw = sizes[i][2];
            size_t n = (size_t)c * t * hw;
            float *x = rnd(n, -3, 5), *g = rnd(c, 0.5f, 1.5f), *b = rnd(c, -1, 1);
            struct opcase oc = {.op = IT_OP_GROUPNORM, .n = {c, t, hw, silu}, .f = 1e-6f, .in = {x, g, b}};
            compare(silu ? "groupnorm+silu" : "groupnorm", &oc, n, TOL_ELEM);
            free(x), free(g), free(b);
        }
    size_t n = 10007; /* more than one elementwise block, not a multiple of the vector */
    float *a = rnd(n, -20, 20), *b = rnd(n, -1, 1);
    compare("silu", &(struct opcase){.op = IT_OP_SILU, .n = {(int)n}, .in = {a}}, n, TOL_ELEM);
    compare("add", &(struct opcase){.op = IT_OP_ADD, .n = {(int)n}, .in = {a, b}}, n, 0);
    compare("scale", &(struct opcase){.op = IT_OP_SCALE, .n = {(int)n}, .f = -0.37f, .in = {a}}, n, 0);
    free(a), free(b);
    const int rs[][2] = {{13, 37}, {1, 256}, {40, 5}};
    for (int i = 0; i < 3; i++) {
        float *x = rnd((size_t)rs[i][0] * rs[i][1], -2, 2), *w = rnd(rs[i][1], 0.5f, 1.5f);
        compare("rmsnorm", &(struct opcase){.op = IT_OP_RMSNORM, .n = {rs[i][0], rs[i][1]}, .f = 1e-5f, .in = {x, w}},
                (size_t)rs[i][0] * rs[i][1], TOL_ELEM);
        free(x), free(w);
    }
}

static void resample_cases(void)
{
    /* avgpool (1,2,2) on odd sizes (floor), (2,1,1) with the downsample's 1-frame pad */
    const int ap[][8] = {{3, 3, 7, 9, 1, 2, 2, 0}, {5, 5, 4, 3, 2, 1, 1, 1}, {2, 1, 3, 3, 2, 1, 1, 1}};
    for (int i = 0; i < 3; i++) {
        const int *a = ap[i];
        float *x = rnd((size_t)a[0] * a[1] * a[2] * a[3], -1, 1);
        struct opcase c = {.op = IT_OP_AVGPOOL, .in = {x}};
        memcpy(c.n, a, sizeof c.n);
        compare("avgpool", &c, (size_t)a[0] * ((a[1] + a[7]) / a[4]) * (a[2] / a[5]) * (a[3] / a[6]), 0);
        free(x);
    }
    float *x = rnd(3 * 4 * 5 * 7, -1, 1);
    compare("upsample_hw", &(struct opcase){.op = IT_OP_UPSAMPLE_HW, .n = {3, 4, 5, 7}, .in = {x}}, 3 * 4 * 10 * 14, 0);
    compare("upsample_t", &(struct opcase){.op = IT_OP_UPSAMPLE_T, .n = {3, 4, 35}, .in = {x}}, 3 * 7 * 35, 0);
    compare("upsample_t T=1", &(struct opcase){.op = IT_OP_UPSAMPLE_T, .n = {3, 1, 35}, .in = {x}}, 3 * 1 * 35, 0);
    free(x);
    x = rnd(3 * 5 * 6 * 10, -1, 1);
    compare("haar_fwd", &(struct opcase){.op = IT_OP_HAAR_FWD, .n = {5, 6, 10}, .in = {x}}, 24 * 3 * 3 * 5, 0);
    compare("haar_fwd T=1", &(struct opcase){.op = IT_OP_HAAR_FWD, .n = {1, 2, 4}, .in = {x}}, 24 * 1 * 1 * 2, 0);
    free(x);
    x = rnd(24 * 3 * 5 * 3, -1, 1);
    compare("haar_inv", &(struct opcase){.op = IT_OP_HAAR_INV, .n = {3, 5, 3}, .in = {x}}, 3 * 5 * 10 * 6, 0);
    compare("haar_inv t=1", &(struct opcase){.op = IT_OP_HAAR_INV, .n = {1, 5, 3}, .in = {x}}, 3 * 1 * 10 * 6, 0);
    free(x);
}

static void attn_cases(void)
{
    /* CNN mid-block: [C][T][HW]; hw not a multiple of the query/key tiles, T = 1 */
    const int sp[][3] = {{12, 2, 37}, {64, 1, 130}, {5, 3, 1}, {33, 1, 200}};
    for (int i = 0; i < 4; i++) {
        size_t n = (size_t)sp[i][0] * sp[i][1] * sp[i][2];
        float *q = rnd(n, -2, 2), *k = rnd(n, -2, 2), *v = rnd(n, -1, 1);
        struct opcase c = {.op = IT_OP_ATTN_SPATIAL, .n = {sp[i][0], sp[i][1], sp[i][2]}, .in = {q, k, v}};
        compare("attn_spatial", &c, n, TOL_SUM);
        c.op = IT_OP_ATTN_TEMPORAL;
        compare("attn_temporal", &c, n, TOL_SUM);
        free(q), free(k), free(v);
    }
    const int tp[][3] = {{20, 7, 19}, {7, 9, 3}};
    for (int i = 0; i < 2; i++) {
        size_t n = (size_t)tp[i][0] * tp[i][1] * tp[i][2];
        float *q = rnd(n, -2, 2), *k = rnd(n, -2, 2), *v = rnd(n, -1, 1);
        compare("attn_temporal", &(struct opcase){.op = IT_OP_ATTN_TEMPORAL, .n = {tp[i][0], tp[i][1], tp[i][2]}, .in = {q, k, v}},
                n, TOL_SUM);
        free(q), free(k), free(v);
    }
    /* ViT: s, nh, hd, hw (tokens per frame); hw >= s is unmasked, hw = 1 is token-causal */
    const int mh[][4] = {{111, 3, 8, 37}, {150, 2, 20, 150}, {70, 1, 8, 1}, {200, 4, 8, 16}, {5, 2, 4, 2}};
    for (int i = 0; i < 5; i++) {
        size_t n = (size_t)mh[i][0] * mh[i][1] * mh[i][2];
        float *q = rnd(n, -3, 3), *k = rnd(n, -3, 3), *v = rnd(n, -1, 1);
        compare("mha block-causal", &(struct opcase){.op = IT_OP_MHA, .n = {mh[i][0], mh[i][1], mh[i][2], mh[i][3]}, .in = {q, k, v}},
                n, TOL_SUM);
        free(q), free(k), free(v);
    }
    /* RoPE with a random (cos, sin) = rotation table */
    int s = 37, nh = 3, hd = 8;
    float *x = rnd((size_t)s * nh * hd, -2, 2), *cs = FALLOC(s * hd / 2), *sn = FALLOC(s * hd / 2);
    for (int i = 0; i < s * hd / 2; i++) {
        float a = rng_uniform(-10, 10);
        cs[i] = cosf(a), sn[i] = sinf(a);
    }
    compare("rope2d", &(struct opcase){.op = IT_OP_ROPE2D, .n = {s, nh, hd}, .in = {x, cs, sn}}, (size_t)s * nh * hd, TOL_ELEM);
    free(x), free(cs), free(sn);
}

static void linear_cases(void)
{
    const int ln[][3] = {{37, 300, 45}, {130, 19, 257}, {1, 256, 768}, {300, 8, 5}};
    for (int i = 0; i < 4; i++) {
        int s = ln[i][0], k = ln[i][1], n = ln[i][2];
        float *x = rnd((size_t)s * k, -1, 1), *w = rnd((size_t)n * k, -0.5f, 0.5f), *b = rnd(n, -1, 1);
        struct opcase c = {.op = IT_OP_LINEAR, .n = {s, k, n}, .in = {x, w, i % 2 ? NULL : b}};
        compare("linear", &c, (size_t)s * n, TOL_SUM);
        free(x), free(w), free(b);
    }
    /* s = 1030 crosses the cpu version's 1024-row chunk */
    const int sw[][3] = {{37, 24, 50}, {1030, 8, 12}};
    for (int i = 0; i < 2; i++) {
        int s = sw[i][0], d = sw[i][1], f = sw[i][2];
        float *x = rnd((size_t)s * d, -1, 1), *w1 = rnd((size_t)f * d, -0.5f, 0.5f),
              *w3 = rnd((size_t)f * d, -0.5f, 0.5f), *w2 = rnd((size_t)d * f, -0.5f, 0.5f);
        compare("swiglu", &(struct opcase){.op = IT_OP_SWIGLU, .n = {s, d, f}, .in = {x, w1, w3, w2}}, (size_t)s * d, TOL_SUM);
        free(x), free(w1), free(w3), free(w2);
    }
}

static void token_cases(void)
{
    size_t nt = 3 * 5 * 7;
    float *z = rnd(6 * nt, -3, 3);
    compare("fsq", &(struct opcase){.op = IT_OP_FSQ, .n = {(int)nt}, .in = {z}}, 13 * nt, 0);
    for (size_t i = 0; i < nt; i++)
        z[i] = (float)(rng_next() % IT_FSQ_CODES);
    compare("fsq_decode", &(struct opcase){.op = IT_OP_FSQ_DECODE, .n = {(int)nt}, .in = {z}}, 6 * nt, 0);
    free(z);
    int t = 3, h = 2, w = 3;
    size_t npx = 3 * (size_t)(4 * t - 3) * 8 * h * 8 * w;
    float *x = rnd(npx, -1, 1), *r = rnd(npx, -1, 1);
    compare("elbo_map", &(struct opcase){.op = IT_OP_ELBO_MAP, .n = {t, h, w}, .in = {x, r}}, (size_t)t * h * w, 0);
    free(x), free(r);
    float *loss = rnd(nt, 0, 1);
    compare("mask", &(struct opcase){.op = IT_OP_MASK, .n = {(int)nt}, .f = 0.5f, .in = {loss}}, nt + 2, 0);
    free(loss);
}

int main(void)
{
    const it_backend *cpu = it_backend_cpu();
    for (int op = 0; op < IT_OP_COUNT; op++)
        CHECK(cpu->supports(op) && it_backend_ref()->supports(op), "op %s unsupported", it_op_name(op));
    /* the SIMD-dependent ops once per variant this CPU has (IT_KERNELS_ISA caps the choice;
     * "best" is the default): the x86 build carries base, AVX2 and AVX-512 code */
    const char *caps[] = {"base", "avx2", NULL};
    for (int i = 0; i < 3; i++) {
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
    resample_cases();
    token_cases();
    return report("test_ops");
}
