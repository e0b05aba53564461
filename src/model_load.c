/* model_load.c: build the network from a weight file. Every tensor is taken by its
 * PyTorch name and exact shape and converted to fp32 into one allocation; afterwards every
 * tensor in the file must have been used (the official loader ignores missing keys; this one
 * refuses them, and refuses leftovers too). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "model_internal.h"

typedef struct loader {
    it_weights *w;
    float *next, *end; /* fill pointer into the model's parameter block */
    uint64_t hash;
} loader;

static void hash_bytes(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ c[i]) * 0x100000001b3ULL;
}

/* Take tensor `name` of the given shape as fp32 into the parameter block. */
static int take(loader *ld, const float **out, int ndim, const int64_t *shape, const char *fmt, ...)
{
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const it_tensor_view *t;
    int rc = it_weights_require(ld->w, name, ndim, shape, &t);
    if (rc < 0)
        return rc;
    if ((int64_t)(ld->end - ld->next) < t->numel)
        return it_error_set(IT_E_INTERNAL, "%s: parameter block too small", name);
    if ((rc = it_tensor_to_f32(t, ld->next)) < 0)
        return rc;
    hash_bytes(&ld->hash, name, strlen(name) + 1);
    hash_bytes(&ld->hash, shape, (size_t)ndim * sizeof *shape);
    hash_bytes(&ld->hash, ld->next, (size_t)t->numel * sizeof(float));
    *out = ld->next;
    ld->next += t->numel;
    return 0;
}

static int take_conv(loader *ld, conv_w *c, int co, int ci, int kt, int kh, int kw, const char *prefix)
{
    int64_t ws[5] = {co, ci, kt, kh, kw}, bs[1] = {co};
    c->co = co; c->ci = ci; c->kt = kt; c->kh = kh; c->kw = kw;
    int rc = take(ld, &c->w, 5, ws, "%s.conv3d.weight", prefix);
    return rc < 0 ? rc : take(ld, &c->b, 1, bs, "%s.conv3d.bias", prefix);
}

static int take_norm(loader *ld, norm_w *n, int c, const char *prefix)
{
    int64_t s[1] = {c};
    n->c = c;
    int rc = take(ld, &n->g, 1, s, "%s.norm.weight", prefix);
    return rc < 0 ? rc : take(ld, &n->b, 1, s, "%s.norm.bias", prefix);
}

static int take_resblock(loader *ld, resblock_w *r, int cin, int cout, const char *prefix)
{
    int rc = 0;
    char p[160];
    r->cin = cin;
    r->cout = cout;
    snprintf(p, sizeof p, "%s.norm1", prefix); IT_TRY(take_norm(ld, &r->norm1, cin, p));
    snprintf(p, sizeof p, "%s.conv1.0", prefix); IT_TRY(take_conv(ld, &r->conv1s, cout, cin, 1, 3, 3, p));
    snprintf(p, sizeof p, "%s.conv1.1", prefix); IT_TRY(take_conv(ld, &r->conv1t, cout, cout, 3, 1, 1, p));
    snprintf(p, sizeof p, "%s.norm2", prefix); IT_TRY(take_norm(ld, &r->norm2, cout, p));
    snprintf(p, sizeof p, "%s.conv2.0", prefix); IT_TRY(take_conv(ld, &r->conv2s, cout, cout, 1, 3, 3, p));
    snprintf(p, sizeof p, "%s.conv2.1", prefix); IT_TRY(take_conv(ld, &r->conv2t, cout, cout, 3, 1, 1, p));
    if (cin != cout) {
        snprintf(p, sizeof p, "%s.nin_shortcut", prefix);
        IT_TRY(take_conv(ld, &r->nin, cout, cin, 1, 1, 1, p));
    }
done:
    return rc;
}

static int take_attn(loader *ld, attn_w *a, int c, const char *prefix)
{
    int rc = 0;
    char p[160];
    snprintf(p, sizeof p, "%s.norm", prefix); IT_TRY(take_norm(ld, &a->norm, c, p));
    snprintf(p, sizeof p, "%s.q", prefix); IT_TRY(take_conv(ld, &a->q, c, c, 1, 1, 1, p));
    snprintf(p, sizeof p, "%s.k", prefix); IT_TRY(take_conv(ld, &a->k, c, c, 1, 1, 1, p));
    snprintf(p, sizeof p, "%s.v", prefix); IT_TRY(take_conv(ld, &a->v, c, c, 1, 1, 1, p));
    snprintf(p, sizeof p, "%s.proj_out", prefix); IT_TRY(take_conv(ld, &a->proj, c, c, 1, 1, 1, p));
done:
    return rc;
}

/* Down/upsample convs: conv1 is k(1,3,3) for down, k(3,1,1) for up (temporal); conv2 the
 * other way round. Only the convs a direction uses exist in the file. */
static int take_resample(loader *ld, resample_w *s, int c, int spatial, int temporal, int up,
                         const char *prefix)
{
    int rc = 0;
    char p[160];
    s->spatial = spatial;
    s->temporal = temporal;
    int has1 = up ? temporal : spatial, has2 = up ? spatial : temporal;
    if (has1) {
        snprintf(p, sizeof p, "%s.conv1", prefix);
        IT_TRY(up ? take_conv(ld, &s->conv1, c, c, 3, 1, 1, p) : take_conv(ld, &s->conv1, c, c, 1, 3, 3, p));
    }
    if (has2) {
        snprintf(p, sizeof p, "%s.conv2", prefix);
        IT_TRY(up ? take_conv(ld, &s->conv2, c, c, 1, 3, 3, p) : take_conv(ld, &s->conv2, c, c, 3, 1, 1, p));
    }
    snprintf(p, sizeof p, "%s.conv3", prefix);
    IT_TRY(take_conv(ld, &s->conv3, c, c, 1, 1, 1, p));
done:
    return rc;
}

/* Encoder: levels 0..L-1 with num_res_blocks blocks; downsample after every level but the
 * last, spatial on the first log2(8/2) = 2 levels, temporal on the first log2(4/2) = 1. */
static int take_encoder(loader *ld, cnn_w *e, const it_config *c)
{
    int rc = 0;
    char p[160];
    const int ch = c->channels, L = IT_CONFIG_RESOLUTIONS;
    const int in_ch = 3 * c->patch_size * c->patch_size * c->patch_size;
    const int spatial_downs = (int)log2(c->spatial_compression) - (int)log2(c->patch_size);
    const int temporal_downs = (int)log2(c->temporal_compression) - (int)log2(c->patch_size);
    IT_TRY(take_conv(ld, &e->conv_in_s, ch, in_ch, 1, 3, 3, "encoder.conv_in.0"));
    IT_TRY(take_conv(ld, &e->conv_in_t, ch, ch, 3, 1, 1, "encoder.conv_in.1"));
    int block_in = ch;
    for (int i = 0; i < L; i++) {
        level_w *lv = &e->level[i];
        int block_out = ch * c->channels_mult[i];
        lv->nblocks = c->num_res_blocks;
        for (int b = 0; b < lv->nblocks; b++) {
            snprintf(p, sizeof p, "encoder.down.%d.block.%d", i, b);
            IT_TRY(take_resblock(ld, &lv->block[b], block_in, block_out, p));
            block_in = block_out;
        }
        if (i != L - 1) {
            lv->has_sample = 1;
            snprintf(p, sizeof p, "encoder.down.%d.downsample", i);
            IT_TRY(take_resample(ld, &lv->sample, block_in, i < spatial_downs, i < temporal_downs, 0, p));
        }
    }
    IT_TRY(take_resblock(ld, &e->mid1, block_in, block_in, "encoder.mid.block_1"));
    IT_TRY(take_attn(ld, &e->mid_spatial, block_in, "encoder.mid.attn_1.0"));
    IT_TRY(take_attn(ld, &e->mid_temporal, block_in, "encoder.mid.attn_1.1"));
    IT_TRY(take_resblock(ld, &e->mid2, block_in, block_in, "encoder.mid.block_2"));
    IT_TRY(take_norm(ld, &e->norm_out, block_in, "encoder.norm_out"));
    IT_TRY(take_conv(ld, &e->conv_out_s, c->z_channels, block_in, 1, 3, 3, "encoder.conv_out.0"));
    IT_TRY(take_conv(ld, &e->conv_out_t, c->z_channels, c->z_channels, 3, 1, 1, "encoder.conv_out.1"));
done:
    return rc;
}

/* Decoder: levels run L-1..0 with num_res_blocks + 1 blocks; upsample after every level but
 * 0. With r = L-1-i: temporal when 0 < r < temporal_ups + 1, spatial when temporal or
 * (r < spatial_ups and spatial_ups > temporal_ups) (layers3d.py, legacy_mode False). */
static int take_decoder(loader *ld, cnn_w *d, const it_config *c)
{
    int rc = 0;
    char p[160];
    const int ch = c->channels, L = IT_CONFIG_RESOLUTIONS;
    const int out_ch = 3 * c->patch_size * c->patch_size * c->patch_size;
    const int spatial_ups = (int)log2(c->spatial_compression) - (int)log2(c->patch_size);
    const int temporal_ups = (int)log2(c->temporal_compression) - (int)log2(c->patch_size);
    int block_in = ch * c->channels_mult[L - 1];
    IT_TRY(take_conv(ld, &d->conv_in_s, block_in, c->z_channels, 1, 3, 3, "decoder.conv_in.0"));
    IT_TRY(take_conv(ld, &d->conv_in_t, block_in, block_in, 3, 1, 1, "decoder.conv_in.1"));
    IT_TRY(take_resblock(ld, &d->mid1, block_in, block_in, "decoder.mid.block_1"));
    IT_TRY(take_attn(ld, &d->mid_spatial, block_in, "decoder.mid.attn_1.0"));
    IT_TRY(take_attn(ld, &d->mid_temporal, block_in, "decoder.mid.attn_1.1"));
    IT_TRY(take_resblock(ld, &d->mid2, block_in, block_in, "decoder.mid.block_2"));
    for (int i = L - 1; i >= 0; i--) {
        level_w *lv = &d->level[i];
        int block_out = ch * c->channels_mult[i];
        lv->nblocks = c->num_res_blocks + 1;
        for (int b = 0; b < lv->nblocks; b++) {
            snprintf(p, sizeof p, "decoder.up.%d.block.%d", i, b);
            IT_TRY(take_resblock(ld, &lv->block[b], block_in, block_out, p));
            block_in = block_out;
        }
        if (i != 0) {
            int r = L - 1 - i;
            int temporal = 0 < r && r < temporal_ups + 1;
            int spatial = temporal || (r < spatial_ups && spatial_ups > temporal_ups);
            lv->has_sample = 1;
            snprintf(p, sizeof p, "decoder.up.%d.upsample", i);
            IT_TRY(take_resample(ld, &lv->sample, block_in, spatial, temporal, 1, p));
        }
    }
    IT_TRY(take_norm(ld, &d->norm_out, block_in, "decoder.norm_out"));
    IT_TRY(take_conv(ld, &d->conv_out_s, out_ch, block_in, 1, 3, 3, "decoder.conv_out.0"));
    IT_TRY(take_conv(ld, &d->conv_out_t, out_ch, out_ch, 3, 1, 1, "decoder.conv_out.1"));
done:
    return rc;
}

static int take_vit(loader *ld, vit_layer_w *layers, int n, const it_config *c, const char *which)
{
    int rc = 0;
    const int64_t D = c->vit_hidden, F = c->vit_intermediate;
    const int64_t sd[1] = {D}, s3d[1] = {3 * D}, sin[2] = {3 * D, D}, sout[2] = {D, D};
    const int64_t s13[2] = {F, D}, s2[2] = {D, F};
    for (int i = 0; i < n; i++) {
        vit_layer_w *l = &layers[i];
        IT_TRY(take(ld, &l->attn_norm, 1, sd, "%s.%d.attention_norm.weight", which, i));
        IT_TRY(take(ld, &l->ffn_norm, 1, sd, "%s.%d.ffn_norm.weight", which, i));
        IT_TRY(take(ld, &l->in_w, 2, sin, "%s.%d.attention.mha.in_proj_weight", which, i));
        IT_TRY(take(ld, &l->in_b, 1, s3d, "%s.%d.attention.mha.in_proj_bias", which, i));
        IT_TRY(take(ld, &l->out_w, 2, sout, "%s.%d.attention.mha.out_proj.weight", which, i));
        IT_TRY(take(ld, &l->out_b, 1, sd, "%s.%d.attention.mha.out_proj.bias", which, i));
        IT_TRY(take(ld, &l->w1, 2, s13, "%s.%d.mlp.w1.weight", which, i));
        IT_TRY(take(ld, &l->w2, 2, s2, "%s.%d.mlp.w2.weight", which, i));
        IT_TRY(take(ld, &l->w3, 2, s13, "%s.%d.mlp.w3.weight", which, i));
    }
done:
    return rc;
}

/* The 2D RoPE table (layers3d_vit.py precompute_freqs_cis_2d): with n = HD/2 frequencies
 * f_j = theta^(-2j/HD), the first ceil(n/2) pairs turn by row * f[0::2], the rest by
 * column * f[1::2]. Angles in fp32 like torch.outer on float32; cos/sin rounded from double. */
static int build_rope(it_model *m)
{
    const int hd = m->cfg.vit_hidden / m->cfg.vit_heads, half = hd / 2, quarter = (half + 1) / 2;
    const int n = m->cfg.max_rope_size;
    m->rope_cos = malloc(sizeof(float) * (size_t)n * n * half);
    m->rope_sin = malloc(sizeof(float) * (size_t)n * n * half);
    if (!m->rope_cos || !m->rope_sin)
        return it_error_set(IT_E_NOMEM, "out of memory allocating the RoPE table");
    float freqs[64];
    for (int j = 0; j < half; j++)
        freqs[j] = (float)(1.0 / pow(m->cfg.rope_theta, (double)(2 * j) / hd));
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            float *cs = m->rope_cos + ((size_t)y * n + x) * half;
            float *sn = m->rope_sin + ((size_t)y * n + x) * half;
            for (int p = 0; p < half; p++) {
                float angle = p < quarter ? (float)y * freqs[2 * p] : (float)x * freqs[2 * (p - quarter) + 1];
                cs[p] = (float)cos((double)angle);
                sn[p] = (float)sin((double)angle);
            }
        }
    return 0;
}

static int require_ops(const it_backend *be)
{
    static const int ops[] = {IT_OP_CONV3D, IT_OP_GROUPNORM, IT_OP_ADD, IT_OP_AVGPOOL,
                              IT_OP_UPSAMPLE_HW, IT_OP_UPSAMPLE_T, IT_OP_HAAR_FWD, IT_OP_HAAR_INV,
                              IT_OP_ATTN_SPATIAL, IT_OP_ATTN_TEMPORAL, IT_OP_LINEAR, IT_OP_RMSNORM,
                              IT_OP_ROPE2D, IT_OP_MHA, IT_OP_SWIGLU, IT_OP_FSQ};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        int rc = it_backend_require(be, ops[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int it_model_load(it_model **out, const char *path, const char *backend)
{
    int rc = 0;
    it_weights *w = NULL;
    it_tensor_table *table = NULL;
    it_model *m = calloc(1, sizeof *m);
    IT_CHECK_ALLOC(m, "a model");
    m->be = it_backend_find(backend ? backend : "cpu");
    if (!m->be)
        IT_FAIL(IT_E_NOTFOUND, "no backend named '%s'", backend);
    IT_TRY(require_ops(m->be));
    IT_TRY(it_weights_open_any(&w, path));
    if (it_weights_is_pt(w)) {
        m->cfg = it_config_official(); /* a checkpoint carries no config: it is the release's */
    } else {
        IT_TRY(it_weights_config(w, &m->cfg));
    }
    if (m->cfg.vit_hidden != m->cfg.z_channels || m->cfg.vit_heads <= 0 ||
        m->cfg.vit_hidden % m->cfg.vit_heads || (m->cfg.vit_hidden / m->cfg.vit_heads) % 2 ||
        m->cfg.vit_hidden / m->cfg.vit_heads > 128 || m->cfg.num_res_blocks + 1 > MAX_BLOCKS ||
        m->cfg.vit_enc_layers > MAX_VIT_LAYERS || m->cfg.vit_dec_layers > MAX_VIT_LAYERS)
        IT_FAIL(IT_E_UNSUPPORTED, "%s: config outside what this build runs (head dim must be even "
                "and at most 128, vit_hidden == z_channels)", path);
    IT_TRY(it_tensor_table_build(&m->cfg, &table));
    m->nparams = it_tensor_table_param_count(table);
    m->params = malloc(sizeof(float) * (size_t)m->nparams);
    IT_CHECK_ALLOC(m->params, "the model's parameters");
    loader ld = {w, m->params, m->params + m->nparams, 0xcbf29ce484222325ULL};
    char *json = NULL;
    IT_TRY(it_config_to_json(&m->cfg, &json));
    hash_bytes(&ld.hash, json, strlen(json));
    free(json);
    const it_config *c = &m->cfg;
    IT_TRY(take_encoder(&ld, &m->enc, c));
    IT_TRY(take_decoder(&ld, &m->dec, c));
    IT_TRY(take_conv(&ld, &m->quant_conv, c->embedding_dim, c->z_channels, 1, 1, 1, "quant_conv"));
    IT_TRY(take_conv(&ld, &m->post_quant_conv, c->z_channels, c->embedding_dim, 1, 1, 1, "post_quant_conv"));
    IT_TRY(take_vit(&ld, m->vit_enc, c->vit_enc_layers, c, "vit_encoder"));
    IT_TRY(take_vit(&ld, m->vit_dec, c->vit_dec_layers, c, "vit_decoder"));
    int64_t te[2] = {c->max_latent_frames, c->vit_hidden};
    IT_TRY(take(&ld, &m->temporal_embed, 2, te, "temporal_embed"));
    /* The table's buffers (FSQ constants, training statistics) may be present; they are
     * checked against their known values, never used. Anything else left over is an error. */
    IT_TRY(it_weights_check(w, table));
    IT_TRY(it_weights_check_all_used(w, table));
    if (ld.next != ld.end)
        IT_FAIL(IT_E_INTERNAL, "%s: %lld parameters loaded, %lld expected", path,
                (long long)(ld.next - m->params), (long long)m->nparams);
    snprintf(m->hash, sizeof m->hash, "%016llx", (unsigned long long)ld.hash);
    IT_TRY(build_rope(m));
    IT_TRY(it_arena_new(&m->arena));
    *out = m;
    m = NULL;
done:
    it_tensor_table_free(&table);
    it_weights_close(&w);
    it_model_free(&m);
    return rc;
}

void it_model_free(it_model **pm)
{
    it_model *m = *pm;
    if (!m)
        return;
    free(m->params);
    free(m->rope_cos);
    free(m->rope_sin);
    it_arena_free_all(&m->arena);
    free(m);
    *pm = NULL;
}

const it_config *it_model_config(const it_model *m) { return &m->cfg; }
const char *it_model_backend_name(const it_model *m) { return m->be->name; }
const it_backend *it_model_backend(const it_model *m) { return m->be; }
const char *it_model_hash(const it_model *m) { return m->hash; }
int64_t it_model_param_count(const it_model *m) { return m->nparams; }
