/* cpu_gemm.c: the blocked, packed SGEMM under conv3d and linear (BLIS/GotoBLAS layout).
 * C is cut into work items of NC columns by a group of rows; each item belongs to one thread,
 * which walks K in KC steps: have pack_b write the KC x NC block of B into NR-column panels,
 * then for each MC-row sub-tile take the MC x KC block of A as MR-row panels (packed once
 * per call when several column tiles reuse it, else per item) and run the MR x NR register
 * micro-kernel over them. An item never changes hands and K is always walked
 * in the same KC blocks and order, so every C element has one fixed summation order: results
 * are bit-identical for any thread count. Scratch (the packed A, each thread's B panel and A
 * block) comes from the context's GEMM_* slots: nothing is allocated in a steady state.
 * Dimension letters: M rows of C (Co or S), N columns (positions or outputs), K inner. */
#include <stdlib.h>

#include "kernels/cpu/cpu_internal.h"

#define MR IT_GEMM_MR
#define NR IT_GEMM_NR
#ifndef KC
#define KC 256       /* a KC x NR B panel stays in L1, the MC x KC A block in L2 */
#endif
#define MC_MAX (40 * MR) /* 240 rows; M is split into equal tiles of at most this */
#define NC (8 * NR)
#define APACK_MAX ((size_t)16 << 20) /* floats (64 MiB) of A packed once per call, at most */

/* ---- the register micro-kernel: acc [MR][NR] = A panel [kc][MR] x B panel [kc][NR] ----
 * Written once as a macro over the vector type VT of VW floats; each pass keeps an MR x 2VW
 * block of accumulators in registers (12 of them: fits SSE's and AVX2's 16 registers) and
 * NR / 2VW passes cover the panel. On x86-64 with GCC or Clang the AVX2+FMA and AVX-512
 * versions are compiled too, with target attributes, and picked at run time: a portable
 * build (no -march) still gets the wide kernels where the CPU has them. (The broadcast is
 * written "a - 0", which folds to a plain broadcast; "0 + a" does not fold.) Results can differ
 * between the variants (FMA rounding) but never between thread counts. */
#define MICRO_BODY(VT, VW)                                                                  \
    for (int c0 = 0; c0 < NR; c0 += 2 * (VW)) {                                             \
        VT c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};                \
        VT c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};                \
        const float *ap = a, *bp = b + c0;                                                  \
        for (int l = 0; l < kc; l++) {                                                      \
            VT b0, b1, av;                                                                  \
            memcpy(&b0, bp, sizeof b0);                                                     \
            memcpy(&b1, bp + (VW), sizeof b1);                                              \
            av = ap[0] - (VT){0}; c00 += av * b0; c01 += av * b1;                           \
            av = ap[1] - (VT){0}; c10 += av * b0; c11 += av * b1;                           \
            av = ap[2] - (VT){0}; c20 += av * b0; c21 += av * b1;                           \
            av = ap[3] - (VT){0}; c30 += av * b0; c31 += av * b1;                           \
            av = ap[4] - (VT){0}; c40 += av * b0; c41 += av * b1;                           \
            av = ap[5] - (VT){0}; c50 += av * b0; c51 += av * b1;                           \
            ap += MR;                                                                       \
            bp += NR;                                                                       \
        }                                                                                   \
        memcpy(acc[0] + c0, &c00, sizeof c00); memcpy(acc[0] + c0 + (VW), &c01, sizeof c01); \
        memcpy(acc[1] + c0, &c10, sizeof c10); memcpy(acc[1] + c0 + (VW), &c11, sizeof c11); \
        memcpy(acc[2] + c0, &c20, sizeof c20); memcpy(acc[2] + c0 + (VW), &c21, sizeof c21); \
        memcpy(acc[3] + c0, &c30, sizeof c30); memcpy(acc[3] + c0 + (VW), &c31, sizeof c31); \
        memcpy(acc[4] + c0, &c40, sizeof c40); memcpy(acc[4] + c0 + (VW), &c41, sizeof c41); \
        memcpy(acc[5] + c0, &c50, sizeof c50); memcpy(acc[5] + c0 + (VW), &c51, sizeof c51); \
    }

typedef void (*micro_fn)(int kc, const float *restrict a, const float *restrict b,
                         float (*restrict acc)[NR]);

/* the build's own vector width (SSE2 by default, whatever -march allows otherwise) */
static void micro_base(int kc, const float *restrict a, const float *restrict b,
                       float (*restrict acc)[NR])
{
    MICRO_BODY(it_vf, IT_VL)
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__AVX512F__)
#define GEMM_DISPATCH 1
typedef float v8sf __attribute__((vector_size(32)));
typedef float v16sf __attribute__((vector_size(64)));

__attribute__((target("avx2,fma"))) static void micro_avx2(int kc, const float *restrict a,
                                                           const float *restrict b,
                                                           float (*restrict acc)[NR])
{
    MICRO_BODY(v8sf, 8)
}

__attribute__((target("avx512f"))) static void micro_avx512(int kc, const float *restrict a,
                                                            const float *restrict b,
                                                            float (*restrict acc)[NR])
{
    MICRO_BODY(v16sf, 16)
}
#endif

/* The widest micro-kernel this CPU runs. */
static micro_fn pick_micro(void)
{
#ifdef GEMM_DISPATCH
    int isa = it_cpu_isa();
    if (isa >= IT_ISA_AVX512)
        return micro_avx512;
    if (isa >= IT_ISA_AVX2 && IT_VL < 8)
        return micro_avx2;
#endif
    return micro_base;
}

/* One MR x NR tile: acc = A panel x B panel, then C = acc + bias (first K block) or
 * C += acc. mr, nr: valid rows/columns of this tile. */
static void micro_kernel(micro_fn micro, int kc, const float *restrict a, const float *restrict b,
                         float *restrict c, size_t ldc, int mr, int nr, int first, const float *bm,
                         const float *bn)
{
    float acc[MR][NR] __attribute__((aligned(64)));
    micro(kc, a, b, acc);
    for (int i = 0; i < mr; i++) {
        float *restrict row = c + i * ldc;
        if (first) {
            /* separate loops: a "bn ? bn[j] : 0" in the loop becomes a masked load from NULL,
             * which costs a microcode assist per vector on x86 */
            float rb = bm ? bm[i] : 0.0f;
            if (bn)
                for (int j = 0; j < nr; j++)
                    row[j] = acc[i][j] + rb + bn[j];
            else
                for (int j = 0; j < nr; j++)
                    row[j] = acc[i][j] + rb;
        } else {
            for (int j = 0; j < nr; j++)
                row[j] += acc[i][j];
        }
    }
}

/* a rows [m0, m0+mc) x columns [k0, k0+kc) -> ceil(mc/MR) panels [kc][MR], zero-padded;
 * element (i, l) of A is at a[i*ars + l*acs] */
static void pack_a(const float *a, size_t ars, size_t acs, int m0, int mc, int k0, int kc, float *dst)
{
    for (int i0 = 0; i0 < mc; i0 += MR) {
        int mr = mc - i0 < MR ? mc - i0 : MR;
        float *d = dst + (size_t)(i0 / MR) * kc * MR;
        if (acs == 1) { /* row-major: read along rows */
            for (int i = 0; i < MR; i++) {
                const float *src = a + (size_t)(m0 + i0 + i) * ars + k0;
                for (int l = 0; l < kc; l++)
                    d[l * MR + i] = i < mr ? src[l] : 0.0f;
            }
        } else { /* column-major or strided: read along columns */
            for (int l = 0; l < kc; l++) {
                const float *src = a + (size_t)(k0 + l) * acs + (size_t)(m0 + i0) * ars;
                for (int i = 0; i < MR; i++)
                    d[l * MR + i] = i < mr ? src[(size_t)i * ars] : 0.0f;
            }
        }
    }
}

void it_gemm_pack_rowmajor(const void *pctx, int k0, int kc, int n0, int nc, float *dst)
{
    const struct it_gemm_rowmajor *bm = pctx;
    for (int j0 = 0; j0 < nc; j0 += NR) {
        int nr = nc - j0 < NR ? nc - j0 : NR;
        float *d = dst + (size_t)(j0 / NR) * kc * NR;
        for (int l = 0; l < kc; l++) {
            memcpy(d + (size_t)l * NR, bm->b + (size_t)(k0 + l) * bm->ldb + n0 + j0, sizeof(float) * nr);
            for (int j = nr; j < NR; j++)
                d[(size_t)l * NR + j] = 0.0f;
        }
    }
}

void it_gemm_pack_transposed(const void *pctx, int k0, int kc, int n0, int nc, float *dst)
{
    const struct it_gemm_rowmajor *wm = pctx; /* W [N][ldb]; B[k][n] = W[n][k] */
    for (int j0 = 0; j0 < nc; j0 += NR) {
        int nr = nc - j0 < NR ? nc - j0 : NR;
        float *d = dst + (size_t)(j0 / NR) * kc * NR;
        for (int j = 0; j < NR; j++) {
            if (j < nr) {
                const float *src = wm->b + (size_t)(n0 + j0 + j) * wm->ldb + k0;
                for (int l = 0; l < kc; l++)
                    d[(size_t)l * NR + j] = src[l];
            } else {
                for (int l = 0; l < kc; l++)
                    d[(size_t)l * NR + j] = 0.0f;
            }
        }
    }
}

int it_cpu_gemm(it_ctx *ctx, int m, int n, int k, const float *a, size_t ars, size_t acs,
                it_pack_b_fn pack_b, const void *pctx, const float *bias_m, const float *bias_n,
                float *c, size_t ldc)
{
    if (m <= 0 || n <= 0 || k <= 0)
        return it_error_set(IT_E_SHAPE, "gemm: bad sizes %dx%dx%d", m, n, k);
    /* Work items are (column tile, row group). A row group is as tall as possible (all of M
     * when there are enough column tiles to keep the threads busy), because each item packs
     * its B slice once per K block and reuses it for every row in the group: for conv3d that
     * packing is the im2col gather, the expensive part. Within a group, rows go in MC-row
     * sub-tiles whose packed A block stays in L2. The partition may depend on the thread
     * count; the result does not: every element is summed over the same K blocks in order. */
    const int threads = it_cpu_max_threads();
    const long nt = (n + NC - 1) / NC, panels = (m + MR - 1) / MR;
    long groups = (4L * threads + nt - 1) / nt;
    if (groups > panels)
        groups = panels;
    const int rows = (int)((panels + groups - 1) / groups) * MR; /* rows per group */
    groups = (m + rows - 1) / rows;
    const long subs = (rows + MC_MAX - 1) / MC_MAX; /* equal sub-tiles: 128 is one, not 120 + 8 */
    const int MC = (int)(((rows + subs - 1) / subs + MR - 1) / MR * MR);
    const micro_fn micro = pick_micro();
    /* A is packed once for the whole call when several column tiles will reuse it and it is
     * not huge (conv weights, most activations); otherwise each item packs its own block. */
    const long kblocks = (k + KC - 1) / KC;
    const size_t kcs = k < KC ? (size_t)k : KC; /* panel stride: a small K packs tightly */
    const size_t apack_floats = (size_t)panels * kblocks * kcs * MR;
    float *apack = NULL;
    if (nt > 1 && apack_floats <= APACK_MAX && !(apack = it_host_scratch(ctx, IT_SCR_GEMM_A, sizeof(float) * apack_floats)))
        return IT_E_NOMEM;
    /* each thread's B panel [KC][NC] and, without apack, its A block [MC][KC] */
    const size_t bp_bytes = it_cpu_piece(sizeof(float) * KC * NC), ap_bytes = apack ? 0 : it_cpu_piece(sizeof(float) * MC * KC);
    char *tscr = it_host_scratch(ctx, IT_SCR_GEMM_THREADS, (bp_bytes + ap_bytes) * threads);
    if (!tscr)
        return IT_E_NOMEM;
#pragma omp parallel
    {
        if (apack) { /* panel (kb, ip) at (kb*panels + ip)*kcs*MR, each written by one thread */
#pragma omp for schedule(static)
            for (long w = 0; w < kblocks * panels; w++) {
                int kb = (int)(w / panels), ip = (int)(w % panels), k0 = kb * KC;
                int mr = m - ip * MR < MR ? m - ip * MR : MR;
                pack_a(a, ars, acs, ip * MR, mr, k0, k - k0 < KC ? k - k0 : KC, apack + (size_t)w * kcs * MR);
            }
        }
        /* fixed-size scratch per thread, whatever the problem size */
        char *mine = tscr + (bp_bytes + ap_bytes) * it_cpu_thread_num();
        float *bp = (float *)mine, *ap = apack ? NULL : (float *)(mine + bp_bytes);
#pragma omp for schedule(dynamic, 1)
        for (long item = 0; item < groups * nt; item++) {
            int g0 = (int)(item % groups) * rows, j0 = (int)(item / groups) * NC;
            int g1 = m - g0 < rows ? m : g0 + rows, nc = n - j0 < NC ? n - j0 : NC;
            for (int k0 = 0; k0 < k; k0 += KC) {
                int kc = k - k0 < KC ? k - k0 : KC;
                pack_b(pctx, k0, kc, j0, nc, bp);
                for (int i0 = g0; i0 < g1; i0 += MC) {
                    int mc = g1 - i0 < MC ? g1 - i0 : MC;
                    const float *ablk; /* MR panels of rows i0.., [kc][MR] each, kc*MR apart */
                    size_t astride;
                    if (apack) {
                        ablk = apack + ((size_t)(k0 / KC) * panels + i0 / MR) * kcs * MR;
                        astride = kcs * MR;
                    } else {
                        pack_a(a, ars, acs, i0, mc, k0, kc, ap);
                        ablk = ap;
                        astride = (size_t)kc * MR;
                    }
                    for (int jp = 0; jp < nc; jp += NR)
                        for (int ip = 0; ip < mc; ip += MR)
                            micro_kernel(micro, kc, ablk + (size_t)(ip / MR) * astride,
                                         bp + (size_t)(jp / NR) * kc * NR, c + (size_t)(i0 + ip) * ldc + j0 + jp,
                                         ldc, mc - ip < MR ? mc - ip : MR, nc - jp < NR ? nc - jp : NR, k0 == 0,
                                         bias_m ? bias_m + i0 + ip : NULL, bias_n ? bias_n + j0 + jp : NULL);
                }
            }
        }
    }
    return 0;
}
