/* net_vit.c: the transformer stacks on both sides of the quantiser (spec §3.5,
 * layers3d_vit.py TransformerBlock): pre-norm blocks with RMSNorm, 2D RoPE, the block-causal
 * mask and InfoTok's double in-projection, SwiGLU MLPs, the shared temporal embedding. Tokens
 * of n windows are rows of one [N*S][D] matrix; only mha needs to know where a window ends. */
#include "error_internal.h"
#include "model_internal.h"

/* One block on tokens x [N*S][D] in place. q/k/v projections as the official code computes
 * them: q = Wq·RoPE(Wq·x + bq) + bq (nn.MultiheadAttention projects its inputs again),
 * likewise k; v = Wv·(Wv·x + bv) + bv. */
static int vit_block(it_model *m, const vit_layer_w *l, int n, int s, int h, int w, void *x,
                     void **buf)
{
    const int D = m->cfg.vit_hidden, F = m->cfg.vit_intermediate, NH = m->cfg.vit_heads;
    const int HD = D / NH, R = m->cfg.max_rope_size, hw = h * w, rows = n * s;
    const float eps = (float)m->cfg.rms_norm_eps;
    void *xn = buf[0], *q1 = buf[1], *k1 = buf[2], *v1 = buf[3], *q = buf[4], *k = buf[5], *v = buf[6];
    int rc = 0;
    IT_TRY(IT_OP(m, rmsnorm, rows, D, x, l->attn_norm, eps, xn));
    IT_TRY(IT_OP(m, linear, rows, D, D, xn, l->in_w[0], l->in_b[0], q1));
    IT_TRY(IT_OP(m, linear, rows, D, D, xn, l->in_w[1], l->in_b[1], k1));
    IT_TRY(IT_OP(m, linear, rows, D, D, xn, l->in_w[2], l->in_b[2], v1));
    /* RoPE angles depend on the (row, column) inside a frame only, not on the frame */
    IT_TRY(IT_OP(m, rope2d, rows, NH, HD, hw, w, R, q1, m->rope_cos, m->rope_sin, q1));
    IT_TRY(IT_OP(m, rope2d, rows, NH, HD, hw, w, R, k1, m->rope_cos, m->rope_sin, k1));
    IT_TRY(IT_OP(m, linear, rows, D, D, q1, l->in_w[0], l->in_b[0], q));
    IT_TRY(IT_OP(m, linear, rows, D, D, k1, l->in_w[1], l->in_b[1], k));
    IT_TRY(IT_OP(m, linear, rows, D, D, v1, l->in_w[2], l->in_b[2], v));
    IT_TRY(IT_OP(m, mha, n, s, NH, HD, hw, q, k, v, q1));           /* attention output -> q1 */
    IT_TRY(IT_OP(m, linear, rows, D, D, q1, l->out_w, l->out_b, k1)); /* out_proj -> k1 */
    IT_TRY(IT_OP(m, add, (size_t)rows * D, x, k1, x));
    IT_TRY(IT_OP(m, rmsnorm, rows, D, x, l->ffn_norm, eps, xn));
    IT_TRY(IT_OP(m, swiglu, rows, D, F, xn, l->w1, l->w3, l->w2, k1));
    IT_TRY(IT_OP(m, add, (size_t)rows * D, x, k1, x));
done:
    return rc;
}

/* z [N][D][t][h][w] in place: to tokens [N][S][D], + temporal embedding of each token's frame,
 * the blocks, back to channel-major. */
int it_vit_forward(it_model *m, const vit_layer_w *layers, int nlayers, int n, int t, int h, int w,
                   void *z)
{
    int rc = 0;
    const int D = m->cfg.vit_hidden, hw = h * w, s = t * hw;
    void *x = NULL, *buf[7] = {0};
    x = it_model_act(m, (size_t)n * s * D);
    for (int i = 0; i < 7; i++)
        if (!(buf[i] = it_model_act(m, (size_t)n * s * D)))
            rc = IT_E_NOMEM;
    if (!x || rc < 0)
        IT_FAIL(IT_E_NOMEM, "out of memory for %d transformer tokens", n * s);
    IT_TRY(IT_OP(m, transpose, n, D, s, z, x));
    IT_TRY(IT_OP(m, add_rows, n, s, D, hw, m->temporal_embed, x));
    for (int l = 0; l < nlayers; l++)
        IT_TRY(vit_block(m, &layers[l], n, s, h, w, x, buf));
    IT_TRY(IT_OP(m, transpose, n, s, D, x, z));
done:
    for (int i = 6; i >= 0; i--)
        it_arena_release(m->arena, buf[i]);
    it_arena_release(m->arena, x);
    return rc;
}
