/* cpu_bf16_attn.c: the transformer's multi-head attention in bf16 on the AVX512-BF16 dot
 * product, where the CPU has it (cpu_bf16_wrap.c picks it; elsewhere the fp32 flash kernel
 * runs under the wrappers with the same rounding points).
 *
 * The rounding points are the oracle's (it_kernels.h, "Precision"): scores q.k in fp32 from
 * the exact bf16 inputs, the row's exact max found first, P_j = bf16(exp(scale (s_j - max))),
 * the normaliser l summing the unrounded exponentials, P.V summed in fp32 and each output
 * rounded once. So both products run on vdpbf16ps:
 *  - scores: keys stored per head as words of a dim pair, kt [HD/2][Sp] (low half dim 2p,
 *    high half dim 2p+1), against the query's dim pair broadcast: 16 keys per instruction;
 *  - P.V: values stored per head as words of a key pair, vt [HD][Sp/2], the pair of a 32-key
 *    block b in lane l being keys (32b + l, 32b + 16 + l), so that the two 16-key vectors of
 *    rounded probabilities make one word vector with a shift and a blend, no permute.
 * One thread per pair of rows: the rows' scores go to a per-thread scratch in the first sweep
 * (with the max) and are read back in the second, so q.k is computed once. Every output element
 * is produced by one thread in a fixed order: results do not depend on the thread count. The
 * instruction treats bf16 subnormals as zero (cpu_bf16_native.c): a probability below 2^-126
 * weighs nothing against the row's largest, which is 1. Dimension letters: see it_kernels.h. */
#include <math.h>

#include "kernels/cpu/cpu_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#define KB 32 /* keys per block of the second sweep: one word vector of probabilities */
#define MAX_HD 16

/* exp(x), x clamped to [-87.3, 88.3]; the Cephes polynomial of vf_exp (cpu_internal.h) */
TARGET static inline __m512 exp16(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

#define UNROLL _Pragma("GCC unroll 16")

/* nr <= 2 query rows (row r's dims at q + r*ld) against keys [0, kend): y[r*ld + d], d < hd.
 * kt, vt: the head's key and value words; sc: scratch of nr rows of sp floats. Two rows share
 * each load of keys and values (the head's 2 x 147 KB at 9216 tokens stream from L2 once per
 * pair instead of once per row); each row's arithmetic is the same whatever nr, so pairing
 * cannot change a result. Inlined with constant nr and hd, so the sums stay in registers. */
TARGET static inline __attribute__((always_inline)) void rows(int nr, int hd, float scale, const it_bf16 *q,
                                                              size_t ld, const uint32_t *kt, const uint32_t *vt,
                                                              size_t sp, int kend, float *sc, it_bf16 *y)
{
    __m512bh qp[2][MAX_HD / 2];
    UNROLL
    for (int r = 0; r < 2; r++) {
        UNROLL
        for (int p = 0; p < MAX_HD / 2; p++) /* (all set: GCC cannot see which are read) */
            qp[r][p] = (__m512bh)_mm512_setzero_si512();
    }
    UNROLL
    for (int r = 0; r < nr; r++) {
        UNROLL
        for (int p = 0; p < hd / 2; p++) {
            uint32_t w;
            memcpy(&w, q + r * ld + 2 * p, sizeof w);
            qp[r][p] = (__m512bh)_mm512_set1_epi32((int)w);
        }
    }
    /* first sweep: the scores of whole KB blocks (sp is a multiple of KB) and the max of
     * those below kend */
    __m512 mx[2] = {_mm512_set1_ps(-INFINITY), _mm512_set1_ps(-INFINITY)};
    for (int j0 = 0; j0 < kend + (-kend & (KB - 1)); j0 += 16) {
        __m512 s[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
        UNROLL
        for (int p = 0; p < hd / 2; p++) {
            __m512bh kw = (__m512bh)_mm512_loadu_si512(kt + (size_t)p * sp + j0);
            UNROLL
            for (int r = 0; r < nr; r++)
                s[r] = _mm512_dpbf16_ps(s[r], qp[r][p], kw);
        }
        UNROLL
        for (int r = 0; r < nr; r++) {
            _mm512_storeu_ps(sc + r * sp + j0, s[r]);
            mx[r] = _mm512_mask_max_ps(mx[r], it_cpu_low16(kend - j0), mx[r], s[r]);
        }
    }
    const __m512 vscale = _mm512_set1_ps(scale);
    __m512 bias[2], l[2], acc[2][MAX_HD];
    UNROLL
    for (int r = 0; r < 2; r++) {
        bias[r] = _mm512_set1_ps(r < nr ? -_mm512_reduce_max_ps(mx[r]) * scale : 0.0f);
        l[r] = _mm512_setzero_ps();
        UNROLL
        for (int d = 0; d < MAX_HD; d++)
            acc[r][d] = _mm512_setzero_ps();
    }
    /* second sweep: P rounded to bf16, then P.V; masked keys get exactly no weight */
    const __m512i hi_half = _mm512_set1_epi32((int)0xffff0000u);
    for (int j0 = 0; j0 < kend; j0 += KB) {
        __m512bh pw[2];
        UNROLL
        for (int r = 0; r < nr; r++) {
            const float *sr = sc + r * sp + j0;
            __m512 e0 = exp16(_mm512_fmadd_ps(_mm512_loadu_ps(sr), vscale, bias[r]));
            __m512 e1 = exp16(_mm512_fmadd_ps(_mm512_loadu_ps(sr + 16), vscale, bias[r]));
            e0 = _mm512_maskz_mov_ps(it_cpu_low16(kend - j0), e0);
            e1 = _mm512_maskz_mov_ps(it_cpu_low16(kend - j0 - 16), e1);
            l[r] = _mm512_add_ps(l[r], _mm512_add_ps(e0, e1));
            /* lane l: (bf16 P[j0 + l], bf16 P[j0 + 16 + l]): (b & c) | (a & ~c) */
            __m512i lo = _mm512_srli_epi32(it_cpu_bf16_round_hi(e0), 16), hi = it_cpu_bf16_round_hi(e1);
            pw[r] = (__m512bh)_mm512_ternarylogic_epi32(lo, hi, hi_half, 0xd8);
        }
        const uint32_t *vb = vt + j0 / 2;
        UNROLL
        for (int d = 0; d < hd; d++) {
            __m512bh vw = (__m512bh)_mm512_loadu_si512(vb + (size_t)d * (sp / 2));
            UNROLL
            for (int r = 0; r < nr; r++)
                acc[r][d] = _mm512_dpbf16_ps(acc[r][d], pw[r], vw);
        }
    }
    UNROLL
    for (int r = 0; r < nr; r++) {
        const float inv = 1.0f / _mm512_reduce_add_ps(l[r]);
        UNROLL
        for (int d = 0; d < hd; d++)
            y[r * ld + d] = it_bf16_from_f32(_mm512_reduce_add_ps(acc[r][d]) * inv);
    }
}

/* q, k, v, y [N][S][NH*HD] bf16, HD even and <= MAX_HD (it_cpu_bf16n_mha_fits) */
TARGET int it_cpu_bf16n_mha(it_ctx *ctx, int n, int s, int nh, int hd, int hw, const void *qv,
                            const void *kv, const void *vv, void *yv)
{
    IT_KCHECK(n > 0 && s > 0 && nh > 0 && hw > 0 && it_cpu_bf16n_mha_fits(hd), "mha");
    const size_t dm = (size_t)nh * hd, sp = ((size_t)s + KB - 1) / KB * KB, hb = sp * hd / 2; /* hb: words per head */
    uint32_t *kt = it_host_scratch(ctx, IT_SCR_EXT0, sizeof *kt * hb * nh);
    uint32_t *vt = it_host_scratch(ctx, IT_SCR_EXT1, sizeof *vt * hb * nh);
    const size_t piece = it_cpu_piece(sizeof(float) * 2 * sp); /* two rows' scores */
    char *scr = it_host_scratch(ctx, IT_SCR_EXT2, piece * it_cpu_max_threads());
    if (!kt || !vt || !scr)
        return IT_E_NOMEM;
    const float scale = 1.0f / sqrtf((float)hd);
    const long nblk = (long)(sp / KB);
    for (int smp = 0; smp < n; smp++) {
        const it_bf16 *q = (const it_bf16 *)qv + (size_t)smp * s * dm, *k = (const it_bf16 *)kv + (size_t)smp * s * dm,
                      *v = (const it_bf16 *)vv + (size_t)smp * s * dm;
        it_bf16 *y = (it_bf16 *)yv + (size_t)smp * s * dm;
#pragma omp parallel
        {
#pragma omp for schedule(static)
            for (long b = 0; b < nblk; b++) /* a block of KB keys; keys past s are zeros */
                for (int h = 0; h < nh; h++) {
                    uint32_t *kh = kt + h * hb, *vh = vt + h * hb;
                    for (int jj = 0; jj < KB; jj++) {
                        size_t j = (size_t)b * KB + jj;
                        const it_bf16 *kr = k + j * dm + (size_t)h * hd;
                        for (int p = 0; p < hd / 2; p++)
                            kh[(size_t)p * sp + j] = j < (size_t)s ? it_bf16_pair(kr[2 * p], kr[2 * p + 1]) : 0;
                    }
                    for (int l = 0; l < 16; l++) {
                        size_t j = (size_t)b * KB + l, j2 = j + 16;
                        const it_bf16 *v0 = v + j * dm + (size_t)h * hd, *v1 = v + j2 * dm + (size_t)h * hd;
                        for (int d = 0; d < hd; d++)
                            vh[(size_t)d * (sp / 2) + (size_t)b * 16 + l] =
                                it_bf16_pair(j < (size_t)s ? v0[d] : 0, j2 < (size_t)s ? v1[d] : 0);
                    }
                }
            /* (implicit barrier: the layouts are complete before any row reads them) */
            float *sc = (float *)(scr + piece * it_cpu_thread_num());
            const long pairs = (s + 1) / 2;
#pragma omp for schedule(dynamic, 8)
            for (long w = 0; w < (long)nh * pairs; w++) { /* rows i and i + 1 of head h */
                int h = (int)(w / pairs), i = 2 * (int)(w % pairs), kend[2];
                for (int r = 0; r < 2; r++) { /* block-causal: up to the end of the row's frame */
                    long end = ((long)(i + r) / hw + 1) * hw;
                    kend[r] = end < s ? (int)end : s;
                }
                const it_bf16 *qi = q + (size_t)i * dm + (size_t)h * hd;
                it_bf16 *yi = y + (size_t)i * dm + (size_t)h * hd;
                const uint32_t *kh = kt + h * hb, *vh = vt + h * hb;
                if (hd == 8 && i + 1 < s && kend[0] == kend[1]) /* the model's head size, one frame */
                    rows(2, 8, scale, qi, dm, kh, vh, sp, kend[0], sc, yi);
                else
                    for (int r = 0; r < 2 && i + r < s; r++)
                        rows(1, hd, scale, qi + r * dm, dm, kh, vh, sp, kend[r], sc, yi + r * dm);
            }
        }
    }
    return 0;
}

#else
typedef int it_cpu_bf16_attn_unused; /* ISO C wants a non-empty file */
#endif
