/* model.h: the InfoTok network (spec §3) on a kernel backend: load weights, encode a
 * padded window to FSQ codes, decode codes to frames, and the per-token ELBO map.
 * What it is not: windowing, rate allocation or video I/O (see infotok.h).
 *
 * Dimension letters: T, H, W a padded window, t, h, w its latent grid: t = (T - 1)/4 + 1,
 * h = H/8, w = W/8; Z the latent width (z_channels). Pixels in [-1, 1], fp32, [3][T][H][W].
 * Caveats: one model serves one thread at a time (its activation arena is shared). */
#ifndef IT_MODEL_H
#define IT_MODEL_H

#include <stdint.h>

#include "formats/weights.h"
#include "kernels/it_kernels_v1.h"

typedef struct it_model it_model;

/* Load a native weight file (its config in the metadata) or an official .pt checkpoint
 * (official config). Every tensor is required by name and shape; leftovers are an error.
 * backend: "cpu", "ref" or a registered one; NULL means "cpu". Every op the network uses
 * must be supported, else the load fails naming the op. */
int it_model_load(it_model **out, const char *path, const char *backend);
void it_model_free(it_model **m); /* NULL-safe */
const it_config *it_model_config(const it_model *m);
const char *it_model_backend_name(const it_model *m);
/* 64-bit FNV-1a of the config JSON and every tensor (name, shape, f32 values), as 16 hex. */
const char *it_model_hash(const it_model *m);
int64_t it_model_param_count(const it_model *m);

/* Latent grid of a padded window; IT_E_SHAPE unless T = 1 + 4k, H and W are multiples of 8,
 * t <= max_latent_frames and h, w <= max_rope_size (the temporal embedding and RoPE tables). */
int it_model_latent_shape(const it_model *m, int T, int H, int W, int *t, int *h, int *w);

/* Optional intermediate outputs of encode, for tests against the PyTorch reference. */
typedef struct it_encode_taps {
    float *haar;   /* [24][(T+1)/2][H/2][W/2] */
    float *cnn;    /* [Z][t][h][w] CNN encoder output */
    float *vit;    /* [Z][t][h][w] ViT encoder output */
} it_encode_taps;

/* x [3][T][H][W] -> latent [6][t][h][w] (quant_conv output, before FSQ; may be NULL),
 * codes [6][t][h][w] (may be NULL), idx [t][h][w] (may be NULL). taps may be NULL. */
int it_model_encode(it_model *m, int T, int H, int W, const float *x, float *latent,
                    float *codes, int32_t *idx, const it_encode_taps *taps);
/* codes [6][t][h][w] -> y [3][T][H][W], T = 4t - 3, H = 8h, W = 8w. */
int it_model_decode(it_model *m, int t, int h, int w, const float *codes, float *y);
const it_backend *it_model_backend(const it_model *m);

#endif
