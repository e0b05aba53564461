/* test_model: the C network against the PyTorch reference (tests/model/infotok_ref.py) on
 * the committed tiny fixture: one window of real footage (tree.avi) through a seeded
 * random model, every stage compared, on the ref and cpu backends.
 *
 * Tolerances. Floats: 1e-4 times max(1, the tensor's largest magnitude). The reference is
 * fp32 PyTorch; its own distance to an fp64 run is at most 1.6e-5 on O(1) values
 * (tests/model/README.md), and an fp32 engine with another summation order lands in the same
 * range, so 1e-4 leaves a margin of ~6x while still catching any real mistake (a wrong op is
 * off by 1e-1 or more). Later stages are fed the reference's own codes and masks, so one
 * flipped token cannot hide or amplify an error downstream.
 * Tokens: FSQ rounding turns noise into a different token, so a token with a bounded value
 * within 1e-3 of a rounding boundary (x.5) may differ; every other token must be equal, and
 * at most 1% of the tokens may flip. Masks likewise, for losses within 1e-5 (relative) of the
 * quantile bound. The tiny fixture has margins of 6.1e-4 and 9.4e-4, so there all must match.
 * uint8 frames: a value whose float sits on a .5 boundary may round either way, so at most
 * 0.1% of values may differ, by 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/core.h"
#include "infotok/model.h"
#include "model_internal.h"

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static const float FLOAT_TOL = 1e-4f;
/* bf16 against fp32, whole network, on these fixtures. The official code's bf16 run agrees
 * with its fp32 run on ~92% of indices, mask IoU ~0.96-0.99, reconstructions ~35-40 dB apart
 * (issue #17; our official-configuration figures: man/infotok-precision.7). The tiny random
 * fixtures are harsher: their latents were calibrated to spread over every FSQ level
 * (tests/model/README.md), and bf16 moves their bounded values by up to 0.23 (measured 0.224
 * and 0.227), so any token with a channel within that of a half-integer may flip: measured
 * 76% and 80% of indices equal, mask IoU 1.0 and 0.935, decodes 50 dB apart. The bounds:
 * every flipped token must have been within BF16_BOUNDED_DELTA of a boundary (a wrong op
 * flips tokens anywhere), and the agreement must stay near what was measured. */
#define PRECISION_MIN_EQUAL 0.65
#define PRECISION_MIN_IOU 0.85
#define PRECISION_MIN_PSNR 40.0
#define BF16_BOUNDED_DELTA 0.25
/* cpu bf16 against ref bf16: the same rounding points, fp32 sums in another order, so an
 * activation differs by 1 bf16 ulp now and then and the difference travels through the
 * network like the bf16 noise itself, only smaller: measured 98.6% and 94.2% equal, IoU 1.0
 * and 0.967. */
#define CROSS_MIN_EQUAL 0.85
#define CROSS_MIN_IOU 0.90
/* Token buffers for the thread comparison: the tiny fixture has 72. */
#define IT_STREAM_TOKENS_MAX_TEST 4096

static it_weights *io;

static const it_tensor_view *fixture(const char *name)
{
    const it_tensor_view *t = it_weights_find(io, name);
    if (!t) {
        fprintf(stderr, "fixture tensor '%s' missing\n", name);
        exit(99);
    }
    return t;
}

static float *fixture_f32(const char *name, int64_t *n)
{
    const it_tensor_view *t = fixture(name);
    float *v = malloc(sizeof(float) * (size_t)t->numel);
    if (!v || it_tensor_to_f32(t, v) < 0)
        exit(99);
    *n = t->numel;
    return v;
}

static void compare(const char *what, const float *got, const char *name, size_t n)
{
    int64_t m;
    float *want = fixture_f32(name, &m);
    CHECK((size_t)m == n, "%s: %zu values, fixture has %lld", what, n, (long long)m);
    double worst = 0, scale = 1;
    for (size_t i = 0; i < n && i < (size_t)m; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= worst))
            worst = isnan(d) ? INFINITY : d;
        if (fabs(want[i]) > scale)
            scale = fabs(want[i]);
    }
    CHECK(worst <= FLOAT_TOL * scale, "%s: max abs error %.3g > %.1g (values up to %.3g)", what, worst,
          FLOAT_TOL * scale, scale);
    printf("  %-18s max abs error %.2g (values up to %.2g)\n", what, worst, scale);
    free(want);
}

/* The fixture's window through the pipeline entry points: tokenize must give the fixture's
 * indices (all: this fixture has no token near a boundary) and its ELBO map, detokenize of the
 * fixture's indices and masks its uint8 frames (cropped; +-1 on at most 0.1%, as above). */
static void pipeline(it_model *m, const char *backend, int T, int H, int W, const it_pad *pad)
{
    int t, h, w;
    it_model_latent_shape(m, T, H, W, &t, &h, &w);
    const size_t nt = (size_t)t * h * w, npix = (size_t)T * H * W * 3;
    uint16_t *idx = malloc(nt * sizeof *idx);
    float *elbo = malloc(nt * sizeof *elbo);
    uint8_t *rgb = malloc(npix), *crop = malloc(npix);
    if (!idx || !elbo || !rgb || !crop)
        exit(99);
    CHECK(it_model_tokenize(m, 1, T, H, W, fixture("input_u8")->data, idx, elbo) == 0, "%s tokenize: %s", backend,
          it_error_message());
    const int32_t *ref_idx = fixture("indices")->data;
    size_t differ = 0;
    for (size_t i = 0; i < nt; i++)
        differ += idx[i] != (uint16_t)ref_idx[i];
    CHECK(differ == 0, "%s tokenize: %zu of %zu indices differ", backend, differ, nt);
    compare("tokenize ELBO map", elbo, "chunk_loss", nt);
    uint16_t *ref16 = malloc(nt * sizeof *ref16);
    for (size_t i = 0; i < nt; i++)
        ref16[i] = (uint16_t)ref_idx[i];
    static const char *rates[] = {NULL, "1", "0.25"};
    for (int r = 0; r < 3; r++) {
        char name[32], fname[32];
        const uint8_t *keep = NULL;
        if (rates[r]) {
            snprintf(name, sizeof name, "mask_%s", rates[r]);
            keep = fixture(name)->data;
        }
        snprintf(fname, sizeof fname, rates[r] ? "frames_%s" : "frames", rates[r]);
        CHECK(it_model_detokenize(m, 1, t, h, w, ref16, keep, rgb) == 0, "%s detokenize: %s", backend,
              it_error_message());
        const it_tensor_view *ff = fixture(fname);
        size_t k = 0, off = 0;
        for (int f = 0; f < pad->t; f++)
            for (int y = 0; y < pad->h; y++)
                for (int x = 0; x < pad->w * 3; x++, k++) {
                    int v = rgb[(((size_t)(f + pad->t0) * H + y + pad->h0) * W + pad->w0) * 3 + x];
                    int d = abs(v - ((const uint8_t *)ff->data)[k]);
                    CHECK(d <= 1, "%s detokenize %s value %zu off by %d", backend, fname, k, d);
                    off += d != 0;
                }
        CHECK(k == (size_t)ff->numel && off * 1000 <= k, "%s detokenize %s: %zu of %zu values differ", backend, fname,
              off, k);
        printf("  detokenize %-7s %zu of %zu uint8 values differ by 1\n", rates[r] ? rates[r] : "full", off, k);
    }
    uint16_t bad[1] = {IT_FSQ_CODES};
    CHECK(it_model_detokenize(m, 1, 1, 1, 1, bad, NULL, rgb) == IT_E_FORMAT, "index 64000 accepted");
    free(idx), free(elbo), free(rgb), free(crop), free(ref16);
}

static int run(const char *path, const char *backend, int threads, int32_t *idx_out)
{
    it_model *m = NULL;
    it_kernels_set_threads(threads);
    printf("backend %s, %d thread(s):\n", backend, threads);
    int rc = it_model_load(&m, path, backend);
    if (rc < 0) {
        fprintf(stderr, "load %s: %s\n", backend, it_error_message());
        return 99;
    }
    const it_tensor_view *in = fixture("input_u8");
    const int T = (int)in->shape[0], H = (int)in->shape[1], W = (int)in->shape[2];
    int t, h, w;
    CHECK(it_model_latent_shape(m, T, H, W, &t, &h, &w) == 0, "latent shape");
    const size_t npix = (size_t)3 * T * H * W, nt = (size_t)t * h * w;
    const size_t Z = (size_t)it_model_config(m)->z_channels;
    float *x = malloc(sizeof(float) * npix), *recon = malloc(sizeof(float) * npix);
    float *haar = malloc(sizeof(float) * 3 * (T + 1) * H * W), *cnn = malloc(sizeof(float) * Z * nt);
    float *vit = malloc(sizeof(float) * Z * nt), *lat = malloc(sizeof(float) * 6 * nt);
    float *codes = malloc(sizeof(float) * 6 * nt), *masked = malloc(sizeof(float) * 6 * nt);
    float *loss = malloc(sizeof(float) * nt);
    int32_t *idx = malloc(sizeof(int32_t) * nt);
    uint8_t *keep = malloc(nt), *frames = malloc(npix);
    if (!x || !recon || !haar || !cnn || !vit || !lat || !codes || !masked || !loss || !idx || !keep || !frames)
        return 99;
    it_pixels_from_u8(T, H, W, in->data, x);
    it_encode_taps taps = {haar, cnn, vit};
    int64_t nb;
    float *bounded = fixture_f32("bounded", &nb), *ref_codes = fixture_f32("codes", &nb);
    const int32_t *ref_idx = fixture("indices")->data;
    /* Twice: the second pass runs on the planned activation buffer. */
    for (int pass = 0; pass < 2; pass++) {
        CHECK(it_model_encode(m, T, H, W, x, lat, codes, idx, &taps) == 0, "%s encode: %s", backend, it_error_message());
        compare("patcher", haar, "patcher", (size_t)24 * ((T + 1) / 2) * (H / 2) * (W / 2));
        compare("CNN encoder", cnn, "z", Z * nt);
        compare("ViT encoder", vit, "vit_enc", Z * nt);
        compare("quant_conv", lat, "pre_fsq", 6 * nt);
        size_t flips = 0, near = 0;
        for (size_t i = 0; i < nt; i++) {
            int close = 0;
            for (int c = 0; c < 6; c++) {
                double b = bounded[c * nt + i], frac = b - floor(b);
                close |= fabs(frac - 0.5) < 1e-3;
            }
            near += close;
            if (idx[i] != ref_idx[i]) {
                flips++;
                CHECK(close, "%s: token %zu is %d, reference %d, and not near a rounding boundary",
                      backend, i, idx[i], ref_idx[i]);
            }
        }
        CHECK(flips * 100 <= nt, "%s: %zu of %zu tokens flipped", backend, flips, nt);
        if (pass == 0)
            printf("  tokens             %zu of %zu differ (%zu near a rounding boundary)\n", flips, nt, near);
        /* Decode the reference's codes: the decoder is checked on its own. */
        CHECK(it_model_decode(m, t, h, w, ref_codes, recon) == 0, "%s decode: %s", backend, it_error_message());
        compare("full-rate decode", recon, "recon", npix);
    }
    /* the ELBO map op through a context of the model's backend (on its device memory when it
     * has its own: the cuda backend under tests/gpu/check.sh) */
    it_ctx *ctx;
    it_ctx_opts co = {IT_PRECISION_FP32, 0, threads};
    if (it_ctx_open(it_model_backend(m), &co, &ctx) < 0)
        return 99;
    if (ctx->be->host_memory) {
        CHECK(ctx->be->elbo_map(ctx, 1, t, h, w, x, recon, loss) == 0, "elbo_map");
    } else {
        void *dx = NULL, *dr = NULL, *dl = NULL;
        const it_backend *be = ctx->be;
        CHECK(be->alloc(ctx, sizeof(float) * npix, &dx) == 0 && be->alloc(ctx, sizeof(float) * npix, &dr) == 0 &&
                  be->alloc(ctx, sizeof(float) * nt, &dl) == 0 && be->upload(ctx, dx, x, sizeof(float) * npix) == 0 &&
                  be->upload(ctx, dr, recon, sizeof(float) * npix) == 0 &&
                  be->elbo_map(ctx, 1, t, h, w, dx, dr, dl) == 0 && be->download(ctx, loss, dl, sizeof(float) * nt) == 0,
              "elbo_map on %s: %s", be->name, it_error_message());
        be->free(ctx, dx), be->free(ctx, dr), be->free(ctx, dl);
    }
    it_ctx_close(&ctx);
    compare("chunk_loss", loss, "chunk_loss", nt);

    /* uint8 frames of the full-rate decode, cropped to the source clip. */
    const it_tensor_view *crop = fixture("crop");
    int32_t c6[6];
    memcpy(c6, crop->data, sizeof c6);
    it_pad pad = {c6[3] - c6[0], c6[4] - c6[1], c6[5] - c6[2], T, H, W, c6[0], c6[1], c6[2]};
    it_pixels_to_u8(T, H, W, recon, &pad, frames);
    const it_tensor_view *ff = fixture("frames");
    size_t off = 0;
    for (int64_t i = 0; i < ff->numel; i++) {
        int d = abs((int)frames[i] - ((const uint8_t *)ff->data)[i]);
        CHECK(d <= 1, "frame value %lld off by %d", (long long)i, d);
        off += d != 0;
    }
    CHECK(off * 1000 <= (size_t)ff->numel, "%zu of %lld frame values differ", off, (long long)ff->numel);

    static const char *rates[] = {"1", "0.75", "0.5", "0.25"};
    for (int r = 0; r < 4; r++) {
        char name[32];
        size_t kept, differ = 0;
        float bound;
        CHECK(it_quantile_mask(nt, loss, (float)atof(rates[r]), keep, &kept, &bound) == 0, "mask");
        snprintf(name, sizeof name, "mask_%s", rates[r]);
        const uint8_t *ref_keep = fixture(name)->data;
        for (size_t i = 0; i < nt; i++)
            if (keep[i] != ref_keep[i]) {
                differ++;
                CHECK(fabsf(loss[i] - bound) <= 1e-5f * (1 + fabsf(bound)),
                      "%s: %s token %zu differs away from the bound", backend, name, i);
            }
        CHECK(differ * 100 <= nt, "%s: %s: %zu of %zu tokens differ", backend, name, differ, nt);
        for (size_t i = 0; i < nt; i++)
            for (int c = 0; c < 6; c++)
                masked[c * nt + i] = ref_keep[i] ? ref_codes[c * nt + i] : 0.0f;
        CHECK(it_model_decode(m, t, h, w, masked, recon) == 0, "masked decode");
        snprintf(name, sizeof name, "recon_%s", rates[r]);
        compare(name, recon, name, npix);
    }
    pipeline(m, backend, T, H, W, &pad);
    free(bounded);
    free(ref_codes);
    if (idx_out)
        memcpy(idx_out, idx, nt * sizeof(int32_t));
    free(x); free(recon); free(haar); free(cnn); free(vit); free(lat); free(codes);
    free(masked); free(loss); free(idx); free(keep); free(frames);
    it_model_free(&m);
    return 0;
}

/* Three windows (the fixture's and two variants of it) in one tokenize/detokenize call equal
 * the three run alone, bit for bit: samples never mix, and nothing depends on the batch. */
static void batch_case(const char *weights, const char *backend, int precision)
{
    it_model *m = NULL;
    it_model_opts o = {.backend = backend, .precision = precision, .max_batch = 3};
    if (it_model_load_opts(&m, weights, &o) < 0) {
        fprintf(stderr, "load %s: %s\n", backend, it_error_message());
        exit(99);
    }
    const it_tensor_view *in = fixture("input_u8");
    const int T = (int)in->shape[0], H = (int)in->shape[1], W = (int)in->shape[2];
    int t, h, w;
    it_model_latent_shape(m, T, H, W, &t, &h, &w);
    const size_t npix = (size_t)T * H * W * 3, nt = (size_t)t * h * w;
    uint8_t *rgb = malloc(3 * npix), *out3 = malloc(3 * npix), *out1 = malloc(3 * npix), *keep = malloc(3 * nt);
    uint16_t *idx3 = malloc(3 * nt * 2), *idx1 = malloc(3 * nt * 2);
    float *e3 = malloc(3 * nt * 4), *e1 = malloc(3 * nt * 4);
    if (!rgb || !out3 || !out1 || !keep || !idx3 || !idx1 || !e3 || !e1)
        exit(99);
    const uint8_t *src = in->data;
    for (size_t i = 0; i < npix; i++) {
        rgb[i] = src[i];
        rgb[npix + i] = (uint8_t)(255 - src[i]);
        rgb[2 * npix + i] = src[(i + 3 * W) % npix]; /* shifted by a row */
    }
    CHECK(it_model_tokenize(m, 3, T, H, W, rgb, idx3, e3) == 0, "tokenize n=3: %s", it_error_message());
    for (int b = 0; b < 3; b++)
        CHECK(it_model_tokenize(m, 1, T, H, W, rgb + b * npix, idx1 + b * nt, e1 + b * nt) == 0, "tokenize: %s",
              it_error_message());
    CHECK(!memcmp(idx3, idx1, 3 * nt * 2) && !memcmp(e3, e1, 3 * nt * 4), "%s %s: tokenize n=3 differs from 3 x n=1",
          backend, it_precision_name(precision));
    for (size_t i = 0; i < 3 * nt; i++)
        keep[i] = (uint8_t)(i % 3 != 1);
    CHECK(it_model_detokenize(m, 3, t, h, w, idx3, keep, out3) == 0, "detokenize n=3: %s", it_error_message());
    for (int b = 0; b < 3; b++)
        CHECK(it_model_detokenize(m, 1, t, h, w, idx3 + b * nt, keep + b * nt, out1 + b * npix) == 0,
              "detokenize: %s", it_error_message());
    CHECK(!memcmp(out3, out1, 3 * npix), "%s %s: detokenize n=3 differs from 3 x n=1", backend,
          it_precision_name(precision));
    CHECK(it_model_tokenize(m, 4, T, H, W, rgb, idx3, e3) == IT_E_INVALID, "a batch over max_batch accepted");
    printf("batch of 3 = 3 single windows, bit for bit: %s %s\n", backend, it_precision_name(precision));
    free(rgb), free(out3), free(out1), free(keep), free(idx3), free(idx1), free(e3), free(e1);
    it_model_free(&m);
}

/* Mask IoU of two keep vectors (1 when both keep nothing). */
static double iou(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t both = 0, any = 0;
    for (size_t i = 0; i < n; i++)
        both += a[i] && b[i], any += a[i] || b[i];
    return any ? (double)both / any : 1.0;
}

/* PSNR (dB) between two uint8 buffers (inf when equal). */
static double psnr(const uint8_t *a, const uint8_t *b, size_t n)
{
    double se = 0;
    for (size_t i = 0; i < n; i++)
        se += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return se == 0 ? INFINITY : 10 * log10(255.0 * 255.0 * n / se);
}

/* The whole network in bf16 against fp32 on the fixture's window (cpu), and cpu bf16 against
 * ref bf16: indices equal, the r = 0.5 mask's IoU, and the PSNR between the two precisions'
 * decodes of the same (fp32) indices. Bounds: see PRECISION_* below. */
static void precision_case(const char *weights, const char *what)
{
    it_model *m[3] = {NULL, NULL, NULL}; /* cpu fp32, cpu bf16, ref bf16 */
    const char *be[3] = {"cpu", "cpu", "ref"};
    const int prec[3] = {IT_PRECISION_FP32, IT_PRECISION_BF16, IT_PRECISION_BF16};
    for (int i = 0; i < 3; i++) {
        it_model_opts o = {.backend = be[i], .precision = prec[i]};
        if (it_model_load_opts(&m[i], weights, &o) < 0) {
            fprintf(stderr, "load: %s\n", it_error_message());
            exit(99);
        }
    }
    const it_tensor_view *in = fixture("input_u8");
    const int T = (int)in->shape[0], H = (int)in->shape[1], W = (int)in->shape[2];
    int t, h, w;
    it_model_latent_shape(m[0], T, H, W, &t, &h, &w);
    const size_t nt = (size_t)t * h * w, npix = (size_t)T * H * W * 3;
    uint16_t *idx = malloc(3 * nt * 2);
    float *elbo = malloc(3 * nt * 4);
    uint8_t *keep = malloc(3 * nt), *rgb = malloc(2 * npix);
    if (!idx || !elbo || !keep || !rgb)
        exit(99);
    for (int i = 0; i < 3; i++) {
        CHECK(it_model_tokenize(m[i], 1, T, H, W, in->data, idx + i * nt, elbo + i * nt) == 0, "tokenize: %s",
              it_error_message());
        it_quantile_mask(nt, elbo + i * nt, 0.5f, keep + i * nt, NULL, NULL);
    }
    size_t same = 0, same_ref = 0;
    for (size_t i = 0; i < nt; i++)
        same += idx[i] == idx[nt + i], same_ref += idx[nt + i] == idx[2 * nt + i];
    for (int i = 0; i < 2; i++)
        CHECK(it_model_detokenize(m[i], 1, t, h, w, idx, NULL, rgb + i * npix) == 0, "detokenize: %s",
              it_error_message());
    /* the pre-FSQ latents of both precisions: how far bf16 moves the bounded values, and
     * whether every flipped token was within that distance of a rounding boundary */
    float *x = malloc(sizeof(float) * npix), *lat = malloc(sizeof(float) * 12 * nt);
    if (!x || !lat)
        exit(99);
    it_pixels_from_u8(T, H, W, in->data, x);
    for (int i = 0; i < 2; i++)
        CHECK(it_model_encode(m[i], T, H, W, x, lat + i * 6 * nt, NULL, NULL, NULL) == 0, "encode: %s",
              it_error_message());
    double worst = 0;
    size_t unexplained = 0;
    for (size_t i = 0; i < nt; i++) {
        double margin = INFINITY;
        for (int c = 0; c < 6; c++) {
            int L = it_fsq_levels[c];
            double hl = (L - 1) * 1.001 / 2, off = L % 2 ? 0 : 0.5, sh = atanh(off / hl);
            double b0 = tanh(lat[c * nt + i] + sh) * hl - off, b1 = tanh(lat[6 * nt + c * nt + i] + sh) * hl - off;
            double d = fabs(b0 - b1), frac = b0 - floor(b0);
            worst = d > worst ? d : worst;
            margin = fmin(margin, fabs(frac - 0.5));
        }
        if (idx[i] != idx[nt + i] && margin > BF16_BOUNDED_DELTA)
            unexplained++;
    }
    printf("%s bf16 moves bounded FSQ values by up to %.3f; %zu flipped tokens were further than %.2f from a boundary\n",
           what, worst, unexplained, BF16_BOUNDED_DELTA);
    CHECK(unexplained == 0, "%s: %zu tokens flipped in bf16 away from an FSQ rounding boundary", what, unexplained);
    free(x), free(lat);
    double p = psnr(rgb, rgb + npix, npix), io = iou(keep, keep + nt, nt), io_ref = iou(keep + nt, keep + 2 * nt, nt);
    printf("%s bf16 vs fp32 (cpu): %.1f%% of %zu indices equal, mask IoU %.3f at r = 0.5, decodes %.1f dB apart; "
           "cpu vs ref bf16: %.1f%% indices equal, mask IoU %.3f\n",
           what, 100.0 * same / nt, nt, io, p, 100.0 * same_ref / nt, io_ref);
    CHECK(same >= PRECISION_MIN_EQUAL * nt && io >= PRECISION_MIN_IOU && p >= PRECISION_MIN_PSNR,
          "%s: bf16 agrees with fp32 less than the official bf16 run agrees with its fp32 run", what);
    CHECK(same_ref >= CROSS_MIN_EQUAL * nt && io_ref >= CROSS_MIN_IOU, "%s: cpu bf16 differs from ref bf16", what);
    free(idx), free(elbo), free(keep), free(rgb);
    for (int i = 0; i < 3; i++)
        it_model_free(&m[i]);
}

/* test_model [WEIGHTS IO BACKEND]: by default the committed tiny fixture on every backend
 * and at 1 and 2 threads; with arguments, one weight file (e.g. a full-size official .pt)
 * against its reference outputs on one backend (tests/model/test_official.sh). */
int main(int argc, char **argv)
{
    char weights[4096], path[4096];
    const char *src = getenv("top_srcdir");
    snprintf(weights, sizeof weights, "%s/tests/model/fixtures/tiny.safetensors", src ? src : ".");
    snprintf(path, sizeof path, "%s/tests/model/fixtures/tiny_io.safetensors", src ? src : ".");
    if (argc == 4) {
        snprintf(weights, sizeof weights, "%s", argv[1]);
        snprintf(path, sizeof path, "%s", argv[2]);
    } else if (argc != 1) {
        fprintf(stderr, "usage: test_model [WEIGHTS IO BACKEND]\n");
        return 99;
    }
    if (it_weights_open(&io, path) < 0) {
        fprintf(stderr, "%s\n", it_error_message());
        return 99;
    }
    int rc;
    if (argc == 4) {
        rc = run(weights, argv[3], 2, NULL);
    } else {
        int32_t *a = calloc(IT_STREAM_TOKENS_MAX_TEST, sizeof *a), *b = calloc(IT_STREAM_TOKENS_MAX_TEST, sizeof *b);
        rc = run(weights, "ref", 1, NULL);
        if (!rc)
            rc = run(weights, "cpu", 1, a);
        if (!rc)
            rc = run(weights, "cpu", 2, b);
        if (!rc)
            CHECK(memcmp(a, b, sizeof(int32_t) * IT_STREAM_TOKENS_MAX_TEST) == 0, "tokens differ between 1 and 2 threads");
        if (!rc) {
            for (int p = 0; p < IT_PRECISION_COUNT; p++) {
                batch_case(weights, "ref", p);
                batch_case(weights, "cpu", p);
            }
            precision_case(weights, "tiny");
        }
        /* A second small configuration (tests/model/make_small2_fixture.py): two residual
         * blocks per level, multipliers [2,2,4], 3 heads, 1 + 3 transformer layers. */
        it_weights_close(&io);
        snprintf(weights, sizeof weights, "%s/tests/model/fixtures/small2.safetensors", src ? src : ".");
        snprintf(path, sizeof path, "%s/tests/model/fixtures/small2_io.safetensors", src ? src : ".");
        if (!rc && it_weights_open(&io, path) < 0) {
            fprintf(stderr, "%s\n", it_error_message());
            rc = 99;
        }
        if (!rc)
            rc = run(weights, "ref", 1, NULL);
        if (!rc)
            rc = run(weights, "cpu", 2, NULL);
        if (!rc)
            precision_case(weights, "small2");
        free(a);
        free(b);
    }
    it_weights_close(&io);
    if (rc)
        return rc;
    if (failures)
        fprintf(stderr, "%d checks failed\n", failures);
    return failures ? 1 : 0;
}
