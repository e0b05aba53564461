/* rate.h: InfoTok's rate allocation over window records (spec §4.5-4.6): one rate per
 * window, then tokens kept where their ELBO is above the window's quantile.
 *
 * Allocation is a pure function of a window's stored ELBO map and one corpus statistic,
 * so applying it inside it-encode, or later in it-pack on another machine, gives
 * bit-identical masks. Differences from the official code, on purpose: it runs in fp32 on
 * the stored fp32 map, not in bf16; and the corpus mean is an exact, order-independent sum
 * (fixed point, 2^-32 units) so that shards can be reduced in any order. */
#ifndef IT_RATE_H
#define IT_RATE_H

#include <stddef.h>
#include <stdint.h>

#include "infotok/stream.h"

/* Exported from libinfotok.so: the public API (the library builds with hidden visibility). */
#pragma GCC visibility push(default)

#ifdef __cplusplus
extern "C" {
#endif

#define IT_RATE_MIN 0.0625f
#define IT_RATE_MAX 1.0f

/* The corpus statistic: how many windows and the sum of their mean ELBO. */
typedef struct it_elbo_stat { uint64_t count; int64_t sum_fixed; } it_elbo_stat;
void it_elbo_stat_add(it_elbo_stat *s, float window_mean);
void it_elbo_stat_merge(it_elbo_stat *into, const it_elbo_stat *other);
float it_elbo_stat_mean(const it_elbo_stat *s); /* 0 when empty */

/* The statistic as a file ({"count":N,"sum_fixed":"S","mean":M}, what it-pack elbo-stat
 * writes and --elbo-stat reads): format (malloc'ed text, no newline) and load (IT_E_FORMAT
 * naming the file when it is not one). */
int it_elbo_stat_format(const it_elbo_stat *s, char **json);
int it_elbo_stat_load(const char *path, it_elbo_stat *s);

/* Mean of a window's ELBO map: sum in double, rounded to float (the official code averages
 * the whole window, overlap frames included). */
float it_elbo_window_mean(const float *elbo, size_t nt);

/* The window's rate: static/elbo -> avg_rate (no clipping, as the official code);
 * global_elbo -> clip(avg_rate * window_mean / corpus_mean, 0.0625, 1), in fp32. */
float it_rate_for_window(int strategy, float avg_rate, float window_mean, float corpus_mean);

/* Apply a rate to a record: rate, keep mask (keep must point to NT bytes the caller owns,
 * or it is set to buf), kept count. The mask is spec §4.6: strict '>' against the fp32
 * linearly interpolated quantile at 1 - rate (ties at the bound are dropped). */
int it_rate_apply(it_window_rec *rec, int strategy, float rate, uint8_t *keep_buf);
/* (IT_E_UNSUPPORTED for a record without an ELBO map: a slim shard's, infotok-shard(5).) */

/* ---- the one allocation policy, shared by every tool (infotok(7), "RATE ALLOCATION") ---- */

/* An allocation as the tools' options ask for it (--avg-rate, --strategy, --elbo-stat,
 * --full-rate). IT_STRATEGY_NONE means full rate: masks are removed. */
typedef struct it_allocation {
    int strategy;
    float avg_rate;
    it_elbo_stat stat;       /* global_elbo: the corpus statistic */
} it_allocation;

/* rec under a: its rate, mask (into keep_buf, NT bytes) and kept count, or no mask at all for
 * IT_STRATEGY_NONE. A record without an ELBO map (a slim shard's) is refused with
 * IT_E_UNSUPPORTED, as by it_rate_apply(). The same function in every tool: the same record and allocation give the
 * same mask, bit for bit. */
int it_allocation_apply(const it_allocation *a, it_window_rec *rec, uint8_t *keep_buf);
/* The ALLOCATION record a global_elbo allocation writes (strategy, rate, statistic). */
it_alloc_rec it_allocation_record(const it_allocation *a);

/* Where a corpus statistic came from (it_corpus_stat's return value). */
enum it_stat_origin { IT_STAT_WINDOWS = 1, IT_STAT_ALLOCATION = 2 };

/* The global_elbo corpus statistic of a set of inputs (token streams or shards), by the one
 * policy: when every input carries a global_elbo ALLOCATION record and they all name the same
 * statistic, that one (the inputs are part of the corpus it was computed over, which may be
 * larger than they are: one shard of many); when none carries one, the sum over the inputs'
 * own windows (shards: their stored exact sums, nothing decoded). Inputs that disagree (some
 * with an ALLOCATION, some without, or two different ones) are refused with IT_E_INVALID
 * naming two of them: the caller must say which corpus it means (--elbo-stat). stdin ("-")
 * cannot be read twice and is refused too. Returns IT_STAT_WINDOWS or IT_STAT_ALLOCATION; with
 * IT_STAT_ALLOCATION and shared != NULL, *shared is the allocation the inputs share. */
int it_corpus_stat(const char *const *inputs, int n, it_elbo_stat *stat, it_alloc_rec *shared);
/* The statistic of the inputs' own windows only, whatever their ALLOCATION records say: the
 * reduce step of a sharded run (it-pack elbo-stat). */
int it_corpus_stat_windows(const char *const *inputs, int n, it_elbo_stat *stat);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop
#endif
