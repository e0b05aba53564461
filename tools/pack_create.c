/* pack_create.c: it-pack create/merge: token streams or shards in, numbered shards out.
 *
 * Videos are never split between shards; a new shard starts at a video boundary once the
 * current one holds --shard-size bytes of records. Every shard is written under a temporary
 * name and renamed when complete (formats/shard_write.c), so after a crash the finished shards
 * are whole and --resume skips exactly the videos they hold. Rates are re-allocated with the
 * same library function as it-encode (src/rate.h), so the masks are bit-identical. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "infotok/records.h"
#include "infotok/shard.h"
#include "infotok/core.h"
#include "infotok/rate.h"
#include "tools/common.h"
#include "tools/pack.h"

const char *pack_usage(void);

typedef struct id_count { uint64_t id; uint32_t n; } id_count;

typedef struct packer {
    const char *prefix;
    uint64_t shard_size;
    int level, quiet, slim;
    int carry;               /* slim inputs' shared global_elbo ALLOCATION, copied as it is */
    it_alloc_rec carried;
    int realloc;             /* 1: records re-allocated with alloc (asked for, or adopted) */
    it_allocation alloc;
    char *provenance;
    char *header;            /* the first input's HEADER (as re-allocated) */
    it_stream_header first;  /* ...typed, to check the other inputs against */
    char *first_name;
    it_shard_writer *w;
    uint32_t next_shard;
    id_count *skip;          /* --resume: videos the finished shards hold */
    size_t nskip;
    uint64_t videos, windows, skipped;
} packer;

static char *shard_name(const char *prefix, uint32_t n)
{
    size_t len = strlen(prefix) + 32;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s-%05" PRIu32 IT_SHARD_SUFFIX, prefix, n);
    return s;
}

static char *provenance_json(int argc, char **argv)
{
    json_t *cmd = json_array();
    for (int i = 0; i < argc; i++)
        json_array_append_new(cmd, json_string(argv[i]));
    json_t *o = json_pack("{s:s, s:s, s:s, s:o}", "tool", "it-pack", "version", it_version(), "library",
                          it_version_long(), "command", cmd);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

static int cmp_idc(const void *a, const void *b)
{
    const id_count *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int take_header(packer *p, const char *json, const char *input);

/* --resume: the finished shards PREFIX-00000.. in order; leftovers of the interrupted shard are
 * removed. Every video they hold is counted so that the same number of copies is skipped. */
static int resume_scan(packer *p)
{
    for (;; p->next_shard++) {
        char *name = shard_name(p->prefix, p->next_shard);
        if (!name)
            return -1;
        struct stat st;
        if (stat(name, &st) != 0) {
            free(name);
            break;
        }
        it_shard *s = NULL;
        int rc = it_shard_open(&s, name, IT_SHARD_CHECK_FILE);
        if (rc < 0) {
            /* only the last shard can be unfinished, and an unfinished one never has the final
             * name: a damaged finished shard is the user's to look at */
            print_lib_error(rc, "--resume: cannot use %s", name);
            free(name);
            return -1;
        }
        /* a run killed between renaming a finished shard and removing its partial file
         * leaves that partial file next to it: it holds nothing the shard does not */
        char *left = malloc(strlen(name) + 16);
        if (left) {
            sprintf(left, "%s%s", name, IT_SHARD_PARTIAL_SUFFIX);
            unlink(left);
            sprintf(left, "%s.tmp", name);
            unlink(left);
            free(left);
        }
        uint32_t nv = it_shard_video_count(s);
        for (uint32_t v = 0; v < nv && rc == 0; v++) {
            const char *vj, *ej;
            uint32_t nw;
            if ((rc = it_shard_video(s, v, &vj, &ej, &nw)) < 0)
                break;
            id_count *q = realloc(p->skip, (p->nskip + 1) * sizeof *q);
            if (!q) {
                rc = -1;
                break;
            }
            p->skip = q;
            uint64_t id;
            if ((rc = it_video_json_id(vj, name, &id)) < 0)
                break;
            p->skip[p->nskip++] = (id_count){id, 1};
        }
        if (p->header == NULL && rc == 0)
            rc = take_header(p, it_shard_meta(s, "header"), name);
        it_shard_close(&s);
        free(name);
        if (rc < 0) {
            print_lib_error(rc, "--resume: cannot read");
            return -1;
        }
    }
    /* merge duplicates into counts, sorted for bsearch */
    if (p->nskip)
        qsort(p->skip, p->nskip, sizeof *p->skip, cmp_idc);
    size_t k = 0;
    for (size_t i = 0; i < p->nskip; i++) {
        if (k > 0 && p->skip[k - 1].id == p->skip[i].id)
            p->skip[k - 1].n++;
        else
            p->skip[k++] = p->skip[i];
    }
    p->nskip = k;
    char *partial = shard_name(p->prefix, p->next_shard);
    if (partial) {
        char *a = malloc(strlen(partial) + 16), *b = malloc(strlen(partial) + 16);
        if (a && b) {
            sprintf(a, "%s%s", partial, IT_SHARD_PARTIAL_SUFFIX);
            sprintf(b, "%s.tmp", partial);
            unlink(a);
            unlink(b);
        }
        free(a);
        free(b);
    }
    free(partial);
    return 0;
}

/* Inputs allocated with global_elbo are packed as they are by re-allocating them with their
 * own rate over their corpus statistic (the one policy, it_corpus_stat): the same function on
 * the same numbers gives the same masks. (Copying masks as they come would not do: a stream's
 * ALLOCATION record is at its end, after shards may have been finished.) Cheap first: a
 * stream's header, a shard's stored allocation. Returns 1 when that applies, 0 when not. */
static int adopt_input_alloc(packer *p, char **inputs, int n)
{
    int global = 0, rc = 0, slim = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (strcmp(inputs[i], "-") == 0)
            continue; /* checked when its header arrives */
        it_record_reader *r = NULL;
        it_stream_header h = {0};
        int type;
        if ((rc = it_record_reader_open(&r, inputs[i])) == 0 && (rc = it_record_next(r, &type)) == 1 &&
            (rc = it_stream_header_parse(it_record_json(r), inputs[i], &h)) == 0)
            global = h.strategy == IT_STRATEGY_GLOBAL_ELBO;
        if (rc == 0 && it_record_reader_kind(r) == IT_RECORDS_SHARD) {
            it_shard *s = NULL;
            it_alloc_rec a;
            if ((rc = it_shard_open(&s, inputs[i], 0)) == 0) {
                global |= it_shard_alloc(s, &a) == 1 && a.strategy == IT_STRATEGY_GLOBAL_ELBO;
                slim |= it_shard_is_slim(s);
            }
            it_shard_close(&s);
        }
        it_stream_header_clear(&h);
        it_record_reader_free(&r);
    }
    if (rc < 0 || !global)
        return rc < 0 ? rc : 0;
    it_alloc_rec shared;
    if ((rc = it_corpus_stat((const char *const *)inputs, n, &p->alloc.stat, &shared)) < 0)
        return rc;
    if (rc != IT_STAT_ALLOCATION)
        return it_error_set(IT_E_INVALID, "global_elbo inputs without their ALLOCATION record: give --avg-rate "
                            "(and --elbo-stat) to re-allocate them, or --full-rate");
    if (slim) {
        /* slim shards cannot be re-allocated, and need not be: their masks are copied, and the
         * allocation they share goes into every output shard */
        p->carry = 1;
        p->carried = shared;
        return 0;
    }
    p->alloc.strategy = IT_STRATEGY_GLOBAL_ELBO;
    p->alloc.avg_rate = shared.avg_rate;
    return 1;
}

static int take_skip(packer *p, uint64_t id)
{
    id_count key = {id, 0};
    id_count *e = p->nskip ? bsearch(&key, p->skip, p->nskip, sizeof *p->skip, cmp_idc) : NULL;
    if (!e || e->n == 0)
        return 0;
    e->n--;
    return 1;
}

static int finish_shard(packer *p)
{
    if (!p->w)
        return 0;
    if ((p->realloc && p->alloc.strategy == IT_STRATEGY_GLOBAL_ELBO && p->alloc.stat.count > 0) || p->carry) {
        const it_alloc_rec a = p->carry ? p->carried : it_allocation_record(&p->alloc);
        int rc = it_shard_write_alloc(p->w, &a);
        if (rc < 0)
            return rc;
    }
    p->next_shard++;
    return it_shard_writer_finish(&p->w);
}

static int start_shard(packer *p)
{
    int prc = make_parent_dirs(p->prefix);
    if (prc < 0)
        return prc;
    char *name = shard_name(p->prefix, p->next_shard);
    if (!name)
        return it_error_set(IT_E_NOMEM, "out of memory");
    struct stat st;
    int rc = 0;
    if (stat(name, &st) == 0)
        rc = it_error_set(IT_E_INVALID, "%s exists: give --resume to continue that run, or another prefix", name);
    else {
        it_shard_write_opts o = {.zstd_level = p->level, .provenance_json = p->provenance, .slim = p->slim};
        rc = it_shard_writer_new(&p->w, name, p->header, &o);
    }
    free(name);
    return rc;
}

/* The VIDEO / VIDEO_END JSON with the shard's own ordinal. */
static char *renumber(const char *json, uint32_t ordinal)
{
    json_error_t e;
    json_t *o = json_loads(json, JSON_DECODE_ANY, &e);
    if (!o)
        return NULL;
    json_object_set_new(o, "ordinal", json_integer(ordinal));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(o);
    return s;
}

/* The first input's header is the shards'; the others must have been made the same way. */
static int take_header(packer *p, const char *json, const char *input)
{
    it_stream_header h;
    int rc = it_stream_header_parse(json, input, &h);
    if (rc < 0)
        return rc;
    if (!p->header) {
        if (!(p->header = strdup(json)) || !(p->first_name = strdup(input)))
            rc = it_error_set(IT_E_NOMEM, "out of memory");
        p->first = h;
        return rc;
    }
    if ((rc = it_stream_header_compatible(&p->first, p->first_name, &h, input)) < 0)
        rc = it_error_set(rc, "%s; shards hold one model's tokens", it_error_message());
    else if (!p->realloc && !p->carry && h.strategy == IT_STRATEGY_GLOBAL_ELBO)
        rc = it_error_set(IT_E_INVALID, "%s: its rates depend on its corpus statistic (global_elbo), which is at its "
                          "end: give --avg-rate (and --elbo-stat) to re-allocate, a file instead of stdin, or "
                          "--full-rate", input);
    it_stream_header_clear(&h);
    return rc;
}

static int pack_input(packer *p, const char *path)
{
    it_record_reader *r = NULL;
    int rc = it_record_reader_open(&r, path), type, skipping = 0;
    uint32_t ordinal = 0;
    it_window_rec rec;
    if (rc == 0 && p->realloc)
        rc = it_record_reader_reallocate(r, &p->alloc);
    if (rc < 0) {
        it_record_reader_free(&r);
        return rc;
    }
    while ((rc = it_record_next(r, &type)) == 1) {
        switch (type) {
        case IT_REC_HEADER:
            rc = take_header(p, it_record_json(r), it_record_reader_name(r));
            break;
        case IT_REC_VIDEO: {
            const char *vj = it_record_json(r);
            uint64_t id;
            if ((rc = it_video_json_id(vj, it_record_reader_name(r), &id)) < 0)
                break;
            skipping = take_skip(p, id);
            if (skipping) {
                p->skipped++;
                break;
            }
            if (p->w && it_shard_writer_bytes(p->w) >= p->shard_size && (rc = finish_shard(p)) < 0)
                break;
            if (!p->w && (rc = start_shard(p)) < 0)
                break;
            ordinal = it_shard_writer_videos(p->w);
            char *j = renumber(vj, ordinal);
            rc = j ? it_shard_write_video(p->w, j) : it_error_set(IT_E_NOMEM, "out of memory");
            free(j);
            break;
        }
        case IT_REC_WINDOW:
            if (skipping)
                break;
            rec = *it_record_window(r);
            rec.video_ordinal = ordinal;
            if ((rc = it_shard_write_window(p->w, &rec)) == 0)
                p->windows++;
            break;
        case IT_REC_VIDEO_END: {
            if (skipping) {
                skipping = 0;
                break;
            }
            char *j = renumber(it_record_json(r), ordinal);
            rc = j ? it_shard_write_video_end(p->w, j) : it_error_set(IT_E_NOMEM, "out of memory");
            free(j);
            p->videos++;
            break;
        }
        case IT_REC_ALLOCATION:
            /* re-allocated inputs: the reader's own record, written when a shard finishes */
            if (!p->realloc && !p->carry)
                rc = it_error_set(IT_E_INVALID, "%s: its rates depend on its corpus statistic (global_elbo): give "
                                  "--avg-rate (and --elbo-stat) to re-allocate, or --full-rate",
                                  it_record_reader_name(r));
            break;
        default:
            break;
        }
        if (rc < 0)
            break;
    }
    it_record_reader_free(&r);
    return rc < 0 ? rc : 0;
}

int pack_create(int argc, char **argv, int merge)
{
    enum { OPT_SIZE = OPT_TOOL_FIRST, OPT_LEVEL, OPT_RESUME, OPT_VERSION, OPT_SLIM };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"slim", no_argument, NULL, OPT_SLIM},
        PROGRESS_LONGOPT,
        {"shard-size", required_argument, NULL, OPT_SIZE},
        {"level", required_argument, NULL, OPT_LEVEL},
        RATE_LONGOPTS,
        {"resume", no_argument, NULL, OPT_RESUME},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    packer p = {.shard_size = 1ull << 30};
    rate_opts ro;
    rate_opts_init(&ro);
    int c, taken, resume = 0, status = EXIT_OK, rc;
    long level = IT_SHARD_DEFAULT_LEVEL;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qvh", longopts, NULL)) != -1) {
        if ((taken = rate_option(&ro, c, optarg)) < 0)
            return EXIT_USAGE;
        if (taken)
            continue;
        switch (c) {
        case 'o': p.prefix = optarg; break;
        case OPT_SIZE: if (parse_size("--shard-size", optarg, &p.shard_size) < 0) return EXIT_USAGE; break;
        case OPT_LEVEL: if (parse_int("--level", optarg, 1, 22, &level) < 0) return EXIT_USAGE; break;
        case OPT_RESUME: resume = 1; break;
        case OPT_SLIM: p.slim = 1; break;
        case OPT_PROGRESS: if (parse_progress(optarg) < 0) return EXIT_USAGE; break;
        case 'q': p.quiet = 1; break;
        case 'v': it_log_set_level(IT_LOG_DEBUG); break;
        case 'h': fputs(pack_usage(), stdout); return EXIT_OK;
        case OPT_VERSION: print_version(); return EXIT_OK;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!p.prefix)
        return usage_error("no output: give -o PREFIX");
    if (optind == argc)
        return usage_error("no input given");
    if (rate_opts_check(&ro, 1) != 0)
        return EXIT_USAGE;
    if (merge)
        for (int i = optind; i < argc; i++)
            if (strcmp(argv[i], "-") == 0)
                return usage_error("merge takes shard files, not stdin");
    p.level = (int)level;
    if (!(p.provenance = provenance_json(argc, argv))) {
        print_error("out of memory");
        return EXIT_FATAL;
    }
    if ((p.realloc = rate_opts_allocation(&ro, argv + optind, argc - optind, &p.alloc)) < 0) {
        status = EXIT_FATAL;
        goto done;
    }
    if (p.realloc == 0 && (rc = adopt_input_alloc(&p, argv + optind, argc - optind)) != 0) {
        if (rc < 0) {
            print_lib_error(rc, "cannot pack");
            status = EXIT_FATAL;
            goto done;
        }
        p.realloc = 1;
    }
    if (resume && resume_scan(&p) < 0) {
        status = EXIT_FATAL;
        goto done;
    }
    tool_progress prog;
    progress_start(&prog, argc - optind, "inputs", p.quiet);
    for (int i = optind; i < argc; i++) {
        if ((rc = pack_input(&p, argv[i])) < 0) {
            print_lib_error(rc, "cannot pack");
            status = EXIT_FATAL;
            goto done;
        }
        progress_update(&prog, i - optind + 1);
    }
    progress_finish(&prog);
    if ((rc = finish_shard(&p)) < 0) {
        print_lib_error(rc, "cannot finish the shard");
        status = EXIT_FATAL;
        goto done;
    }
    if (!p.quiet)
        fprintf(stderr, "%s: %" PRIu64 " videos, %" PRIu64 " windows in %s-*" IT_SHARD_SUFFIX " (%" PRIu32
                " shards%s)\n", tool_name(), p.videos, p.windows, p.prefix, p.next_shard,
                p.skipped ? ", resumed" : "");
done:
    /* an unfinished shard is removed: the shards that exist are complete */
    it_shard_writer_abort(&p.w);
    free(p.provenance);
    free(p.header);
    free(p.first_name);
    it_stream_header_clear(&p.first);
    free(p.skip);
    return status;
}
