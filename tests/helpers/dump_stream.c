/* dump_stream: a test helper that prints a token stream as text, one line per record, with
 * volatile fields left out, so shell tests can compare streams as text: the command line, and
 * the ELBO map's exact bits, which depend on the build's instruction set (the map is printed
 * as its mean to 6 digits; tokens and masks, which the map decides, are printed exactly). 
 *   dump_stream [-r STRATEGY RATE] FILE|-
 * With -r, full-rate window records are allocated here (static/elbo: RATE per window;
 * global_elbo: the corpus mean from the stream's own windows, a second reading) and printed
 * as if it-encode had done it: the test of "allocation later == allocation at encode time". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "infotok/stream.h"
#include "infotok/core.h"
#include "infotok/rate.h"

static uint64_t fnv(const void *p, size_t n)
{
    return it_fnv1a64(IT_FNV1A64_INIT, p, n);
}

static int corpus_stat(const char *path, it_elbo_stat *st)
{
    FILE *f = fopen(path, "rb");
    it_stream_reader *r = NULL;
    int type, rc;
    if (!f || it_stream_reader_new(&r, f, path) < 0)
        return -1;
    while ((rc = it_stream_next(r, &type)) > 0)
        if (type == IT_REC_WINDOW)
            it_elbo_stat_add(st, it_stream_window(r)->elbo_mean);
    it_stream_reader_free(&r);
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    int strategy = IT_STRATEGY_NONE;
    float rate = 0;
    int a = 1;
    if (argc > 3 && strcmp(argv[1], "-r") == 0) {
        if (it_strategy_parse(argv[2], &strategy) < 0)
            return 2;
        rate = (float)atof(argv[3]);
        a = 4;
    }
    if (a + 1 != argc)
        return 2;
    const char *path = argv[a];
    it_elbo_stat st = {0, 0};
    if (strategy == IT_STRATEGY_GLOBAL_ELBO && corpus_stat(path, &st) < 0) {
        fprintf(stderr, "dump_stream: %s\n", it_error_message());
        return 3;
    }
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    it_stream_reader *r = NULL;
    if (!f || it_stream_reader_new(&r, f, path) < 0) {
        fprintf(stderr, "dump_stream: %s\n", it_error_message());
        return 3;
    }
    int type, rc;
    uint8_t *keep = NULL;
    while ((rc = it_stream_next(r, &type)) > 0) {
        if (type == IT_REC_WINDOW) {
            it_window_rec w = *it_stream_window(r);
            size_t nt = (size_t)w.lt * w.lh * w.lw;
            if (strategy != IT_STRATEGY_NONE) {
                free(keep);
                keep = malloc(nt);
                float rr = it_rate_for_window(strategy, rate, w.elbo_mean, it_elbo_stat_mean(&st));
                if (!keep || it_rate_apply(&w, strategy, rr, keep) < 0)
                    return 3;
            }
            printf("WINDOW video %u window %u first %lld t %d pad %dx%dx%d crop %d,%d,%d latent %dx%dx%d "
                   "tokens %016llx mean %.6g strategy %s rate %.6g kept %u mask %016llx\n",
                   w.video_ordinal, w.window_index, (long long)w.first_frame, w.t, w.pt, w.ph, w.pw,
                   w.t0, w.h0, w.w0, w.lt, w.lh, w.lw, (unsigned long long)fnv(w.indices, nt * 2),
                   (double)w.elbo_mean,
                   it_strategy_name(w.strategy), (double)w.rate, w.kept,
                   (unsigned long long)(w.keep ? fnv(w.keep, nt) : 0));
        } else if (type == IT_REC_ALLOCATION) {
            const it_alloc_rec *al = it_stream_alloc(r);
            printf("ALLOCATION strategy %s avg_rate %.6g windows %llu sum %lld\n",
                   it_strategy_name(al->strategy), (double)al->avg_rate,
                   (unsigned long long)al->elbo_count, (long long)al->elbo_sum_fixed);
        } else {
            json_error_t err;
            json_t *o = json_loads(it_stream_json(r), 0, &err);
            json_object_del(o, "command"); /* volatile: paths of this run */
            json_object_del(o, "version");
            char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
            static const char *const names[] = {"", "HEADER", "VIDEO", "WINDOW", "VIDEO_END", "ALLOCATION", "END"};
            printf("%s %s\n", type >= 1 && type <= 6 ? names[type] : "?", s ? s : "?");
            free(s);
            json_decref(o);
        }
    }
    free(keep);
    if (rc < 0)
        fprintf(stderr, "dump_stream: %s\n", it_error_message());
    it_stream_reader_free(&r);
    if (f != stdin)
        fclose(f);
    return rc < 0 ? 1 : 0;
}
