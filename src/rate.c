/* rate.c: per-window rates and keep masks from stored ELBO maps (spec §4.5-4.6). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "error_internal.h"
#include "infotok/records.h"
#include "infotok/shard.h"
#include "kernels/it_kernels.h"
#include "infotok/rate.h"

/* 2^32: fixed-point units of the corpus sum. Exact for every float >= 2^-8 (24-bit mantissa
 * within 2^-32 resolution), a truncation below 2^-32 for smaller ones; int64 holds 2^31 units
 * of ELBO, a billion windows of the largest possible mean (2). */
#define FIXED_ONE 4294967296.0

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

int it_elbo_stat_format(const it_elbo_stat *s, char **json)
{
    char buf[160];
    snprintf(buf, sizeof buf, "{\"count\":%" PRIu64 ",\"sum_fixed\":\"%" PRId64 "\",\"mean\":%.9g}", s->count,
             s->sum_fixed, (double)it_elbo_stat_mean(s));
    *json = strdup(buf);
    return *json ? 0 : it_error_set(IT_E_NOMEM, "out of memory");
}

int it_elbo_stat_load(const char *path, it_elbo_stat *s)
{
    json_error_t e;
    json_t *o = json_load_file(path, 0, &e);
    json_int_t count = -1;
    const char *sum = NULL;
    char *end = NULL;
    int rc = 0;
    if (!o || json_unpack(o, "{s:I, s:s}", "count", &count, "sum_fixed", &sum) != 0 || count < 0) {
        rc = it_error_set(o ? IT_E_FORMAT : IT_E_IO, "%s: not an ELBO statistic (expected {\"count\":N,"
                          "\"sum_fixed\":\"S\"}): %s", path, o ? "missing or bad members" : e.text);
        goto done;
    }
    errno = 0;
    long long v = strtoll(sum, &end, 10);
    if (errno || end == sum || *end) {
        rc = it_error_set(IT_E_FORMAT, "%s: sum_fixed is not an integer", path);
        goto done;
    }
    s->count = (uint64_t)count;
    s->sum_fixed = v;
done:
    json_decref(o);
    return rc;
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
    if (!rec->elbo)
        return it_error_set(IT_E_UNSUPPORTED, "window %" PRIu32 " of video %016" PRIx64 " has no ELBO map (a slim "
                            "shard's record): it cannot be re-allocated", rec->window_index, rec->video_id);
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

int it_allocation_apply(const it_allocation *a, it_window_rec *rec, uint8_t *keep_buf)
{
    /* a slim record's dropped tokens are gone: full rate would decode zeros */
    if (!rec->elbo)
        return it_rate_apply(rec, a->strategy, 0.0f, keep_buf);
    if (a->strategy == IT_STRATEGY_NONE) {
        rec->strategy = IT_STRATEGY_NONE;
        rec->rate = 0;
        rec->kept = 0;
        rec->keep = NULL;
        return 0;
    }
    const float rate = it_rate_for_window(a->strategy, a->avg_rate, rec->elbo_mean, it_elbo_stat_mean(&a->stat));
    return it_rate_apply(rec, a->strategy, rate, keep_buf);
}

it_alloc_rec it_allocation_record(const it_allocation *a)
{
    return (it_alloc_rec){(uint8_t)a->strategy, a->avg_rate, a->stat.count, a->stat.sum_fixed};
}

/* What one input says about its corpus: its own windows' statistic and its global_elbo
 * ALLOCATION, if it has one. */
static int input_stat(const char *path, it_elbo_stat *own, it_alloc_rec *alloc, int *has_alloc)
{
    it_record_reader *r = NULL;
    int rc = it_record_reader_open(&r, path), type;
    *has_alloc = 0;
    if (rc == 0 && it_record_reader_kind(r) == IT_RECORDS_SHARD) {
        it_shard *s = NULL;
        if ((rc = it_shard_open(&s, path, 0)) == 0 && (rc = it_shard_elbo_stat(s, &own->count, &own->sum_fixed)) == 0)
            *has_alloc = it_shard_alloc(s, alloc) == 1 && alloc->strategy == IT_STRATEGY_GLOBAL_ELBO;
        it_shard_close(&s);
    } else {
        while (rc >= 0 && (rc = it_record_next(r, &type)) == 1) {
            if (type == IT_REC_WINDOW) {
                it_elbo_stat_add(own, it_record_window(r)->elbo_mean);
            } else if (type == IT_REC_ALLOCATION && it_record_alloc(r)->strategy == IT_STRATEGY_GLOBAL_ELBO) {
                *alloc = *it_record_alloc(r);
                *has_alloc = 1;
            }
        }
    }
    it_record_reader_free(&r);
    return rc < 0 ? rc : 0;
}

static int refuse_stdin(const char *const *inputs, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(inputs[i], "-") == 0)
            return it_error_set(IT_E_INVALID, "global_elbo needs the corpus statistic before the first window, "
                                "and stdin cannot be read twice: give files, or --elbo-stat (it-pack elbo-stat)");
    return 0;
}

int it_corpus_stat(const char *const *inputs, int n, it_elbo_stat *stat, it_alloc_rec *shared)
{
    it_elbo_stat own = {0, 0};
    it_alloc_rec first = {0}, a;
    const char *with = NULL, *without = NULL;
    int rc = refuse_stdin(inputs, n);
    for (int i = 0; rc == 0 && i < n; i++) {
        it_elbo_stat part = {0, 0};
        int has;
        if ((rc = input_stat(inputs[i], &part, &a, &has)) < 0)
            break;
        it_elbo_stat_merge(&own, &part);
        if (!has) {
            without = without ? without : inputs[i];
        } else if (!with) {
            with = inputs[i];
            first = a;
        } else if (a.elbo_count != first.elbo_count || a.elbo_sum_fixed != first.elbo_sum_fixed) {
            rc = it_error_set(IT_E_INVALID, "%s and %s were allocated over different corpora (%" PRIu64 " and %" PRIu64
                              " windows): give --elbo-stat to say which corpus the rates spread over", with,
                              inputs[i], first.elbo_count, a.elbo_count);
        }
    }
    if (rc == 0 && with && without)
        rc = it_error_set(IT_E_INVALID, "%s carries the statistic of the corpus it was allocated over, %s does not: "
                          "give --elbo-stat to say which corpus the rates spread over", with, without);
    if (rc < 0)
        return rc;
    if (with) {
        *stat = (it_elbo_stat){first.elbo_count, first.elbo_sum_fixed};
        if (shared)
            *shared = first;
        return IT_STAT_ALLOCATION;
    }
    *stat = own;
    return IT_STAT_WINDOWS;
}

int it_corpus_stat_windows(const char *const *inputs, int n, it_elbo_stat *stat)
{
    it_elbo_stat total = {0, 0};
    it_alloc_rec a;
    int rc = 0, has;
    /* one pass over each input: stdin is fine here */
    for (int i = 0; rc == 0 && i < n; i++) {
        it_elbo_stat part = {0, 0};
        if ((rc = input_stat(inputs[i], &part, &a, &has)) == 0)
            it_elbo_stat_merge(&total, &part);
    }
    if (rc == 0)
        *stat = total;
    return rc;
}
