/* ref_conv.c: conv3d, the naive oracle. One output element at a time, summed in double, with
 * the padding rules written out literally: frames before 0 read frame 0 (causal first-frame
 * replication), rows/columns outside the frame read 0. Not fast, and not meant to be.
 * Dimension letters: see it_kernels.h. */
#include "kernels/kernels_internal.h"

/* x [N][Ci][T][H][W], wt [Co][Ci][kt][kh][kw], bias [Co] or NULL -> y [N][Co][To][Ho][Wo] */
int it_ref_conv3d(it_ctx *ctx, const it_conv3d_params *p, const float *x, const float *wt,
                  const float *bias, float *y)
{
    int to, ho, wo;
    int rc = it_conv3d_out_shape(p, &to, &ho, &wo);
    if (rc < 0)
        return rc;
    const size_t T = p->t, H = p->h, W = p->w;
    for (int s = 0; s < p->n; s++, x += (size_t)p->ci * T * H * W, y += (size_t)p->co * to * ho * wo)
    for (int co = 0; co < p->co; co++)
        for (int ot = 0; ot < to; ot++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) {
                    double acc = bias ? bias[co] : 0.0;
                    for (int ci = 0; ci < p->ci; ci++)
                        for (int dt = 0; dt < p->kt; dt++) {
                            int it = ot * p->st + dt - p->tpad;
                            if (it < 0)
                                it = 0; /* replicated first frame */
                            for (int dy = 0; dy < p->kh; dy++) {
                                int iy = oy * p->sh + dy - p->pad_top;
                                if (iy < 0 || iy >= p->h)
                                    continue; /* zero padding */
                                for (int dx = 0; dx < p->kw; dx++) {
                                    int ix = ox * p->sw + dx - p->pad_left;
                                    if (ix < 0 || ix >= p->w)
                                        continue;
                                    size_t wi = ((((size_t)co * p->ci + ci) * p->kt + dt) * p->kh + dy) *
                                                    p->kw + dx;
                                    size_t xi = (((size_t)ci * T + it) * H + iy) * W + ix;
                                    acc += (double)wt[wi] * x[xi];
                                }
                            }
                        }
                    y[(((size_t)co * to + ot) * ho + oy) * wo + ox] = (float)acc;
                }
    return 0;
}
