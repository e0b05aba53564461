/* rate.c: per-window rates and keep masks from stored ELBO maps (spec §4.5-4.6). */
#include <math.h>
#include <string.h>

#include "error_internal.h"
#include "kernels/it_kernels.h"
#include "rate.h"

/* 2^32: fixed-point units of the corpus sum. Exact for every float >= 2^-8 (24-bit mantissa
 * within 2^-32 resolution), a truncation below 2^-32 for smaller ones; int64 holds 2^31 units
 * of ELBO, a billion windows of the largest possible mean (2). */
#define FIXED_ONE 4294967296.0

int it_strategy_parse(const char *name, int *strategy)
{
    if (strcmp(name, "static") == 0)
        *strategy = IT_STRATEGY_STATIC;
    else if (strcmp(name, "elbo") == 0)
        *strategy = IT_STRATEGY_ELBO;
    else if (strcmp(name, "global_elbo") == 0)
        *strategy = IT_STRATEGY_GLOBAL_ELBO;
    else
        return it_error_set(IT_E_INVALID, "unknown strategy '%s': expected static, elbo or global_elbo", name);
    return 0;
}

const char *it_strategy_name(int strategy)
{
    switch (strategy) {
    case IT_STRATEGY_STATIC: return "static";
    case IT_STRATEGY_ELBO: return "elbo";
    case IT_STRATEGY_GLOBAL_ELBO: return "global_elbo";
    default: return "none";
    }
}

void it_elbo_stat_add(it_elbo_stat *s, float window_mean)
{
    /* Stored maps are validated finite and >= 0; the cap only keeps the sum defined. */
    if (!(window_mean >= 0.0f))
        window_mean = 0.0f;
    if (window_mean > 1e6f)
        window_mean = 1e6f;
    s->count++;
    s->sum_fixed += (int64_t)((double)window_mean * FIXED_ONE);
}

void it_elbo_stat_merge(it_elbo_stat *into, const it_elbo_stat *other)
{
    into->count += other->count;
    into->sum_fixed += other->sum_fixed;
}

float it_elbo_stat_mean(const it_elbo_stat *s)
{
    return s->count ? (float)((double)s->sum_fixed / FIXED_ONE / (double)s->count) : 0.0f;
}

float it_elbo_window_mean(const float *elbo, size_t nt)
{
    double sum = 0;
    for (size_t i = 0; i < nt; i++)
        sum += elbo[i];
    return nt ? (float)(sum / (double)nt) : 0.0f;
}

float it_rate_for_window(int strategy, float avg_rate, float window_mean, float corpus_mean)
{
    if (strategy != IT_STRATEGY_GLOBAL_ELBO)
        return avg_rate;
    /* A corpus whose windows all reconstruct perfectly has no information to spread. */
    if (!(corpus_mean > 0.0f))
        return avg_rate;
    float r = avg_rate * window_mean / corpus_mean;
    return r < IT_RATE_MIN ? IT_RATE_MIN : r > IT_RATE_MAX ? IT_RATE_MAX : r;
}

int it_rate_apply(it_window_rec *rec, int strategy, float rate, uint8_t *keep_buf)
{
    const size_t nt = (size_t)rec->lt * rec->lh * rec->lw;
    size_t kept = 0;
    if (!(rate >= 0.0f && rate <= 1.0f))
        return it_error_set(IT_E_INVALID, "rate %g outside [0, 1]", (double)rate);
    /* One host function on the stored map, whatever backend computed it: masks made at
     * encode time and at pack time then agree bit for bit. */
    int rc = it_quantile_mask(nt, rec->elbo, rate, keep_buf, &kept, NULL);
    if (rc < 0)
        return rc;
    rec->keep = keep_buf;
    rec->strategy = (uint8_t)strategy;
    rec->rate = rate;
    rec->kept = (uint32_t)kept;
    return 0;
}
