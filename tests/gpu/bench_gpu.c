/* bench_gpu: frames per second of the engine on one backend: it_model_tokenize (encode + the
 * full-rate decode of the ELBO map, what it-encode runs per window) and it_model_detokenize
 * (the decode of it-decode), on n windows per call. Not a test: tests/gpu/check.sh runs it
 * beside the PyTorch reference (bench_torch_gpu.py) on the same GPU and reports the ratio.
 *
 *     bench_gpu WEIGHTS BACKEND PRECISION T H W BATCH REPS [DEVICE]
 *
 * Prints one JSON object. Both calls return host outputs, so each timed call includes its
 * transfers and ends synchronised; the first call (planning, allocation, cuBLAS start-up)
 * is timed apart. Pixels are a fixed pattern: the work does not depend on them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "infotok/infotok.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_gpu: %s: %s\n", what, it_error_message());
    return 3;
}

int main(int argc, char **argv)
{
    if (argc < 9 || argc > 10) {
        fprintf(stderr, "usage: bench_gpu WEIGHTS BACKEND PRECISION T H W BATCH REPS [DEVICE]\n");
        return 2;
    }
    int precision;
    if (it_precision_parse(argv[3], &precision) < 0)
        return fail("precision");
    const int T = atoi(argv[4]), H = atoi(argv[5]), W = atoi(argv[6]), batch = atoi(argv[7]), reps = atoi(argv[8]);
    if (batch < 1 || reps < 1)
        return 2;
    it_model_opts o = {.backend = argv[2], .device = argc > 9 ? atoi(argv[9]) : 0, .precision = precision,
                       .threads = 0, .max_batch = batch};
    it_model *m = NULL;
    double t0 = now();
    if (it_model_load_opts(&m, argv[1], &o) < 0)
        return fail("load");
    double load_s = now() - t0;
    int t, h, w;
    if (it_model_latent_shape(m, T, H, W, &t, &h, &w) < 0)
        return fail("window");
    const size_t npix = (size_t)batch * T * H * W * 3, nt = (size_t)batch * t * h * w;
    uint8_t *rgb = malloc(npix), *out = malloc((size_t)batch * (4 * t - 3) * 8 * h * 8 * w * 3);
    uint16_t *idx = malloc(nt * sizeof *idx);
    float *loss = malloc(nt * sizeof *loss);
    if (!rgb || !out || !idx || !loss)
        return 99;
    for (size_t i = 0; i < npix; i++)
        rgb[i] = (uint8_t)((i * 2654435761u) >> 24);
    t0 = now();
    if (it_model_tokenize(m, batch, T, H, W, rgb, idx, loss) < 0)
        return fail("tokenize");
    double first_s = now() - t0;
    t0 = now();
    for (int r = 0; r < reps; r++)
        if (it_model_tokenize(m, batch, T, H, W, rgb, idx, loss) < 0)
            return fail("tokenize");
    double tok_s = (now() - t0) / reps;
    if (it_model_detokenize(m, batch, t, h, w, idx, NULL, out) < 0) /* warm-up */
        return fail("detokenize");
    t0 = now();
    for (int r = 0; r < reps; r++)
        if (it_model_detokenize(m, batch, t, h, w, idx, NULL, out) < 0)
            return fail("detokenize");
    double detok_s = (now() - t0) / reps;
    printf("{\"backend\": \"%s\", \"precision\": \"%s\", \"T\": %d, \"H\": %d, \"W\": %d, \"batch\": %d, "
           "\"reps\": %d, \"load_s\": %.3f, \"first_call_s\": %.3f, \"tokenize_s\": %.4f, "
           "\"tokenize_frames_per_s\": %.2f, \"detokenize_s\": %.4f, \"detokenize_frames_per_s\": %.2f}\n",
           argv[2], argv[3], T, H, W, batch, reps, load_s, first_s, tok_s, batch * T / tok_s, detok_s,
           batch * T / detok_s);
    free(rgb), free(out), free(idx), free(loss);
    it_model_free(&m);
    return 0;
}
