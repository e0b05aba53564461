/* cpu_attn.c: the attention ops without an S x S matrix.
 *  - mha (the ViT, head dim 8): flash-style tiles of BQ queries against BK keys with an
 *    online softmax (running max m and sum l); the block-causal mask is a key range per row.
 *  - attn_spatial (the CNN mid-block, C = 512 over h*w positions of one frame): chunks of QR
 *    query rows at a time through the packed SGEMM: S = Q^T K, row softmax, O^T = V P^T. The
 *    chunk's scores are QR x HW, a bounded scratch, and the GEMMs do the heavy lifting.
 *  - attn_temporal (t <= 49 keys): vectorised across IT_VL neighbouring positions.
 * Every output element is produced by one thread with a fixed order: results do not depend
 * on the thread count. Compiled once per SIMD variant (cpu_x86_*.c include this file), hence
 * the IT_CPU_V names. Dimension letters: see it_kernels.h. */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"

#define BQ 16
#define BK 64 /* a multiple of IT_VL */

/* Fully unroll the loops over the BK/IT_VL vectors of a key block, so the block's scores stay
 * in registers (-O2 alone leaves them in memory). */
#define UNROLL _Pragma("GCC unroll 16")

/* Values are stored in one of two layouts, chosen by the head dim:
 *  - small HD (the ViT's 8): transposed like the keys, vt [HD][ldk], and the PV product is
 *    HD dot products along the key block, accumulated in vectors over key lanes that are
 *    reduced once per row at the end;
 *  - larger HD: row-major v [*][HD], PV is an axpy per key, vectorised over HD. */
#define SMALL_HD 16
static int values_transposed(int hd)
{
    return hd <= SMALL_HD;
}

/* Per-thread scratch of the flash kernel. */
struct flash_scratch {
    float *qb;  /* [BQ][HD] scaled queries */
    float *acc; /* [BQ][HD] outputs, or [BQ][HD][IT_VL] lane partial sums (small HD) */
    float *lv;  /* [BQ][IT_VL] lane partial sums of l (small HD) */
    float *mv;  /* [BQ][IT_VL] lane running maxima (small HD) */
    float *s;   /* [BK] scores, then probabilities, of one row */
    float m[BQ], l[BQ];
};

/* The pieces of one thread's flash scratch, in bytes (each a multiple of 64). */
static size_t flash_piece(int hd, size_t part[5])
{
    size_t per_row = values_transposed(hd) ? (size_t)hd * IT_VL : (size_t)hd;
    part[0] = it_cpu_piece(sizeof(float) * BQ * hd);
    part[1] = it_cpu_piece(sizeof(float) * BQ * per_row);
    part[2] = it_cpu_piece(sizeof(float) * BQ * IT_VL);
    part[3] = it_cpu_piece(sizeof(float) * BQ * IT_VL);
    part[4] = it_cpu_piece(sizeof(float) * BK);
    return part[0] + part[1] + part[2] + part[3] + part[4];
}

/* Point sc at a thread's piece of flash scratch. */
static void flash_carve(struct flash_scratch *sc, char *p, const size_t part[5])
{
    sc->qb = (float *)p;
    sc->acc = (float *)(p += part[0]);
    sc->lv = (float *)(p += part[1]);
    sc->mv = (float *)(p += part[2]);
    sc->s = (float *)(p + part[3]);
}

/* acc [HD] = alpha*acc + sum_j<e p[j] v_j, v_j = v[j*hd .. +hd) (row-major values) */
static void pv_rows(int hd, int e, float alpha, const float *restrict p, const float *restrict v,
                    float *restrict acc)
{
    int d = 0;
    for (; d + 4 * IT_VL <= hd; d += 4 * IT_VL) {
        it_vf a0 = vf_load(acc + d) * alpha, a1 = vf_load(acc + d + IT_VL) * alpha,
              a2 = vf_load(acc + d + 2 * IT_VL) * alpha, a3 = vf_load(acc + d + 3 * IT_VL) * alpha;
        for (int j = 0; j < e; j++) {
            const float *vr = v + (size_t)j * hd + d;
            a0 += p[j] * vf_load(vr);
            a1 += p[j] * vf_load(vr + IT_VL);
            a2 += p[j] * vf_load(vr + 2 * IT_VL);
            a3 += p[j] * vf_load(vr + 3 * IT_VL);
        }
        vf_store(acc + d, a0), vf_store(acc + d + IT_VL, a1);
        vf_store(acc + d + 2 * IT_VL, a2), vf_store(acc + d + 3 * IT_VL, a3);
    }
    for (; d + IT_VL <= hd; d += IT_VL) {
        it_vf a0 = vf_load(acc + d) * alpha;
        for (int j = 0; j < e; j++)
            a0 += p[j] * vf_load(v + (size_t)j * hd + d);
        vf_store(acc + d, a0);
    }
    for (; d < hd; d++) {
        float a = acc[d] * alpha;
        for (int j = 0; j < e; j++)
            a += p[j] * v[(size_t)j * hd + d];
        acc[d] = a;
    }
}

/* A finite "minus infinity" for lane maxima and masked scores: exp(NEG - NEG) is 1, not NaN,
 * and anything multiplied by it is then zeroed or was zero. */
#define NEG (-1e30f)

/* max_j<kend q . k_j, keys transposed kt [HD][ldk] */
static float row_max(int hd, const float *q, const float *kt, size_t ldk, int kend)
{
    float mx = NEG;
    for (int j = 0; j < kend; j++) {
        float dot = 0;
        for (int d = 0; d < hd; d++)
            dot += q[d] * kt[(size_t)d * ldk + j];
        mx = dot > mx ? dot : mx;
    }
    return mx;
}

/* One tile of nq <= BQ query rows. Query row i, dim d at q[i*qsi + d*qsd]; keys transposed,
 * kt [HD][ldk]; values v in the layout values_transposed(hd) says ([HD][ldk] or [*][HD]);
 * keys and values are zero-padded to a multiple of BK past the last key any row sees.
 * Row i attends keys [0, kend[i]), kend[i] >= 1. Output row i, dim d at o[i*osi + d*osd].
 * Small HD keeps one running max, sum and output per key lane (keys j = lane mod IT_VL), so a
 * block needs no horizontal max; the lanes are merged once per row at the end. */
static void flash_tile(int nq, int hd, float scale, const float *q, size_t qsi, size_t qsd,
                       const float *kt, size_t ldk, const float *v, const int *kend, float *o,
                       size_t osi, size_t osd, struct flash_scratch *sc, int round_p)
{
    const int vt = values_transposed(hd);
    const size_t per_row = vt ? (size_t)hd * IT_VL : (size_t)hd;
    int maxend = 0;
    for (int i = 0; i < nq; i++) {
        for (int d = 0; d < hd; d++)
            sc->qb[i * hd + d] = q[i * qsi + d * qsd] * scale;
        memset(sc->acc + i * per_row, 0, sizeof(float) * per_row);
        memset(sc->lv + i * IT_VL, 0, sizeof(float) * IT_VL);
        /* bf16: the running max starts at the row's max, so it never moves (every rescale is
         * by exp(0) = 1) and each probability is exp(s - max) when it is rounded */
        sc->m[i] = round_p ? row_max(hd, sc->qb + (size_t)i * hd, kt, ldk, kend[i]) : NEG;
        vf_store(sc->mv + i * IT_VL, vf_set1(sc->m[i]));
        sc->l[i] = 0;
        if (kend[i] > maxend)
            maxend = kend[i];
    }
    float *s = sc->s;
    for (int j0 = 0; j0 < maxend; j0 += BK) {
        for (int i = 0; i < nq; i++) {
            int e = kend[i] - j0; /* valid keys of this block for row i */
            if (e <= 0)
                continue;
            if (e > BK)
                e = BK;
            /* scores s[j] = q_i . k_{j0+j} over the whole block (padding keys are zeros) */
            it_vf sv[BK / IT_VL];
            UNROLL
            for (int u = 0; u < BK / IT_VL; u++)
                sv[u] = (it_vf){0};
            const float *qi = sc->qb + (size_t)i * hd;
            for (int d = 0; d < hd; d++) {
                const float *kr = kt + (size_t)d * ldk + j0;
                UNROLL
                for (int u = 0; u < BK / IT_VL; u++)
                    sv[u] += qi[d] * vf_load(kr + u * IT_VL);
            }
            if (e < BK) { /* keys this row may not see */
                UNROLL
                for (int u = 0; u < BK / IT_VL; u++)
                    vf_store(s + u * IT_VL, sv[u]);
                for (int j = e; j < BK; j++)
                    s[j] = NEG;
                UNROLL
                for (int u = 0; u < BK / IT_VL; u++)
                    sv[u] = vf_load(s + u * IT_VL);
            }
            it_vf bm = sv[0];
            UNROLL
            for (int u = 1; u < BK / IT_VL; u++)
                bm = vf_max(bm, sv[u]);
            float *acc = sc->acc + i * per_row;
            if (vt) {
                it_vf mold = vf_load(sc->mv + i * IT_VL), mnew = vf_max(mold, bm);
                it_vf alpha = vf_exp(mold - mnew), lsum = {0};
                vf_store(sc->mv + i * IT_VL, mnew);
                UNROLL
                for (int u = 0; u < BK / IT_VL; u++)
                    sv[u] = vf_exp(sv[u] - mnew); /* probabilities stay in registers */
                if (e < BK) {
                    UNROLL
                    for (int u = 0; u < BK / IT_VL; u++)
                        vf_store(s + u * IT_VL, sv[u]);
                    for (int j = e; j < BK; j++)
                        s[j] = 0.0f; /* masked or padding keys get exactly no weight */
                    UNROLL
                    for (int u = 0; u < BK / IT_VL; u++)
                        sv[u] = vf_load(s + u * IT_VL);
                }
                UNROLL
                for (int u = 0; u < BK / IT_VL; u++) {
                    lsum += sv[u];
                    if (round_p)
                        sv[u] = vf_bf16_round(sv[u]);
                }
                vf_store(sc->lv + i * IT_VL, vf_load(sc->lv + i * IT_VL) * alpha + lsum);
                for (int d = 0; d < hd; d++) { /* lane sums acc[d] = alpha*acc[d] + p . vt[d] */
                    const float *vr = v + (size_t)d * ldk + j0;
                    it_vf a = vf_load(acc + (size_t)d * IT_VL) * alpha;
                    UNROLL
                    for (int u = 0; u < BK / IT_VL; u++)
                        a += sv[u] * vf_load(vr + u * IT_VL);
                    vf_store(acc + (size_t)d * IT_VL, a);
                }
            } else {
                float mx = sc->m[i];
                for (int l = 0; l < IT_VL; l++)
                    mx = bm[l] > mx ? bm[l] : mx;
                float alpha = mx > sc->m[i] ? expf(sc->m[i] - mx) : 1.0f;
                sc->m[i] = mx;
                it_vf lsum = {0};
                UNROLL
                for (int u = 0; u < BK / IT_VL; u++)
                    vf_store(s + u * IT_VL, vf_exp(sv[u] - mx));
                for (int j = e; j < BK; j++)
                    s[j] = 0.0f;
                UNROLL
                for (int u = 0; u < BK / IT_VL; u++)
                    lsum += vf_load(s + u * IT_VL);
                float ls = 0;
                for (int l = 0; l < IT_VL; l++)
                    ls += lsum[l];
                sc->l[i] = sc->l[i] * alpha + ls;
                if (round_p)
                    for (int j = 0; j < e; j++)
                        s[j] = it_bf16_round(s[j]);
                pv_rows(hd, e, alpha, s, v + (size_t)j0 * hd, acc);
            }
        }
    }
    for (int i = 0; i < nq; i++) {
        const float *acc = sc->acc + i * per_row;
        if (vt) { /* merge the lanes, in lane order, onto the largest lane max */
            const float *mv = sc->mv + i * IT_VL;
            float mx = NEG, l = 0, w[IT_VL];
            for (int u = 0; u < IT_VL; u++)
                mx = mv[u] > mx ? mv[u] : mx;
            vf_store(w, vf_exp(vf_load(mv) - mx)); /* lanes that saw no key: ~1e-38 * 0 */
            for (int u = 0; u < IT_VL; u++)
                l += sc->lv[i * IT_VL + u] * w[u];
            for (int d = 0; d < hd; d++) {
                float a = 0;
                for (int u = 0; u < IT_VL; u++)
                    a += acc[(size_t)d * IT_VL + u] * w[u];
                o[i * osi + d * osd] = a / l;
            }
        } else {
            float inv = 1.0f / sc->l[i];
            for (int d = 0; d < hd; d++)
                o[i * osi + d * osd] = acc[d] * inv;
        }
    }
}

static size_t pad_keys(int n)
{
    return ((size_t)n + BK - 1) / BK * BK;
}

/* q, k, v, y [N][S][NH*HD]. Keys (and values) of every head are first transposed into
 * per-head blocks, kt [NH][HD][Sp] (2*S*D floats of scratch, like k and v themselves), so that
 * one parallel region covers all (head, query tile) pairs; samples run one after another. */
int IT_CPU_V(it_cpu_mha)(it_ctx *ctx, int n, int s, int nh, int hd, int hw, const float *q,
                         const float *k, const float *v, float *y)
{
    IT_KCHECK(n > 0 && s > 0 && nh > 0 && hd > 0 && hw > 0, "mha");
    const size_t dm = (size_t)nh * hd, sp = pad_keys(s), hb = sp * hd; /* hb: one head's block */
    float *kt = it_host_scratch(ctx, IT_SCR_OP0, sizeof *kt * hb * nh);
    float *vh = it_host_scratch(ctx, IT_SCR_OP1, sizeof *vh * hb * nh);
    size_t part[5], piece = flash_piece(hd, part);
    char *fscr = it_host_scratch(ctx, IT_SCR_OP2, piece * it_cpu_max_threads());
    if (!kt || !vh || !fscr)
        return IT_E_NOMEM;
    /* the padding keys past s must read as zeros (their scores are masked, their values
     * weighted 0, but 0 * garbage could be NaN) */
    for (int h = 0; h < nh; h++)
        for (int d = 0; d < hd; d++) {
            memset(kt + h * hb + (size_t)d * sp + s, 0, sizeof(float) * (sp - s));
            if (values_transposed(hd))
                memset(vh + h * hb + (size_t)d * sp + s, 0, sizeof(float) * (sp - s));
        }
    if (!values_transposed(hd))
        for (int h = 0; h < nh; h++)
            memset(vh + h * hb + (size_t)s * hd, 0, sizeof(float) * (sp - s) * hd);
    const float scale = 1.0f / sqrtf((float)hd);
    const int round_p = it_ctx_bf16(ctx); /* under the bf16 wrappers */
    const long ntile = (s + BQ - 1) / BQ;
    const int vt = values_transposed(hd);
    for (int smp = 0; smp < n; smp++, q += (size_t)s * dm, k += (size_t)s * dm, v += (size_t)s * dm,
             y += (size_t)s * dm) {
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (long j0 = 0; j0 < s; j0 += BK) { /* a block of BK tokens: writes run along j */
            long j1 = j0 + BK < s ? j0 + BK : s;
            for (int h = 0; h < nh; h++)
                for (int d = 0; d < hd; d++) {
                    size_t col = (size_t)h * hd + d;
                    float *kd = kt + h * hb + (size_t)d * sp; /* kt [NH][HD][Sp] */
                    for (long j = j0; j < j1; j++)
                        kd[j] = k[j * dm + col];
                    if (vt) {
                        float *vd = vh + h * hb + (size_t)d * sp; /* vh [NH][HD][Sp] */
                        for (long j = j0; j < j1; j++)
                            vd[j] = v[j * dm + col];
                    } else {
                        for (long j = j0; j < j1; j++) /* vh [NH][Sp][HD] */
                            vh[h * hb + j * hd + d] = v[j * dm + col];
                    }
                }
        }
        /* (implicit barrier: the blocks are complete before any tile reads them) */
        struct flash_scratch sc;
        flash_carve(&sc, fscr + piece * it_cpu_thread_num(), part);
#pragma omp for schedule(dynamic, 1)
        for (long w = 0; w < nh * ntile; w++) {
            int h = (int)(w / ntile), i0 = (int)(w % ntile) * BQ, nq = s - i0 < BQ ? s - i0 : BQ;
            int kend[BQ];
            for (int i = 0; i < nq; i++) { /* block-causal: up to the end of i's frame */
                long end = ((long)(i0 + i) / hw + 1) * hw;
                kend[i] = end < s ? (int)end : s;
            }
            flash_tile(nq, hd, scale, q + i0 * dm + (size_t)h * hd, dm, 1, kt + h * hb, sp, vh + h * hb,
                       kend, y + i0 * dm + (size_t)h * hd, dm, 1, &sc, round_p);
        }
    }
    }
    return 0;
}

#define QR 192 /* query rows per spatial-attention chunk: scores scratch is QR x HW */

/* q, k, v, y [N][C][T][HW] */
int IT_CPU_V(it_cpu_attn_spatial)(it_ctx *ctx, int n, int c, int t, int hw, const float *q,
                                  const float *k, const float *v, float *y)
{
    IT_KCHECK(n > 0 && c > 0 && t > 0 && hw > 0, "attn_spatial");
    const size_t cs = (size_t)t * hw;
    const float scale = 1.0f / sqrtf((float)c);
    const int round_p = it_ctx_bf16(ctx); /* under the bf16 wrappers */
    int rc = 0, rows = hw < QR ? hw : QR;
    float *sc = it_host_scratch(ctx, IT_SCR_OP0, sizeof(float) * rows * hw); /* [rows][HW] scores, then P */
    if (!sc)
        return IT_E_NOMEM;
    for (long ft = 0; ft < (long)n * t; ft++) { /* frame ft of the [N*T] frames: channel strides stay cs */
        const size_t ns = (size_t)c * cs, smp = (size_t)(ft / t);
        const float *qs = q + smp * ns, *ks = k + smp * ns, *vs = v + smp * ns;
        float *ys = y + smp * ns;
        const size_t f0 = (size_t)(ft % t) * hw;
        for (int i0 = 0; i0 < hw; i0 += rows) {
            int nq = hw - i0 < rows ? hw - i0 : rows;
            /* S [nq][HW] = Q^T K: A(i, c) = q[c*cs + f0 + i0 + i], B = k's frame [C][HW] */
            struct it_gemm_rowmajor kb = {ks + f0, cs};
            IT_TRY(it_cpu_gemm(ctx, nq, hw, c, qs + f0 + i0, 1, cs, it_gemm_pack_rowmajor, &kb, NULL,
                               NULL, sc, (size_t)hw));
#pragma omp parallel for schedule(static)
            for (int i = 0; i < nq; i++) { /* row softmax of scale*S, normalised in place */
                float *r = sc + (size_t)i * hw, mx = -INFINITY, l = 0;
                for (int j = 0; j < hw; j++)
                    mx = r[j] > mx ? r[j] : mx;
                int j = 0;
                it_vf lv = {0};
                for (; j + IT_VL <= hw; j += IT_VL) {
                    it_vf p = vf_exp((vf_load(r + j) - mx) * scale);
                    lv += p;
                    vf_store(r + j, round_p ? vf_bf16_round(p) : p);
                }
                for (; j < hw; j++) {
                    float p = expf((r[j] - mx) * scale);
                    l += p;
                    r[j] = round_p ? it_bf16_round(p) : p;
                }
                for (int u = 0; u < IT_VL; u++)
                    l += lv[u];
                float inv = 1.0f / l;
                for (j = 0; j < hw; j++)
                    r[j] *= inv;
            }
            /* O^T [C][nq] = V P^T: A = v's frame [C][HW], B(j, i) = P[i][j]; rows of O^T land
             * in y's channels directly */
            struct it_gemm_rowmajor pb = {sc, (size_t)hw};
            IT_TRY(it_cpu_gemm(ctx, c, nq, hw, vs + f0, cs, 1, it_gemm_pack_transposed, &pb, NULL,
                               NULL, ys + f0 + i0, cs));
        }
    }
done:
    return rc;
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

/* IT_VL positions at p (n of them valid, the tail of a row) */
static inline it_vf lanes(const float *p, int n)
{
    return n == IT_VL ? vf_load(p) : load_n(p, n);
}

/* q, k, v, y [N][C][T][HW]; lanes are IT_VL neighbouring positions, each its own attention. */
int IT_CPU_V(it_cpu_attn_temporal)(it_ctx *ctx, int n, int c, int t, int hw, const float *q0,
                                   const float *k0, const float *v0, float *y0)
{
    IT_KCHECK(n > 0 && c > 0 && t > 0 && hw > 0, "attn_temporal");
    const size_t cs = (size_t)t * hw, ns = (size_t)c * cs;
    const float scale = 1.0f / sqrtf((float)c);
    const int round_p = it_ctx_bf16(ctx); /* under the bf16 wrappers */
    const long nblk = (hw + IT_VL - 1) / IT_VL;
    const size_t piece = it_cpu_piece(sizeof(it_vf) * t);
    char *pscr = it_host_scratch(ctx, IT_SCR_OP0, piece * it_cpu_max_threads());
    if (!pscr)
        return IT_E_NOMEM;
#pragma omp parallel
    {
        it_vf *p = (it_vf *)(pscr + piece * it_cpu_thread_num()); /* [t] scores, then probabilities */
#pragma omp for schedule(static)
        for (long sb = 0; sb < n * nblk; sb++) {
            long b = sb % nblk, smp = sb / nblk;
            const float *q = q0 + smp * ns, *k = k0 + smp * ns, *v = v0 + smp * ns;
            float *y = y0 + smp * ns;
            int p0 = (int)b * IT_VL, nl = hw - p0 < IT_VL ? hw - p0 : IT_VL;
            for (int i = 0; i < t; i++) { /* causal: keys 0..i */
                for (int j = 0; j <= i; j++)
                    p[j] = (it_vf){0};
                for (int ch = 0; ch < c; ch++) { /* each p[j] still sums over c in order */
                    const float *kc = k + ch * cs + p0;
                    it_vf qv = lanes(q + ch * cs + (size_t)i * hw + p0, nl);
                    for (int j = 0; j <= i; j++)
                        p[j] += qv * lanes(kc + (size_t)j * hw, nl);
                }
                it_vf mx = vf_set1(-INFINITY), l = {0};
                for (int j = 0; j <= i; j++) {
                    p[j] *= scale;
                    mx = vf_max(mx, p[j]);
                }
                for (int j = 0; j <= i; j++) {
                    p[j] = vf_exp(p[j] - mx);
                    l += p[j];
                    if (round_p)
                        p[j] = vf_bf16_round(p[j]);
                }
                it_vf inv = 1.0f / l;
                for (int ch = 0; ch < c; ch++) {
                    const float *vc = v + ch * cs + p0;
                    it_vf acc = {0};
                    for (int j = 0; j <= i; j++)
                        acc += p[j] * lanes(vc + (size_t)j * hw, nl);
                    acc *= inv;
                    if (nl == IT_VL)
                        vf_store(y + ch * cs + (size_t)i * hw + p0, acc);
                    else
                        store_n(y + ch * cs + (size_t)i * hw + p0, acc, nl);
                }
            }
        }
    }
    return 0;
}

/* x, y [rows][NH*HD], cs, sn [*][HD/2] with row stride ld: token r reads table row
 * ((r % hw) / w) * ld + (r % hw) % w */
int IT_CPU_V(it_cpu_rope2d)(it_ctx *ctx, int s, int nh, int hd, int hw, int w, int ld,
                            const float *x, const float *cs, const float *sn, float *y)
{
    IT_KCHECK(s > 0 && nh > 0 && hd > 0 && hd % 2 == 0 && hw > 0 && w > 0 && ld >= w, "rope2d");
    const size_t dm = (size_t)nh * hd, np = hd / 2;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < s; i++) {
        const size_t pos = (size_t)(i % hw), row = pos / (size_t)w * (size_t)ld + pos % (size_t)w;
        const float *c = cs + row * np, *sv = sn + row * np;
        for (int h = 0; h < nh; h++)
            for (size_t pr = 0; pr < np; pr++) {
                size_t at = i * dm + (size_t)h * hd + 2 * pr;
                float a = x[at], b = x[at + 1], co = c[pr], si = sv[pr];
                y[at] = a * co - b * si;
                y[at + 1] = a * si + b * co;
            }
    }
    return 0;
}
