/* test_ref.c: the oracle itself against tiny hand-computed cases: the Haar cube and its
 * inverse, FSQ saturation, zero code and half-to-even rounding, the mask's quantile, ties and
 * r = 1, the block-causal pattern, causal first-frame replication and padding in conv3d, the
 * ELBO pooling windows, per-frame GroupNorm, the temporal resamplers and RoPE. Where a case
 * is backend-independent it is run on the cpu backend too. Expected values are exact unless a
 * tolerance is given next to them. */
#include "tests/ops/ops_util.h"

static it_ctx *ctxs[2];

#define NEAR(a, b, tol) (fabs((double)(a) - (double)(b)) <= (tol))

static void haar_cases(it_ctx *ctx)
{
    /* x [3][3][2][2]; only rgb channel 1 nonzero; frame 1 and 2 form cube values 1..8 at
     * corner 4dt+2dy+dx; frame 0 is 10,20,30,40. */
    float x[3 * 3 * 4] = {0}, y[24 * 2 * 1 * 1], back[3 * 3 * 4];
    float *g = x + 1 * 12;
    for (int i = 0; i < 4; i++) {
        g[i] = 10.0f * (i + 1);
        g[4 + i] = (float)(1 + i);
        g[8 + i] = (float)(5 + i);
    }
    CALL(ctx->be->haar_fwd(ctx, 1, 3, 2, 2, x, y));
    /* band order lll, llh, lhl, lhh, hll, hlh, hhl, hhh (T,H,W); h = first minus second */
    const float cube[8] = {36 / 8.0f, -4 / 8.0f, -8 / 8.0f, 0, -16 / 8.0f, 0, 0, 0};
    const float first[8] = {100 / 8.0f * 2, -20 / 8.0f * 2, -40 / 8.0f * 2, 0, 0, 0, 0, 0};
    for (int band = 0; band < 8; band++)
        for (int rgb = 0; rgb < 3; rgb++) {
            float f0 = y[(band * 3 + rgb) * 2 + 0], f1 = y[(band * 3 + rgb) * 2 + 1];
            CHECK(f0 == (rgb == 1 ? first[band] : 0), "%s haar band %d rgb %d frame0 %g", ctx->be->name, band, rgb, f0);
            CHECK(f1 == (rgb == 1 ? cube[band] : 0), "%s haar band %d rgb %d frame1 %g", ctx->be->name, band, rgb, f1);
        }
    CALL(ctx->be->haar_inv(ctx, 1, 2, 1, 1, y, back));
    CHECK(!memcmp(x, back, sizeof x), "%s haar inverse does not restore the input", ctx->be->name);
    CHECK(ctx->be->haar_fwd(ctx, 1, 2, 2, 2, x, y) == IT_E_SHAPE, "%s haar_fwd accepted an even T", ctx->be->name);
}

/* Search near z0 for a latent whose bounded value is exactly target (channel c); 0 if none. */
static int find_exact(int c, float target, float z0, float *zout)
{
    float z = z0;
    for (int i = 0; i < 4096; i++)
        z = nextafterf(z, -INFINITY);
    for (int i = 0; i < 8192; i++, z = nextafterf(z, INFINITY)) {
        float zz[6] = {0}, b[6];
        zz[c] = z;
        ctxs[0]->be->fsq(ctxs[0], 1, 1, zz, b, NULL, NULL);
        if (b[c] == target) {
            *zout = z;
            return 1;
        }
    }
    return 0;
}

static void fsq_cases(it_ctx *ctx)
{
    float z[6 * 3], codes[6 * 3], b[6 * 3], dec[6 * 3];
    int32_t idx[3];
    for (int c = 0; c < 6; c++) {
        z[c * 3 + 0] = 0.0f;    /* the zero code */
        z[c * 3 + 1] = 100.0f;  /* saturated high */
        z[c * 3 + 2] = -100.0f; /* saturated low */
    }
    CALL(ctx->be->fsq(ctx, 1, 3, z, b, codes, idx));
    CHECK(idx[0] == IT_FSQ_ZERO_INDEX && idx[1] == IT_FSQ_CODES - 1 && idx[2] == 0,
          "%s fsq indices %d %d %d", ctx->be->name, idx[0], idx[1], idx[2]);
    for (int c = 0; c < 6; c++) {
        int L = it_fsq_levels[c];
        CHECK(codes[c * 3] == 0.0f, "%s fsq zero code ch %d: %g", ctx->be->name, c, codes[c * 3]);
        CHECK(codes[c * 3 + 1] == (L == 8 ? 0.75f : 1.0f), "%s fsq high ch %d: %g", ctx->be->name, c, codes[c * 3 + 1]);
        CHECK(codes[c * 3 + 2] == -1.0f, "%s fsq low ch %d: %g", ctx->be->name, c, codes[c * 3 + 2]);
        /* bounds: half_l - offset = 3.0035 / 2.002 and -half_l - offset (1e-5: tanh, fp32) */
        CHECK(NEAR(b[c * 3 + 1], L == 8 ? 3.0035 : 2.002, 1e-5), "%s fsq bound ch %d %g", ctx->be->name, c, b[c * 3 + 1]);
        CHECK(NEAR(b[c * 3 + 2], L == 8 ? -4.0035 : -2.002, 1e-5), "%s fsq bound ch %d %g", ctx->be->name, c, b[c * 3 + 2]);
    }
    CALL(ctx->be->fsq_decode(ctx, 1, 3, idx, NULL, dec));
    CHECK(!memcmp(dec, codes, sizeof dec), "%s fsq_decode does not invert fsq", ctx->be->name);
    int32_t bad = IT_FSQ_CODES;
    CHECK(ctx->be->fsq_decode(ctx, 1, 1, &bad, NULL, dec) == IT_E_FORMAT, "%s fsq_decode accepted 64000", ctx->be->name);
    /* half-to-even: a latent whose bounded value is exactly +-0.5 rounds to 0, +-1.5 to +-2
     * (L = 5 channel 3: no offset; L = 8 channel 0: offset 0.5, shift atanh(0.5/3.5035)) */
    const struct { int c; float target, qexp; } ties[] = {
        {3, 0.5f, 0}, {3, -0.5f, 0}, {3, 1.5f, 2}, {3, -1.5f, -2}, {0, 0.5f, 0}, {0, -1.5f, -2}, {0, 2.5f, 2}};
    int found = 0;
    for (size_t i = 0; i < sizeof ties / sizeof ties[0]; i++) {
        int c = ties[i].c, L = it_fsq_levels[c];
        double half_l = (L - 1) * 1.001 / 2, off = L % 2 ? 0 : 0.5;
        float zt;
        if (!find_exact(c, ties[i].target, (float)(atanh((ties[i].target + off) / half_l) - atanh(off / half_l)), &zt))
            continue;
        found++;
        float zz[6] = {0}, cd[6];
        zz[c] = zt;
        CALL(ctx->be->fsq(ctx, 1, 1, zz, NULL, cd, NULL));
        CHECK(cd[c] == ties[i].qexp / (L / 2), "%s fsq tie %g -> code %g, want %g", ctx->be->name, ties[i].target, cd[c],
              ties[i].qexp / (L / 2));
    }
    CHECK(found >= 3, "only %d exact half-way latents found", found);
}

static void mask_cases(void)
{
    uint8_t keep[10];
    size_t kept;
    float bound;
    /* distinct losses, r = 0.5: pos = 0.5*9 = 4.5 between sorted 5 and 6 -> bound 5.5; keep 5 */
    float l[10] = {3, 9, 1, 7, 5, 10, 2, 8, 4, 6};
    CALL(it_quantile_mask(10, l, 0.5f, keep, &kept, &bound));
    CHECK(kept == 5 && bound == 5.5f, "mask r=0.5: kept %zu bound %g", kept, bound);
    for (int i = 0; i < 10; i++)
        CHECK(keep[i] == (l[i] > 5.5f), "mask keep[%d]", i);
    /* r = 1 drops the minimum */
    CALL(it_quantile_mask(10, l, 1.0f, keep, &kept, &bound));
    CHECK(kept == 9 && bound == 1.0f && !keep[2], "mask r=1: kept %zu bound %g", kept, bound);
    /* r = 1 with a tied minimum drops both */
    float lt[5] = {2, 1, 3, 1, 4};
    CALL(it_quantile_mask(5, lt, 1.0f, keep, &kept, &bound));
    CHECK(kept == 3 && !keep[1] && !keep[3], "mask tied minimum: kept %zu", kept);
    /* ties at the bound are dropped (strict >): {1,2,2,2,3}, r = 0.5 -> bound 2, keep only 3 */
    float l2[5] = {2, 3, 2, 1, 2};
    CALL(it_quantile_mask(5, l2, 0.5f, keep, &kept, &bound));
    CHECK(kept == 1 && keep[1] && bound == 2.0f, "mask ties: kept %zu bound %g", kept, bound);
    /* lerp weight >= 0.5 uses b - (b - a)*(1 - w): r = 0.25, N = 5 -> pos 3, exact s[3] */
    float l3[5] = {0, 1, 2, 3, 4};
    CALL(it_quantile_mask(5, l3, 0.25f, keep, &kept, &bound));
    CHECK(kept == 1 && bound == 3.0f, "mask r=0.25: kept %zu bound %g", kept, bound);
    /* r = 0.3, N = 4: q = 0.7f, pos = 2.1f -> bound = 20 + w*10 (w = pos - 2, fp32) */
    float l4[4] = {30, 10, 0, 20}, q = 1.0f - 0.3f, pos = q * 3.0f, w = pos - 2.0f;
    CALL(it_quantile_mask(4, l4, 0.3f, keep, &kept, &bound));
    CHECK(kept == 1 && keep[0] && bound == 20.0f + w * 10.0f, "mask r=0.3: kept %zu bound %.9g", kept, bound);
    CHECK(it_quantile_mask(4, l4, 1.5f, keep, &kept, &bound) == IT_E_INVALID, "mask accepted r = 1.5");
    /* a NaN loss makes torch.quantile NaN, and nothing compares greater than NaN */
    float l5[3] = {1, NAN, 3};
    CALL(it_quantile_mask(3, l5, 0.5f, keep, &kept, &bound));
    CHECK(kept == 0 && isnan(bound) && !keep[0] && !keep[2], "mask with NaN: kept %zu", kept);
}

static void mha_cases(it_ctx *ctx)
{
    /* q = k = 0: uniform attention over the visible keys; v = identity, so out[i][j] is
     * 1/(visible count) exactly where j is visible. s = 6, hw = 2 (3 frames), 1 head, hd = 6. */
    enum { S = 6, HW = 2 };
    float q[S * S] = {0}, k[S * S] = {0}, v[S * S] = {0}, y[S * S];
    for (int i = 0; i < S; i++)
        v[i * S + i] = 1;
    CALL(ctx->be->mha(ctx, 1, S, 1, S, HW, q, k, v, y));
    for (int i = 0; i < S; i++) {
        int vis = (i / HW + 1) * HW;
        for (int j = 0; j < S; j++)
            CHECK(NEAR(y[i * S + j], j < vis ? 1.0 / vis : 0.0, 1e-6), "%s block-causal [%d][%d] = %g", ctx->be->name,
                  i, j, y[i * S + j]);
    }
    /* temporal causal on [C=1][T=3][HW=1]: keys 0..i; likewise uniform */
    float tq[3] = {0}, tk[3] = {0}, tv[3] = {3, 6, 9}, ty[3];
    CALL(ctx->be->attn_temporal(ctx, 1, 1, 3, 1, tq, tk, tv, ty));
    CHECK(NEAR(ty[0], 3, 1e-6) && NEAR(ty[1], 4.5, 1e-6) && NEAR(ty[2], 6, 1e-6), "%s temporal causal %g %g %g",
          ctx->be->name, ty[0], ty[1], ty[2]);
    /* spatial: per frame, [C=1][T=2][HW=2]: frames do not mix */
    float sq[4] = {0}, sk[4] = {0}, sv[4] = {1, 3, 10, 30}, sy[4];
    CALL(ctx->be->attn_spatial(ctx, 1, 1, 2, 2, sq, sk, sv, sy));
    CHECK(NEAR(sy[0], 2, 1e-6) && NEAR(sy[1], 2, 1e-6) && NEAR(sy[2], 20, 1e-5) && NEAR(sy[3], 20, 1e-5),
          "%s spatial per frame %g %g %g %g", ctx->be->name, sy[0], sy[1], sy[2], sy[3]);
}

static void conv_cases(it_ctx *ctx)
{
    /* k(3,1,1), tpad 2: frames 1, 10 -> out0 = w.(f0,f0,f0), out1 = w.(f0,f0,f1) */
    float x[2] = {1, 10}, w[3] = {1, 100, 10000}, y[9];
    it_conv3d_params p = {1, 1, 2, 1, 1, 3, 1, 1, 1, 1, 1, 2, 0, 0, 0, 0, 1};
    CALL(ctx->be->conv3d(ctx, &p, x, w, NULL, y));
    CHECK(y[0] == 10101 && y[1] == 100101, "%s causal conv %g %g", ctx->be->name, y[0], y[1]);
    /* k(1,3,3) of ones, pad 1, on a 3x3 of ones: corners 4, edges 6, centre 9 (+ bias 0.5) */
    float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, bias = 0.5f;
    it_conv3d_params q = {1, 1, 1, 3, 3, 1, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1, 1};
    CALL(ctx->be->conv3d(ctx, &q, ones, ones, &bias, y));
    const float want[9] = {4.5f, 6.5f, 4.5f, 6.5f, 9.5f, 6.5f, 4.5f, 6.5f, 4.5f};
    CHECK(!memcmp(y, want, sizeof want), "%s padded conv", ctx->be->name);
    /* the downsample: pad bottom/right by 1, stride 2: 4x4 of ones -> 2x2 of 9,6/6,4 */
    float x16[16];
    for (int i = 0; i < 16; i++)
        x16[i] = 1;
    it_conv3d_params d = {1, 1, 1, 4, 4, 1, 3, 3, 1, 2, 2, 0, 0, 1, 0, 1, 1};
    CALL(ctx->be->conv3d(ctx, &d, x16, ones, NULL, y));
    CHECK(y[0] == 9 && y[1] == 6 && y[2] == 6 && y[3] == 4, "%s downsample conv %g %g %g %g", ctx->be->name, y[0], y[1],
          y[2], y[3]);
    int to, ho, wo;
    it_conv3d_params bad = {1, 1, 1, 2, 2, 1, 3, 3, 1, 1, 1, 0, 0, 0, 0, 0, 1};
    CHECK(it_conv3d_out_shape(&bad, &to, &ho, &wo) == IT_E_SHAPE, "kernel larger than input accepted");
    it_conv3d_params non = q;
    non.n = 0;
    CHECK(it_conv3d_out_shape(&non, &to, &ho, &wo) == IT_E_SHAPE, "a conv of 0 samples accepted");
}

static void misc_cases(it_ctx *ctx)
{
    /* ELBO: T = 5, 8x8 -> t = 2, 1x1. |x - recon| = (f+1)*(c+1): channel mean 2(f+1);
     * latent 0 = frame 0 = 2; latent 1 = mean of frames 1..4 = 2*(2+3+4+5)/4 = 7 */
    float *x = FALLOC(3 * 5 * 64), *r = FALLOC(3 * 5 * 64), loss[2];
    for (int c = 0; c < 3; c++)
        for (int f = 0; f < 5; f++)
            for (int i = 0; i < 64; i++)
                r[(c * 5 + f) * 64 + i] = (i % 2 ? 1.0f : -1.0f) * (f + 1) * (c + 1);
    CALL(ctx->be->elbo_map(ctx, 1, 2, 1, 1, x, r, loss));
    CHECK(loss[0] == 2.0f && loss[1] == 7.0f, "%s elbo %g %g", ctx->be->name, loss[0], loss[1]);
    free(x), free(r);
    /* upsample_t: frames a,b,c -> a,b,b,c,c */
    float ut[3] = {1, 2, 3}, uo[5];
    CALL(ctx->be->upsample_t(ctx, 1, 3, 1, ut, uo));
    CHECK(uo[0] == 1 && uo[1] == 2 && uo[2] == 2 && uo[3] == 3 && uo[4] == 3, "%s upsample_t", ctx->be->name);
    /* avgpool (2,1,1) after prepending frame 0: 1,2,3 -> (1,1),(2,3) -> 1, 2.5 */
    float ao[2];
    CALL(ctx->be->avgpool(ctx, 1, 3, 1, 1, 2, 1, 1, 1, ut, ao));
    CHECK(ao[0] == 1 && ao[1] == 2.5f, "%s avgpool temporal %g %g", ctx->be->name, ao[0], ao[1]);
    /* GroupNorm per frame: frame 1 = 10x frame 0 normalises to the same values */
    float g[8] = {1, 2, 10, 20, 3, 4, 30, 40}, gy[8], gamma[2] = {1, 1}, beta[2] = {0, 0};
    CALL(ctx->be->groupnorm(ctx, 1, 2, 2, 2, g, gamma, beta, 0.0f, 0, gy));
    const double z = 1.0 / sqrt(1.25); /* values 1..4: mean 2.5, var 1.25 */
    CHECK(NEAR(gy[0], -1.5 * z, 1e-6) && NEAR(gy[2], -1.5 * z, 1e-6) && NEAR(gy[7], 1.5 * z, 1e-6) &&
              NEAR(gy[4], 0.5 * z, 1e-6) && NEAR(gy[5], 1.5 * z, 1e-6),
          "%s groupnorm per frame %g %g %g %g", ctx->be->name, gy[0], gy[2], gy[4], gy[7]);
    /* RoPE: a quarter turn maps (a, b) to (-b, a), per pair, per head */
    float rx[8] = {1, 2, 3, 4, 5, 6, 7, 8}, ry[8], rc[2] = {0, 1}, rs[2] = {1, 0};
    CALL(ctx->be->rope2d(ctx, 1, 2, 4, 1, 1, 1, rx, rc, rs, ry));
    const float rw[8] = {-2, 1, 3, 4, -6, 5, 7, 8};
    CHECK(!memcmp(ry, rw, sizeof rw), "%s rope2d", ctx->be->name);
    /* rope2d table rows: 2 frames of 2x3 tokens, table side 5: token r reads row y*5 + x of
     * its position (y, x) in its frame; a pair (1, 0) rotated by (c, s) becomes (c, s), so the
     * output names the row it read */
    float tx[12 * 2], ty2[12 * 2], tc[25], ts[25];
    for (int i = 0; i < 25; i++)
        tc[i] = (float)i, ts[i] = (float)(100 + i);
    for (int i = 0; i < 12; i++)
        tx[2 * i] = 1, tx[2 * i + 1] = 0;
    CALL(ctx->be->rope2d(ctx, 12, 1, 2, 6, 3, 5, tx, tc, ts, ty2));
    for (int i = 0; i < 12; i++) {
        int pos = i % 6, row = pos / 3 * 5 + pos % 3;
        CHECK(ty2[2 * i] == (float)row && ty2[2 * i + 1] == (float)(100 + row), "%s rope2d token %d read %g, row %d",
              ctx->be->name, i, ty2[2 * i], row);
    }
}

/* The ops that move data between layouts and in/out of the network. */
static void layout_cases(it_ctx *ctx)
{
    /* pixels: 0 -> -1, 255 -> 1, 128 -> 1/255 (x/255*2-1 in double, rounded once); out is
     * round half up of (y+1)/2*255, clamped; NaN -> 0 */
    uint8_t rgb[2 * 3] = {0, 255, 128, 1, 2, 3}, back[2 * 3];
    float x[2 * 3];
    CALL(ctx->be->pixels_in(ctx, 1, 1, 1, 2, rgb, x));
    /* x [3][2]: channel-major, so x[2] is pixel 0's green, x[4] its blue, x[3] pixel 1's green */
    CHECK(x[0] == -1.0f && x[2] == 1.0f && x[4] == (float)(128.0 / 255.0 * 2.0 - 1.0) && x[3] == (float)(2.0 / 255 * 2 - 1),
          "%s pixels_in %g %g %g %g", ctx->be->name, x[0], x[2], x[4], x[3]);
    CALL(ctx->be->pixels_out(ctx, 1, 1, 1, 2, x, back));
    CHECK(!memcmp(rgb, back, sizeof rgb), "%s pixels_out does not invert pixels_in", ctx->be->name);
    float y[3] = {-2.0f, NAN, 0.0f / 255.0f * 2 - 1 + 1.0f / 255.0f}; /* clamp, NaN, a .5 boundary */
    uint8_t o[3];
    CALL(ctx->be->pixels_out(ctx, 1, 1, 1, 1, y, o));
    CHECK(o[0] == 0 && o[1] == 0 && o[2] == (uint8_t)((y[2] + 1.0f) / 2.0f * 255.0f + 0.5f), "%s pixels_out %d %d %d",
          ctx->be->name, o[0], o[1], o[2]);
    /* transpose [2][2][3] -> [2][3][2] */
    float t[12], tt[12];
    for (int i = 0; i < 12; i++)
        t[i] = (float)i;
    CALL(ctx->be->transpose(ctx, 2, 2, 3, t, tt));
    const float tw[12] = {0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11};
    CHECK(!memcmp(tt, tw, sizeof tw), "%s transpose", ctx->be->name);
    /* add_rows: 2 samples of 4 tokens, 2 per frame, d = 1: rows 0,1 += e[0]; rows 2,3 += e[1] */
    float r[8] = {0}, e[2] = {10, 20};
    CALL(ctx->be->add_rows(ctx, 2, 4, 1, 2, e, r));
    const float rw[8] = {10, 10, 20, 20, 10, 10, 20, 20};
    CHECK(!memcmp(r, rw, sizeof rw), "%s add_rows", ctx->be->name);
    /* fsq_decode with keep: a dropped token is the zero code whatever its index */
    int32_t idx[2] = {0, 0};
    uint8_t keep[2] = {1, 0};
    float codes[12];
    CALL(ctx->be->fsq_decode(ctx, 1, 2, idx, keep, codes));
    for (int c = 0; c < 6; c++)
        CHECK(codes[c * 2] == -1.0f && codes[c * 2 + 1] == 0.0f, "%s fsq_decode keep ch %d: %g %g", ctx->be->name, c,
              codes[c * 2], codes[c * 2 + 1]);
}

/* bf16: the rounding itself, the constants, and an op's rounding point. */
static void bf16_cases(void)
{
    CHECK(it_bf16_from_f32(1.00390625f) == 0x3f80, "halfway between 1 and 1+2^-7 rounds to even 1");
    CHECK(it_bf16_from_f32(1.01171875f) == 0x3f82, "halfway rounds up to even");
    CHECK(it_bf16_from_f32(nextafterf(1.00390625f, 2.0f)) == 0x3f81, "just above halfway rounds up");
    CHECK(it_bf16_from_f32(-0.0f) == 0x8000 && it_bf16_from_f32(INFINITY) == 0x7f80, "-0 and inf");
    CHECK(it_bf16_from_f32(3.4028235e38f) == 0x7f80, "FLT_MAX, past the largest bf16, rounds to inf");
    CHECK((it_bf16_from_f32(NAN) & 0x7fc0) == 0x7fc0, "NaN stays a quiet NaN");
    CHECK(it_bf16_to_f32(0x3f80) == 1.0f && it_bf16_round(0.70710678f) == 0.70703125f, "1/sqrt2 -> 0.70703125");
    CHECK(it_haar_fwd_scale(IT_PRECISION_FP32) == 0.125f && it_haar_inv_scale(IT_PRECISION_FP32) == 1.0f,
          "fp32 Haar scales");
    const double a = 0.70703125;
    CHECK(it_haar_fwd_scale(IT_PRECISION_BF16) == (float)(a * a * a / (2 * sqrt(2.0))) &&
              it_haar_inv_scale(IT_PRECISION_BF16) == (float)(a * a * a * 2 * sqrt(2.0)),
          "bf16 Haar scales %.9g %.9g", it_haar_fwd_scale(IT_PRECISION_BF16), it_haar_inv_scale(IT_PRECISION_BF16));
    /* the pixel LUT rounds through fp32 as torch does; for the 256 values that equals a direct
     * rounding of the double (no double-rounding case) */
    for (int v = 0; v < 256; v++) {
        double d = (double)v / 255.0 * 2.0 - 1.0;
        float f = (float)d, lo = it_bf16_to_f32(it_bf16_from_f32(f));
        /* the nearest bf16 to d directly: compare the two neighbours of f's rounding */
        uint32_t u;
        memcpy(&u, &lo, 4);
        float nb_up, nb_dn;
        uint32_t uu = u + 0x10000, ud = u - 0x10000;
        memcpy(&nb_up, &uu, 4);
        memcpy(&nb_dn, &ud, 4);
        double e = fabs(d - lo);
        CHECK(lo == 0.0f || (e <= fabs(d - nb_up) && e <= fabs(d - nb_dn)), "pixel %d: bf16 %.9g is not the nearest", v,
              lo);
    }
    it_ctx *ref;
    it_ctx_opts o = {IT_PRECISION_BF16, 0, 0};
    if (it_ctx_open(it_backend_ref(), &o, &ref) < 0) {
        fprintf(stderr, "%s\n", it_error_message());
        exit(99);
    }
    /* linear in bf16: 1 + 2^-8 in fp32 inside the op (not rounded per product), rounded once:
     * x = (1, 2^-8), w = (1, 1): the fp32 sum 1.00390625 is a tie and rounds to even 1.0; the
     * same with x = (1, 2^-8 + 2^-9) (2^-9 + 2^-8 = 3/512, exact in bf16) rounds up */
    it_bf16 xb[2] = {it_bf16_from_f32(1.0f), it_bf16_from_f32(1.0f / 256)}, wb[2] = {0x3f80, 0x3f80}, yb;
    CALL(ref->be->linear(ref, 1, 2, 1, xb, wb, NULL, &yb));
    CHECK(yb == 0x3f80, "bf16 linear tie: %#x", yb);
    xb[1] = it_bf16_from_f32(3.0f / 512);
    CALL(ref->be->linear(ref, 1, 2, 1, xb, wb, NULL, &yb));
    CHECK(yb == 0x3f81, "bf16 linear above the tie: %#x", yb);
    /* pixels_in in bf16: 128 -> bf16(1/255) */
    uint8_t px[3] = {128, 0, 255};
    it_bf16 pb[3];
    CALL(ref->be->pixels_in(ref, 1, 1, 1, 1, px, pb));
    CHECK(pb[0] == it_bf16_from_f32((float)(128.0 / 255 * 2 - 1)) && pb[1] == 0xbf80 && pb[2] == 0x3f80,
          "bf16 pixels_in %#x %#x %#x", pb[0], pb[1], pb[2]);
    /* fsq in bf16: codes are exact (q/4, q/2) */
    it_bf16 z[6], codes[6];
    for (int c = 0; c < 6; c++)
        z[c] = it_bf16_from_f32(100.0f);
    int32_t idx;
    CALL(ref->be->fsq(ref, 1, 1, z, NULL, codes, &idx));
    CHECK(idx == IT_FSQ_CODES - 1 && codes[0] == it_bf16_from_f32(0.75f) && codes[5] == 0x3f80, "bf16 fsq");
    it_ctx_close(&ref);
}

int main(void)
{
    const it_backend *bes[2] = {it_backend_ref(), it_backend_cpu()};
    it_ctx_opts o = {IT_PRECISION_FP32, 0, 0};
    for (int i = 0; i < 2; i++)
        if (it_ctx_open(bes[i], &o, &ctxs[i]) < 0) {
            fprintf(stderr, "%s\n", it_error_message());
            return 99;
        }
    for (int i = 0; i < 2; i++) {
        haar_cases(ctxs[i]);
        fsq_cases(ctxs[i]);
        mha_cases(ctxs[i]);
        conv_cases(ctxs[i]);
        misc_cases(ctxs[i]);
        layout_cases(ctxs[i]);
    }
    mask_cases();
    bf16_cases();
    /* the registry */
    /* "cuda" is a module that a --enable-cuda build may find (it then names itself cuda) */
    const it_backend *cuda = it_backend_find("cuda");
    CHECK(it_backend_find("cpu") == it_backend_cpu() && it_backend_find("ref") == it_backend_ref() &&
              (!cuda || !strcmp(cuda->name, "cuda")) && !it_backend_find("nonesuch"),
          "backend lookup");
    CHECK(it_backend_register(it_backend_cpu()) == IT_E_INVALID, "duplicate backend registered");
    CHECK(it_backend_require(it_backend_cpu(), IT_OP_MHA, IT_PRECISION_BF16) == 0, "cpu lacks mha");
    CHECK(it_backend_require(it_backend_cpu(), IT_OP_COUNT, 0) == IT_E_INVALID, "unknown op accepted");
    CHECK(it_backend_require(it_backend_cpu(), IT_OP_MHA, 7) == IT_E_INVALID, "unknown precision accepted");
    CHECK(!strcmp(it_op_name(IT_OP_ELBO_MAP), "elbo_map") && !strcmp(it_op_name(IT_OP_ADD_ROWS), "add_rows") &&
              !it_op_name(-1) && !it_op_name(IT_OP_COUNT),
          "op names");
    int prec = -1;
    CHECK(it_precision_parse("bf16", &prec) == 0 && prec == IT_PRECISION_BF16 &&
              it_precision_parse("fp16", &prec) == IT_E_INVALID && !strcmp(it_precision_name(0), "fp32"),
          "precision names");
    it_ctx *bad;
    it_ctx_opts dev1 = {IT_PRECISION_FP32, 1, 0};
    CHECK(it_ctx_open(it_backend_cpu(), &dev1, &bad) == IT_E_UNSUPPORTED, "a host backend opened device 1");
    it_ctx_close(&ctxs[0]);
    it_ctx_close(&ctxs[1]);
    return report("test_ref");
}
