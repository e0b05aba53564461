/* test_cuda_shim: the CPU execution shim (kernels/cuda/shim/cuda_shim.h) on the parts of
 * CUDA's model that cuda_ops.cu uses and test_cuda_ops exercises only indirectly: block
 * indices over a 3D grid, __syncthreads ordering shared-memory writes before reads, the three
 * warp shuffles against their definitions, atomics across blocks, dynamic shared memory, and
 * the failures a GPU leaves undefined (a barrier some threads never reach, a partial warp
 * mask), which the shim must turn into an abort (checked in a child process). */
#define IT_CUDA_SHIM 1
#include "kernels/cuda/shim/cuda_shim.h"

#include <sys/wait.h>
#include <unistd.h>

static int n_fail, n_check;
#define CHECK(cond, ...)                                                                     \
    do {                                                                                     \
        n_check++;                                                                           \
        if (!(cond)) {                                                                       \
            n_fail++;                                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                             \
            fprintf(stderr, __VA_ARGS__);                                                    \
            fputc('\n', stderr);                                                             \
        }                                                                                    \
    } while (0)

/* out[block][t] = the value thread (blockDim.x - 1 - t) wrote: needs the barrier */
__global__ void k_reverse(int *out)
{
    __shared__ int buf[96];
    int t = threadIdx.x, b = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    buf[t] = b * 1000 + t;
    __syncthreads();
    out[b * blockDim.x + t] = buf[blockDim.x - 1 - t];
}

/* per lane: xor partner, down-shifted value, broadcast of lane 5 */
__global__ void k_shuffles(int *xo, int *dn, int *bc)
{
    int v = threadIdx.x * 3 + 1;
    xo[threadIdx.x] = __shfl_xor_sync(0xffffffffu, v, 6);
    dn[threadIdx.x] = __shfl_down_sync(0xffffffffu, v, 3);
    bc[threadIdx.x] = __shfl_sync(0xffffffffu, v, 5);
}

/* histogram of i % 7 over [0, n) with atomics, from every block */
__global__ void k_hist(int n, int *hist)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        atomicAdd(&hist[i % 7], 1);
}

/* dynamic shared memory, two rounds of barrier-separated use */
__global__ void k_dyn(float *out)
{
    IT_DYN_SHARED(float, s);
    int t = threadIdx.x, n = blockDim.x;
    s[t] = (float)t;
    __syncthreads();
    float a = s[(t + 1) % n];
    __syncthreads();
    s[t] = a * 2;
    __syncthreads();
    out[blockIdx.x * n + t] = s[(t + n - 1) % n];
}

__global__ void k_bad_barrier()
{
    if (threadIdx.x == 0)
        return; /* thread 0 never reaches the barrier */
    __syncthreads();
}

__global__ void k_bad_mask(int *o)
{
    o[threadIdx.x] = __shfl_sync(0x0000ffffu, 1, 0);
}

/* 1 when f aborts (SIGABRT) in a child, saying something on stderr */
template <class F> static int aborts(F f)
{
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        freopen("/dev/null", "w", stderr);
        f();
        _exit(0);
    }
    int st = 0;
    waitpid(p, &st, 0);
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

int main()
{
    /* 3D grid of 96-thread blocks: three warps, the last one full */
    int out[2 * 3 * 2 * 96];
    int *po = out; /* kernels take pointers (the launch captures arguments by value) */
    IT_LAUNCH(k_reverse, dim3(2, 3, 2), 96, 0, 0, po);
    int bad = 0;
    for (int b = 0; b < 12; b++)
        for (int t = 0; t < 96; t++)
            bad += out[b * 96 + t] != b * 1000 + 95 - t;
    CHECK(bad == 0, "reverse through shared memory: %d wrong", bad);

    int xo[64], dn[64], bc[64];
    int *pxo = xo, *pdn = dn, *pbc = bc;
    IT_LAUNCH(k_shuffles, 1, 64, 0, 0, pxo, pdn, pbc);
    bad = 0;
    for (int t = 0; t < 64; t++) {
        int lane = t % 32, base = t - lane, src = lane + 3 < 32 ? t + 3 : t;
        bad += xo[t] != ((base + (lane ^ 6)) * 3 + 1);
        bad += dn[t] != src * 3 + 1;
        bad += bc[t] != (base + 5) * 3 + 1;
    }
    CHECK(bad == 0, "shuffles: %d wrong", bad);

    int hist[7] = {0};
    int *ph = hist;
    IT_LAUNCH(k_hist, 5, 64, 0, 0, 1000, ph);
    bad = 0;
    for (int k = 0; k < 7; k++)
        bad += hist[k] != (1000 - k + 6) / 7;
    CHECK(bad == 0, "atomic histogram: %d bins wrong", bad);

    float dyn[3 * 40];
    float *pd = dyn;
    IT_LAUNCH(k_dyn, 3, 40, 40 * sizeof(float), 0, pd);
    bad = 0;
    for (int b = 0; b < 3; b++)
        for (int t = 0; t < 40; t++)
            bad += dyn[b * 40 + t] != 2.0f * (float)t; /* s[t-1] = 2 * ((t-1)+1) */
    CHECK(bad == 0, "dynamic shared memory: %d wrong", bad);

    CHECK(aborts([] { IT_LAUNCH(k_bad_barrier, 1, 64, 0, 0); }), "a barrier not reached by all is not caught");
    CHECK(aborts([] {
              static int o[32];
              int *p = o;
              IT_LAUNCH(k_bad_mask, 1, 32, 0, 0, p);
          }),
          "a partial shuffle mask is not caught");
    printf("test_cuda_shim: %d checks, %d failed\n", n_check, n_fail);
    return n_fail ? 1 : 0;
}
