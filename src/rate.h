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

#include "formats/tokstream.h"

#define IT_RATE_MIN 0.0625f
#define IT_RATE_MAX 1.0f

/* "static", "elbo", "global_elbo" -> enum it_strategy; IT_E_INVALID otherwise. */
int it_strategy_parse(const char *name, int *strategy);
const char *it_strategy_name(int strategy);

/* The corpus statistic: how many windows and the sum of their mean ELBO. */
typedef struct it_elbo_stat { uint64_t count; int64_t sum_fixed; } it_elbo_stat;
void it_elbo_stat_add(it_elbo_stat *s, float window_mean);
void it_elbo_stat_merge(it_elbo_stat *into, const it_elbo_stat *other);
float it_elbo_stat_mean(const it_elbo_stat *s); /* 0 when empty */

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

#endif
