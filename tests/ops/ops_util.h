/* ops_util.h: what the ops tests share: a fixed-seed generator, buffers, error measures and
 * the pass/fail bookkeeping. Exit codes: 0 pass, 1 fail, 99 hard error (out of memory). */
#ifndef IT_OPS_UTIL_H
#define IT_OPS_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/core.h"
#include "kernels/it_kernels.h"

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

/* An op call that must succeed. */
#define CALL(expr)                                                                           \
    do {                                                                                     \
        int rc_ = (expr);                                                                    \
        CHECK(rc_ == 0, "%s -> %s (%s)", #expr, it_strerror(rc_), it_error_message());       \
    } while (0)

static inline void *xalloc(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(99);
    }
    return p;
}
#define FALLOC(n) ((float *)xalloc(sizeof(float) * (size_t)(n)))

/* splitmix64: fixed seeds only */
static uint64_t rng_state = 0x1234567887654321ull;
static inline uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static inline float rng_uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)((rng_next() >> 40) * (1.0 / 16777216.0));
}
static inline float *rnd(size_t n, float lo, float hi)
{
    float *p = FALLOC(n);
    for (size_t i = 0; i < n; i++)
        p[i] = rng_uniform(lo, hi);
    return p;
}

/* Relative L2 error ||got - ref|| / ||ref|| (0 when both are zero). */
static inline double rel_l2(const float *ref, const float *got, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)got[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    if (num != num)
        return INFINITY; /* a NaN anywhere fails */
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Largest |got - ref| relative to the largest |ref| (a normalised max error). */
static inline double rel_max(const float *ref, const float *got, size_t n)
{
    double mx = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (d != d)
            return INFINITY;
        mx = d > mx ? d : mx;
        mr = fabs(ref[i]) > mr ? fabs(ref[i]) : mr;
    }
    return mr > 0 ? mx / mr : mx;
}

static inline int report(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, n_check, n_fail);
    return n_fail ? 1 : 0;
}

#endif
