/* pack_inspect.c: it-pack verify, list, dump and elbo-stat: reading shards (and streams) as
 * text. Each reports damage per input, naming it and the reason, and goes on to the next. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "infotok/records.h"
#include "infotok/shard.h"
#include "infotok/core.h"
#include "infotok/rate.h"
#include "tools/common.h"
#include "tools/pack.h"

const char *pack_usage(void);

/* Shared option parsing of the read-only subcommands. */
typedef struct inspect_opts {
    uint64_t *videos;
    int nvideos;
    int elbo;
} inspect_opts;

static int parse_inspect(int argc, char **argv, inspect_opts *o, int allow_video)
{
    enum { OPT_VIDEO = 256, OPT_ELBO, OPT_VERSION };
    static const struct option longopts[] = {
        {"video", required_argument, NULL, OPT_VIDEO},
        {"elbo", no_argument, NULL, OPT_ELBO},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qvh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_VIDEO: {
            char *end;
            if (!allow_video)
                return usage_error("--video is an option of dump");
            uint64_t id = strtoull(optarg, &end, 16);
            if (strlen(optarg) != 16 || *end)
                return usage_error("invalid value '%s' for --video: expected 16 hex digits", optarg);
            uint64_t *v = realloc(o->videos, (o->nvideos + 1) * sizeof *v);
            if (!v)
                return EXIT_FATAL;
            o->videos = v;
            o->videos[o->nvideos++] = id;
            break;
        }
        case OPT_ELBO:
            if (!allow_video)
                return usage_error("--elbo is an option of dump");
            o->elbo = 1;
            break;
        case 'q': break;
        case 'v': it_log_set_level(IT_LOG_DEBUG); break;
        case 'h': fputs(pack_usage(), stdout); return -EXIT_OK - 1;
        case OPT_VERSION: print_version(); return -EXIT_OK - 1;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return usage_error("no input given");
    return 0;
}

#define PARSE_OR_RETURN(argc, argv, o, allow)                 \
    do {                                                      \
        int prc_ = parse_inspect(argc, argv, o, allow);       \
        if (prc_ == -EXIT_OK - 1) {                           \
            free((o)->videos);                                \
            return EXIT_OK;                                   \
        }                                                     \
        if (prc_ != 0) {                                      \
            free((o)->videos);                                \
            return prc_;                                      \
        }                                                     \
    } while (0)

int pack_verify(int argc, char **argv)
{
    inspect_opts o = {0};
    PARSE_OR_RETURN(argc, argv, &o, 0);
    int status = EXIT_OK;
    for (int i = optind; i < argc; i++) {
        int rc = it_shard_verify(argv[i]);
        if (rc < 0) {
            printf("BAD\t%s\t%s\n", argv[i], it_error_message());
            status = EXIT_SOME_FAILED;
        } else {
            printf("ok\t%s\n", argv[i]);
        }
    }
    free(o.videos);
    return status;
}

int pack_list(int argc, char **argv)
{
    inspect_opts o = {0};
    PARSE_OR_RETURN(argc, argv, &o, 0);
    int status = EXIT_OK;
    printf("#input\tordinal\tid\tstatus\twindows\tframes\ttokens\tkept\n");
    for (int i = optind; i < argc; i++) {
        it_record_reader *r = NULL;
        int rc = it_record_reader_open(&r, argv[i]), type;
        uint64_t tokens = 0, kept = 0;
        uint32_t ordinal = 0;
        while (rc >= 0 && (rc = it_record_next(r, &type)) == 1) {
            if (type == IT_REC_VIDEO) {
                tokens = kept = 0;
            } else if (type == IT_REC_WINDOW) {
                const it_window_rec *w = it_record_window(r);
                const uint64_t nt = (uint64_t)w->lt * w->lh * w->lw;
                tokens += nt;
                kept += w->strategy == IT_STRATEGY_NONE ? nt : w->kept;
            } else if (type == IT_REC_VIDEO_END) {
                json_int_t windows = 0, frames = 0;
                const char *st = "?", *id = "?";
                json_error_t e;
                json_t *j = json_loads(it_record_json(r), 0, &e);
                json_unpack(j, "{s?s, s?s, s?I, s?I}", "id", &id, "status", &st, "windows", &windows, "frames", &frames);
                printf("%s\t%" PRIu32 "\t%s\t%s\t%lld\t%lld\t%" PRIu64 "\t%" PRIu64 "\n", it_record_reader_name(r),
                       ordinal++, id, st, (long long)windows, (long long)frames, tokens, kept);
                json_decref(j);
            }
        }
        if (rc < 0) {
            fflush(stdout);
            print_lib_error(rc, "%s", argv[i]);
            status = EXIT_SOME_FAILED;
        }
        it_record_reader_free(&r);
    }
    free(o.videos);
    return status;
}

static int wanted(const inspect_opts *o, uint64_t id)
{
    if (o->nvideos == 0)
        return 1;
    for (int i = 0; i < o->nvideos; i++)
        if (o->videos[i] == id)
            return 1;
    return 0;
}

static void dump_window(const it_window_rec *w, int elbo)
{
    const size_t nt = (size_t)w->lt * w->lh * w->lw;
    printf("WINDOW\tvideo=%" PRIu32 " window=%" PRIu32 " first_frame=%" PRId64 " thw=%dx%dx%d padded=%dx%dx%d "
           "origin=%d,%d,%d latent=%dx%dx%d fps=%.9g elbo_mean=%.9g strategy=%s rate=%.9g kept=%" PRIu32 "\n",
           w->video_ordinal, w->window_index, w->first_frame, w->t, w->h, w->w, w->pt, w->ph, w->pw, w->t0, w->h0,
           w->w0, w->lt, w->lh, w->lw, w->fps, (double)w->elbo_mean,
           w->strategy == IT_STRATEGY_NONE ? "none" : it_strategy_name(w->strategy), (double)w->rate,
           w->strategy == IT_STRATEGY_NONE ? (uint32_t)nt : w->kept);
    printf("TOKENS");
    for (size_t i = 0; i < nt; i++)
        printf("%c%u", i ? ' ' : '\t', (unsigned)w->indices[i]);
    printf("\n");
    if (w->keep) {
        printf("KEEP\t");
        for (size_t i = 0; i < nt; i++)
            putchar('0' + w->keep[i]);
        printf("\n");
    }
    if (elbo && !w->elbo) {
        printf("ELBO\tnone\n"); /* a slim shard's record */
    } else if (elbo) {
        printf("ELBO");
        for (size_t i = 0; i < nt; i++)
            printf("%c%.9g", i ? ' ' : '\t', (double)w->elbo[i]);
        printf("\n");
    }
}

int pack_dump(int argc, char **argv)
{
    inspect_opts o = {0};
    PARSE_OR_RETURN(argc, argv, &o, 1);
    int status = EXIT_OK;
    for (int i = optind; i < argc; i++) {
        it_record_reader *r = NULL;
        int rc = it_record_reader_open(&r, argv[i]), type, on = 1;
        while (rc >= 0 && (rc = it_record_next(r, &type)) == 1) {
            switch (type) {
            case IT_REC_HEADER: printf("HEADER\t%s\n", it_record_json(r)); break;
            case IT_REC_VIDEO: {
                uint64_t id;
                if ((rc = it_video_json_id(it_record_json(r), it_record_reader_name(r), &id)) < 0)
                    break;
                on = wanted(&o, id);
                if (on)
                    printf("VIDEO\t%s\n", it_record_json(r));
                break;
            }
            case IT_REC_WINDOW: if (on) dump_window(it_record_window(r), o.elbo); break;
            case IT_REC_VIDEO_END: if (on) printf("VIDEO_END\t%s\n", it_record_json(r)); break;
            case IT_REC_ALLOCATION: {
                const it_alloc_rec *a = it_record_alloc(r);
                printf("ALLOCATION\tstrategy=%s avg_rate=%.9g elbo_count=%" PRIu64 " elbo_sum_fixed=%" PRId64 "\n",
                       it_strategy_name(a->strategy), (double)a->avg_rate, a->elbo_count, a->elbo_sum_fixed);
                break;
            }
            case IT_REC_END: printf("END\t%s\n", it_record_json(r)); break;
            }
        }
        if (rc < 0) {
            fflush(stdout);
            print_lib_error(rc, "%s", argv[i]);
            status = EXIT_SOME_FAILED;
        }
        it_record_reader_free(&r);
    }
    free(o.videos);
    return status;
}

/* The corpus statistic of global_elbo, from the shards' stored sums (no record is read) or by
 * reading streams: the reduce step of a sharded run. */
int pack_elbo_stat(int argc, char **argv)
{
    inspect_opts o = {0};
    PARSE_OR_RETURN(argc, argv, &o, 0);
    it_elbo_stat total = {0, 0};
    char *json = NULL;
    int rc = it_corpus_stat_windows((const char *const *)argv + optind, argc - optind, &total);
    if (rc == 0)
        rc = it_elbo_stat_format(&total, &json);
    free(o.videos);
    if (rc < 0) {
        print_lib_error(rc, "elbo-stat");
        return EXIT_FATAL;
    }
    printf("%s\n", json);
    free(json);
    return EXIT_OK;
}
