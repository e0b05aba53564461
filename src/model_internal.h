/* model_internal.h: the network's weights as plain structs of fp32 pointers into one
 * allocation (llm.c style), shared by the loader and the forward passes. */
#ifndef IT_MODEL_INTERNAL_H
#define IT_MODEL_INTERNAL_H

#include "arena_internal.h"
#include "model.h"

enum { MAX_LEVELS = IT_CONFIG_RESOLUTIONS, MAX_BLOCKS = 8, MAX_VIT_LAYERS = 64 };

typedef struct conv_w { const float *w, *b; int co, ci, kt, kh, kw; } conv_w;
typedef struct norm_w { const float *g, *b; int c; } norm_w;
/* Factorized residual block: conv = k(1,3,3) pad 1, then k(3,1,1) causal. */
typedef struct resblock_w {
    norm_w norm1, norm2;
    conv_w conv1s, conv1t, conv2s, conv2t;
    conv_w nin; /* 1x1x1 shortcut when channels change (w == NULL otherwise) */
    int cin, cout;
} resblock_w;
typedef struct attn_w { norm_w norm; conv_w q, k, v, proj; } attn_w;
/* Hybrid down/upsample: conv1, conv2 present per the spatial/temporal flags, conv3 1x1x1. */
typedef struct resample_w { conv_w conv1, conv2, conv3; int spatial, temporal; } resample_w;
typedef struct level_w { resblock_w block[MAX_BLOCKS]; int nblocks; resample_w sample; int has_sample; } level_w;
typedef struct cnn_w {
    conv_w conv_in_s, conv_in_t;
    level_w level[MAX_LEVELS];
    resblock_w mid1, mid2;
    attn_w mid_spatial, mid_temporal;
    norm_w norm_out;
    conv_w conv_out_s, conv_out_t;
} cnn_w;
typedef struct vit_layer_w {
    const float *attn_norm, *ffn_norm;  /* [D] */
    const float *in_w, *in_b;           /* [3D][D], [3D] */
    const float *out_w, *out_b;         /* [D][D], [D] */
    const float *w1, *w3, *w2;          /* [F][D], [F][D], [D][F] */
} vit_layer_w;

struct it_model {
    it_config cfg;
    const it_backend *be;
    float *params;           /* every weight, fp32, one allocation */
    int64_t nparams;
    cnn_w enc, dec;
    vit_layer_w vit_enc[MAX_VIT_LAYERS], vit_dec[MAX_VIT_LAYERS];
    const float *temporal_embed; /* [max_latent_frames][D] */
    conv_w quant_conv, post_quant_conv;
    float *rope_cos, *rope_sin;  /* [max_rope_size^2][HD/2], position (y, x) -> y*max + x */
    it_arena *arena;
    char hash[17];
};

/* Forward passes (net_cnn.c, net_vit.c). Outputs are arena allocations the caller
 * releases; inputs are never modified unless said. */
float *it_cnn_encode(it_model *m, int T, int H, int W, const float *x, float *haar_tap, int *rc);
float *it_cnn_decode(it_model *m, int t, int h, int w, const float *z, int *rc);
/* z [D][t][h][w] in place through the encoder or decoder transformer. */
int it_vit_forward(it_model *m, const vit_layer_w *layers, int nlayers, int t, int h, int w, float *z);

#endif
