/* net_vit.c: the transformer stacks on both sides of the quantiser (spec §3.5,
 * layers3d_vit.py TransformerBlock): pre-norm blocks with RMSNorm, 2D RoPE, the block-causal
 * mask and InfoTok's double in-projection, SwiGLU MLPs, the shared temporal embedding. */
#include <string.h>

#include "error_internal.h"
#include "model_internal.h"

/* Tokens [S][D] <-> channel-major [D][S]. */
static void transpose(int rows, int cols, const float *src, float *dst)
{
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

/* One block on tokens x [S][D] in place. q/k/v projections as the official code computes
 * them: q = Wq·RoPE(Wq·x + bq) + bq (nn.MultiheadAttention projects its inputs again),
 * likewise k; v = Wv·(Wv·x + bv) + bv. */
static int vit_block(it_model *m, const vit_layer_w *l, int s, int hw, const float *cs,
                     const float *sn, float *x, float **buf)
{
    const it_backend *be = m->be;
    const int D = m->cfg.vit_hidden, F = m->cfg.vit_intermediate, NH = m->cfg.vit_heads;
    const int HD = D / NH;
    const float eps = (float)m->cfg.rms_norm_eps;
    const size_t DD = (size_t)D * D;
    float *xn = buf[0], *q1 = buf[1], *k1 = buf[2], *v1 = buf[3], *q = buf[4], *k = buf[5], *v = buf[6];
    int rc = 0;
    IT_TRY(be->rmsnorm(s, D, x, l->attn_norm, eps, xn));
    IT_TRY(be->linear(s, D, D, xn, l->in_w, l->in_b, q1));
    IT_TRY(be->linear(s, D, D, xn, l->in_w + DD, l->in_b + D, k1));
    IT_TRY(be->linear(s, D, D, xn, l->in_w + 2 * DD, l->in_b + 2 * D, v1));
    IT_TRY(be->rope2d(s, NH, HD, q1, cs, sn, q1));
    IT_TRY(be->rope2d(s, NH, HD, k1, cs, sn, k1));
    IT_TRY(be->linear(s, D, D, q1, l->in_w, l->in_b, q));
    IT_TRY(be->linear(s, D, D, k1, l->in_w + DD, l->in_b + D, k));
    IT_TRY(be->linear(s, D, D, v1, l->in_w + 2 * DD, l->in_b + 2 * D, v));
    IT_TRY(be->mha(s, NH, HD, hw, q, k, v, q1));                /* attention output -> q1 */
    IT_TRY(be->linear(s, D, D, q1, l->out_w, l->out_b, k1));   /* out_proj -> k1 */
    IT_TRY(be->add((size_t)s * D, x, k1, x));
    IT_TRY(be->rmsnorm(s, D, x, l->ffn_norm, eps, xn));
    IT_TRY(be->swiglu(s, D, F, xn, l->w1, l->w3, l->w2, k1));
    IT_TRY(be->add((size_t)s * D, x, k1, x));
done:
    return rc;
}

int it_vit_forward(it_model *m, const vit_layer_w *layers, int nlayers, int t, int h, int w, float *z)
{
    int rc = 0;
    const int D = m->cfg.vit_hidden, HD = D / m->cfg.vit_heads, half = HD / 2;
    const int hw = h * w, s = t * hw, R = m->cfg.max_rope_size;
    float *x = NULL, *cs = NULL, *sn = NULL, *buf[7] = {0};
    x = it_arena_alloc(m->arena, (size_t)s * D);
    cs = it_arena_alloc(m->arena, (size_t)s * half);
    sn = it_arena_alloc(m->arena, (size_t)s * half);
    for (int i = 0; i < 7; i++)
        if (!(buf[i] = it_arena_alloc(m->arena, (size_t)s * D)))
            rc = IT_E_NOMEM;
    if (!x || !cs || !sn || rc < 0)
        IT_FAIL(IT_E_NOMEM, "out of memory for %d transformer tokens", s);
    /* RoPE angles depend on the (row, column) inside a frame only, not on the frame. */
    for (int i = 0; i < s; i++) {
        int y = (i % hw) / w, xx = i % w;
        memcpy(cs + (size_t)i * half, m->rope_cos + ((size_t)y * R + xx) * half, sizeof(float) * half);
        memcpy(sn + (size_t)i * half, m->rope_sin + ((size_t)y * R + xx) * half, sizeof(float) * half);
    }
    transpose(D, s, z, x);
    for (int i = 0; i < s; i++) {
        const float *te = m->temporal_embed + (size_t)(i / hw) * D;
        float *row = x + (size_t)i * D;
        for (int d = 0; d < D; d++)
            row[d] += te[d];
    }
    for (int l = 0; l < nlayers; l++)
        IT_TRY(vit_block(m, &layers[l], s, hw, cs, sn, x, buf));
    transpose(s, D, x, z);
done:
    for (int i = 6; i >= 0; i--)
        it_arena_release(m->arena, buf[i]);
    it_arena_release(m->arena, sn);
    it_arena_release(m->arena, cs);
    it_arena_release(m->arena, x);
    return rc;
}
