/* cuda_ops.cu: the kernels of the CUDA backend and the op layer that launches them
 * (cuda_ops.h). One source for two compilers: nvcc builds it into infotok-cuda.so; g++ builds
 * it with the CPU execution shim (shim/cuda_shim.h, -DIT_CUDA_SHIM) for make check.
 *
 * Numerics (it_kernels.h, "Precision"): every kernel reads its inputs as fp32, computes in
 * fp32 and rounds each output element once (bf16: round to nearest even, the same bit
 * formula as it_bf16_from_f32). Where the cpu backend is bit-identical to ref (data movement,
 * add, scale, pooling, Haar, ELBO map, pixels, FSQ decode) these kernels do ref's arithmetic
 * in ref's order, with the _rn intrinsics where nvcc would otherwise contract a*b+c into an
 * FMA, so they are bit-identical too. GEMM-shaped ops go through env->gemm (cuBLAS on the
 * GPU) into fp32 and then through one epilogue that adds the bias and rounds.
 * Layout choices, each the simple correct one for a first version (speed is measured by
 * tests/gpu/check.sh, never assumed): conv3d is an explicit im2col per chunk of output frames
 * plus one GEMM (the first-frame replication of the causal pad is an index clamp in the
 * im2col, which no cuDNN mode expresses); attention is one warp per query with an online
 * (flash-style) softmax over chunks of 32 keys: the S x S score matrix never exists. */
#include <stddef.h>
#include <stdint.h>

#include "infotok/core.h"
#include "kernels/cuda/cuda_ops.h"

#ifndef IT_CUDA_SHIM
#define IT_DYN_SHARED(type, name)                                                            \
    extern __shared__ __align__(16) unsigned char it_dyn_smem_[];                            \
    type *name = (type *)it_dyn_smem_
#define IT_LAUNCH(kern, grid, block, smem, stream, ...)                                       \
    kern<<<(grid), (block), (smem), (cudaStream_t)(stream)>>>(__VA_ARGS__)
#endif

typedef uint16_t bf16_t;

/* ---- element access ---- */
__device__ __forceinline__ float ld(const float *p, size_t i) { return p[i]; }
__device__ __forceinline__ float ld(const bf16_t *p, size_t i) { return __uint_as_float((unsigned)p[i] << 16); }
__device__ __forceinline__ bf16_t f2bf(float f)
{
    unsigned u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (bf16_t)((u >> 16) | 0x40u);
    return (bf16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
__device__ __forceinline__ float bf_round(float f) { return __uint_as_float((unsigned)f2bf(f) << 16); }
__device__ __forceinline__ void st(float *p, size_t i, float v) { p[i] = v; }
__device__ __forceinline__ void st(bf16_t *p, size_t i, float v) { p[i] = f2bf(v); }

__device__ __forceinline__ float silu1(float v) { return v / (1.0f + expf(-v)); }

/* grid-stride loop over [0, n) */
#define FOR_ALL(i, n)                                                                        \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                  \
         i += (size_t)gridDim.x * blockDim.x)

enum { THREADS = 256 };
static dim3 grid_for(size_t n)
{
    size_t b = (n + THREADS - 1) / THREADS;
    return dim3((unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b));
}

#define BAD_SIZES(op, cond) it_error_set(IT_E_SHAPE, "%s: bad sizes (%s)", (op), #cond)
#define REQUIRE(op, cond)                                                                    \
    do {                                                                                     \
        if (!(cond))                                                                         \
            return BAD_SIZES(op, cond);                                                      \
    } while (0)
#define BF16(e) ((e)->precision == IT_PRECISION_BF16)
/* call fn<float> or fn<bf16_t> by the environment's precision */
#define DISPATCH(e, fn, ...) (BF16(e) ? fn<bf16_t>(__VA_ARGS__) : fn<float>(__VA_ARGS__))

/* ---- reductions ---- */
__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread gets the result. */
__device__ float block_sum(float v)
{
    __shared__ float part[32];
    __shared__ float total;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nw = blockDim.x / 32;
    v = warp_sum(v);
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < nw ? part[lane] : 0.0f;
        s = warp_sum(s);
        if (lane == 0)
            total = s;
    }
    __syncthreads();
    float r = total;
    __syncthreads(); /* total and part are reused by the next call */
    return r;
}

/* ---- elementwise ---- */
template <class T> __global__ void k_silu(size_t n, const T *x, T *y)
{
    FOR_ALL(i, n) st(y, i, silu1(ld(x, i)));
}
template <class T> __global__ void k_add(size_t n, const T *a, const T *b, T *y)
{
    FOR_ALL(i, n) st(y, i, ld(a, i) + ld(b, i));
}
template <class T> __global__ void k_scale(size_t n, const T *x, float s, T *y)
{
    FOR_ALL(i, n) st(y, i, __fmul_rn(s, ld(x, i)));
}
template <class T> static int silu_t(itc_env *e, size_t n, const void *x, void *y)
{
    if (n)
        IT_LAUNCH(k_silu<T>, grid_for(n), THREADS, 0, e->stream, n, (const T *)x, (T *)y);
    return e->check(e, "silu");
}
template <class T> static int add_t(itc_env *e, size_t n, const void *a, const void *b, void *y)
{
    if (n)
        IT_LAUNCH(k_add<T>, grid_for(n), THREADS, 0, e->stream, n, (const T *)a, (const T *)b, (T *)y);
    return e->check(e, "add");
}
template <class T> static int scale_t(itc_env *e, size_t n, const void *x, float s, void *y)
{
    if (n)
        IT_LAUNCH(k_scale<T>, grid_for(n), THREADS, 0, e->stream, n, (const T *)x, s, (T *)y);
    return e->check(e, "scale");
}
int itc_silu(itc_env *e, size_t len, const void *x, void *y) { return DISPATCH(e, silu_t, e, len, x, y); }
int itc_add(itc_env *e, size_t len, const void *a, const void *b, void *y)
{
    return DISPATCH(e, add_t, e, len, a, b, y);
}
int itc_scale(itc_env *e, size_t len, const void *x, float s, void *y)
{
    return DISPATCH(e, scale_t, e, len, x, s, y);
}

/* ---- GroupNorm (one group, per sample and frame) + optional SiLU ----
 * Deterministic and two-pass: each block takes a chunk of one frame's C*HW values and
 * writes its count, mean and centred sum of squares; one thread per frame merges the chunks
 * in order (Chan et al.'s pairwise update, in double); the apply pass normalises. */
enum { GN_CHUNK = 8192 };
template <class T>
__global__ void k_gn_partial(int c, int t, int hw, int nchunk, const T *x, float *mom)
{
    int frame = blockIdx.y; /* sample * t + ft */
    size_t smp = frame / t, ft = frame % t, per = (size_t)c * hw;
    size_t lo = (size_t)blockIdx.x * GN_CHUNK, hi = lo + GN_CHUNK < per ? lo + GN_CHUNK : per;
    const T *xs = x + smp * per * t;
    float s = 0;
    for (size_t e = lo + threadIdx.x; e < hi; e += blockDim.x)
        s += ld(xs, ((e / hw) * t + ft) * hw + e % hw);
    float mean = block_sum(s) / (float)(hi - lo);
    float q = 0;
    for (size_t e = lo + threadIdx.x; e < hi; e += blockDim.x) {
        float d = ld(xs, ((e / hw) * t + ft) * hw + e % hw) - mean;
        q += d * d;
    }
    q = block_sum(q);
    if (threadIdx.x == 0) {
        float *m = mom + ((size_t)frame * nchunk + blockIdx.x) * 3;
        m[0] = (float)(hi - lo);
        m[1] = mean;
        m[2] = q;
    }
}
__global__ void k_gn_finalize(int frames, int nchunk, float eps, const float *mom, float *stats)
{
    FOR_ALL(f, (size_t)frames) {
        const float *m = mom + f * nchunk * 3;
        double n = m[0], mean = m[1], m2 = m[2];
        for (int i = 1; i < nchunk; i++) {
            double nb = m[3 * i], d = m[3 * i + 1] - mean, tot = n + nb;
            mean += d * nb / tot;
            m2 += m[3 * i + 2] + d * d * n * nb / tot;
            n = tot;
        }
        stats[2 * f] = (float)mean;
        stats[2 * f + 1] = (float)(1.0 / sqrt(m2 / n + (double)eps));
    }
}
template <class T>
__global__ void k_gn_apply(size_t total, int c, int t, int hw, const T *x, const T *gamma, const T *beta,
                           const float *stats, int silu, T *y)
{
    FOR_ALL(i, total) {
        size_t p = i / hw, ft = p % t, ch = p / t % c, smp = p / ((size_t)t * c);
        const float *s = stats + 2 * (smp * t + ft);
        float v = (ld(x, i) - s[0]) * s[1] * ld(gamma, ch) + ld(beta, ch);
        st(y, i, silu ? silu1(v) : v);
    }
}
template <class T>
static int groupnorm_t(itc_env *e, int n, int c, int t, int hw, const void *x, const void *gamma,
                       const void *beta, float eps, int silu, void *y)
{
    const size_t per = (size_t)c * hw;
    const int nchunk = (int)((per + GN_CHUNK - 1) / GN_CHUNK), frames = n * t;
    float *mom = (float *)e->scratch(e, ITC_SCR_STATS, sizeof(float) * ((size_t)frames * nchunk * 3 + 2 * (size_t)frames));
    if (!mom)
        return IT_E_NOMEM;
    float *stats = mom + (size_t)frames * nchunk * 3;
    IT_LAUNCH(k_gn_partial<T>, dim3(nchunk, frames), THREADS, 0, e->stream, c, t, hw, nchunk, (const T *)x, mom);
    IT_LAUNCH(k_gn_finalize, grid_for(frames), THREADS, 0, e->stream, frames, nchunk, eps, (const float *)mom,
              stats);
    size_t total = (size_t)n * per * t;
    IT_LAUNCH(k_gn_apply<T>, grid_for(total), THREADS, 0, e->stream, total, c, t, hw, (const T *)x,
              (const T *)gamma, (const T *)beta, (const float *)stats, silu, (T *)y);
    return e->check(e, "groupnorm");
}
int itc_groupnorm(itc_env *e, int n, int c, int t, int hw, const void *x, const void *gamma, const void *beta,
                  float eps, int silu, void *y)
{
    REQUIRE("groupnorm", n > 0 && c > 0 && t > 0 && hw > 0 && (long)n * t <= 65535);
    return DISPATCH(e, groupnorm_t, e, n, c, t, hw, x, gamma, beta, eps, silu, y);
}

/* ---- RMSNorm: one warp per row ---- */
template <class T> __global__ void k_rmsnorm(int rows, int d, const T *x, const T *wt, float eps, T *y)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= rows) /* whole warps leave together: no shuffle is left waiting */
        return;
    const size_t base = (size_t)row * d;
    float sq = 0;
    for (int j = lane; j < d; j += 32) {
        float v = ld(x, base + j);
        sq += v * v;
    }
    sq = warp_sum(sq);
    float r = 1.0f / sqrtf(sq / (float)d + eps);
    for (int j = lane; j < d; j += 32)
        st(y, base + j, (ld(x, base + j) * r) * ld(wt, j));
}
template <class T>
static int rmsnorm_t(itc_env *e, int rows, int d, const void *x, const void *wt, float eps, void *y)
{
    const int wpb = THREADS / 32;
    IT_LAUNCH(k_rmsnorm<T>, dim3((rows + wpb - 1) / wpb), THREADS, 0, e->stream, rows, d, (const T *)x,
              (const T *)wt, eps, (T *)y);
    return e->check(e, "rmsnorm");
}
int itc_rmsnorm(itc_env *e, int rows, int d, const void *x, const void *wt, float eps, void *y)
{
    REQUIRE("rmsnorm", rows > 0 && d > 0);
    return DISPATCH(e, rmsnorm_t, e, rows, d, x, wt, eps, y);
}

/* ---- resampling: ref's arithmetic (pooling sums in double, divides once) ---- */
template <class T>
__global__ void k_avgpool(size_t total, int t, int h, int w, int kt, int kh, int kw, int tpad, int to, int ho,
                          int wo, const T *x, T *y)
{
    FOR_ALL(i, total) {
        int ox = (int)(i % wo), oy = (int)(i / wo % ho), ot = (int)(i / ((size_t)wo * ho) % to);
        size_t ch = i / ((size_t)wo * ho * to);
        double acc = 0;
        for (int dt = 0; dt < kt; dt++) {
            int it = ot * kt + dt - tpad;
            if (it < 0)
                it = 0;
            for (int dy = 0; dy < kh; dy++)
                for (int dx = 0; dx < kw; dx++)
                    acc += ld(x, ((ch * t + it) * h + oy * kh + dy) * w + ox * kw + dx);
        }
        st(y, i, (float)(acc / (kt * kh * kw)));
    }
}
template <class T> __global__ void k_upsample_hw(size_t total, int h, int w, const T *x, T *y)
{
    FOR_ALL(i, total) {
        size_t ox = i % (2 * w), oy = i / (2 * w) % (2 * h), pl = i / ((size_t)4 * h * w);
        y[i] = x[(pl * h + oy / 2) * w + ox / 2];
    }
}
template <class T> __global__ void k_upsample_t(size_t total, int t, int hw, const T *x, T *y)
{
    FOR_ALL(i, total) {
        size_t p = i % hw, ot = i / hw % (2 * t - 1), ch = i / ((size_t)hw * (2 * t - 1));
        y[i] = x[(ch * t + (ot + 1) / 2) * hw + p];
    }
}
template <class T>
static int avgpool_t(itc_env *e, int nc, int t, int h, int w, int kt, int kh, int kw, int tpad, const void *x,
                     void *y)
{
    int to = (t + tpad) / kt, ho = h / kh, wo = w / kw;
    size_t total = (size_t)nc * to * ho * wo;
    IT_LAUNCH(k_avgpool<T>, grid_for(total), THREADS, 0, e->stream, total, t, h, w, kt, kh, kw, tpad, to, ho, wo,
              (const T *)x, (T *)y);
    return e->check(e, "avgpool");
}
template <class T> static int upsample_hw_t(itc_env *e, int nc, int t, int h, int w, const void *x, void *y)
{
    size_t total = (size_t)nc * t * 4 * h * w;
    IT_LAUNCH(k_upsample_hw<T>, grid_for(total), THREADS, 0, e->stream, total, h, w, (const T *)x, (T *)y);
    return e->check(e, "upsample_hw");
}
template <class T> static int upsample_t_t(itc_env *e, int nc, int t, int hw, const void *x, void *y)
{
    size_t total = (size_t)nc * (2 * t - 1) * hw;
    IT_LAUNCH(k_upsample_t<T>, grid_for(total), THREADS, 0, e->stream, total, t, hw, (const T *)x, (T *)y);
    return e->check(e, "upsample_t");
}
int itc_avgpool(itc_env *e, int nc, int t, int h, int w, int kt, int kh, int kw, int tpad, const void *x, void *y)
{
    REQUIRE("avgpool", nc > 0 && t > 0 && h > 0 && w > 0 && kt > 0 && kh > 0 && kw > 0 && tpad >= 0 &&
                           t + tpad >= kt && h >= kh && w >= kw);
    return DISPATCH(e, avgpool_t, e, nc, t, h, w, kt, kh, kw, tpad, x, y);
}
int itc_upsample_hw(itc_env *e, int nc, int t, int h, int w, const void *x, void *y)
{
    REQUIRE("upsample_hw", nc > 0 && t > 0 && h > 0 && w > 0);
    return DISPATCH(e, upsample_hw_t, e, nc, t, h, w, x, y);
}
int itc_upsample_t(itc_env *e, int nc, int t, int hw, const void *x, void *y)
{
    REQUIRE("upsample_t", nc > 0 && t > 0 && hw > 0);
    return DISPATCH(e, upsample_t_t, e, nc, t, hw, x, y);
}

/* ---- Haar: ref's butterfly in ref's order (each +-x is exact, so FMA changes nothing) ---- */
__device__ __forceinline__ float haar_sign(int band, int dt, int dy, int dx)
{
    int neg = (((band >> 2) & 1) & dt) ^ (((band >> 1) & 1) & dy) ^ ((band & 1) & dx);
    return neg ? -1.0f : 1.0f;
}
template <class T>
__global__ void k_haar_fwd(size_t total, int t, int h, int w, float scale, const T *x, T *y)
{
    const int to = (t + 1) / 2, ho = h / 2, wo = w / 2;
    FOR_ALL(i, total) {
        int ox = (int)(i % wo), oy = (int)(i / wo % ho), ot = (int)(i / ((size_t)wo * ho) % to);
        size_t ch = i / ((size_t)wo * ho * to); /* sample * 24 + band * 3 + rgb */
        int rgb = (int)(ch % 3), band = (int)(ch / 3 % 8);
        size_t smp = ch / 24;
        const T *xs = x + smp * 3 * (size_t)t * h * w;
        float acc = 0;
        for (int dt = 0; dt < 2; dt++) {
            int it = 2 * ot + dt - 1;
            if (it < 0)
                it = 0;
            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++)
                    acc += haar_sign(band, dt, dy, dx) *
                           ld(xs, (((size_t)rgb * t + it) * h + 2 * oy + dy) * w + 2 * ox + dx);
        }
        st(y, i, __fmul_rn(acc, scale));
    }
}
template <class T>
__global__ void k_haar_inv(size_t total, int t, int h, int w, float scale, const T *x, T *y)
{
    const int to = 2 * t - 1, ho = 2 * h, wo = 2 * w;
    FOR_ALL(i, total) {
        int ox = (int)(i % wo), oy = (int)(i / wo % ho), ot = (int)(i / ((size_t)wo * ho) % to);
        size_t ch = i / ((size_t)wo * ho * to);
        int rgb = (int)(ch % 3);
        size_t smp = ch / 3;
        const T *xs = x + smp * 24 * (size_t)t * h * w;
        int ft = ot + 1, it = ft / 2, dt = ft % 2, iy = oy / 2, dy = oy % 2, ix = ox / 2, dx = ox % 2;
        float acc = 0;
        for (int band = 0; band < 8; band++)
            acc += haar_sign(band, dt, dy, dx) * ld(xs, ((((size_t)band * 3 + rgb) * t + it) * h + iy) * w + ix);
        st(y, i, __fmul_rn(acc, scale));
    }
}
template <class T> static int haar_fwd_t(itc_env *e, int n, int t, int h, int w, const void *x, void *y)
{
    size_t total = (size_t)n * 24 * ((t + 1) / 2) * (h / 2) * (w / 2);
    IT_LAUNCH(k_haar_fwd<T>, grid_for(total), THREADS, 0, e->stream, total, t, h, w,
              it_haar_fwd_scale(e->precision), (const T *)x, (T *)y);
    return e->check(e, "haar_fwd");
}
template <class T> static int haar_inv_t(itc_env *e, int n, int t, int h, int w, const void *x, void *y)
{
    size_t total = (size_t)n * 3 * (2 * t - 1) * 4 * h * w;
    IT_LAUNCH(k_haar_inv<T>, grid_for(total), THREADS, 0, e->stream, total, t, h, w,
              it_haar_inv_scale(e->precision), (const T *)x, (T *)y);
    return e->check(e, "haar_inv");
}
int itc_haar_fwd(itc_env *e, int n, int t, int h, int w, const void *x, void *y)
{
    REQUIRE("haar_fwd", n > 0 && t > 0 && t % 2 == 1 && h > 0 && h % 2 == 0 && w > 0 && w % 2 == 0);
    return DISPATCH(e, haar_fwd_t, e, n, t, h, w, x, y);
}
int itc_haar_inv(itc_env *e, int n, int t, int h, int w, const void *x, void *y)
{
    REQUIRE("haar_inv", n > 0 && t > 0 && h > 0 && w > 0);
    return DISPATCH(e, haar_inv_t, e, n, t, h, w, x, y);
}

/* ---- attention: one kernel for the three kinds ----
 * Groups g = a * g2 + b (a: sample; b: head, frame or position); a group's element (token i,
 * dim d) is at a * sa + b * sb + i * ts + d * ds. Query i sees keys [0, kend(i)), kend(i) =
 * min(len, (i / blk + 1) * blk): blk = hw for the block-causal mask, len for none, 1 for
 * causal. One warp per query: the query in shared memory, 32 keys at a time (lane j scores
 * key j), a running max and sum (online softmax), the probabilities through shared memory
 * to the lanes that own the output dims (d = lane + 32 u). In bf16 the probabilities are
 * rounded to bf16 before P.V as exp(s - row max) (it_kernels.h), so a first sweep finds the
 * row's max and the second one never rescales. */
struct attn_geom {
    int len, dim, blk, g2;
    size_t sa, sb, ts, ds;
    float scale;
};
enum { ATTN_WARPS = 4 };

/* q.k_j of a scaled query in shared memory, or -inf for a key j >= kend */
template <class T>
__device__ __forceinline__ float score(const attn_geom &g, const float *sq, const T *k, size_t base, int j, int kend)
{
    if (j >= kend)
        return -INFINITY;
    const size_t kb = base + (size_t)j * g.ts;
    float s = 0;
    for (int d = 0; d < g.dim; d++)
        s += sq[d] * ld(k, kb + (size_t)d * g.ds);
    return s;
}

template <class T, int DPL>
__global__ void __launch_bounds__(ATTN_WARPS * 32) k_attn(attn_geom g, const T *q, const T *k, const T *v, T *y)
{
    IT_DYN_SHARED(float, smem);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float *sq = smem + (size_t)warp * (g.dim + 32), *sp = sq + g.dim;
    const int i = blockIdx.x * ATTN_WARPS + warp;
    if (i >= g.len) /* whole warps leave: only warp barriers follow */
        return;
    const size_t base = (size_t)(blockIdx.y / g.g2) * g.sa + (size_t)(blockIdx.y % g.g2) * g.sb;
    for (int d = lane; d < g.dim; d += 32)
        sq[d] = ld(q, base + (size_t)i * g.ts + (size_t)d * g.ds) * g.scale;
    __syncwarp();
    const long e = ((long)i / g.blk + 1) * g.blk;
    const int kend = e < g.len ? (int)e : g.len;
    const bool round_p = sizeof(T) == 2; /* bf16 */
    float m = -INFINITY, l = 0, acc[DPL];
    for (int u = 0; u < DPL; u++)
        acc[u] = 0;
    if (round_p)
        for (int j0 = 0; j0 < kend; j0 += 32)
            m = fmaxf(m, warp_max(score(g, sq, k, base, j0 + lane, kend)));
    for (int j0 = 0; j0 < kend; j0 += 32) {
        const int j = j0 + lane;
        const float s = score(g, sq, k, base, j, kend);
        const float mn = fmaxf(m, warp_max(s)); /* key j0 < kend is valid: mn is finite */
        const float corr = expf(m - mn), p = j < kend ? expf(s - mn) : 0.0f;
        l = l * corr + warp_sum(p);
        sp[lane] = round_p ? bf_round(p) : p;
        __syncwarp();
        const int nk = kend - j0 < 32 ? kend - j0 : 32;
        for (int u = 0; u < DPL; u++) {
            const int d = lane + 32 * u;
            float a = acc[u] * corr;
            if (d < g.dim)
                for (int jj = 0; jj < nk; jj++)
                    a += sp[jj] * ld(v, base + (size_t)(j0 + jj) * g.ts + (size_t)d * g.ds);
            acc[u] = a;
        }
        __syncwarp(); /* sp is rewritten by the next chunk */
        m = mn;
    }
    for (int u = 0; u < DPL; u++) {
        const int d = lane + 32 * u;
        if (d < g.dim)
            st(y, base + (size_t)i * g.ts + (size_t)d * g.ds, acc[u] / l);
    }
}
template <class T, int DPL> static void attn_launch(itc_env *e, const attn_geom &g, unsigned groups, const void *q,
                                                    const void *k, const void *v, void *y)
{
    const size_t smem = sizeof(float) * ATTN_WARPS * (g.dim + 32);
    void (*kern)(attn_geom, const T *, const T *, const T *, T *) = k_attn<T, DPL>;
    IT_LAUNCH(kern, dim3((g.len + ATTN_WARPS - 1) / ATTN_WARPS, groups), ATTN_WARPS * 32, smem, e->stream, g,
              (const T *)q, (const T *)k, (const T *)v, (T *)y);
}
template <class T>
static int attn_t(itc_env *e, const char *what, const attn_geom &g, unsigned groups, const void *q, const void *k,
                  const void *v, void *y)
{
    if (g.dim <= 32)
        attn_launch<T, 1>(e, g, groups, q, k, v, y);
    else if (g.dim <= 64)
        attn_launch<T, 2>(e, g, groups, q, k, v, y);
    else if (g.dim <= 128)
        attn_launch<T, 4>(e, g, groups, q, k, v, y);
    else if (g.dim <= 256)
        attn_launch<T, 8>(e, g, groups, q, k, v, y);
    else
        attn_launch<T, 16>(e, g, groups, q, k, v, y);
    return e->check(e, what);
}
static int attn(itc_env *e, const char *what, const attn_geom &g, long groups, const void *q, const void *k,
                const void *v, void *y)
{
    if (g.dim > ITC_ATTN_MAX_DIM)
        return it_error_set(IT_E_UNSUPPORTED, "%s: width %d above the cuda kernel's %d", what, g.dim,
                            ITC_ATTN_MAX_DIM);
    if (groups > 65535)
        return it_error_set(IT_E_UNSUPPORTED, "%s: %ld groups above the grid's 65535", what, groups);
    return BF16(e) ? attn_t<bf16_t>(e, what, g, (unsigned)groups, q, k, v, y)
                   : attn_t<float>(e, what, g, (unsigned)groups, q, k, v, y);
}
int itc_attn_spatial(itc_env *e, int n, int c, int t, int hw, const void *q, const void *k, const void *v, void *y)
{
    REQUIRE("attn_spatial", n > 0 && c > 0 && t > 0 && hw > 0);
    size_t cs = (size_t)t * hw;
    attn_geom g = {hw, c, hw, t, (size_t)c * cs, (size_t)hw, 1, cs, (float)(1.0 / sqrt((double)c))};
    return attn(e, "attn_spatial", g, (long)n * t, q, k, v, y);
}
int itc_attn_temporal(itc_env *e, int n, int c, int t, int hw, const void *q, const void *k, const void *v,
                      void *y)
{
    REQUIRE("attn_temporal", n > 0 && c > 0 && t > 0 && hw > 0);
    size_t cs = (size_t)t * hw;
    attn_geom g = {t, c, 1, hw, (size_t)c * cs, 1, (size_t)hw, cs, (float)(1.0 / sqrt((double)c))};
    return attn(e, "attn_temporal", g, (long)n * hw, q, k, v, y);
}
int itc_mha(itc_env *e, int n, int s, int nh, int hd, int hw, const void *q, const void *k, const void *v, void *y)
{
    REQUIRE("mha", n > 0 && s > 0 && nh > 0 && hd > 0 && hw > 0);
    size_t dm = (size_t)nh * hd;
    attn_geom g = {s, hd, hw < s ? hw : s, nh, (size_t)s * dm, (size_t)hd, dm, 1, (float)(1.0 / sqrt((double)hd))};
    return attn(e, "mha", g, (long)n * nh, q, k, v, y);
}

/* ---- RoPE ---- */
template <class T>
__global__ void k_rope2d(size_t total, int nh, int hd, int hw, int w, int ld_, const T *x, const T *cs,
                         const T *sn, T *y)
{
    const int half = hd / 2;
    FOR_ALL(i, total) { /* i = (row * nh + head) * half + pair */
        size_t pr = i % half, row = i / ((size_t)half * nh);
        size_t pos = row % hw, trow = pos / w * ld_ + pos % w;
        size_t at = (i / half) * hd + 2 * pr;
        float a = ld(x, at), b = ld(x, at + 1), c = ld(cs, trow * half + pr), s = ld(sn, trow * half + pr);
        st(y, at, __fmul_rn(a, c) - __fmul_rn(b, s));
        st(y, at + 1, __fmul_rn(a, s) + __fmul_rn(b, c));
    }
}
template <class T>
static int rope2d_t(itc_env *e, int rows, int nh, int hd, int hw, int w, int ld_, const void *x, const void *cs,
                    const void *sn, void *y)
{
    size_t total = (size_t)rows * nh * (hd / 2);
    IT_LAUNCH(k_rope2d<T>, grid_for(total), THREADS, 0, e->stream, total, nh, hd, hw, w, ld_, (const T *)x,
              (const T *)cs, (const T *)sn, (T *)y);
    return e->check(e, "rope2d");
}
int itc_rope2d(itc_env *e, int rows, int nh, int hd, int hw, int w, int ld_, const void *x, const void *cs,
               const void *sn, void *y)
{
    REQUIRE("rope2d", rows > 0 && nh > 0 && hd > 0 && hd % 2 == 0 && hw > 0 && w > 0 && ld_ >= w);
    return DISPATCH(e, rope2d_t, e, rows, nh, hd, hw, w, ld_, x, cs, sn, y);
}

/* ---- GEMM epilogue, im2col, conv3d, linear, swiglu ---- */
/* y[r * ldy + c] = acc[r * ldacc + c] + bias (bias[r] or bias[c]), rounded once */
template <class T>
__global__ void k_epilogue(size_t total, int cols, const float *acc, size_t ldacc, const T *bias, int bias_row,
                           T *y, size_t ldy)
{
    FOR_ALL(i, total) {
        size_t r = i / cols, c = i % cols;
        float v = acc[r * ldacc + c];
        if (bias)
            v += ld(bias, bias_row ? r : c);
        st(y, r * ldy + c, v);
    }
}
/* col[kidx][p] for output frames [ot0, ot0 + nf): kidx = ((ci*kt + dt)*kh + dy)*kw + dx,
 * p = (otl*ho + oy)*wo + ox; frames before 0 read frame 0, rows/columns outside read 0 */
template <class T>
__global__ void k_im2col(size_t total, it_conv3d_params p, int ot0, int nf, int ho, int wo, const T *x, T *col)
{
    const size_t np = (size_t)nf * ho * wo;
    FOR_ALL(i, total) {
        size_t pp = i % np, kidx = i / np;
        int ox = (int)(pp % wo), oy = (int)(pp / wo % ho), ot = ot0 + (int)(pp / ((size_t)wo * ho));
        int dx = (int)(kidx % p.kw), dy = (int)(kidx / p.kw % p.kh), dt = (int)(kidx / ((size_t)p.kw * p.kh) % p.kt);
        size_t ci = kidx / ((size_t)p.kw * p.kh * p.kt);
        int it = ot * p.st + dt - p.tpad, iy = oy * p.sh + dy - p.pad_top, ix = ox * p.sw + dx - p.pad_left;
        if (it < 0)
            it = 0;
        T v = 0;
        if (iy >= 0 && iy < p.h && ix >= 0 && ix < p.w)
            v = x[((ci * p.t + it) * p.h + iy) * p.w + ix];
        col[i] = v;
    }
}
template <class T>
static int conv3d_t(itc_env *e, const it_conv3d_params *p, const void *xv, const void *wt, const void *bias,
                    void *yv)
{
    int rc, to, ho, wo;
    if ((rc = it_conv3d_out_shape(p, &to, &ho, &wo)) < 0)
        return rc;
    const T *x = (const T *)xv;
    T *y = (T *)yv;
    const size_t K = (size_t)p->ci * p->kt * p->kh * p->kw, plane = (size_t)ho * wo;
    const size_t nx = (size_t)p->ci * p->t * p->h * p->w, ny = (size_t)p->co * to * plane;
    if (K > 0x7fffffff || plane > 0x7fffffff)
        return it_error_set(IT_E_UNSUPPORTED, "conv3d: %zu x %zu GEMM too large", K, plane);
    /* a pointwise conv with no stride or padding reads x as the GEMM's B directly */
    const int pointwise = p->kt == 1 && p->kh == 1 && p->kw == 1 && p->st == 1 && p->sh == 1 && p->sw == 1 &&
                          p->tpad == 0 && p->pad_top == 0 && p->pad_bottom == 0 && p->pad_left == 0 &&
                          p->pad_right == 0;
    int fc = pointwise ? to : (int)(ITC_COL_CHUNK / (K * plane));
    if (fc < 1)
        fc = 1;
    if (fc > to)
        fc = to;
    if ((size_t)fc * plane > 0x7fffffff)
        fc = (int)(0x7fffffff / plane);
    T *col = pointwise ? NULL : (T *)e->scratch(e, ITC_SCR_COL, sizeof(T) * K * fc * plane);
    float *acc = (float *)e->scratch(e, ITC_SCR_ACC, sizeof(float) * (size_t)p->co * fc * plane);
    if ((!pointwise && !col) || !acc)
        return IT_E_NOMEM;
    for (int s = 0; s < p->n; s++)
        for (int ot0 = 0; ot0 < to; ot0 += fc) {
            const int nf = to - ot0 < fc ? to - ot0 : fc;
            const size_t np = (size_t)nf * plane;
            const T *b = x + s * nx;
            if (!pointwise) {
                IT_LAUNCH(k_im2col<T>, grid_for(K * np), THREADS, 0, e->stream, K * np, *p, ot0, nf, ho, wo,
                          x + s * nx, col);
                b = col;
            } else {
                b += (size_t)ot0 * plane;
            }
            /* pointwise: B rows are channels of stride T*H*W */
            int ldb = pointwise ? (int)((size_t)p->t * plane) : (int)np;
            if ((rc = e->gemm(e, e->precision, p->co, (int)np, (int)K, wt, (int)K, b, ldb, 0, acc, (int)np)) < 0)
                return rc;
            IT_LAUNCH(k_epilogue<T>, grid_for((size_t)p->co * np), THREADS, 0, e->stream, (size_t)p->co * np,
                      (int)np, (const float *)acc, np, (const T *)bias, 1, y + s * ny + (size_t)ot0 * plane,
                      (size_t)to * plane);
        }
    return e->check(e, "conv3d");
}
int itc_conv3d(itc_env *e, const it_conv3d_params *p, const void *x, const void *wt, const void *bias, void *y)
{
    return DISPATCH(e, conv3d_t, e, p, x, wt, bias, y);
}

template <class T>
static int linear_t(itc_env *e, int rows, int k, int m, const void *x, const void *wt, const void *bias, void *y)
{
    int rc;
    float *acc = (float *)e->scratch(e, ITC_SCR_ACC, sizeof(float) * (size_t)rows * m);
    if (!acc)
        return IT_E_NOMEM;
    if ((rc = e->gemm(e, e->precision, rows, m, k, x, k, wt, k, 1, acc, m)) < 0)
        return rc;
    size_t total = (size_t)rows * m;
    IT_LAUNCH(k_epilogue<T>, grid_for(total), THREADS, 0, e->stream, total, m, (const float *)acc, (size_t)m,
              (const T *)bias, 0, (T *)y, (size_t)m);
    return e->check(e, "linear");
}
int itc_linear(itc_env *e, int rows, int k, int m, const void *x, const void *wt, const void *bias, void *y)
{
    REQUIRE("linear", rows > 0 && k > 0 && m > 0);
    return DISPATCH(e, linear_t, e, rows, k, m, x, wt, bias, y);
}

__global__ void k_gate(size_t n, float *a, const float *b)
{
    FOR_ALL(i, n) a[i] = silu1(a[i]) * b[i];
}
__global__ void k_widen(size_t n, const bf16_t *x, float *y)
{
    FOR_ALL(i, n) y[i] = ld(x, i);
}
/* w2(silu(w1 x) * (w3 x)) with the hidden layer in fp32 (in bf16, w2 is widened to fp32 so
 * that the hidden layer is never rounded: it_kernels.h) */
template <class T>
static int swiglu_t(itc_env *e, int rows, int d, int f, const void *x, const void *w1, const void *w3,
                    const void *w2, void *y)
{
    int rc;
    const size_t nh = (size_t)rows * f;
    float *a = (float *)e->scratch(e, ITC_SCR_HID_A, sizeof(float) * nh);
    float *b = (float *)e->scratch(e, ITC_SCR_HID_B, sizeof(float) * nh);
    float *acc = (float *)e->scratch(e, ITC_SCR_ACC, sizeof(float) * (size_t)rows * d);
    if (!a || !b || !acc)
        return IT_E_NOMEM;
    if ((rc = e->gemm(e, e->precision, rows, f, d, x, d, w1, d, 1, a, f)) < 0 ||
        (rc = e->gemm(e, e->precision, rows, f, d, x, d, w3, d, 1, b, f)) < 0)
        return rc;
    IT_LAUNCH(k_gate, grid_for(nh), THREADS, 0, e->stream, nh, a, (const float *)b);
    const void *w2f = w2;
    if (BF16(e)) {
        float *w = (float *)e->scratch(e, ITC_SCR_W32, sizeof(float) * (size_t)d * f);
        if (!w)
            return IT_E_NOMEM;
        IT_LAUNCH(k_widen, grid_for((size_t)d * f), THREADS, 0, e->stream, (size_t)d * f, (const bf16_t *)w2, w);
        w2f = w;
    }
    if ((rc = e->gemm(e, IT_PRECISION_FP32, rows, d, f, a, f, w2f, f, 1, acc, d)) < 0)
        return rc;
    size_t total = (size_t)rows * d;
    IT_LAUNCH(k_epilogue<T>, grid_for(total), THREADS, 0, e->stream, total, d, (const float *)acc, (size_t)d,
              (const T *)NULL, 0, (T *)y, (size_t)d);
    return e->check(e, "swiglu");
}
int itc_swiglu(itc_env *e, int rows, int d, int f, const void *x, const void *w1, const void *w3, const void *w2,
               void *y)
{
    REQUIRE("swiglu", rows > 0 && d > 0 && f > 0);
    return DISPATCH(e, swiglu_t, e, rows, d, f, x, w1, w3, w2, y);
}

/* ---- tokens and maps: ref's integer maths and ref's fp32 order, bit for bit ---- */
struct fsq_table {
    int levels[IT_FSQ_DIM], basis[IT_FSQ_DIM];
};
template <class T>
__global__ void k_fsq_decode(size_t total, size_t nt, fsq_table tb, const int32_t *idx, const uint8_t *keep, T *codes)
{
    FOR_ALL(i, total) { /* i = s * nt + token */
        int32_t v = idx[i];
        int kept = (!keep || keep[i]) && v >= 0 && v < IT_FSQ_CODES;
        size_t s = i / nt, tok = i % nt;
        for (int c = 0; c < IT_FSQ_DIM; c++) {
            int L = tb.levels[c], half_w = L / 2, digit = kept ? v / tb.basis[c] % L : half_w;
            st(codes, (s * IT_FSQ_DIM + c) * nt + tok, __fdiv_rn((float)(digit - half_w), (float)half_w));
        }
    }
}
template <class T>
static int fsq_decode_t(itc_env *e, int n, size_t nt, const int32_t *idx, const uint8_t *keep, void *codes)
{
    fsq_table tb;
    for (int c = 0; c < IT_FSQ_DIM; c++)
        tb.levels[c] = it_fsq_levels[c], tb.basis[c] = it_fsq_basis[c];
    size_t total = (size_t)n * nt;
    if (total)
        IT_LAUNCH(k_fsq_decode<T>, grid_for(total), THREADS, 0, e->stream, total, nt, tb, idx, keep, (T *)codes);
    return e->check(e, "fsq_decode");
}
int itc_fsq_decode(itc_env *e, int n, size_t nt, const int32_t *idx, const uint8_t *keep, void *codes)
{
    REQUIRE("fsq_decode", n > 0);
    return DISPATCH(e, fsq_decode_t, e, n, nt, idx, keep, codes);
}

/* one thread per token: kernels/ref/ref_elbo.c's loops and sums in its order */
template <class T>
__global__ void k_elbo(size_t total, int t, int h, int w, const T *x, const T *r, float *loss)
{
    const size_t T_ = 4 * (size_t)t - 3, H = 8 * (size_t)h, W = 8 * (size_t)w, plane = H * W, npx = 3 * T_ * plane;
    FOR_ALL(i, total) {
        int bx = (int)(i % w), by = (int)(i / w % h), lt = (int)(i / ((size_t)w * h) % t);
        size_t s = i / ((size_t)w * h * t);
        size_t f0 = lt == 0 ? 0 : 4 * (size_t)lt - 3, nf = lt == 0 ? 1 : 4;
        float block = 0;
        for (int dy = 0; dy < 8; dy++)
            for (int dx = 0; dx < 8; dx++) {
                size_t px = (by * 8 + dy) * W + bx * 8 + dx;
                float tsum = 0;
                for (size_t f = f0; f < f0 + nf; f++) {
                    float csum = 0;
                    for (int c = 0; c < 3; c++) {
                        size_t at = s * npx + ((size_t)c * T_ + f) * plane + px;
                        csum = __fadd_rn(csum, fabsf(ld(x, at) - ld(r, at)));
                    }
                    tsum = __fadd_rn(tsum, __fdiv_rn(csum, 3.0f));
                }
                block = __fadd_rn(block, __fdiv_rn(tsum, (float)nf));
            }
        loss[i] = __fdiv_rn(block, 64.0f);
    }
}
template <class T>
static int elbo_t(itc_env *e, int n, int t, int h, int w, const void *x, const void *r, float *loss)
{
    size_t total = (size_t)n * t * h * w;
    IT_LAUNCH(k_elbo<T>, grid_for(total), THREADS, 0, e->stream, total, t, h, w, (const T *)x, (const T *)r, loss);
    return e->check(e, "elbo_map");
}
int itc_elbo_map(itc_env *e, int n, int t, int h, int w, const void *x, const void *recon, float *loss)
{
    REQUIRE("elbo_map", n > 0 && t > 0 && h > 0 && w > 0);
    return DISPATCH(e, elbo_t, e, n, t, h, w, x, recon, loss);
}

/* pixels: the 256-entry table is built on the host exactly as ref builds it */
struct pix_lut {
    float v[256];
};
template <class T>
__global__ void k_pixels_in(size_t total, size_t plane, pix_lut lut, const uint8_t *rgb, T *x)
{
    FOR_ALL(i, total) { /* i = (s * 3 + c) * plane + p */
        size_t p = i % plane, c = i / plane % 3, s = i / (3 * plane);
        st(x, i, lut.v[rgb[(s * plane + p) * 3 + c]]);
    }
}
template <class T> __global__ void k_pixels_out(size_t total, size_t plane, const T *y, uint8_t *rgb)
{
    FOR_ALL(i, total) { /* i = (s * plane + p) * 3 + c */
        size_t c = i % 3, p = i / 3 % plane, s = i / (3 * plane);
        float v = __fdiv_rn(__fadd_rn(ld(y, (s * 3 + c) * plane + p), 1.0f), 2.0f);
        v = v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
        rgb[i] = (uint8_t)__fadd_rn(__fmul_rn(v, 255.0f), 0.5f);
    }
}
template <class T>
static int pixels_in_t(itc_env *e, int n, int t, int h, int w, const uint8_t *rgb, void *x)
{
    pix_lut lut;
    for (int v = 0; v < 256; v++) {
        lut.v[v] = (float)((double)v / 255.0 * 2.0 - 1.0);
        if (BF16(e))
            lut.v[v] = it_bf16_round(lut.v[v]);
    }
    size_t plane = (size_t)t * h * w, total = (size_t)n * 3 * plane;
    IT_LAUNCH(k_pixels_in<T>, grid_for(total), THREADS, 0, e->stream, total, plane, lut, rgb, (T *)x);
    return e->check(e, "pixels_in");
}
template <class T>
static int pixels_out_t(itc_env *e, int n, int t, int h, int w, const void *y, uint8_t *rgb)
{
    size_t plane = (size_t)t * h * w, total = (size_t)n * 3 * plane;
    IT_LAUNCH(k_pixels_out<T>, grid_for(total), THREADS, 0, e->stream, total, plane, (const T *)y, rgb);
    return e->check(e, "pixels_out");
}
int itc_pixels_in(itc_env *e, int n, int t, int h, int w, const uint8_t *rgb, void *x)
{
    REQUIRE("pixels_in", n > 0 && t > 0 && h > 0 && w > 0);
    return DISPATCH(e, pixels_in_t, e, n, t, h, w, rgb, x);
}
int itc_pixels_out(itc_env *e, int n, int t, int h, int w, const void *y, uint8_t *rgb)
{
    REQUIRE("pixels_out", n > 0 && t > 0 && h > 0 && w > 0);
    return DISPATCH(e, pixels_out_t, e, n, t, h, w, y, rgb);
}

/* transpose through 32x32 shared tiles (both sides coalesced), bits copied */
enum { TILE = 32, TROWS = 8 };
template <class T> __global__ void k_transpose(int a, int b, const T *x, T *y)
{
    __shared__ T tile[TILE][TILE + 1];
    const size_t off = (size_t)blockIdx.z * a * b;
    int c0 = blockIdx.x * TILE, r0 = blockIdx.y * TILE;
    for (int r = threadIdx.y; r < TILE; r += TROWS) {
        int row = r0 + r, col = c0 + threadIdx.x;
        if (row < a && col < b)
            tile[r][threadIdx.x] = x[off + (size_t)row * b + col];
    }
    __syncthreads();
    for (int r = threadIdx.y; r < TILE; r += TROWS) {
        int row = c0 + r, col = r0 + threadIdx.x; /* y[row < b][col < a] */
        if (row < b && col < a)
            y[off + (size_t)row * a + col] = tile[threadIdx.x][r];
    }
}
template <class T> static int transpose_t(itc_env *e, int n, int a, int b, const void *x, void *y)
{
    IT_LAUNCH(k_transpose<T>, dim3((b + TILE - 1) / TILE, (a + TILE - 1) / TILE, n), dim3(TILE, TROWS), 0,
              e->stream, a, b, (const T *)x, (T *)y);
    return e->check(e, "transpose");
}
int itc_transpose(itc_env *e, int n, int a, int b, const void *x, void *y)
{
    REQUIRE("transpose", n > 0 && a > 0 && b > 0 && n <= 65535 && (a + TILE - 1) / TILE <= 65535);
    return DISPATCH(e, transpose_t, e, n, a, b, x, y);
}

template <class T> __global__ void k_add_rows(size_t total, int s, int d, int hw, const T *table, T *x)
{
    FOR_ALL(i, total) {
        size_t j = i % d, trow = i / d % s / hw;
        st(x, i, ld(x, i) + ld(table, trow * d + j));
    }
}
template <class T> static int add_rows_t(itc_env *e, int n, int s, int d, int hw, const void *table, void *x)
{
    size_t total = (size_t)n * s * d;
    IT_LAUNCH(k_add_rows<T>, grid_for(total), THREADS, 0, e->stream, total, s, d, hw, (const T *)table, (T *)x);
    return e->check(e, "add_rows");
}
int itc_add_rows(itc_env *e, int n, int s, int d, int hw, const void *table, void *x)
{
    REQUIRE("add_rows", n > 0 && s > 0 && d > 0 && hw > 0);
    return DISPATCH(e, add_rows_t, e, n, s, d, hw, table, x);
}
