/* model_load.c: build the network from a weight file. Every tensor is taken by its PyTorch
 * name and exact shape; afterwards every tensor in the file must have been used (the official
 * loader ignores missing keys; this one refuses them, and refuses leftovers too).
 *
 * Where a tensor ends up: on a host backend (ref, cpu), a native-file tensor already in the
 * precision's dtype (F32 for fp32, BF16 for bf16) and aligned to its element size is used in
 * place, straight from the mapped file: no copy, no conversion, nothing faulted in before an op
 * reads it. Every other tensor is converted once (bf16: rounded to nearest even) into one
 * block (llm.c style: sizes first, then pointers into it), which on a device backend is
 * uploaded once. Loading walks the network twice: pass 0 sizes the block, pass 1 fills it.
 *
 * The model hash reads every weight byte (FNV-1a, ~4 cycles a byte: ~0.7 s for the official
 * 490 MB, most of a load that is otherwise ~0.2 s). When the file stays mapped anyway, it runs
 * on a helper thread and it_model_hash() waits for it: a caller that asks for the hash after
 * its first window pays nothing on the way to the first frame. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "model_internal.h"

enum { BLOCK_ALIGN = 256 };

typedef struct loader {
    it_model *m;
    it_weights *w;
    int pass;                 /* 0: size the block, 1: fill it */
    int in_place_ok;          /* host backend and a native (mmapped) file */
    int any_in_place;
    size_t off;               /* bytes of the block used so far */
    unsigned char *host;      /* pass 1: the block as the host writes it */
    unsigned char *dev;       /* pass 1: the block as the backend sees it (== host on a host backend) */
    const it_tensor_view **views; /* every tensor taken, in order, for the hash */
    size_t nviews, cap;
} loader;

static void hash_bytes(uint64_t *h, const void *p, size_t n)
{
    const unsigned char *c = p;
    uint64_t v = *h;
    for (size_t i = 0; i < n; i++)
        v = (v ^ c[i]) * 0x100000001b3ULL;
    *h = v;
}

static size_t round_block(size_t n) { return (n + BLOCK_ALIGN - 1) / BLOCK_ALIGN * BLOCK_ALIGN; }

/* t converted to the precision's element type at dst (numel elements). */
static int tensor_to_precision(const it_tensor_view *t, int precision, void *dst)
{
    if (precision == IT_PRECISION_FP32)
        return it_tensor_to_f32(t, dst);
    it_bf16 *d = dst;
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case IT_DTYPE_BF16:
        memcpy(d, p, t->nbytes);
        return 0;
    case IT_DTYPE_F32:
        for (int64_t i = 0; i < t->numel; i++) {
            float f;
            memcpy(&f, p + 4 * i, 4);
            d[i] = it_bf16_from_f32(f);
        }
        return 0;
    case IT_DTYPE_F16:
        for (int64_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            d[i] = it_bf16_from_f32(it_f16_to_f32(h));
        }
        return 0;
    default:
        return it_error_set(IT_E_SHAPE, "tensor '%s' has dtype %s, expected a float type", t->name,
                            it_dtype_name(t->dtype));
    }
}

/* Take tensor `name` of the given shape: size it (pass 0) or place it (pass 1). */
static int take(loader *ld, const void **out, int ndim, const int64_t *shape, const char *fmt, ...)
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
    const int prec = ld->m->precision;
    const size_t esz = ld->m->esz;
    const it_dtype want = prec == IT_PRECISION_BF16 ? IT_DTYPE_BF16 : IT_DTYPE_F32;
    const int in_place = ld->in_place_ok && t->dtype == want && (uintptr_t)t->data % esz == 0;
    if (ld->pass == 0) {
        if (!in_place)
            ld->off += round_block((size_t)t->numel * esz);
        if (ld->nviews == ld->cap) {
            size_t cap = ld->cap ? 2 * ld->cap : 512;
            const it_tensor_view **v = realloc(ld->views, cap * sizeof *v);
            if (!v)
                return it_error_set(IT_E_NOMEM, "out of memory loading %s", name);
            ld->views = v;
            ld->cap = cap;
        }
        ld->views[ld->nviews++] = t;
        *out = NULL;
        return 0;
    }
    if (in_place) {
        *out = t->data;
        ld->any_in_place = 1;
        return 0;
    }
    if ((rc = tensor_to_precision(t, prec, ld->host + ld->off)) < 0)
        return rc;
    *out = ld->dev + ld->off;
    ld->off += round_block((size_t)t->numel * esz);
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
    const size_t esz = ld->m->esz;
    for (int i = 0; i < n; i++) {
        vit_layer_w *l = &layers[i];
        const void *in_w, *in_b;
        IT_TRY(take(ld, &l->attn_norm, 1, sd, "%s.%d.attention_norm.weight", which, i));
        IT_TRY(take(ld, &l->ffn_norm, 1, sd, "%s.%d.ffn_norm.weight", which, i));
        IT_TRY(take(ld, &in_w, 2, sin, "%s.%d.attention.mha.in_proj_weight", which, i));
        IT_TRY(take(ld, &in_b, 1, s3d, "%s.%d.attention.mha.in_proj_bias", which, i));
        for (int j = 0; j < 3 && ld->pass == 1; j++) { /* q, k, v rows */
            l->in_w[j] = (const unsigned char *)in_w + (size_t)j * D * D * esz;
            l->in_b[j] = (const unsigned char *)in_b + (size_t)j * D * esz;
        }
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
 * column * f[1::2]. Angles in fp32 like torch.outer on float32; cos/sin rounded from double
 * (then to bf16 in bf16, as the official .to(bfloat16) rounds the fp32 table). Built on the
 * host, uploaded once: [R*R][HD/2] cos, then as many sin. */
static int build_rope(it_model *m)
{
    int rc = 0;
    const int hd = m->cfg.vit_hidden / m->cfg.vit_heads, half = hd / 2, quarter = (half + 1) / 2;
    const int n = m->cfg.max_rope_size;
    const size_t count = (size_t)n * n * half, bytes = 2 * count * m->esz;
    unsigned char *host = malloc(bytes);
    IT_CHECK_ALLOC(host, "the RoPE table");
    float freqs[64];
    for (int j = 0; j < half; j++)
        freqs[j] = (float)(1.0 / pow(m->cfg.rope_theta, (double)(2 * j) / hd));
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++)
            for (int p = 0; p < half; p++) {
                size_t at = ((size_t)y * n + x) * half + p;
                float angle = p < quarter ? (float)y * freqs[2 * p] : (float)x * freqs[2 * (p - quarter) + 1];
                float c = (float)cos((double)angle), sn = (float)sin((double)angle);
                if (m->precision == IT_PRECISION_BF16) {
                    ((it_bf16 *)host)[at] = it_bf16_from_f32(c);
                    ((it_bf16 *)host)[count + at] = it_bf16_from_f32(sn);
                } else {
                    ((float *)host)[at] = c;
                    ((float *)host)[count + at] = sn;
                }
            }
    IT_TRY(m->be->alloc(m->ctx, bytes, &m->rope));
    IT_TRY(m->be->upload(m->ctx, m->rope, host, bytes));
    m->rope_cos = m->rope;
    m->rope_sin = (unsigned char *)m->rope + count * m->esz;
done:
    free(host);
    return rc;
}

static int require_ops(const it_backend *be, int precision)
{
    for (int op = 0; op < IT_OP_COUNT; op++) {
        if (op == IT_OP_SILU || op == IT_OP_SCALE)
            continue; /* in the table, not used by the network */
        int rc = it_backend_require(be, op, precision);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Every GEMM/conv weight once through the backend's optional prepare_weight hook. */
static int prepare_conv(it_model *m, const conv_w *c)
{
    if (!c->w)
        return 0;
    return m->be->prepare_weight(m->ctx, IT_OP_CONV3D, c->w, c->co, c->ci * c->kt * c->kh * c->kw);
}

static int prepare_resblock(it_model *m, const resblock_w *r)
{
    int rc = 0;
    IT_TRY(prepare_conv(m, &r->conv1s));
    IT_TRY(prepare_conv(m, &r->conv1t));
    IT_TRY(prepare_conv(m, &r->conv2s));
    IT_TRY(prepare_conv(m, &r->conv2t));
    IT_TRY(prepare_conv(m, &r->nin));
done:
    return rc;
}

static int prepare_cnn(it_model *m, const cnn_w *n)
{
    int rc = 0;
    IT_TRY(prepare_conv(m, &n->conv_in_s));
    IT_TRY(prepare_conv(m, &n->conv_in_t));
    for (int i = 0; i < IT_CONFIG_RESOLUTIONS; i++) {
        const level_w *lv = &n->level[i];
        for (int b = 0; b < lv->nblocks; b++)
            IT_TRY(prepare_resblock(m, &lv->block[b]));
        if (lv->has_sample) {
            IT_TRY(prepare_conv(m, &lv->sample.conv1));
            IT_TRY(prepare_conv(m, &lv->sample.conv2));
            IT_TRY(prepare_conv(m, &lv->sample.conv3));
        }
    }
    IT_TRY(prepare_resblock(m, &n->mid1));
    IT_TRY(prepare_resblock(m, &n->mid2));
    const attn_w *at[2] = {&n->mid_spatial, &n->mid_temporal};
    for (int i = 0; i < 2; i++) {
        IT_TRY(prepare_conv(m, &at[i]->q));
        IT_TRY(prepare_conv(m, &at[i]->k));
        IT_TRY(prepare_conv(m, &at[i]->v));
        IT_TRY(prepare_conv(m, &at[i]->proj));
    }
    IT_TRY(prepare_conv(m, &n->conv_out_s));
    IT_TRY(prepare_conv(m, &n->conv_out_t));
done:
    return rc;
}

static int prepare_vit(it_model *m, const vit_layer_w *layers, int nl)
{
    int rc = 0;
    const int D = m->cfg.vit_hidden, F = m->cfg.vit_intermediate;
    for (int i = 0; i < nl; i++) {
        const vit_layer_w *l = &layers[i];
        for (int j = 0; j < 3; j++)
            IT_TRY(m->be->prepare_weight(m->ctx, IT_OP_LINEAR, l->in_w[j], D, D));
        IT_TRY(m->be->prepare_weight(m->ctx, IT_OP_LINEAR, l->out_w, D, D));
        IT_TRY(m->be->prepare_weight(m->ctx, IT_OP_SWIGLU, l->w1, F, D));
        IT_TRY(m->be->prepare_weight(m->ctx, IT_OP_SWIGLU, l->w3, F, D));
        IT_TRY(m->be->prepare_weight(m->ctx, IT_OP_SWIGLU, l->w2, D, F));
    }
done:
    return rc;
}

static int prepare_weights(it_model *m)
{
    int rc = 0;
    if (!m->be->prepare_weight)
        return 0;
    IT_TRY(prepare_cnn(m, &m->enc));
    IT_TRY(prepare_cnn(m, &m->dec));
    IT_TRY(prepare_conv(m, &m->quant_conv));
    IT_TRY(prepare_conv(m, &m->post_quant_conv));
    IT_TRY(prepare_vit(m, m->vit_enc, m->cfg.vit_enc_layers));
    IT_TRY(prepare_vit(m, m->vit_dec, m->cfg.vit_dec_layers));
done:
    return rc;
}

/* Walk the whole network once (pass 0 or 1 of the loader). */
static int walk(loader *ld)
{
    int rc = 0;
    it_model *m = ld->m;
    const it_config *c = &m->cfg;
    IT_TRY(take_encoder(ld, &m->enc, c));
    IT_TRY(take_decoder(ld, &m->dec, c));
    IT_TRY(take_conv(ld, &m->quant_conv, c->embedding_dim, c->z_channels, 1, 1, 1, "quant_conv"));
    IT_TRY(take_conv(ld, &m->post_quant_conv, c->z_channels, c->embedding_dim, 1, 1, 1, "post_quant_conv"));
    IT_TRY(take_vit(ld, m->vit_enc, c->vit_enc_layers, c, "vit_encoder"));
    IT_TRY(take_vit(ld, m->vit_dec, c->vit_dec_layers, c, "vit_decoder"));
    int64_t te[2] = {c->max_latent_frames, c->vit_hidden};
    IT_TRY(take(ld, &m->temporal_embed, 2, te, "temporal_embed"));
done:
    return rc;
}

/* FNV-1a over the config JSON, then each tensor's name (with its NUL), shape and f32 values
 * in the order the network takes them. The views stay valid while the file is open. */
struct it_model_hash_job {
    pthread_t thread;
    uint64_t h;                  /* after the config JSON; then the result */
    const it_tensor_view **views;
    size_t nviews;
    char hex[17];
};

static void *hash_tensors(void *arg)
{
    struct it_model_hash_job *j = arg;
    uint64_t h = j->h;
    float chunk[1024];
    for (size_t i = 0; i < j->nviews; i++) {
        const it_tensor_view *t = j->views[i];
        hash_bytes(&h, t->name, strlen(t->name) + 1);
        hash_bytes(&h, t->shape, (size_t)t->ndim * sizeof *t->shape);
        if (t->dtype == IT_DTYPE_F32) {
            hash_bytes(&h, t->data, t->nbytes);
            continue;
        }
        const size_t esz = it_dtype_size(t->dtype);
        for (int64_t k = 0; k < t->numel; k += 1024) {
            int64_t c = t->numel - k < 1024 ? t->numel - k : 1024;
            it_tensor_view sub = *t;
            sub.data = (const unsigned char *)t->data + (size_t)k * esz;
            sub.numel = c;
            sub.nbytes = (size_t)c * esz;
            it_tensor_to_f32(&sub, chunk); /* float dtypes only: checked at load */
            hash_bytes(&h, chunk, (size_t)c * sizeof(float));
        }
    }
    snprintf(j->hex, sizeof j->hex, "%016llx", (unsigned long long)h);
    return NULL;
}

/* Start the hash: on a helper thread when background is set (views must outlive it), else
 * now. *job is owned by the model. */
static int start_hash(it_model *m, loader *ld, int background)
{
    char *json = NULL;
    int rc = it_config_to_json(&m->cfg, &json);
    if (rc < 0)
        return rc;
    struct it_model_hash_job *j = calloc(1, sizeof *j);
    if (!j) {
        free(json);
        return it_error_set(IT_E_NOMEM, "out of memory");
    }
    j->h = 0xcbf29ce484222325ULL;
    hash_bytes(&j->h, json, strlen(json));
    free(json);
    j->views = ld->views;
    j->nviews = ld->nviews;
    if (background && pthread_create(&j->thread, NULL, hash_tensors, j) == 0) {
        ld->views = NULL; /* the job owns them now */
        m->hash_job = j;
        return 0;
    }
    hash_tensors(j); /* also the fallback when no thread can be started */
    memcpy(m->hash, j->hex, sizeof m->hash);
    free(j);
    return 0;
}

/* Wait for a background hash (NULL-safe for a model without one). */
static void finish_hash(it_model *m)
{
    struct it_model_hash_job *j = m->hash_job;
    if (!j)
        return;
    pthread_join(j->thread, NULL);
    memcpy(m->hash, j->hex, sizeof m->hash);
    free(j->views);
    free(j);
    m->hash_job = NULL;
}

int it_model_load_opts(it_model **out, const char *path, const it_model_opts *o)
{
    int rc = 0;
    it_weights *w = NULL;
    it_tensor_table *table = NULL;
    unsigned char *staging = NULL;
    const it_model_opts defaults = {0};
    loader ld = {0};
    if (!o)
        o = &defaults;
    *out = NULL;
    it_model *m = calloc(1, sizeof *m);
    IT_CHECK_ALLOC(m, "a model");
    const char *backend = o->backend ? o->backend : "cpu";
    m->be = it_backend_find(backend);
    if (!m->be)
        IT_FAIL(IT_E_NOTFOUND, "no backend named '%s'", backend);
    if (!it_precision_name(o->precision))
        IT_FAIL(IT_E_INVALID, "unknown precision %d", o->precision);
    m->precision = o->precision;
    m->esz = it_precision_size(o->precision);
    m->max_batch = o->max_batch > 0 ? o->max_batch : 1;
    IT_TRY(require_ops(m->be, m->precision));
    it_ctx_opts co = {o->precision, o->device, o->threads};
    IT_TRY(it_ctx_open(m->be, &co, &m->ctx));
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
    /* The table's buffers (FSQ constants, training statistics) may be present; they are
     * checked against their known values, never used. Anything else left over is an error.
     * Checked before anything is converted: every required tensor has a float dtype. */
    IT_TRY(it_weights_check(w, table));
    ld.m = m;
    ld.w = w;
    ld.in_place_ok = m->be->host_memory && !it_weights_is_pt(w);
    IT_TRY(walk(&ld));
    IT_TRY(it_weights_check_all_used(w, table));
    const size_t block = ld.off;
    ld.pass = 1;
    ld.off = 0;
    if (block) {
        IT_TRY(m->be->alloc(m->ctx, block, &m->params));
        if (m->be->host_memory) {
            ld.host = m->params;
        } else {
            staging = malloc(block);
            IT_CHECK_ALLOC(staging, "the weights' staging copy");
            ld.host = staging;
        }
        ld.dev = m->params;
    }
    IT_TRY(walk(&ld));
    if (ld.off != block)
        IT_FAIL(IT_E_INTERNAL, "%s: weight block %zu bytes, %zu planned", path, ld.off, block);
    if (staging)
        IT_TRY(m->be->upload(m->ctx, m->params, staging, block));
    IT_TRY(prepare_weights(m));
    IT_TRY(build_rope(m));
    IT_TRY(it_arena_new(&m->arena, m->ctx));
    if (ld.any_in_place) { /* the mapping holds weights: it lives as long as the model */
        m->file = w;
        w = NULL;
    }
    IT_TRY(start_hash(m, &ld, m->file != NULL));
    *out = m;
    m = NULL;
done:
    free(staging);
    free(ld.views);
    it_tensor_table_free(&table);
    it_weights_close(&w);
    it_model_free(&m);
    return rc;
}

int it_model_load(it_model **out, const char *path, const char *backend)
{
    it_model_opts o = {.backend = backend};
    return it_model_load_opts(out, path, &o);
}

void it_model_free(it_model **pm)
{
    it_model *m = *pm;
    if (!m)
        return;
    finish_hash(m);
    it_arena_free_all(&m->arena);
    if (m->ctx) {
        m->be->free(m->ctx, m->params);
        m->be->free(m->ctx, m->rope);
    }
    it_ctx_close(&m->ctx);
    it_weights_close(&m->file);
    free(m->stage);
    free(m);
    *pm = NULL;
}

const it_config *it_model_config(const it_model *m) { return &m->cfg; }
const char *it_model_backend_name(const it_model *m) { return m->be->name; }
const it_backend *it_model_backend(const it_model *m) { return m->be; }
int it_model_backend_available(const char *backend) { return it_backend_find(backend) != NULL; }
int it_model_precision(const it_model *m) { return m->precision; }
int it_model_max_batch(const it_model *m) { return m->max_batch; }
const char *it_model_hash(const it_model *m)
{
    finish_hash((it_model *)m); /* the model's one thread: waiting is safe (model.h) */
    return m->hash;
}
int64_t it_model_param_count(const it_model *m) { return m->nparams; }
