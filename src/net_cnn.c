/* net_cnn.c: the causal 3D CNN encoder and decoder (spec §3.3-3.4, layers3d.py
 * EncoderFactorized/DecoderFactorized) as a straight sequence of backend calls on a batch of
 * n windows, [N][C][T][H][W]. Each stage takes ownership of its input activation and returns a
 * new one, so memory held at any moment is what the data flow needs; the arena plans it once
 * per shape. */
#include "error_internal.h"
#include "model_internal.h"

/* An activation [n][c][t][h][w] in the arena. */
typedef struct act { void *d; int n, c, t, h, w; } act;

static size_t act_len(const act *a) { return (size_t)a->n * a->c * a->t * a->h * a->w; }

static act act_new(it_model *m, int n, int c, int t, int h, int w, int *rc)
{
    act a = {NULL, n, c, t, h, w};
    if (*rc < 0)
        return a;
    a.d = it_model_act(m, act_len(&a));
    if (!a.d)
        *rc = IT_E_NOMEM;
    return a;
}

static void act_drop(it_model *m, act *a)
{
    it_arena_release(m->arena, a->d);
    a->d = NULL;
}

typedef struct conv_geom { int st, sh, sw, tpad, top, bottom, left, right; } conv_geom;
static const conv_geom SPATIAL = {1, 1, 1, 0, 1, 1, 1, 1};    /* k(1,3,3), pad 1 */
static const conv_geom TEMPORAL = {1, 1, 1, 2, 0, 0, 0, 0};   /* k(3,1,1), 2 copies of frame 0 */
static const conv_geom POINT = {1, 1, 1, 0, 0, 0, 0, 0};      /* 1x1x1 */
static const conv_geom DOWN_HW = {1, 2, 2, 0, 0, 1, 0, 1};    /* k(1,3,3) /2, pad bottom/right */
static const conv_geom DOWN_T = {2, 1, 1, 2, 0, 0, 0, 0};     /* k(3,1,1) /2 in time */

/* y = conv(x); x is kept. */
static act conv(it_model *m, const conv_w *cw, const conv_geom *g, const act *x, int *rc)
{
    act y = {NULL, 0, 0, 0, 0, 0};
    if (*rc < 0)
        return y;
    it_conv3d_params p = {cw->ci, cw->co, x->t, x->h, x->w, cw->kt, cw->kh, cw->kw,
                          g->st, g->sh, g->sw, g->tpad, g->top, g->bottom, g->left, g->right, x->n};
    int to, ho, wo;
    if ((*rc = it_conv3d_out_shape(&p, &to, &ho, &wo)) < 0)
        return y;
    y = act_new(m, x->n, cw->co, to, ho, wo, rc);
    if (*rc == 0)
        *rc = IT_OP(m, conv3d, &p, x->d, cw->w, cw->b, y.d);
    return y;
}

/* x = a + b into a; b is dropped. */
static void add_into(it_model *m, act *a, act *b, int *rc)
{
    if (*rc == 0)
        *rc = IT_OP(m, add, act_len(a), a->d, b->d, a->d);
    act_drop(m, b);
}

static act norm(it_model *m, const norm_w *n, const act *x, int silu, int *rc)
{
    act y = act_new(m, x->n, x->c, x->t, x->h, x->w, rc);
    if (*rc == 0)
        *rc = IT_OP(m, groupnorm, x->n, x->c, x->t, x->h * x->w, x->d, n->g, n->b,
                    (float)m->cfg.norm_eps, silu, y.d);
    return y;
}

/* Factorized residual block; consumes x. */
static act resblock(it_model *m, const resblock_w *r, act x, int *rc)
{
    act h = norm(m, &r->norm1, &x, 1, rc);
    act a = conv(m, &r->conv1s, &SPATIAL, &h, rc);
    act_drop(m, &h);
    act b = conv(m, &r->conv1t, &TEMPORAL, &a, rc);
    act_drop(m, &a);
    if (*rc == 0) /* in place: y may be x */
        *rc = IT_OP(m, groupnorm, b.n, b.c, b.t, b.h * b.w, b.d, r->norm2.g, r->norm2.b,
                    (float)m->cfg.norm_eps, 1, b.d);
    a = conv(m, &r->conv2s, &SPATIAL, &b, rc);
    act_drop(m, &b);
    b = conv(m, &r->conv2t, &TEMPORAL, &a, rc);
    act_drop(m, &a);
    if (r->nin.w) {
        act s = conv(m, &r->nin, &POINT, &x, rc);
        add_into(m, &b, &s, rc);
    } else if (*rc == 0) {
        *rc = IT_OP(m, add, act_len(&b), b.d, x.d, b.d);
    }
    act_drop(m, &x);
    return b;
}

/* Mid-block attention (spatial per frame, or causal temporal per position); consumes x. */
static act attention(it_model *m, const attn_w *aw, act x, int temporal, int *rc)
{
    act h = norm(m, &aw->norm, &x, 0, rc);
    act q = conv(m, &aw->q, &POINT, &h, rc);
    act k = conv(m, &aw->k, &POINT, &h, rc);
    act v = conv(m, &aw->v, &POINT, &h, rc);
    act_drop(m, &h);
    act o = act_new(m, x.n, x.c, x.t, x.h, x.w, rc);
    if (*rc == 0)
        *rc = temporal ? IT_OP(m, attn_temporal, x.n, x.c, x.t, x.h * x.w, q.d, k.d, v.d, o.d)
                       : IT_OP(m, attn_spatial, x.n, x.c, x.t, x.h * x.w, q.d, k.d, v.d, o.d);
    act_drop(m, &q);
    act_drop(m, &k);
    act_drop(m, &v);
    act p = conv(m, &aw->proj, &POINT, &o, rc);
    act_drop(m, &o);
    add_into(m, &x, &p, rc);
    return x;
}

/* Hybrid downsample (CausalHybridDownsample3d); consumes x. */
static act downsample(it_model *m, const resample_w *s, act x, int *rc)
{
    if (s->spatial) {
        act a = conv(m, &s->conv1, &DOWN_HW, &x, rc);
        act b = act_new(m, x.n, x.c, x.t, x.h / 2, x.w / 2, rc);
        if (*rc == 0) /* on the zero-padded input: the pad row/column is never in a window */
            *rc = IT_OP(m, avgpool, x.n * x.c, x.t, x.h, x.w, 1, 2, 2, 0, x.d, b.d);
        add_into(m, &a, &b, rc);
        act_drop(m, &x);
        x = a;
    }
    if (s->temporal) {
        /* replication_pad adds one copy of frame 0; conv2 (time stride 2) adds another;
         * the average pool sees the once-padded input. */
        act a = conv(m, &s->conv2, &DOWN_T, &x, rc);
        act b = act_new(m, x.n, x.c, (x.t + 1) / 2, x.h, x.w, rc);
        if (*rc == 0)
            *rc = IT_OP(m, avgpool, x.n * x.c, x.t, x.h, x.w, 2, 1, 1, 1, x.d, b.d);
        add_into(m, &a, &b, rc);
        act_drop(m, &x);
        x = a;
    }
    act y = conv(m, &s->conv3, &POINT, &x, rc);
    act_drop(m, &x);
    return y;
}

/* Hybrid upsample (CausalHybridUpsample3d); consumes x. With a single frame the temporal
 * step repeats nothing but still applies conv1 + residual, as the official code does. */
static act upsample(it_model *m, const resample_w *s, act x, int *rc)
{
    if (s->temporal) {
        if (x.t > 1) {
            act u = act_new(m, x.n, x.c, 2 * x.t - 1, x.h, x.w, rc);
            if (*rc == 0)
                *rc = IT_OP(m, upsample_t, x.n * x.c, x.t, x.h * x.w, x.d, u.d);
            act_drop(m, &x);
            x = u;
        }
        act a = conv(m, &s->conv1, &TEMPORAL, &x, rc);
        add_into(m, &x, &a, rc);
    }
    if (s->spatial) {
        act u = act_new(m, x.n, x.c, x.t, 2 * x.h, 2 * x.w, rc);
        if (*rc == 0)
            *rc = IT_OP(m, upsample_hw, x.n * x.c, x.t, x.h, x.w, x.d, u.d);
        act_drop(m, &x);
        x = u;
        act a = conv(m, &s->conv2, &SPATIAL, &x, rc);
        add_into(m, &x, &a, rc);
    }
    act y = conv(m, &s->conv3, &POINT, &x, rc);
    act_drop(m, &x);
    return y;
}

/* norm_out + SiLU, then conv_out (k(1,3,3), k(3,1,1)); consumes x. */
static act head(it_model *m, const cnn_w *n, act x, int *rc)
{
    if (*rc == 0)
        *rc = IT_OP(m, groupnorm, x.n, x.c, x.t, x.h * x.w, x.d, n->norm_out.g, n->norm_out.b,
                    (float)m->cfg.norm_eps, 1, x.d);
    act a = conv(m, &n->conv_out_s, &SPATIAL, &x, rc);
    act_drop(m, &x);
    act b = conv(m, &n->conv_out_t, &TEMPORAL, &a, rc);
    act_drop(m, &a);
    return b;
}

static act mid(it_model *m, const cnn_w *n, act x, int *rc)
{
    x = resblock(m, &n->mid1, x, rc);
    x = attention(m, &n->mid_spatial, x, 0, rc);
    x = attention(m, &n->mid_temporal, x, 1, rc);
    return resblock(m, &n->mid2, x, rc);
}

/* x [N][3][T][H][W] -> z [N][Z][t][h][w] (arena; caller releases); *haar_out (when not NULL)
 * keeps the patcher output for a test tap (arena; caller releases). */
void *it_cnn_encode(it_model *m, int n, int T, int H, int W, const void *x, void **haar_out, int *rc)
{
    const cnn_w *e = &m->enc;
    act p = act_new(m, n, 24, (T + 1) / 2, H / 2, W / 2, rc);
    if (*rc == 0)
        *rc = IT_OP(m, haar_fwd, n, T, H, W, x, p.d);
    act a = conv(m, &e->conv_in_s, &SPATIAL, &p, rc);
    if (haar_out)
        *haar_out = p.d;
    else
        act_drop(m, &p);
    act h = conv(m, &e->conv_in_t, &TEMPORAL, &a, rc);
    act_drop(m, &a);
    for (int i = 0; i < IT_CONFIG_RESOLUTIONS; i++) {
        const level_w *lv = &e->level[i];
        for (int b = 0; b < lv->nblocks; b++)
            h = resblock(m, &lv->block[b], h, rc);
        if (lv->has_sample)
            h = downsample(m, &lv->sample, h, rc);
    }
    h = mid(m, e, h, rc);
    h = head(m, e, h, rc);
    if (*rc < 0) {
        act_drop(m, &h);
        return NULL;
    }
    return h.d;
}

/* z [N][Z][t][h][w] -> y [N][3][4t-3][8h][8w] (arena; caller releases). */
void *it_cnn_decode(it_model *m, int n, int t, int hh, int ww, const void *z, int *rc)
{
    const cnn_w *d = &m->dec;
    act zin = {(void *)z, n, m->cfg.z_channels, t, hh, ww};
    act h = conv(m, &d->conv_in_s, &SPATIAL, &zin, rc);
    act a = conv(m, &d->conv_in_t, &TEMPORAL, &h, rc);
    act_drop(m, &h);
    h = mid(m, d, a, rc);
    for (int i = IT_CONFIG_RESOLUTIONS - 1; i >= 0; i--) {
        const level_w *lv = &d->level[i];
        for (int b = 0; b < lv->nblocks; b++)
            h = resblock(m, &lv->block[b], h, rc);
        if (lv->has_sample)
            h = upsample(m, &lv->sample, h, rc);
    }
    h = head(m, d, h, rc);
    act y = act_new(m, n, 3, 2 * h.t - 1, 2 * h.h, 2 * h.w, rc);
    if (*rc == 0)
        *rc = IT_OP(m, haar_inv, n, h.t, h.h, h.w, h.d, y.d);
    act_drop(m, &h);
    if (*rc < 0) {
        act_drop(m, &y);
        return NULL;
    }
    return y.d;
}
