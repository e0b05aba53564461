/* model_internal.h: the network's weights as plain structs of backend pointers (llm.c style:
 * into one allocation, or into the mapped weight file when a host backend uses tensors in
 * place), shared by the loader and the forward passes. Element type: the precision's. */
#ifndef IT_MODEL_INTERNAL_H
#define IT_MODEL_INTERNAL_H

#include "arena_internal.h"
#include "infotok/model.h"
#include "kernels/it_kernels.h"

/* The backend table a model runs on (tests reach the kernels through it). */
const it_backend *it_model_backend(const it_model *m);

enum { MAX_LEVELS = IT_CONFIG_RESOLUTIONS, MAX_BLOCKS = 8, MAX_VIT_LAYERS = 64 };

typedef struct conv_w { const void *w, *b; int co, ci, kt, kh, kw; } conv_w;
typedef struct norm_w { const void *g, *b; int c; } norm_w;
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
    const void *attn_norm, *ffn_norm;   /* [D] */
    const void *in_w[3], *in_b[3];      /* q, k, v rows of in_proj: [D][D], [D] each */
    const void *out_w, *out_b;          /* [D][D], [D] */
    const void *w1, *w3, *w2;           /* [F][D], [F][D], [D][F] */
} vit_layer_w;

struct it_model {
    it_config cfg;
    const it_backend *be;
    it_ctx *ctx;
    int precision;
    size_t esz;              /* bytes per activation/parameter element */
    int max_batch;
    void *params;            /* backend allocation of the weights not used in place (or NULL) */
    int64_t nparams;
    it_weights *file;        /* kept open while tensors point into its mapping */
    /* the hash, computed on a helper thread when the weights stay mapped (it_model_hash joins) */
    struct it_model_hash_job *hash_job;
    cnn_w enc, dec;
    vit_layer_w vit_enc[MAX_VIT_LAYERS], vit_dec[MAX_VIT_LAYERS];
    const void *temporal_embed;  /* [max_latent_frames][D] */
    conv_w quant_conv, post_quant_conv;
    void *rope;                  /* backend memory: cos then sin, [R*R][HD/2] each, (y, x) -> y*R + x */
    const void *rope_cos, *rope_sin;
    it_arena *arena;
    int dry;                     /* 1 during the arena's recording pass: ops are skipped */
    /* host staging, grown and kept: conversions for the float API and the pipeline's indices */
    void *stage;
    size_t stage_bytes;
    char hash[17];
};

/* Call op `name` of the model's backend on its context, unless this is a dry (planning) pass. */
#define IT_OP(m, name, ...) ((m)->dry ? 0 : (m)->be->name((m)->ctx, __VA_ARGS__))

/* An activation buffer of `elems` elements of the precision, from the arena. */
void *it_model_act(it_model *m, size_t elems);

/* Forward passes (net_cnn.c, net_vit.c) on n windows. Outputs are arena allocations the
 * caller releases; inputs are never modified unless said. */
/* x act [N][3][T][H][W] -> z act [N][Z][t][h][w]; haar_out, when not NULL, receives the
 * patcher output (an arena buffer [N][24][(T+1)/2][H/2][W/2] the caller releases). */
void *it_cnn_encode(it_model *m, int n, int T, int H, int W, const void *x, void **haar_out, int *rc);
/* z act [N][Z][t][h][w] -> y act [N][3][4t-3][8h][8w] */
void *it_cnn_decode(it_model *m, int n, int t, int h, int w, const void *z, int *rc);
/* z act [N][D][t][h][w] in place through the encoder or decoder transformer. */
int it_vit_forward(it_model *m, const vit_layer_w *layers, int nlayers, int n, int t, int h, int w, void *z);

#endif
