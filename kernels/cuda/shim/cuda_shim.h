/* cuda_shim.h: run CUDA kernels on the CPU, so that make check can test kernels/cuda/ (.cu files) on
 * a machine without a GPU (or without nvcc). Compile the .cu file as C++ with
 * -DIT_CUDA_SHIM -include kernels/cuda/shim/cuda_shim.h.
 *
 * What it is: an execution model, not a simulator of speed. A launch runs its blocks one after
 * another; the threads of a block are cooperative fibers (ucontext) on the calling OS thread,
 * each running the kernel until it reaches a barrier (__syncthreads, __syncwarp, a warp
 * shuffle) or returns. A barrier opens when every live thread of its scope has reached it:
 * the block for __syncthreads, the 32 lanes of the warp for __syncwarp and the shuffles. A
 * barrier that can never open (a thread returned while others wait, or threads of one scope
 * waiting at different kinds of barrier) aborts with a message: on a GPU that is undefined
 * behaviour, here it is a test failure.
 * __shared__ becomes `static`: one copy per kernel instantiation, shared by the threads of the
 * block that is running (blocks run one at a time). Dynamic shared memory (IT_DYN_SHARED) is
 * filled with 0xff bytes (NaN) at each block start, so a kernel that reads it before writing
 * it fails its test. Atomics are plain read-modify-writes: only one fiber runs at a time.
 * Speed: a launch whose first block reaches no barrier runs its other blocks' threads as
 * plain calls, one after another (no fibers); should such a thread reach a barrier after all,
 * the shim aborts rather than guess.
 * Warp shuffles need every lane of the warp (mask 0xffffffff, width 32); that is all the
 * kernels use, and the shim checks the mask.
 * Caveats: blocks of at most 1024 threads; kernels must not keep __shared__ values across
 * blocks (as on a GPU); no streams (launches complete before they return), no texture or
 * cooperative-groups API. Not thread-safe: one launch at a time per process. */
#ifndef IT_CUDA_SHIM_H
#define IT_CUDA_SHIM_H

#ifndef __cplusplus
#error "cuda_shim.h is C++: compile the .cu file with g++ -x c++"
#endif

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <ucontext.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
typedef void *cudaStream_t;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) alignas(n)

inline dim3 threadIdx, blockIdx, blockDim, gridDim;
static const int warpSize = 32;

/* Fiber switches: on x86-64 a register swap (callee-saved registers and the stack pointer:
 * what a function call may assume preserved), since glibc's swapcontext makes a system call
 * per switch (the signal mask) and the shim switches millions of times; elsewhere ucontext. */
#if defined(__x86_64__) && !defined(IT_SHIM_UCONTEXT)
#define IT_SHIM_ASM_SWITCH 1
extern "C" void itshim_switch(void **save_sp, void *to_sp);
__asm__(".text\n"
        ".weak itshim_switch\n"
        ".type itshim_switch,@function\n"
        "itshim_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size itshim_switch, .-itshim_switch\n");
#endif

namespace itshim {

enum { READY, WAIT_BLOCK, WAIT_WARP, DONE };
enum { MAX_THREADS = 1024, STACK_BYTES = 128 * 1024 };

struct Fiber {
    ucontext_t ctx;
    void *sp;
    int state;
    dim3 idx;
};

struct State {
    ucontext_t sched;
    void *sched_sp;
    Fiber fib[MAX_THREADS];
    unsigned char *stacks = nullptr;
    int nthreads = 0, cur = 0;
    const std::function<void()> *body = nullptr;
    /* shuffle exchange: two banks so that one barrier per shuffle suffices (a lane cannot
     * write bank b again before every lane has passed the next shuffle's barrier) */
    uint64_t slot[2][MAX_THREADS];
    unsigned seq[MAX_THREADS];
    unsigned char *dyn = nullptr;
    size_t dyn_bytes = 0;
    bool saw_barrier = false, plain = false;
};

inline State &st()
{
    static State s;
    return s;
}

[[noreturn]] inline void die(const char *what)
{
    State &s = st();
    fprintf(stderr, "cuda shim: %s (block %u,%u,%u, thread %u,%u,%u)\n", what, blockIdx.x, blockIdx.y,
            blockIdx.z, s.fib[s.cur].idx.x, s.fib[s.cur].idx.y, s.fib[s.cur].idx.z);
    abort();
}

inline void entry()
{
    State &s = st();
    (*s.body)();
    s.fib[s.cur].state = DONE;
#ifdef IT_SHIM_ASM_SWITCH
    void *dead;
    itshim_switch(&dead, s.sched_sp); /* never resumed */
    abort();
#endif
    /* ucontext: uc_link returns to the scheduler */
}

inline void to_scheduler(int t)
{
    State &s = st();
#ifdef IT_SHIM_ASM_SWITCH
    itshim_switch(&s.fib[t].sp, s.sched_sp);
#else
    swapcontext(&s.fib[t].ctx, &s.sched);
#endif
}

inline void to_fiber(int t)
{
    State &s = st();
#ifdef IT_SHIM_ASM_SWITCH
    itshim_switch(&s.sched_sp, s.fib[t].sp);
#else
    swapcontext(&s.sched, &s.fib[t].ctx);
#endif
}

/* A fresh fiber on stack t: its first switch-in "returns" into entry(). */
inline void start_fiber(int t)
{
    State &s = st();
    Fiber &f = s.fib[t];
    unsigned char *lo = s.stacks + (size_t)t * STACK_BYTES;
#if defined(__SANITIZE_ADDRESS__)
    /* a fiber that finished never returned from entry(): AddressSanitizer's poisoning of its
     * frames is still on the stack this fiber reuses */
    __asan_unpoison_memory_region(lo, STACK_BYTES);
#endif
#ifdef IT_SHIM_ASM_SWITCH
    /* entry() must see rsp = 8 (mod 16), as just after a call: the return address slot sits
     * at a 16-byte boundary, below it the six registers that the switch pops */
    uintptr_t top = ((uintptr_t)(lo + STACK_BYTES) & ~(uintptr_t)15) - 16;
    void **sp = (void **)top;
    sp[0] = (void *)entry;
    for (int i = 1; i <= 6; i++)
        sp[-i] = nullptr;
    f.sp = sp - 6;
#else
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = lo;
    f.ctx.uc_stack.ss_size = STACK_BYTES;
    f.ctx.uc_link = &s.sched;
    makecontext(&f.ctx, entry, 0);
#endif
}

inline void yield(int state)
{
    State &s = st();
    if (!s.body)
        die("barrier outside a kernel");
    if (s.plain)
        die("a barrier in a launch whose first block reached none (run as plain calls)");
    s.saw_barrier = true;
    s.fib[s.cur].state = state;
    to_scheduler(s.cur);
}

/* Open the barriers that every live thread of their scope has reached; abort on deadlock. */
inline bool release()
{
    State &s = st();
    int live = 0, at_block = 0;
    for (int t = 0; t < s.nthreads; t++) {
        live += s.fib[t].state != DONE;
        at_block += s.fib[t].state == WAIT_BLOCK;
    }
    if (live == 0)
        return false;
    if (at_block == live) {
        if (live != s.nthreads)
            die("__syncthreads not reached by threads that have returned");
        for (int t = 0; t < s.nthreads; t++)
            s.fib[t].state = READY;
        return true;
    }
    bool any = false;
    for (int w = 0; w * 32 < s.nthreads; w++) {
        int lo = w * 32, hi = lo + 32 < s.nthreads ? lo + 32 : s.nthreads, waiting = 0, n = hi - lo;
        for (int t = lo; t < hi; t++)
            waiting += s.fib[t].state == WAIT_WARP;
        if (waiting && waiting == n) {
            for (int t = lo; t < hi; t++)
                s.fib[t].state = READY;
            any = true;
        } else if (waiting) {
            s.cur = lo;
            die("warp barrier (__syncwarp or a shuffle) not reached by every lane of the warp");
        }
    }
    if (!any)
        die("deadlock: threads wait at barriers that can never open");
    return true;
}

inline void run_block(const dim3 &block)
{
    State &s = st();
    for (int t = 0; t < s.nthreads; t++) {
        Fiber &f = s.fib[t];
        f.idx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
        f.state = READY;
        s.seq[t] = 0;
        start_fiber(t);
    }
    if (s.dyn_bytes)
        memset(s.dyn, 0xff, s.dyn_bytes);
    do {
        for (int t = 0; t < s.nthreads; t++)
            if (s.fib[t].state == READY) {
                s.cur = t;
                threadIdx = s.fib[t].idx;
                to_fiber(t);
            }
    } while (release());
}

/* Run body (a kernel call) on grid x block threads; dyn bytes of dynamic shared memory. */
inline void launch(dim3 grid, dim3 block, size_t dyn, const std::function<void()> &body)
{
    State &s = st();
    size_t n = (size_t)block.x * block.y * block.z;
    if (n < 1 || n > MAX_THREADS || grid.x < 1 || grid.y < 1 || grid.z < 1) {
        fprintf(stderr, "cuda shim: bad launch %ux%ux%u blocks of %ux%ux%u\n", grid.x, grid.y, grid.z, block.x,
                block.y, block.z);
        abort();
    }
    if (!s.stacks && !(s.stacks = (unsigned char *)malloc((size_t)MAX_THREADS * STACK_BYTES))) {
        fprintf(stderr, "cuda shim: out of memory for fiber stacks\n");
        abort();
    }
    if (dyn > s.dyn_bytes) {
        free(s.dyn);
        if (!(s.dyn = (unsigned char *)aligned_alloc(64, (dyn + 63) / 64 * 64))) {
            fprintf(stderr, "cuda shim: out of memory for %zu bytes of shared memory\n", dyn);
            abort();
        }
    }
    s.dyn_bytes = dyn;
    s.nthreads = (int)n;
    s.body = &body;
    gridDim = grid;
    blockDim = block;
    s.saw_barrier = s.plain = false;
    bool first = true;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                blockIdx = dim3(x, y, z);
                if (first || s.saw_barrier) {
                    run_block(block);
                    s.plain = !s.saw_barrier;
                    first = false;
                    continue;
                }
                if (s.dyn_bytes)
                    memset(s.dyn, 0xff, s.dyn_bytes);
                for (int t = 0; t < s.nthreads; t++) {
                    s.cur = t;
                    s.fib[t].idx = threadIdx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
                    body();
                }
            }
    s.body = nullptr;
    s.plain = false;
}

inline void *dyn_smem()
{
    return st().dyn;
}

template <class T> inline T shfl(unsigned mask, T v, int lane_of_src)
{
    static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
    State &s = st();
    if (mask != 0xffffffffu)
        die("shuffle with a partial mask (the shim needs full warps)");
    int me = s.cur, base = me / 32 * 32, bank = s.seq[me]++ & 1;
    memcpy(&s.slot[bank][me], &v, sizeof v);
    yield(WAIT_WARP);
    int src = base + lane_of_src;
    if (src >= s.nthreads)
        die("shuffle from a lane past the block's last thread");
    T r;
    memcpy(&r, &s.slot[bank][src], sizeof r);
    return r;
}

} /* namespace itshim */

inline void __syncthreads()
{
    itshim::yield(itshim::WAIT_BLOCK);
}
inline void __syncwarp(unsigned mask = 0xffffffffu)
{
    if (mask != 0xffffffffu)
        itshim::die("__syncwarp with a partial mask");
    itshim::yield(itshim::WAIT_WARP);
}
template <class T> inline T __shfl_sync(unsigned mask, T v, int src, int width = 32)
{
    if (width != 32)
        itshim::die("shuffle width other than 32");
    return itshim::shfl(mask, v, src & 31);
}
template <class T> inline T __shfl_xor_sync(unsigned mask, T v, int lm, int width = 32)
{
    if (width != 32)
        itshim::die("shuffle width other than 32");
    return itshim::shfl(mask, v, (int)(threadIdx.x % 32) ^ lm);
}
/* lanes past the top read their own value, as on the GPU */
template <class T> inline T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32)
{
    if (width != 32)
        itshim::die("shuffle width other than 32");
    int lane = (int)(threadIdx.x % 32), src = lane + (int)d;
    return itshim::shfl(mask, v, src < 32 ? src : lane);
}

inline float atomicAdd(float *p, float v) { float o = *p; *p = o + v; return o; }
inline int atomicAdd(int *p, int v) { int o = *p; *p = o + v; return o; }
inline unsigned atomicAdd(unsigned *p, unsigned v) { unsigned o = *p; *p = o + v; return o; }
inline int atomicMax(int *p, int v) { int o = *p; *p = o > v ? o : v; return o; }
inline int atomicOr(int *p, int v) { int o = *p; *p = o | v; return o; }

inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
/* the _rn intrinsics exist on the GPU to forbid contraction into FMA; the shim's host code is
 * built without FMA contraction (see kernels/local.mk), so plain operators are the same maths */
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }

#define IT_DYN_SHARED(type, name) type *name = (type *)itshim::dyn_smem()
#define IT_LAUNCH(kern, grid, block, smem, stream, ...)                                       \
    itshim::launch((grid), (block), (smem), [=]() { kern(__VA_ARGS__); })

#endif
