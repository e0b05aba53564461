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

#include "infotok.h"
#include "src/model.h"

static int failures;
#define CHECK(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static const float FLOAT_TOL = 1e-4f;
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
    const it_backend *be = it_model_backend(m);
    CHECK(be->elbo_map(t, h, w, x, recon, loss) == 0, "elbo_map");
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
        CHECK(be->mask(nt, loss, (float)atof(rates[r]), keep, &kept, &bound) == 0, "mask");
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
    free(bounded);
    free(ref_codes);
    if (idx_out)
        memcpy(idx_out, idx, nt * sizeof(int32_t));
    free(x); free(recon); free(haar); free(cnn); free(vit); free(lat); free(codes);
    free(masked); free(loss); free(idx); free(keep); free(frames);
    it_model_free(&m);
    return 0;
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
