/* model.c: the network's passes in the order of ours_discrete_video.py: encode (CNN,
 * transformer, quant conv, FSQ), decode (post-quant conv, transformer, CNN) and the two
 * pipeline entry points built from them, tokenize (frames -> indices + ELBO map) and
 * detokenize (indices -> frames), each one upload and one download per batch of windows.
 *
 * Every pass runs twice the first time a shape is seen: a dry run that walks the network
 * without running an op, so the arena can plan the pass's memory, then the real run on the
 * planned buffer (arena_internal.h). A pass body therefore touches activation memory only
 * through ops and the context's upload/download, which it skips while m->dry is set. */
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "model_internal.h"

int it_model_latent_shape(const it_model *m, int T, int H, int W, int *t, int *h, int *w)
{
    if (T < 1 || (T - 1) % 4 || H < 8 || W < 8 || H % 8 || W % 8)
        return it_error_set(IT_E_SHAPE, "window %dx%dx%d: need 1+4k frames and sizes that are "
                            "multiples of 8", T, H, W);
    *t = (T - 1) / 4 + 1;
    *h = H / 8;
    *w = W / 8;
    if (*t > m->cfg.max_latent_frames)
        return it_error_set(IT_E_SHAPE, "window of %d frames: the model takes at most %d (%d latent frames)",
                            T, 4 * (m->cfg.max_latent_frames - 1) + 1, m->cfg.max_latent_frames);
    if (*h > m->cfg.max_rope_size || *w > m->cfg.max_rope_size)
        return it_error_set(IT_E_SHAPE, "frames of %dx%d: the model takes at most %dx%d pixels",
                            W, H, 8 * m->cfg.max_rope_size, 8 * m->cfg.max_rope_size);
    return 0;
}

void *it_model_act(it_model *m, size_t elems)
{
    return it_arena_alloc(m->arena, elems * m->esz);
}

/* Host staging of at least `bytes` (grown, kept). */
static void *stage(it_model *m, size_t bytes)
{
    if (bytes > m->stage_bytes) {
        free(m->stage);
        m->stage = malloc(bytes);
        m->stage_bytes = m->stage ? bytes : 0;
        if (!m->stage)
            it_error_set(IT_E_NOMEM, "out of memory: %zu bytes of staging", bytes);
    }
    return m->stage;
}

/* Upload `count` floats to an activation of the precision (converted on the host for bf16). */
static int upload_f32(it_model *m, void *dst, const float *src, size_t count)
{
    if (m->dry)
        return 0;
    if (m->precision == IT_PRECISION_FP32)
        return m->be->upload(m->ctx, dst, src, count * sizeof(float));
    it_bf16 *s = stage(m, count * sizeof(it_bf16));
    if (!s)
        return IT_E_NOMEM;
    for (size_t i = 0; i < count; i++)
        s[i] = it_bf16_from_f32(src[i]);
    return m->be->upload(m->ctx, dst, s, count * sizeof(it_bf16));
}

/* Download `count` elements of an activation as floats (widened from bf16). */
static int download_f32(it_model *m, float *dst, const void *src, size_t count)
{
    if (m->dry || !dst)
        return 0;
    if (m->precision == IT_PRECISION_FP32)
        return m->be->download(m->ctx, dst, src, count * sizeof(float));
    it_bf16 *s = stage(m, count * sizeof(it_bf16));
    if (!s)
        return IT_E_NOMEM;
    int rc = m->be->download(m->ctx, s, src, count * sizeof(it_bf16));
    for (size_t i = 0; rc == 0 && i < count; i++)
        dst[i] = it_bf16_to_f32(s[i]);
    return rc;
}

static int upload_raw(it_model *m, void *dst, const void *src, size_t bytes)
{
    return m->dry ? 0 : m->be->upload(m->ctx, dst, src, bytes);
}

static int download_raw(it_model *m, void *dst, const void *src, size_t bytes)
{
    return m->dry || !dst ? 0 : m->be->download(m->ctx, dst, src, bytes);
}

/* Pass keys: a kind and the shapes; distinct kinds never share a plan. */
enum { PASS_ENCODE = 1, PASS_DECODE, PASS_TOKENIZE, PASS_DETOKENIZE };
static uint64_t shape_key(int kind, int n, int a, int b, int c)
{
    return ((uint64_t)kind << 58) ^ ((uint64_t)n << 48) ^ ((uint64_t)a << 32) ^ ((uint64_t)b << 16) ^
           (uint64_t)c;
}

/* Run body(m, arg) as a planned pass: the dry run first when the key has no plan yet. */
static int run_pass(it_model *m, uint64_t key, int (*body)(it_model *, void *), void *arg)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int rec = it_arena_begin(m->arena, key);
        if (rec < 0)
            return rec;
        m->dry = rec;
        int rc = body(m, arg);
        m->dry = 0;
        if (rc < 0) {
            it_arena_abort(m->arena);
            return rc;
        }
        if ((rc = it_arena_end(m->arena)) < 0)
            return rc;
        if (!rec)
            return 0;
    }
    return it_error_set(IT_E_INTERNAL, "activation plan for a pass was not kept");
}

/* ---- the network's halves on arena activations ---- */

/* x act [N][3][T][H][W] -> codes act [N][6][NT] (arena; caller releases), idx [N][NT] device
 * int32 or NULL, and optionally the taps as arena buffers (each released by the caller). */
typedef struct enc_taps { void *haar, *cnn_copy, *vit_copy, *latent; } enc_taps;
static void *encode_codes(it_model *m, int n, int T, int H, int W, const void *x, int32_t *idx_dev,
                          float *bounded_dev, enc_taps *taps, int *rc)
{
    int t, h, w;
    void *z = NULL, *lat = NULL, *codes = NULL;
    if ((*rc = it_model_latent_shape(m, T, H, W, &t, &h, &w)) < 0)
        return NULL;
    const size_t nt = (size_t)t * h * w, Z = (size_t)m->cfg.z_channels, E = (size_t)m->cfg.embedding_dim;
    z = it_cnn_encode(m, n, T, H, W, x, taps ? &taps->haar : NULL, rc);
    if (*rc < 0)
        goto fail;
    if (taps) { /* a copy of the CNN output before the transformer changes z in place */
        if (!(taps->cnn_copy = it_model_act(m, Z * nt * n)))
            goto oom;
        if (!m->dry && (*rc = m->be->copy(m->ctx, taps->cnn_copy, z, Z * nt * n * m->esz)) < 0)
            goto fail;
    }
    if ((*rc = it_vit_forward(m, m->vit_enc, m->cfg.vit_enc_layers, n, t, h, w, z)) < 0)
        goto fail;
    if (taps) {
        if (!(taps->vit_copy = it_model_act(m, Z * nt * n)))
            goto oom;
        if (!m->dry && (*rc = m->be->copy(m->ctx, taps->vit_copy, z, Z * nt * n * m->esz)) < 0)
            goto fail;
    }
    if (!(lat = it_model_act(m, E * nt * n)))
        goto oom;
    it_conv3d_params p = {m->quant_conv.ci, m->quant_conv.co, t, h, w, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, n};
    if ((*rc = IT_OP(m, conv3d, &p, z, m->quant_conv.w, m->quant_conv.b, lat)) < 0)
        goto fail;
    it_arena_release(m->arena, z);
    z = NULL;
    if (!(codes = it_model_act(m, E * nt * n)))
        goto oom;
    if ((*rc = IT_OP(m, fsq, n, nt, lat, bounded_dev, codes, idx_dev)) < 0)
        goto fail;
    if (taps)
        taps->latent = lat;
    else
        it_arena_release(m->arena, lat);
    return codes;
oom:
    *rc = it_error_set(IT_E_NOMEM, "out of memory for activations");
fail:
    it_arena_release(m->arena, codes);
    if (!taps)
        it_arena_release(m->arena, lat);
    else
        taps->latent = lat;
    it_arena_release(m->arena, z);
    return NULL;
}

/* codes act [N][6][NT] -> y act [N][3][4t-3][8h][8w] (arena; caller releases) */
static void *decode_codes(it_model *m, int n, int t, int h, int w, const void *codes, int *rc)
{
    int tt, th, tw;
    if ((*rc = it_model_latent_shape(m, 4 * t - 3, 8 * h, 8 * w, &tt, &th, &tw)) < 0)
        return NULL;
    const size_t nt = (size_t)t * h * w;
    void *z = it_model_act(m, (size_t)m->cfg.z_channels * nt * n), *y = NULL;
    if (!z) {
        *rc = it_error_set(IT_E_NOMEM, "out of memory for the latent");
        return NULL;
    }
    it_conv3d_params p = {m->post_quant_conv.ci, m->post_quant_conv.co, t, h, w, 1, 1, 1, 1, 1, 1,
                          0, 0, 0, 0, 0, n};
    if ((*rc = IT_OP(m, conv3d, &p, codes, m->post_quant_conv.w, m->post_quant_conv.b, z)) == 0 &&
        (*rc = it_vit_forward(m, m->vit_dec, m->cfg.vit_dec_layers, n, t, h, w, z)) == 0)
        y = it_cnn_decode(m, n, t, h, w, z, rc);
    it_arena_release(m->arena, z);
    return y;
}

/* ---- float API (tests) ---- */

typedef struct encode_args {
    int T, H, W;
    const float *x;
    float *latent, *codes;
    int32_t *idx;
    const it_encode_taps *taps;
} encode_args;

static int encode_body(it_model *m, void *arg)
{
    encode_args *a = arg;
    int rc = 0, t, h, w;
    void *x = NULL, *codes = NULL;
    int32_t *idx = NULL;
    enc_taps taps = {0};
    const int want_taps = a->taps && (a->taps->haar || a->taps->cnn || a->taps->vit);
    IT_TRY(it_model_latent_shape(m, a->T, a->H, a->W, &t, &h, &w));
    const size_t nt = (size_t)t * h * w, npix = (size_t)3 * a->T * a->H * a->W, Z = (size_t)m->cfg.z_channels;
    if (!(x = it_model_act(m, npix)) || !(idx = it_arena_alloc(m->arena, nt * sizeof *idx)))
        IT_FAIL(IT_E_NOMEM, "out of memory for a window");
    IT_TRY(upload_f32(m, x, a->x, npix));
    codes = encode_codes(m, 1, a->T, a->H, a->W, x, idx, NULL, want_taps || a->latent ? &taps : NULL, &rc);
    IT_TRY(rc);
    IT_TRY(download_f32(m, a->codes, codes, 6 * nt));
    IT_TRY(download_raw(m, a->idx, idx, nt * sizeof *idx));
    IT_TRY(download_f32(m, a->latent, taps.latent, (size_t)m->cfg.embedding_dim * nt));
    if (want_taps) {
        IT_TRY(download_f32(m, a->taps->haar, taps.haar, (size_t)24 * ((a->T + 1) / 2) * (a->H / 2) * (a->W / 2)));
        IT_TRY(download_f32(m, a->taps->cnn, taps.cnn_copy, Z * nt));
        IT_TRY(download_f32(m, a->taps->vit, taps.vit_copy, Z * nt));
    }
done:
    it_arena_release(m->arena, taps.latent);
    it_arena_release(m->arena, taps.vit_copy);
    it_arena_release(m->arena, taps.cnn_copy);
    it_arena_release(m->arena, taps.haar);
    it_arena_release(m->arena, codes);
    it_arena_release(m->arena, idx);
    it_arena_release(m->arena, x);
    return rc;
}

int it_model_encode(it_model *m, int T, int H, int W, const float *x, float *latent,
                    float *codes, int32_t *idx, const it_encode_taps *taps)
{
    encode_args a = {T, H, W, x, latent, codes, idx, taps};
    const int tapped = (taps && (taps->haar || taps->cnn || taps->vit)) || latent;
    return run_pass(m, shape_key(PASS_ENCODE, 1 + 2 * tapped, T, H, W), encode_body, &a);
}

typedef struct decode_args {
    int t, h, w;
    const float *codes;
    float *y;
} decode_args;

static int decode_body(it_model *m, void *arg)
{
    decode_args *a = arg;
    int rc = 0;
    const size_t nt = (size_t)a->t * a->h * a->w;
    void *codes = NULL, *y = NULL;
    if (!(codes = it_model_act(m, 6 * nt)))
        IT_FAIL(IT_E_NOMEM, "out of memory for codes");
    IT_TRY(upload_f32(m, codes, a->codes, 6 * nt));
    y = decode_codes(m, 1, a->t, a->h, a->w, codes, &rc);
    IT_TRY(rc);
    IT_TRY(download_f32(m, a->y, y, (size_t)3 * (4 * a->t - 3) * (8 * a->h) * (8 * a->w)));
done:
    it_arena_release(m->arena, y);
    it_arena_release(m->arena, codes);
    return rc;
}

int it_model_decode(it_model *m, int t, int h, int w, const float *codes, float *y)
{
    decode_args a = {t, h, w, codes, y};
    int tt, th, tw;
    int rc = it_model_latent_shape(m, 4 * t - 3, 8 * h, 8 * w, &tt, &th, &tw);
    return rc < 0 ? rc : run_pass(m, shape_key(PASS_DECODE, 1, t, h, w), decode_body, &a);
}

/* ---- pipeline ---- */

static int check_batch(const it_model *m, int n)
{
    if (n < 1 || n > m->max_batch)
        return it_error_set(IT_E_INVALID, "batch of %d windows: this model takes 1 to %d (max_batch)", n,
                            m->max_batch);
    return 0;
}

typedef struct tok_args {
    int n, T, H, W;
    const uint8_t *rgb;
    uint16_t *idx;
    float *elbo;
} tok_args;

static int tokenize_body(it_model *m, void *arg)
{
    tok_args *a = arg;
    int rc = 0, t, h, w;
    void *rgb = NULL, *x = NULL, *codes = NULL, *y = NULL;
    int32_t *idx = NULL;
    float *loss = NULL;
    IT_TRY(it_model_latent_shape(m, a->T, a->H, a->W, &t, &h, &w));
    const size_t n = (size_t)a->n, nt = (size_t)t * h * w, npix = (size_t)a->T * a->H * a->W * 3;
    if (!(rgb = it_arena_alloc(m->arena, n * npix)) || !(x = it_model_act(m, n * npix)) ||
        !(idx = it_arena_alloc(m->arena, n * nt * sizeof *idx)) ||
        !(loss = it_arena_alloc(m->arena, n * nt * sizeof *loss)))
        IT_FAIL(IT_E_NOMEM, "out of memory for %zu windows", n);
    IT_TRY(upload_raw(m, rgb, a->rgb, n * npix));
    IT_TRY(IT_OP(m, pixels_in, a->n, a->T, a->H, a->W, rgb, x));
    it_arena_release(m->arena, rgb);
    rgb = NULL;
    codes = encode_codes(m, a->n, a->T, a->H, a->W, x, idx, NULL, NULL, &rc);
    IT_TRY(rc);
    y = decode_codes(m, a->n, t, h, w, codes, &rc);
    IT_TRY(rc);
    IT_TRY(IT_OP(m, elbo_map, a->n, t, h, w, x, y, loss));
    if (a->idx && !m->dry) {
        int32_t *s = stage(m, n * nt * sizeof *s);
        if (!s)
            IT_FAIL(IT_E_NOMEM, "out of memory for indices");
        IT_TRY(m->be->download(m->ctx, s, idx, n * nt * sizeof *s));
        for (size_t i = 0; i < n * nt; i++)
            a->idx[i] = (uint16_t)s[i]; /* FSQ indices are < 64000 */
    }
    IT_TRY(download_raw(m, a->elbo, loss, n * nt * sizeof *loss));
done:
    it_arena_release(m->arena, y);
    it_arena_release(m->arena, codes);
    it_arena_release(m->arena, loss);
    it_arena_release(m->arena, idx);
    it_arena_release(m->arena, x);
    it_arena_release(m->arena, rgb);
    return rc;
}

int it_model_tokenize(it_model *m, int n, int T, int H, int W, const uint8_t *rgb, uint16_t *idx,
                      float *elbo)
{
    int rc = check_batch(m, n), t, h, w;
    if (rc < 0 || (rc = it_model_latent_shape(m, T, H, W, &t, &h, &w)) < 0)
        return rc;
    tok_args a = {n, T, H, W, rgb, idx, elbo};
    return run_pass(m, shape_key(PASS_TOKENIZE, n, T, H, W), tokenize_body, &a);
}

typedef struct detok_args {
    int n, t, h, w;
    const uint16_t *idx;
    const uint8_t *keep;
    uint8_t *rgb;
} detok_args;

static int detokenize_body(it_model *m, void *arg)
{
    detok_args *a = arg;
    int rc = 0;
    const size_t n = (size_t)a->n, nt = (size_t)a->t * a->h * a->w;
    const size_t npix = (size_t)(4 * a->t - 3) * (8 * a->h) * (8 * a->w) * 3;
    void *codes = NULL, *y = NULL;
    int32_t *idx = NULL;
    uint8_t *keep = NULL, *rgb = NULL;
    if (!(idx = it_arena_alloc(m->arena, n * nt * sizeof *idx)) ||
        (a->keep && !(keep = it_arena_alloc(m->arena, n * nt))) || !(codes = it_model_act(m, 6 * n * nt)))
        IT_FAIL(IT_E_NOMEM, "out of memory for %zu windows", n);
    if (!m->dry) {
        int32_t *s = stage(m, n * nt * sizeof *s);
        if (!s)
            IT_FAIL(IT_E_NOMEM, "out of memory for indices");
        for (size_t i = 0; i < n * nt; i++)
            s[i] = a->idx[i];
        IT_TRY(m->be->upload(m->ctx, idx, s, n * nt * sizeof *s));
    }
    if (keep)
        IT_TRY(upload_raw(m, keep, a->keep, n * nt));
    IT_TRY(IT_OP(m, fsq_decode, a->n, nt, idx, keep, codes));
    it_arena_release(m->arena, keep);
    keep = NULL;
    it_arena_release(m->arena, idx);
    idx = NULL;
    y = decode_codes(m, a->n, a->t, a->h, a->w, codes, &rc);
    IT_TRY(rc);
    it_arena_release(m->arena, codes);
    codes = NULL;
    if (!(rgb = it_arena_alloc(m->arena, n * npix)))
        IT_FAIL(IT_E_NOMEM, "out of memory for %zu windows", n);
    IT_TRY(IT_OP(m, pixels_out, a->n, 4 * a->t - 3, 8 * a->h, 8 * a->w, y, rgb));
    IT_TRY(download_raw(m, a->rgb, rgb, n * npix));
done:
    it_arena_release(m->arena, rgb);
    it_arena_release(m->arena, y);
    it_arena_release(m->arena, codes);
    it_arena_release(m->arena, keep);
    it_arena_release(m->arena, idx);
    return rc;
}

int it_model_detokenize(it_model *m, int n, int t, int h, int w, const uint16_t *idx,
                        const uint8_t *keep, uint8_t *rgb)
{
    int rc = check_batch(m, n), tt, th, tw;
    if (rc < 0 || (rc = it_model_latent_shape(m, 4 * t - 3, 8 * h, 8 * w, &tt, &th, &tw)) < 0)
        return rc;
    const size_t nt = (size_t)t * h * w;
    for (size_t i = 0; i < (size_t)n * nt; i++) /* checked here: a device op cannot report it */
        if (idx[i] >= IT_FSQ_CODES)
            return it_error_set(IT_E_FORMAT, "window %zu of the batch: token %zu has index %u outside [0, %d)",
                                i / nt, i % nt, (unsigned)idx[i], IT_FSQ_CODES);
    detok_args a = {n, t, h, w, idx, keep, rgb};
    return run_pass(m, shape_key(PASS_DETOKENIZE, n * 2 + !!keep, t, h, w), detokenize_body, &a);
}
