/* model.h: the InfoTok network (spec §3) on a kernel backend context: load weights, the
 * pipeline entry points (frames -> token indices + ELBO map, indices -> frames; one upload and
 * one download per batch), and float-in/float-out encode/decode for the tests.
 * What it is not: windowing, rate allocation or video I/O (see infotok.h).
 *
 * Dimension letters: N windows in a batch (all of one padded shape); T, H, W a padded window,
 * t, h, w its latent grid: t = (T - 1)/4 + 1, h = H/8, w = W/8; NT = t*h*w tokens; Z the latent
 * width (z_channels). Float pixels are in [-1, 1], [3][T][H][W].
 * Caveats: one model serves one thread at a time (its context, arena and staging buffers are
 * shared). Precision (fp32 or bf16, man/infotok-precision.7) is fixed at load. */
#ifndef IT_MODEL_H
#define IT_MODEL_H

#include <stdint.h>

#include "infotok/core.h"
#include "infotok/weights.h"

/* Exported from libinfotok.so: the public API (the library builds with hidden visibility). */
#pragma GCC visibility push(default)

#ifdef __cplusplus
extern "C" {
#endif

typedef struct it_model it_model;

typedef struct it_model_opts {
    const char *backend; /* "cpu" (NULL), "ref" or a registered one ("cuda") */
    int device;          /* device index for a device backend (cuda:N); 0 otherwise */
    int precision;       /* IT_PRECISION_FP32 (0, the default) or IT_PRECISION_BF16 */
    int threads;         /* cpu: threads for this model's ops; <= 0: the process default */
    int max_batch;       /* most windows per tokenize/detokenize call; <= 0 means 1 */
} it_model_opts;

/* Load a native weight file (its config in the metadata) or an official .pt checkpoint
 * (official config). Every tensor is required by name and shape; leftovers are an error.
 * Every op the network uses must be supported at the precision, else the load fails naming
 * the op. On a host backend, native-file tensors already in the precision's dtype (F32 for
 * fp32, BF16 for bf16) and aligned are used in place from the mapped file (no copy); others
 * are converted once (bf16: rounded to nearest even). A device backend gets every weight
 * uploaded once into one allocation. o may be NULL (all defaults). */
int it_model_load_opts(it_model **out, const char *path, const it_model_opts *o);
/* The v1 call, kept until the tools move to it_model_load_opts: fp32, default threads. */
int it_model_load(it_model **out, const char *path, const char *backend);
void it_model_free(it_model **m); /* NULL-safe */
/* 1 when a backend of this name exists in this process ("cpu", "ref", and "cuda" when the
 * build has the CUDA backend; whether a GPU is present is known only at load), else 0. */
int it_model_backend_available(const char *backend);
const it_config *it_model_config(const it_model *m);
const char *it_model_backend_name(const it_model *m);
int it_model_precision(const it_model *m);
int it_model_max_batch(const it_model *m);
/* 64-bit FNV-1a of the config JSON and every tensor (name, shape, f32 values of the file), as
 * 16 hex. The same file gives the same hash in every precision (the precision is recorded
 * beside it, not in it). Hashing reads all the weights (~0.7 s for the official model): when
 * they are used in place it runs on a helper thread from the end of the load, and this call
 * waits for it; ask for it late (after the first window) to keep it off the critical path. */
const char *it_model_hash(const it_model *m);
int64_t it_model_param_count(const it_model *m);

/* Latent grid of a padded window; IT_E_SHAPE unless T = 1 + 4k, H and W are multiples of 8,
 * t <= max_latent_frames and h, w <= max_rope_size (the temporal embedding and RoPE tables). */
int it_model_latent_shape(const it_model *m, int T, int H, int W, int *t, int *h, int *w);

/* ---- pipeline (host in, host out) ---- */
/* rgb u8 [N][T][H][W][3] -> idx [N][NT] (FSQ indices, (t, h, w) raster order) and elbo float
 * [N][NT] (the per-token ELBO map of the full-rate decode, spec 4.4): 1 encode + 1 decode per
 * window, all N windows in one forward pass. Either output may be NULL. 1 <= n <= max_batch. */
int it_model_tokenize(it_model *m, int n, int T, int H, int W, const uint8_t *rgb, uint16_t *idx,
                      float *elbo);
/* idx [N][NT], keep [N][NT] (1 kept, 0 = the zero code) or NULL (all kept) -> rgb u8
 * [N][4t-3][8h][8w][3], the whole padded window (crop on the host). IT_E_FORMAT for an index
 * outside [0, 64000), naming the window and token. */
int it_model_detokenize(it_model *m, int n, int t, int h, int w, const uint16_t *idx,
                        const uint8_t *keep, uint8_t *rgb);

/* ---- float in / float out (tests, one window) ---- */
/* Optional intermediate outputs of encode, for tests against the PyTorch reference. */
typedef struct it_encode_taps {
    float *haar;   /* [24][(T+1)/2][H/2][W/2] */
    float *cnn;    /* [Z][t][h][w] CNN encoder output */
    float *vit;    /* [Z][t][h][w] ViT encoder output */
} it_encode_taps;

/* x [3][T][H][W] -> latent [6][t][h][w] (quant_conv output, before FSQ; may be NULL),
 * codes [6][t][h][w] (may be NULL), idx [t][h][w] (may be NULL). taps may be NULL. x is
 * rounded to the precision on upload; outputs are the precision's values widened to float. */
int it_model_encode(it_model *m, int T, int H, int W, const float *x, float *latent,
                    float *codes, int32_t *idx, const it_encode_taps *taps);
/* codes [6][t][h][w] -> y [3][T][H][W], T = 4t - 3, H = 8h, W = 8w. */
int it_model_decode(it_model *m, int t, int h, int w, const float *codes, float *y);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop
#endif
