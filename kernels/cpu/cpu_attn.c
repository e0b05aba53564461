/* cpu_attn.c: attention without the score matrix: a flash-style kernel (tiles of BQ queries
 * against BK keys, online softmax with running max m and sum l) shared by the ViT's
 * block-causal multi-head attention and the CNN's per-frame spatial attention; the temporal
 * causal attention (t <= 49 keys) vectorises across spatial positions instead. Masks are key
 * ranges: row i sees keys [0, kend[i]). A query tile belongs to one thread and keys are always
 * visited in the same order, so results do not depend on the thread count.
 * Dimension letters: see it_kernels.h; HD is the attention dim (C for the CNN blocks). */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"

#define BQ 16
#define BK 64 /* a multiple of IT_VL */

typedef float it_v8f __attribute__((vector_size(8 * sizeof(float))));

/* Per-thread scratch of the flash kernel. */
struct flash_scratch {
    float *qb;  /* [BQ][HD] scaled queries */
    float *acc; /* [BQ][HD] unnormalised outputs */
    float *s;   /* [BQ][BK] scores, then probabilities */
    float m[BQ], l[BQ];
};

static int scratch_alloc(struct flash_scratch *sc, int hd)
{
    sc->qb = it_cpu_alloc(sizeof(float) * BQ * hd);
    sc->acc = it_cpu_alloc(sizeof(float) * BQ * hd);
    sc->s = it_cpu_alloc(sizeof(float) * BQ * BK);
    return sc->qb && sc->acc && sc->s;
}

static void scratch_free(struct flash_scratch *sc)
{
    free(sc->qb), free(sc->acc), free(sc->s);
}

/* acc [HD] += p * v [HD] */
static inline void axpy(int hd, float p, const float *restrict v, float *restrict acc)
{
    int d = 0;
    if (hd == 8) {
        it_v8f a, b;
        memcpy(&a, acc, sizeof a), memcpy(&b, v, sizeof b);
        a += p * b;
        memcpy(acc, &a, sizeof a);
        return;
    }
    for (; d + IT_VL <= hd; d += IT_VL)
        vf_store(acc + d, vf_load(acc + d) + p * vf_load(v + d));
    for (; d < hd; d++)
        acc[d] += p * v[d];
}

/* One tile of nq <= BQ query rows. Query row i, dim d at q[i*qsi + d*qsd]; keys transposed,
 * kt [HD][ldk]; values v [*][HD]; both zero-padded to a multiple of BK past the last key any
 * row sees. Row i attends keys [0, kend[i]), kend[i] >= 1. Output row i, dim d at
 * o[i*osi + d*osd]. */
static void flash_tile(int nq, int hd, float scale, const float *q, size_t qsi, size_t qsd,
                       const float *kt, size_t ldk, const float *v, const int *kend, float *o,
                       size_t osi, size_t osd, struct flash_scratch *sc)
{
    int maxend = 0;
    for (int i = 0; i < nq; i++) {
        for (int d = 0; d < hd; d++)
            sc->qb[i * hd + d] = q[i * qsi + d * qsd] * scale;
        memset(sc->acc + (size_t)i * hd, 0, sizeof(float) * hd);
        sc->m[i] = -INFINITY;
        sc->l[i] = 0;
        if (kend[i] > maxend)
            maxend = kend[i];
    }
    for (int j0 = 0; j0 < maxend; j0 += BK) {
        for (int i = 0; i < nq; i++) {
            int e = kend[i] - j0; /* valid keys of this block for row i */
            if (e <= 0)
                continue;
            if (e > BK)
                e = BK;
            /* scores s[j] = q_i . k_{j0+j}, a full BK block (padding keys are zeros) */
            it_vf sv[BK / IT_VL];
            for (int u = 0; u < BK / IT_VL; u++)
                sv[u] = (it_vf){0};
            const float *qi = sc->qb + (size_t)i * hd;
            for (int d = 0; d < hd; d++) {
                const float *kr = kt + (size_t)d * ldk + j0;
                for (int u = 0; u < BK / IT_VL; u++)
                    sv[u] += qi[d] * vf_load(kr + u * IT_VL);
            }
            float *s = sc->s + (size_t)i * BK;
            for (int u = 0; u < BK / IT_VL; u++)
                vf_store(s + u * IT_VL, sv[u]);
            float mx = sc->m[i];
            for (int j = 0; j < e; j++)
                mx = s[j] > mx ? s[j] : mx;
            float alpha = expf(sc->m[i] - mx); /* 0 on the first block: m was -inf */
            it_vf mv = vf_set1(mx), lsum = {0};
            for (int u = 0; u < BK / IT_VL; u++) {
                it_vf p = vf_exp(vf_load(s + u * IT_VL) - mv);
                vf_store(s + u * IT_VL, p);
            }
            for (int j = e; j < BK; j++)
                s[j] = 0.0f; /* masked or padding keys get exactly no weight */
            for (int u = 0; u < BK / IT_VL; u++)
                lsum += vf_load(s + u * IT_VL);
            float ls = 0;
            for (int u = 0; u < IT_VL; u++)
                ls += lsum[u];
            sc->l[i] = sc->l[i] * alpha + ls;
            sc->m[i] = mx;
            float *acc = sc->acc + (size_t)i * hd;
            if (alpha != 1.0f)
                for (int d = 0; d < hd; d++)
                    acc[d] *= alpha;
            for (int j = 0; j < e; j++)
                axpy(hd, s[j], v + (size_t)(j0 + j) * hd, acc);
        }
    }
    for (int i = 0; i < nq; i++) {
        float inv = 1.0f / sc->l[i];
        for (int d = 0; d < hd; d++)
            o[i * osi + d * osd] = sc->acc[(size_t)i * hd + d] * inv;
    }
}

static size_t pad_keys(int n)
{
    return ((size_t)n + BK - 1) / BK * BK;
}

/* q, k, v, y [S][NH*HD] */
int it_cpu_mha(int s, int nh, int hd, int hw, const float *q, const float *k, const float *v,
               float *y)
{
    IT_KCHECK(s > 0 && nh > 0 && hd > 0 && hw > 0, "mha");
    const size_t dm = (size_t)nh * hd, sp = pad_keys(s);
    float *kt = calloc(sp * hd, sizeof *kt), *vh = calloc(sp * hd, sizeof *vh);
    if (!kt || !vh) {
        free(kt), free(vh);
        return it_error_set(IT_E_NOMEM, "mha: out of memory");
    }
    const float scale = 1.0f / sqrtf((float)hd);
    const long ntile = (s + BQ - 1) / BQ;
    int failed = 0;
    for (int h = 0; h < nh; h++) { /* heads in turn; tiles of one head in parallel */
#pragma omp parallel for schedule(static)
        for (long j = 0; j < s; j++)
            for (int d = 0; d < hd; d++) {
                kt[(size_t)d * sp + j] = k[j * dm + (size_t)h * hd + d]; /* kt [HD][Sp] */
                vh[j * hd + d] = v[j * dm + (size_t)h * hd + d];       /* vh [Sp][HD] */
            }
#pragma omp parallel
        {
            struct flash_scratch sc;
            int ok = scratch_alloc(&sc, hd);
            if (!ok) {
#pragma omp atomic write
                failed = 1;
            }
#pragma omp for schedule(dynamic, 4)
            for (long tile = 0; tile < ntile; tile++) {
                if (!ok)
                    continue;
                int i0 = (int)tile * BQ, nq = s - i0 < BQ ? s - i0 : BQ, kend[BQ];
                for (int i = 0; i < nq; i++) { /* block-causal: up to the end of i's frame */
                    long end = ((long)(i0 + i) / hw + 1) * hw;
                    kend[i] = end < s ? (int)end : s;
                }
                flash_tile(nq, hd, scale, q + i0 * dm + (size_t)h * hd, dm, 1, kt, sp, vh, kend,
                           y + i0 * dm + (size_t)h * hd, dm, 1, &sc);
            }
            scratch_free(&sc);
        }
        if (failed)
            break;
    }
    free(kt), free(vh);
    return failed ? it_error_set(IT_E_NOMEM, "mha: out of memory") : 0;
}

/* q, k, v, y [C][T][HW] */
int it_cpu_attn_spatial(int c, int t, int hw, const float *q, const float *k, const float *v,
                        float *y)
{
    IT_KCHECK(c > 0 && t > 0 && hw > 0, "attn_spatial");
    const size_t cs = (size_t)t * hw, sp = pad_keys(hw);
    float *kt = calloc(sp * c, sizeof *kt), *vh = calloc(sp * c, sizeof *vh);
    if (!kt || !vh) {
        free(kt), free(vh);
        return it_error_set(IT_E_NOMEM, "attn_spatial: out of memory");
    }
    const float scale = 1.0f / sqrtf((float)c);
    const long ntile = (hw + BQ - 1) / BQ;
    int failed = 0;
    for (int ft = 0; ft < t; ft++) {
#pragma omp parallel for schedule(static)
        for (long d = 0; d < c; d++) { /* kt [C][HWp] is k's frame; vh [HWp][C] transposes v's */
            memcpy(kt + d * sp, k + d * cs + (size_t)ft * hw, sizeof(float) * hw);
            for (int j = 0; j < hw; j++)
                vh[(size_t)j * c + d] = v[d * cs + (size_t)ft * hw + j];
        }
#pragma omp parallel
        {
            struct flash_scratch sc;
            int ok = scratch_alloc(&sc, c);
            if (!ok) {
#pragma omp atomic write
                failed = 1;
            }
#pragma omp for schedule(dynamic, 1)
            for (long tile = 0; tile < ntile; tile++) {
                if (!ok)
                    continue;
                int i0 = (int)tile * BQ, nq = hw - i0 < BQ ? hw - i0 : BQ, kend[BQ];
                for (int i = 0; i < nq; i++)
                    kend[i] = hw;
                size_t at = (size_t)ft * hw + i0;
                flash_tile(nq, c, scale, q + at, 1, cs, kt, sp, vh, kend, y + at, 1, cs, &sc);
            }
            scratch_free(&sc);
        }
        if (failed)
            break;
    }
    free(kt), free(vh);
    return failed ? it_error_set(IT_E_NOMEM, "attn_spatial: out of memory") : 0;
}

/* Load/store n <= IT_VL consecutive floats (the tail of a row of positions). */
static inline it_vf load_n(const float *p, int n)
{
    it_vf v = {0};
    memcpy(&v, p, sizeof(float) * n);
    return v;
}
static inline void store_n(float *p, it_vf v, int n)
{
    memcpy(p, &v, sizeof(float) * n);
}

/* q, k, v, y [C][T][HW]; lanes are IT_VL neighbouring positions, each its own attention. */
int it_cpu_attn_temporal(int c, int t, int hw, const float *q, const float *k, const float *v,
                         float *y)
{
    IT_KCHECK(c > 0 && t > 0 && hw > 0, "attn_temporal");
    const size_t cs = (size_t)t * hw;
    const float scale = 1.0f / sqrtf((float)c);
    const long nblk = (hw + IT_VL - 1) / IT_VL;
    int failed = 0;
#pragma omp parallel
    {
        it_vf *p = it_cpu_alloc(sizeof *p * t); /* [t] probabilities of one query row */
        if (!p) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (long b = 0; b < nblk; b++) {
            if (!p)
                continue;
            int p0 = (int)b * IT_VL, nl = hw - p0 < IT_VL ? hw - p0 : IT_VL;
            for (int i = 0; i < t; i++) {
                it_vf mx = vf_set1(-INFINITY), l = {0};
                for (int j = 0; j <= i; j++) { /* causal: keys 0..i */
                    it_vf dot = {0};
                    for (int ch = 0; ch < c; ch++)
                        dot += load_n(q + ch * cs + (size_t)i * hw + p0, nl) *
                               load_n(k + ch * cs + (size_t)j * hw + p0, nl);
                    p[j] = dot * scale;
                    mx = vf_max(mx, p[j]);
                }
                for (int j = 0; j <= i; j++) {
                    p[j] = vf_exp(p[j] - mx);
                    l += p[j];
                }
                it_vf inv = 1.0f / l;
                for (int ch = 0; ch < c; ch++) {
                    it_vf acc = {0};
                    for (int j = 0; j <= i; j++)
                        acc += p[j] * load_n(v + ch * cs + (size_t)j * hw + p0, nl);
                    store_n(y + ch * cs + (size_t)i * hw + p0, acc * inv, nl);
                }
            }
        }
        free(p);
    }
    return failed ? it_error_set(IT_E_NOMEM, "attn_temporal: out of memory") : 0;
}

/* x, y [S][NH*HD], cs, sn [S][HD/2] */
int it_cpu_rope2d(int s, int nh, int hd, const float *x, const float *cs, const float *sn,
                  float *y)
{
    IT_KCHECK(s > 0 && nh > 0 && hd > 0 && hd % 2 == 0, "rope2d");
    const size_t dm = (size_t)nh * hd, np = hd / 2;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < s; i++)
        for (int h = 0; h < nh; h++)
            for (size_t pr = 0; pr < np; pr++) {
                size_t at = i * dm + (size_t)h * hd + 2 * pr;
                float a = x[at], b = x[at + 1], co = cs[i * np + pr], si = sn[i * np + pr];
                y[at] = a * co - b * si;
                y[at + 1] = a * si + b * co;
            }
    return 0;
}
