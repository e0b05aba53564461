/* cpu_bf16_native.c: bf16 conv3d, linear and swiglu on the AVX512-BF16 dot-product instruction
 * (vdpbf16ps: two bf16 products, exact in fp32, added to an fp32 accumulator), picked at run
 * time where the CPU has it (it_cpu_isa() == IT_ISA_AVX512BF16); elsewhere the table's bf16
 * ops stay the fp32 kernels under the wrappers (cpu_bf16_wrap.c). Not an AMX kernel.
 *
 * The rounding points are the oracle's (it_kernels.h, "Precision"): inputs read exactly,
 * fp32 accumulation, each output rounded once (swiglu's hidden layer stays fp32). So these
 * differ from ref bf16 only by the fp32 summation order and by the instruction treating bf16
 * subnormal inputs as zero (|x| < 2^-126: no activation or weight of the network is that small
 * and nonzero except by accident, and such a product is below fp32 resolution of any sum it
 * joins).
 *
 * The GEMM is cpu_gemm.c's blocking with bf16 operands: C[M][N] = A[M][K] B[K][N], A a
 * row-major bf16 matrix packed once per call into MR-row panels, B written by a callback into
 * NR-column panels, both as 32-bit words holding the bf16 pair (k, k+1) (the instruction's
 * operand layout; an odd K is padded with a zero). Each work item (a column tile and a group
 * of rows) keeps its fp32 sums in a per-thread tile across the KC blocks and rounds them once
 * at the end, so a bf16 output never needs an fp32 copy of the whole tensor. Every C element
 * is summed over the same KC blocks in the same order whatever the thread count. Scratch: the
 * context's EXT* slots. Dimension letters: see it_kernels.h; P = To*Ho*Wo, KK = Ci*kt*kh*kw. */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define MR IT_GEMM_MR
#define NR IT_GEMM_NR
#define KC 512          /* k values per block (256 pairs): a KC x NR B panel is 32 KiB */
#define MC_MAX (40 * MR)
#define NC (8 * NR)
#define XW_BYTES (8 << 20) /* conv_direct's input pair layout per pass (IT_KERNELS_XW_BYTES: tests) */

/* B slice rows [k0, k0+kc) x columns [n0, n0+nc) as ceil(nc/NR) panels [ceil(kc/2)][NR] of
 * words (low half row k, high half row k+1), zero past nc and past kc */
typedef void (*pack16_fn)(const void *pctx, int k0, int kc, int n0, int nc, uint32_t *dst);

/* c [MR][ldc] (+)= A panel [kc2][MR] x B [kc2][NR] (words): the sums go straight into the
 * caller's fp32 tile, loaded first when add is set (a later KC block), so no staging copy is
 * added in scalar code per block. */
__attribute__((target("avx512f,avx512bf16"))) static void micro(int kc2, const uint32_t *restrict a,
                                                                 const uint32_t *restrict b, float *restrict c,
                                                                 size_t ldc, int add)
{
    float *c0 = c, *c1 = c + ldc, *c2 = c + 2 * ldc, *c3 = c + 3 * ldc, *c4 = c + 4 * ldc, *c5 = c + 5 * ldc;
#define LOADC(row) (add ? _mm512_loadu_ps(row) : _mm512_setzero_ps())
    __m512 c00 = LOADC(c0), c01 = LOADC(c0 + 16), c10 = LOADC(c1), c11 = LOADC(c1 + 16);
    __m512 c20 = LOADC(c2), c21 = LOADC(c2 + 16), c30 = LOADC(c3), c31 = LOADC(c3 + 16);
    __m512 c40 = LOADC(c4), c41 = LOADC(c4 + 16), c50 = LOADC(c5), c51 = LOADC(c5 + 16);
#undef LOADC
    for (int p = 0; p < kc2; p++) {
        __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 16);
        __m512bh av;
        av = (__m512bh)_mm512_set1_epi32((int)a[0]); c00 = _mm512_dpbf16_ps(c00, av, b0); c01 = _mm512_dpbf16_ps(c01, av, b1);
        av = (__m512bh)_mm512_set1_epi32((int)a[1]); c10 = _mm512_dpbf16_ps(c10, av, b0); c11 = _mm512_dpbf16_ps(c11, av, b1);
        av = (__m512bh)_mm512_set1_epi32((int)a[2]); c20 = _mm512_dpbf16_ps(c20, av, b0); c21 = _mm512_dpbf16_ps(c21, av, b1);
        av = (__m512bh)_mm512_set1_epi32((int)a[3]); c30 = _mm512_dpbf16_ps(c30, av, b0); c31 = _mm512_dpbf16_ps(c31, av, b1);
        av = (__m512bh)_mm512_set1_epi32((int)a[4]); c40 = _mm512_dpbf16_ps(c40, av, b0); c41 = _mm512_dpbf16_ps(c41, av, b1);
        av = (__m512bh)_mm512_set1_epi32((int)a[5]); c50 = _mm512_dpbf16_ps(c50, av, b0); c51 = _mm512_dpbf16_ps(c51, av, b1);
        a += MR;
        b += NR;
    }
    _mm512_storeu_ps(c0, c00); _mm512_storeu_ps(c0 + 16, c01);
    _mm512_storeu_ps(c1, c10); _mm512_storeu_ps(c1 + 16, c11);
    _mm512_storeu_ps(c2, c20); _mm512_storeu_ps(c2 + 16, c21);
    _mm512_storeu_ps(c3, c30); _mm512_storeu_ps(c3 + 16, c31);
    _mm512_storeu_ps(c4, c40); _mm512_storeu_ps(c4 + 16, c41);
    _mm512_storeu_ps(c5, c50); _mm512_storeu_ps(c5 + 16, c51);
}

/* A rows [m0, m0+mc) x k [k0, k0+kc) of a row-major bf16 [M][lda] -> ceil(mc/MR) panels
 * [kc2][MR] of words, zero-padded. Word p of a row holds the pair (channel 2c, channel 2c+1)
 * at tap t, where p = c*taps + t and a row is [ci][taps] (zero past ci): taps = 1, ci = K is
 * the plain order (k, k+1); conv_direct's order has the conv's taps. */
static void pack_a(const it_bf16 *a, size_t lda, int ci, int taps, int m0, int mc, int k0, int kc, uint32_t *dst)
{
    const int kc2 = (kc + 1) / 2;
    for (int i0 = 0; i0 < mc; i0 += MR) {
        uint32_t *d = dst + (size_t)(i0 / MR) * kc2 * MR;
        for (int i = 0; i < MR; i++) {
            if (i0 + i >= mc) {
                for (int q = 0; q < kc2; q++)
                    d[q * MR + i] = 0;
                continue;
            }
            const it_bf16 *row = a + (size_t)(m0 + i0 + i) * lda;
            int c = k0 / 2 / taps, t = k0 / 2 % taps;
            for (int q = 0; q < kc2; q++) {
                const it_bf16 *lo = row + (size_t)2 * c * taps + t;
                d[q * MR + i] = it_bf16_pair(*lo, 2 * c + 1 < ci ? lo[taps] : 0);
                if (++t == taps) {
                    t = 0;
                    c++;
                }
            }
        }
    }
}

/* bf16(row[j] + bm (+ bias_n[j])) of 16 lanes, j < n, in the high half of each lane: sums in
 * that order, then it_cpu_bf16_round_hi. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static inline __m512i round16(const float *row, float bm,
                                                                                  const it_bf16 *bias_n, int n)
{
    __mmask16 m = it_cpu_low16(n);
    __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, row), _mm512_set1_ps(bm));
    if (bias_n) {
        __m512i b = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, bias_n));
        v = _mm512_add_ps(v, _mm512_castsi512_ps(_mm512_slli_epi32(b, 16)));
    }
    return it_cpu_bf16_round_hi(v);
}

/* dst[j] = bf16(row[j] + bm (+ bias_n[j])) for j < n, 32 lanes at a time: the two vectors' high
 * halves gathered into one by a word permute and stored whole (the narrowing store vpmovdw to
 * memory is microcoded on AMD Zen 4: it was most of this function's time). Not static:
 * test_ops checks it bit for bit against it_bf16_from_f32 on every high half with the tie
 * patterns. */
__attribute__((target("avx512f,avx512bw,avx512vl"))) void it_cpu_bf16n_round_row(const float *row, float bm,
                                                                                    const it_bf16 *bias_n,
                                                                                    it_bf16 *dst, int n)
{
    const __m512i odd_words = _mm512_set_epi16(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33,
                                               31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    for (int j = 0; j < n; j += 32) {
        __m512i r0 = round16(row + j, bm, bias_n ? bias_n + j : NULL, n - j);
        __m512i r1 = round16(row + j + 16, bm, bias_n ? bias_n + j + 16 : NULL, n - j - 16);
        __m512i w = _mm512_permutex2var_epi16(r0, odd_words, r1);
        if (n - j >= 32)
            _mm512_storeu_si512(dst + j, w);
        else
            _mm512_mask_storeu_epi16(dst + j, (__mmask32)((1u << (n - j)) - 1u), w);
    }
}

/* Output of the GEMM: bf16 (rounded once) or fp32, row-major [M][ldc], bias per row and/or
 * per column (bf16 params, added to the fp32 sum before the rounding) */
struct gemm_out {
    it_bf16 *c;
    float *cf;
    size_t ldc;
    const it_bf16 *bias_m, *bias_n;
};

/* B from the channel-pair layout of conv_direct (conv3d with unit spatial stride and Wo a
 * multiple of 16): column j = (ot, oy, ox) starts at word base(j) = (ot*st*hp + oy)*wp + ox
 * of the padded input, and k pair p adds off[p], so a 16-column half (one output row) is 16
 * contiguous words: the im2col of a pair row is two vector copies. */
struct direct_b {
    const uint32_t *xw;
    const int32_t *off;
    int ho, wo, st, hp, wp;
    int ci, taps; /* A is the weights [Co][Ci*taps], packed in the same pair order (pack_a) */
};

static inline const uint32_t *direct_col(const struct direct_b *d, int j)
{
    int ox = j % d->wo, rest = j / d->wo, oy = rest % d->ho, ot = rest / d->ho;
    return d->xw + ((size_t)ot * d->st * d->hp + oy) * d->wp + ox;
}

/* The B panels of k pairs [k0/2, (k0+kc)/2) x columns [n0, n0+nc) from the pair layout: two
 * 16-word copies per pair and tile (a second half past n repeats the first; its sums are
 * never read). */
__attribute__((target("avx512f"))) static void pack_direct(const struct direct_b *d, int k0, int kc, int n0,
                                                           int nc, int n, uint32_t *dst)
{
    const int kc2 = kc / 2;
    const int32_t *off = d->off + k0 / 2;
    for (int jp = 0; jp < nc; jp += NR) {
        const uint32_t *b0 = direct_col(d, n0 + jp);
        const uint32_t *b1 = n0 + jp + 16 < n ? direct_col(d, n0 + jp + 16) : b0;
        uint32_t *o = dst + (size_t)(jp / NR) * kc2 * NR;
        for (int p = 0; p < kc2; p++, o += NR) {
            _mm512_storeu_si512(o, _mm512_loadu_si512(b0 + off[p]));
            _mm512_storeu_si512(o + 16, _mm512_loadu_si512(b1 + off[p]));
        }
    }
}

/* B packed into a per-thread panel by pack_b(pctx, ...), or from direct when it is set.
 * a_ready: the A panels of the previous call (same A, m and k) are still in the EXT0 slot. */
static int gemm(it_ctx *ctx, int m, int n, int k, const it_bf16 *a, size_t lda, pack16_fn pack_b,
                const void *pctx, const struct direct_b *direct, const struct gemm_out *o, int a_ready)
{
    if (m <= 0 || n <= 0 || k <= 0)
        return it_error_set(IT_E_SHAPE, "bf16 gemm: bad sizes %dx%dx%d", m, n, k);
    /* the partition of cpu_gemm.c: tall row groups so each packed B slice serves many rows */
    const int threads = it_cpu_max_threads();
    const long nt = (n + NC - 1) / NC, panels = (m + MR - 1) / MR;
    long groups = (4L * threads + nt - 1) / nt;
    if (groups > panels)
        groups = panels;
    const int rows = (int)((panels + groups - 1) / groups) * MR;
    groups = (m + rows - 1) / rows;
    const long subs = (rows + MC_MAX - 1) / MC_MAX;
    const int MC = (int)(((rows + subs - 1) / subs + MR - 1) / MR * MR);
    const long kblocks = (k + KC - 1) / KC;
    const size_t kc2s = (size_t)((k < KC ? k : KC) + 1) / 2; /* panel stride in pairs */
    uint32_t *apack = it_host_scratch(ctx, IT_SCR_EXT0, sizeof(uint32_t) * (size_t)panels * kblocks * kc2s * MR);
    if (!apack)
        return IT_E_NOMEM;
    /* each thread: its B slice [KC/2][NC] words and its fp32 sums [rows][NC] */
    const size_t bp_bytes = it_cpu_piece(sizeof(uint32_t) * (KC / 2) * NC);
    const size_t ct_bytes = it_cpu_piece(sizeof(float) * (size_t)rows * NC);
    char *tscr = it_host_scratch(ctx, IT_SCR_EXT1, (bp_bytes + ct_bytes) * threads);
    if (!tscr)
        return IT_E_NOMEM;
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (long w = 0; w < (a_ready ? 0 : kblocks * panels); w++) {
            int kb = (int)(w / panels), ip = (int)(w % panels), k0 = kb * KC;
            int mr = m - ip * MR < MR ? m - ip * MR : MR;
            pack_a(a, lda, direct ? direct->ci : k, direct ? direct->taps : 1, ip * MR, mr, k0,
                   k - k0 < KC ? k - k0 : KC, apack + (size_t)w * kc2s * MR);
        }
        char *mine = tscr + (bp_bytes + ct_bytes) * it_cpu_thread_num();
        uint32_t *bp = (uint32_t *)mine;
        float *ct = (float *)(mine + bp_bytes);
#pragma omp for schedule(dynamic, 1)
        for (long item = 0; item < groups * nt; item++) {
            int g0 = (int)(item % groups) * rows, j0 = (int)(item / groups) * NC;
            int g1 = m - g0 < rows ? m : g0 + rows, nc = n - j0 < NC ? n - j0 : NC;
            for (int k0 = 0; k0 < k; k0 += KC) {
                int kc = k - k0 < KC ? k - k0 : KC, kc2 = (kc + 1) / 2;
                if (direct)
                    pack_direct(direct, k0, kc, j0, nc, n, bp);
                else
                    pack_b(pctx, k0, kc, j0, nc, bp);
                for (int i0 = g0; i0 < g1; i0 += MC) {
                    int mc = g1 - i0 < MC ? g1 - i0 : MC;
                    const uint32_t *ablk = apack + ((size_t)(k0 / KC) * panels + i0 / MR) * kc2s * MR;
                    for (int jp = 0; jp < nc; jp += NR)
                        for (int ip = 0; ip < mc; ip += MR) {
                            const uint32_t *ap = ablk + (size_t)(ip / MR) * kc2s * MR;
                            const uint32_t *bpp = bp + (size_t)(jp / NR) * kc2 * NR;
                            float *tile = ct + (size_t)(i0 + ip - g0) * NC + jp;
                            int mr = mc - ip < MR ? mc - ip : MR;
                            if (mr == MR) {
                                micro(kc2, ap, bpp, tile, NC, k0 > 0);
                                continue;
                            }
                            /* the last rows of the group: through a full-size tile */
                            float acc[MR][NR] __attribute__((aligned(64)));
                            for (int i = 0; i < MR; i++)
                                for (int j = 0; j < NR; j++)
                                    acc[i][j] = i < mr && k0 > 0 ? tile[(size_t)i * NC + j] : 0.0f;
                            micro(kc2, ap, bpp, acc[0], NR, 1);
                            for (int i = 0; i < mr; i++)
                                memcpy(tile + (size_t)i * NC, acc[i], sizeof acc[i]);
                        }
                }
            }
            /* the sums of this item are complete: bias, then one rounding */
            for (int i = g0; i < g1; i++) {
                const float *row = ct + (size_t)(i - g0) * NC;
                float bm = o->bias_m ? it_bf16_to_f32(o->bias_m[i]) : 0.0f;
                if (o->cf) {
                    float *dst = o->cf + (size_t)i * o->ldc + j0;
                    for (int j = 0; j < nc; j++)
                        dst[j] = row[j] + bm + (o->bias_n ? it_bf16_to_f32(o->bias_n[j0 + j]) : 0.0f);
                } else {
                    it_cpu_bf16n_round_row(row, bm, o->bias_n ? o->bias_n + j0 : NULL, o->c + (size_t)i * o->ldc + j0, nc);
                }
            }
        }
    }
    return 0;
}

/* ---- conv3d: B = the im2col of x, gathered tile by tile (cpu_conv.c's walk, in bf16) ---- */
struct conv_ctx {
    const it_conv3d_params *p;
    const it_bf16 *x; /* [Ci][T][H][W] */
    int to, ho, wo;
    int pointwise;    /* x viewed as B [Ci][P] */
};

/* the low n of 32 lanes (0 <= n <= 32) */
static inline __mmask32 len_mask(int n)
{
    return n >= 32 ? 0xffffffffu : (1u << n) - 1u;
}

/* Rows [k0, k0+kc) of Xcol, columns [n0, n0+nc) (nc <= NR), into rows [kc][NR] of bf16. */
__attribute__((target("avx512f,avx512bw"))) static void gather_rows(const struct conv_ctx *cx, int k0, int kc, int n0, int nc, it_bf16 *dst)
{
    const it_conv3d_params *p = cx->p;
    if (cx->pointwise) {
        const size_t np = (size_t)cx->to * cx->ho * cx->wo;
        for (int l = 0; l < kc; l++) {
            memcpy(dst + (size_t)l * NR, cx->x + (size_t)(k0 + l) * np + n0, sizeof(it_bf16) * nc);
            for (int j = nc; j < NR; j++)
                dst[(size_t)l * NR + j] = 0;
        }
        return;
    }
    const int khw = p->kh * p->kw, kthw = p->kt * khw;
    struct run { int tb, yb, xb, j, len; } runs[NR];
    int nrun = 0, col = n0, ox = col % cx->wo, rest = col / cx->wo, oy = rest % cx->ho, ot = rest / cx->ho;
    for (int j = 0; j < nc;) {
        int len = nc - j < cx->wo - ox ? nc - j : cx->wo - ox;
        runs[nrun++] = (struct run){ot * p->st - p->tpad, oy * p->sh - p->pad_top, ox * p->sw - p->pad_left, j, len};
        j += len;
        ox = 0;
        if (++oy == cx->ho) {
            oy = 0;
            ot++;
        }
    }
    int ci = k0 / kthw, rem = k0 % kthw, dt = rem / khw, dy = rem % khw / p->kw, dx = rem % p->kw;
    for (int l = 0; l < kc; l++) {
        it_bf16 *row = dst + (size_t)l * NR;
        for (int r = 0; r < nrun; r++) {
            const struct run *ru = &runs[r];
            it_bf16 *o = row + ru->j;
            int it = ru->tb + dt, iy = ru->yb + dy, xs = ru->xb + dx;
            if (it < 0)
                it = 0; /* frames before 0 replicate frame 0 */
            if (iy < 0 || iy >= p->h) {
                for (int q = 0; q < ru->len; q++)
                    o[q] = 0;
                continue;
            }
            const it_bf16 *src = cx->x + (((size_t)ci * p->t + it) * p->h + iy) * p->w;
            if (p->sw == 1) {
                int qa = xs < 0 ? -xs : 0, qb = p->w - xs < ru->len ? p->w - xs : ru->len;
                if (qa > ru->len)
                    qa = ru->len;
                if (qb < qa)
                    qb = qa;
                /* masked vector moves: runs are short (at most NR), and GCC turns a copy
                 * loop into a memcpy call that costs more than the copy */
                _mm512_mask_storeu_epi16(o, len_mask(ru->len), _mm512_setzero_si512());
                _mm512_mask_storeu_epi16(o + qa, len_mask(qb - qa),
                                         _mm512_maskz_loadu_epi16(len_mask(qb - qa), src + xs + qa));
            } else {
                for (int q = 0; q < ru->len; q++) {
                    int ix = xs + q * p->sw;
                    o[q] = ix >= 0 && ix < p->w ? src[ix] : 0;
                }
            }
        }
        for (int j = nc; j < NR; j++)
            row[j] = 0;
        if (++dx == p->kw) { /* next (ci, dt, dy, dx) in weight order */
            dx = 0;
            if (++dy == p->kh) {
                dy = 0;
                if (++dt == p->kt) {
                    dt = 0;
                    ci++;
                }
            }
        }
    }
}

/* w[j] = r0[j] | r1[j] << 16 for j < NR: one bf16 pair per word, two AVX-512 permutes */
__attribute__((target("avx512f,avx512bw"))) static void interleave(const it_bf16 *r0, const it_bf16 *r1,
                                                                   uint32_t *w)
{
    const __m512i lo = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6,
                                        37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    const __m512i hi = _mm512_add_epi16(lo, _mm512_set1_epi16(16));
    __m512i a = _mm512_loadu_si512(r0), b = _mm512_loadu_si512(r1);
    _mm512_storeu_si512(w, _mm512_permutex2var_epi16(a, lo, b));
    _mm512_storeu_si512(w + 16, _mm512_permutex2var_epi16(a, hi, b));
}

/* Gather pairs of rows and interleave them into words: a pointwise conv's full-width rows
 * straight from x, every other case through 64 gathered rows of bf16 on the stack. */
__attribute__((target("avx512f,avx512bw"))) static void pack_conv(const void *vctx, int k0, int kc, int n0, int nc, uint32_t *dst)
{
    const struct conv_ctx *cx = vctx;
    enum { ROWS = 64 };
    it_bf16 tmp[ROWS * NR] __attribute__((aligned(64)));
    static const it_bf16 zeros[NR];
    const int kc2 = (kc + 1) / 2;
    const size_t np = (size_t)cx->to * cx->ho * cx->wo;
    for (int j0 = 0; j0 < nc; j0 += NR) {
        int nr = nc - j0 < NR ? nc - j0 : NR;
        uint32_t *d = dst + (size_t)(j0 / NR) * kc2 * NR;
        if (cx->pointwise && nr == NR) {
            for (int l = 0; l < kc; l += 2) {
                const it_bf16 *r0 = cx->x + (size_t)(k0 + l) * np + n0 + j0;
                interleave(r0, l + 1 < kc ? r0 + np : zeros, d + (size_t)(l / 2) * NR);
            }
            continue;
        }
        for (int l0 = 0; l0 < kc; l0 += ROWS) {
            int lc = kc - l0 < ROWS ? kc - l0 : ROWS;
            gather_rows(cx, k0 + l0, lc, n0 + j0, nr, tmp);
            if (lc & 1)
                memset(tmp + (size_t)lc * NR, 0, sizeof(it_bf16) * NR);
            for (int l = 0; l < lc; l += 2)
                interleave(tmp + (size_t)l * NR, tmp + (size_t)(l + 1) * NR, d + (size_t)((l0 + l) / 2) * NR);
        }
    }
}

/* conv3d as an implicit GEMM, for unit spatial stride and Wo a multiple of 16 (every
 * resblock, temporal and pointwise conv of the network at the usual sizes): x is laid out
 * once per sample as channel pairs with the padding materialised, xw [Ci/2][T+tpad][Hp][Wp]
 * words (the tpad leading frames replicate frame 0, the spatial border is zero), so that the
 * B row of k pair (channel pair, tap) for 16 output columns of one output row is 16
 * contiguous words (pack_direct: no gather, no interleave; read in place by the kernel
 * they measured slower, every load split across cache lines). A is packed from the weights
 * in the same k order (pack_a with the conv's taps); an odd Ci gets a zero channel. */
static int conv_direct(it_ctx *ctx, const it_conv3d_params *p, int to, int ho, int wo, const it_bf16 *x,
                       const it_bf16 *wt, const it_bf16 *bias, it_bf16 *y)
{
    const int cps = (p->ci + 1) / 2, taps = p->kt * p->kh * p->kw, khw = p->kh * p->kw;
    const int hp = p->h + p->pad_top + p->pad_bottom, wp = p->w + p->pad_left + p->pad_right;
    /* output frames per pass: the pair layout of the input frames they read stays under
     * XW_BYTES (so the extra memory is a few MB, not a copy of the largest activation) */
    const long long frame_bytes = 4LL * cps * hp * wp;
    const char *budget = getenv("IT_KERNELS_XW_BYTES");
    int fc = (int)(((budget ? atoll(budget) : XW_BYTES) / frame_bytes - p->kt) / p->st + 1);
    if (fc < 1)
        fc = 1;
    if (fc > to)
        fc = to;
    const int nfr = (fc - 1) * p->st + p->kt; /* input frames of one pass */
    const long long words = (long long)cps * nfr * hp * wp, kk2 = 2LL * cps * taps;
    if (words > INT32_MAX || kk2 > INT32_MAX)
        return it_error_set(IT_E_SHAPE, "conv3d: tensor too large");
    uint32_t *xw = it_host_scratch(ctx, IT_SCR_EXT2, sizeof *xw * (size_t)words);
    int32_t *off = it_host_scratch(ctx, IT_SCR_EXT3, sizeof *off * (size_t)cps * taps);
    if (!xw || !off)
        return IT_E_NOMEM;
    for (int c = 0; c < cps; c++)
        for (int tap = 0; tap < taps; tap++) {
            int dt = tap / khw, dy = tap % khw / p->kw, dx = tap % p->kw;
            off[c * taps + tap] = (int32_t)((((long long)c * nfr + dt) * hp + dy) * wp + dx);
        }
    const size_t nx = (size_t)p->ci * p->t * p->h * p->w, hw = (size_t)p->h * p->w, fhw = (size_t)ho * wo;
    const size_t np = (size_t)to * fhw;
    const struct direct_b d = {xw, off, ho, wo, p->st, hp, wp, p->ci, taps};
    int rc = 0, a_ready = 0;
    for (int s = 0; s < p->n && rc == 0; s++) {
        const it_bf16 *xs = x + s * nx;
        for (int ot0 = 0; ot0 < to && rc == 0; ot0 += fc) {
            const int nout = to - ot0 < fc ? to - ot0 : fc, f0 = ot0 * p->st - p->tpad;
            const int nin = (nout - 1) * p->st + p->kt;
#pragma omp parallel for schedule(static)
            for (long cf = 0; cf < (long)cps * nin; cf++) {
                int c = (int)(cf / nin), fr = (int)(cf % nin), f = f0 + fr; /* frames before 0 replicate frame 0 */
                const it_bf16 *lo = xs + ((size_t)2 * c * p->t + (f < 0 ? 0 : f)) * hw;
                const it_bf16 *hi = 2 * c + 1 < p->ci ? lo + (size_t)p->t * hw : NULL;
                uint32_t *dst = xw + ((size_t)c * nfr + fr) * hp * wp;
                for (int yy = 0; yy < hp; yy++) {
                    int iy = yy - p->pad_top;
                    uint32_t *row = dst + (size_t)yy * wp;
                    if (iy < 0 || iy >= p->h) {
                        memset(row, 0, sizeof *row * wp);
                        continue;
                    }
                    const it_bf16 *l = lo + (size_t)iy * p->w, *h = hi ? hi + (size_t)iy * p->w : NULL;
                    for (int xx = 0; xx < p->pad_left; xx++)
                        row[xx] = 0;
                    uint32_t *r = row + p->pad_left;
                    if (h)
                        for (int ix = 0; ix < p->w; ix++)
                            r[ix] = it_bf16_pair(l[ix], h[ix]);
                    else
                        for (int ix = 0; ix < p->w; ix++)
                            r[ix] = l[ix];
                    for (int xx = p->pad_left + p->w; xx < wp; xx++)
                        row[xx] = 0;
                }
            }
            /* columns [ot0*Ho*Wo, +nout*Ho*Wo) of this sample's output, rows Co apart */
            struct gemm_out o = {y + s * (size_t)p->co * np + ot0 * fhw, NULL, np, bias, NULL};
            rc = gemm(ctx, p->co, (int)(nout * fhw), (int)kk2, wt, (size_t)p->ci * taps, NULL, NULL, &d, &o,
                      a_ready);
            a_ready = 1;
        }
    }
    return rc;
}

/* x [N][Ci][T][H][W], wt [Co][KK], bias [Co] or NULL -> y [N][Co][P] */
int it_cpu_bf16n_conv3d(it_ctx *ctx, const it_conv3d_params *p, const void *x, const void *wt,
                        const void *bias, void *y)
{
    int to, ho, wo;
    int rc = it_conv3d_out_shape(p, &to, &ho, &wo);
    if (rc < 0)
        return rc;
    long long np = (long long)to * ho * wo, kk = (long long)p->ci * p->kt * p->kh * p->kw;
    if (np > INT32_MAX || kk > INT32_MAX)
        return it_error_set(IT_E_SHAPE, "conv3d: tensor too large");
    if (p->sh == 1 && p->sw == 1 && wo % 16 == 0)
        return conv_direct(ctx, p, to, ho, wo, x, wt, bias, y);
    struct conv_ctx cx = {p, NULL, to, ho, wo,
                          p->kt == 1 && p->kh == 1 && p->kw == 1 && p->st == 1 && p->sh == 1 && p->sw == 1 &&
                              p->tpad == 0 && !p->pad_top && !p->pad_bottom && !p->pad_left && !p->pad_right};
    const size_t nx = (size_t)p->ci * p->t * p->h * p->w, ny = (size_t)p->co * np;
    for (int s = 0; s < p->n && rc == 0; s++) {
        cx.x = (const it_bf16 *)x + s * nx;
        struct gemm_out o = {(it_bf16 *)y + s * ny, NULL, (size_t)np, bias, NULL};
        rc = gemm(ctx, p->co, (int)np, (int)kk, wt, (size_t)kk, pack_conv, &cx, NULL, &o, 0);
    }
    return rc;
}

/* ---- linear: A = x [rows][K], B = W^T: word (p, j) holds W[j][k0+2p], W[j][k0+2p+1] ---- */
struct wt_ctx {
    const it_bf16 *w; /* [N][K] */
    int k;
};

static void pack_wt(const void *vctx, int k0, int kc, int n0, int nc, uint32_t *dst)
{
    const struct wt_ctx *wc = vctx;
    const int kc2 = (kc + 1) / 2;
    for (int j0 = 0; j0 < nc; j0 += NR) {
        int nr = nc - j0 < NR ? nc - j0 : NR;
        uint32_t *d = dst + (size_t)(j0 / NR) * kc2 * NR;
        for (int j = 0; j < NR; j++) {
            if (j >= nr) {
                for (int q = 0; q < kc2; q++)
                    d[(size_t)q * NR + j] = 0;
                continue;
            }
            const it_bf16 *src = wc->w + (size_t)(n0 + j0 + j) * wc->k + k0;
            for (int q = 0; q < kc / 2; q++)
                d[(size_t)q * NR + j] = it_bf16_pair(src[2 * q], src[2 * q + 1]);
            if (kc & 1)
                d[(size_t)(kc2 - 1) * NR + j] = it_bf16_pair(src[kc - 1], 0);
        }
    }
}

/* x [rows][K], wt [M][K], bias [M] or NULL -> y [rows][M] (bf16) or yf (fp32, when y is NULL) */
static int linear(it_ctx *ctx, int rows, int k, int m, const it_bf16 *x, const it_bf16 *wt,
                  const it_bf16 *bias, it_bf16 *y, float *yf)
{
    IT_KCHECK(rows > 0 && k > 0 && m > 0, "linear");
    struct wt_ctx wc = {wt, k};
    struct gemm_out o = {y, yf, (size_t)m, NULL, bias};
    return gemm(ctx, rows, m, k, x, (size_t)k, pack_wt, &wc, NULL, &o, 0);
}

int it_cpu_bf16n_linear(it_ctx *ctx, int rows, int k, int m, const void *x, const void *wt,
                        const void *bias, void *y)
{
    return linear(ctx, rows, k, m, x, wt, bias, y, NULL);
}

#define SWIGLU_ROWS 1024

/* x [rows][D], w1, w3 [F][D], w2 [D][F] -> y [rows][D]: w1 x and w3 x on the bf16 kernel with
 * fp32 outputs; the hidden layer silu(a) * b stays fp32 (the oracle does not round it), so the
 * second product is the fp32 SGEMM against w2 widened to fp32 (once per call). */
int it_cpu_bf16n_swiglu(it_ctx *ctx, int s, int d, int f, const void *x, const void *w1,
                        const void *w3, const void *w2, void *y)
{
    IT_KCHECK(s > 0 && d > 0 && f > 0, "swiglu");
    int rc = 0, rows = s < SWIGLU_ROWS ? s : SWIGLU_ROWS;
    float *a = it_host_scratch(ctx, IT_SCR_OP0, sizeof *a * (size_t)rows * f);
    float *b = it_host_scratch(ctx, IT_SCR_OP1, sizeof *b * (size_t)rows * f);
    float *w2f = it_host_scratch(ctx, IT_SCR_EXT2, sizeof *w2f * (size_t)d * f);
    float *yf = it_host_scratch(ctx, IT_SCR_EXT3, sizeof *yf * (size_t)rows * d);
    if (!a || !b || !w2f || !yf)
        return IT_E_NOMEM;
    it_bf16_to_f32_n((size_t)d * f, w2, w2f);
    for (int r0 = 0; r0 < s; r0 += rows) {
        int nr = s - r0 < rows ? s - r0 : rows;
        const it_bf16 *xr = (const it_bf16 *)x + (size_t)r0 * d;
        IT_TRY(linear(ctx, nr, d, f, xr, w1, NULL, NULL, a)); /* a [nr][F] */
        IT_TRY(linear(ctx, nr, d, f, xr, w3, NULL, NULL, b)); /* b [nr][F] */
        size_t cnt = (size_t)nr * f;
#pragma omp parallel for schedule(static)
        for (size_t i0 = 0; i0 < cnt; i0 += IT_VL) {
            if (i0 + IT_VL <= cnt) {
                it_vf av = vf_load(a + i0);
                vf_store(a + i0, av / (1.0f + vf_exp(-av)) * vf_load(b + i0));
            } else {
                for (size_t i = i0; i < cnt; i++)
                    a[i] = a[i] / (1.0f + expf(-a[i])) * b[i];
            }
        }
        IT_TRY(it_cpu_linear(ctx, nr, f, d, a, w2f, NULL, yf));
        it_bf16_from_f32_n((size_t)nr * d, yf, (it_bf16 *)y + (size_t)r0 * d);
    }
done:
    return rc;
}

#else
typedef int it_cpu_bf16_native_unused; /* ISO C wants a non-empty file */
#endif
