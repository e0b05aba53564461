/* model.c: encode a padded window to FSQ codes and decode codes to frames: the CNN, the
 * transformer, the quant convs and FSQ in the order of ours_discrete_video.py. */
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

static uint64_t shape_key(int kind, int a, int b, int c)
{
    return ((uint64_t)kind << 60) ^ ((uint64_t)a << 40) ^ ((uint64_t)b << 20) ^ (uint64_t)c;
}

/* Close an activation pass: a failed one plans nothing. */
static int end_pass(it_model *m, int rc)
{
    if (rc < 0) {
        it_arena_abort(m->arena);
        return rc;
    }
    return it_arena_end(m->arena);
}

/* A 1x1x1 conv is what quant_conv and post_quant_conv are. */
static int pointwise(it_model *m, const conv_w *cw, int t, int h, int w, const float *x, float *y)
{
    it_conv3d_params p = {cw->ci, cw->co, t, h, w, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
    return m->be->conv3d(&p, x, cw->w, cw->b, y);
}

int it_model_encode(it_model *m, int T, int H, int W, const float *x, float *latent,
                    float *codes, int32_t *idx, const it_encode_taps *taps)
{
    int rc = 0, t, h, w;
    float *z = NULL, *lat = NULL;
    IT_TRY(it_model_latent_shape(m, T, H, W, &t, &h, &w));
    const size_t nt = (size_t)t * h * w, Z = (size_t)m->cfg.z_channels, E = (size_t)m->cfg.embedding_dim;
    IT_TRY(it_arena_begin(m->arena, shape_key(1, T, H, W)));
    z = it_cnn_encode(m, T, H, W, x, taps ? taps->haar : NULL, &rc);
    IT_TRY(rc);
    if (taps && taps->cnn)
        memcpy(taps->cnn, z, Z * nt * sizeof(float));
    IT_TRY(it_vit_forward(m, m->vit_enc, m->cfg.vit_enc_layers, t, h, w, z));
    if (taps && taps->vit)
        memcpy(taps->vit, z, Z * nt * sizeof(float));
    lat = it_arena_alloc(m->arena, E * nt);
    if (!lat)
        IT_FAIL(IT_E_NOMEM, "out of memory for the latent");
    IT_TRY(pointwise(m, &m->quant_conv, t, h, w, z, lat));
    if (latent)
        memcpy(latent, lat, E * nt * sizeof(float));
    if (codes || idx)
        IT_TRY(m->be->fsq(nt, lat, NULL, codes, idx));
done:
    it_arena_release(m->arena, lat);
    it_arena_release(m->arena, z);
    return end_pass(m, rc);
}

int it_model_decode(it_model *m, int t, int h, int w, const float *codes, float *y)
{
    int rc = 0, tt, th, tw;
    float *z = NULL, *out = NULL;
    IT_TRY(it_model_latent_shape(m, 4 * t - 3, 8 * h, 8 * w, &tt, &th, &tw));
    const size_t nt = (size_t)t * h * w;
    IT_TRY(it_arena_begin(m->arena, shape_key(2, t, h, w)));
    z = it_arena_alloc(m->arena, (size_t)m->cfg.z_channels * nt);
    if (!z)
        IT_FAIL(IT_E_NOMEM, "out of memory for the latent");
    IT_TRY(pointwise(m, &m->post_quant_conv, t, h, w, codes, z));
    IT_TRY(it_vit_forward(m, m->vit_dec, m->cfg.vit_dec_layers, t, h, w, z));
    out = it_cnn_decode(m, t, h, w, z, &rc);
    IT_TRY(rc);
    memcpy(y, out, (size_t)3 * (4 * t - 3) * (8 * h) * (8 * w) * sizeof(float));
done:
    it_arena_release(m->arena, out);
    it_arena_release(m->arena, z);
    return end_pass(m, rc);
}
