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

#include "formats/records.h"
#include "formats/shard.h"
#include "infotok.h"
#include "rate.h"
#include "tools/common.h"
#include "tools/pack.h"

const char *pack_usage(void);

typedef struct id_count { uint64_t id; uint32_t n; } id_count;

typedef struct packer {
    const char *prefix;
    uint64_t shard_size;
    int level, quiet;
    int realloc, strategy;   /* realloc: 1 re-allocate, 2 strip to full rate, 0 keep the input's,
                                3 re-allocate global_elbo inputs as they were (adopt_input_alloc) */
    float avg_rate;
    it_elbo_stat stat;       /* corpus statistic for global_elbo */
    int have_input_alloc;
    it_alloc_rec input_alloc;
    char *provenance;
    char *header;            /* the first input's HEADER */
    it_shard_writer *w;
    uint32_t next_shard;
    id_count *skip;          /* --resume: videos the finished shards hold */
    size_t nskip;
    uint8_t *keep;
    size_t keep_cap;
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

static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t mul = 1;
    if (*end == 'K' || *end == 'k')
        mul = 1ull << 10, end++;
    else if (*end == 'M' || *end == 'm')
        mul = 1ull << 20, end++;
    else if (*end == 'G' || *end == 'g')
        mul = 1ull << 30, end++;
    if (errno || end == s || *end || v == 0 || v > (UINT64_MAX >> 31)) {
        print_error("invalid value '%s' for --shard-size: expected a size such as 512M or 1G", s);
        return -1;
    }
    *out = v * mul;
    return 0;
}

/* The model and window options two inputs must share to be packed together. */
static int same_model(const char *a, const char *b)
{
    json_error_t e;
    json_t *x = json_loads(a, 0, &e), *y = json_loads(b, 0, &e);
    int same = x && y && json_equal(json_object_get(x, "model"), json_object_get(y, "model")) &&
               json_equal(json_object_get(x, "window"), json_object_get(y, "window"));
    json_decref(x);
    json_decref(y);
    return same;
}

static int input_rate_strategy(const char *header)
{
    json_error_t e;
    json_t *h = json_loads(header, 0, &e);
    const char *s = json_string_value(json_object_get(json_object_get(h, "rate"), "strategy"));
    int strategy = IT_STRATEGY_NONE;
    if (s && it_strategy_parse(s, &strategy) < 0)
        strategy = IT_STRATEGY_NONE;
    json_decref(h);
    return strategy;
}

static double input_avg_rate(const char *header)
{
    json_error_t e;
    json_t *h = json_loads(header, 0, &e);
    double r = json_number_value(json_object_get(json_object_get(h, "rate"), "avg_rate"));
    json_decref(h);
    return r;
}

typedef struct named_alloc { const char *name; it_alloc_rec a; } named_alloc;

static int allocs_add(named_alloc **v, size_t *n, const char *name, const it_alloc_rec *a)
{
    named_alloc *p = realloc(*v, (*n + 1) * sizeof *p);
    if (!p)
        return 0;
    *v = p;
    p[(*n)++] = (named_alloc){name, *a};
    return 1;
}

/* The corpus ELBO statistic from the inputs: shards give their stored sums, streams are read. */
static int corpus_stat(char **inputs, int n, it_elbo_stat *stat, const it_alloc_rec *check)
{
    named_alloc *allocs = NULL;
    size_t nallocs = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(inputs[i], "-") == 0) {
            free(allocs);
            print_error("global_elbo needs the corpus statistic before the first record: give --elbo-stat "
                        "(it-pack elbo-stat) or a file instead of stdin");
            return -1;
        }
        it_record_reader *r = NULL;
        int rc = it_record_reader_open(&r, inputs[i]), type;
        if (rc < 0) {
            print_lib_error(rc, "cannot read");
            free(allocs);
            return -1;
        }
        if (it_record_reader_kind(r) == IT_RECORDS_SHARD) {
            it_shard *s = NULL;
            it_elbo_stat part = {0, 0};
            if ((rc = it_shard_open(&s, inputs[i], 0)) == 0)
                rc = it_shard_elbo_stat(s, &part.count, &part.sum_fixed);
            it_shard_close(&s);
            if (rc == 0)
                it_elbo_stat_merge(stat, &part);
        } else {
            while ((rc = it_record_next(r, &type)) == 1) {
                if (type == IT_REC_WINDOW)
                    it_elbo_stat_add(stat, it_record_window(r)->elbo_mean);
                else if (type == IT_REC_ALLOCATION && check && !allocs_add(&allocs, &nallocs, inputs[i], it_record_alloc(r)))
                    rc = it_error_set(IT_E_NOMEM, "out of memory");
            }
        }
        it_record_reader_free(&r);
        if (rc < 0) {
            print_lib_error(rc, "cannot read");
            free(allocs);
            return -1;
        }
    }
    /* inputs adopted as they are: each was allocated over exactly this corpus */
    for (size_t i = 0; check && i < nallocs; i++) {
        const it_alloc_rec *a = &allocs[i].a;
        if (a->elbo_count != stat->count || a->elbo_sum_fixed != stat->sum_fixed || a->avg_rate != check->avg_rate) {
            print_error("%s: allocated over another corpus than these inputs (%" PRIu64 " windows, not %" PRIu64
                        "): give --avg-rate to re-allocate them together", allocs[i].name, a->elbo_count, stat->count);
            free(allocs);
            return -1;
        }
    }
    free(allocs);
    return 0;
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
            p->skip[p->nskip++] = (id_count){pack_json_id(vj), 1};
        }
        if (p->header == NULL && rc == 0)
            p->header = strdup(it_shard_meta(s, "header"));
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

/* Inputs that are global_elbo streams are packed as they are by re-allocating them with their
 * own rate over the statistic of all inputs: the same function on the same numbers gives the
 * same masks, and each input's ALLOCATION record is checked against it. (Copying rates as they
 * come is not possible: the ALLOCATION record is at the end of a stream, after shards may
 * have been finished.) Returns 1 when that applies, 0 when not, <0 on error. */
static int adopt_input_alloc(packer *p, char **inputs, int n)
{
    int global = 0, other = 0;
    double rate = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(inputs[i], "-") == 0)
            continue; /* checked when its header arrives */
        it_record_reader *r = NULL;
        int type, rc = it_record_reader_open(&r, inputs[i]);
        if (rc == 0 && (rc = it_record_next(r, &type)) == 1 && type == IT_REC_HEADER) {
            if (input_rate_strategy(it_record_json(r)) == IT_STRATEGY_GLOBAL_ELBO) {
                double ri = input_avg_rate(it_record_json(r));
                if (global && ri != rate)
                    rc = it_error_set(IT_E_INVALID, "%s: global_elbo at rate %g, another input at %g: give "
                                      "--avg-rate to re-allocate them together", inputs[i], ri, rate);
                global = 1;
                rate = ri;
            } else {
                other = 1;
            }
        }
        it_record_reader_free(&r);
        if (rc < 0)
            return rc;
    }
    if (!global)
        return 0;
    if (other)
        return it_error_set(IT_E_INVALID, "some inputs are global_elbo streams and some are not: give "
                            "--avg-rate/--strategy to re-allocate them together, or --full-rate");
    if (!(rate >= IT_RATE_MIN && rate <= IT_RATE_MAX))
        return it_error_set(IT_E_FORMAT, "a global_elbo input's header has no usable avg_rate");
    p->strategy = IT_STRATEGY_GLOBAL_ELBO;
    p->avg_rate = (float)rate;
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
    if ((p->realloc == 1 || p->realloc == 3) && p->strategy == IT_STRATEGY_GLOBAL_ELBO) {
        it_alloc_rec a = {IT_STRATEGY_GLOBAL_ELBO, p->avg_rate, p->stat.count, p->stat.sum_fixed};
        int rc = it_shard_write_alloc(p->w, &a);
        if (rc < 0)
            return rc;
    } else if (p->realloc == 0 && p->have_input_alloc) {
        int rc = it_shard_write_alloc(p->w, &p->input_alloc);
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
        it_shard_write_opts o = {.zstd_level = p->level, .provenance_json = p->provenance};
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

static int same_alloc(const it_alloc_rec *a, const it_alloc_rec *b)
{
    return a->strategy == b->strategy && a->avg_rate == b->avg_rate && a->elbo_count == b->elbo_count &&
           a->elbo_sum_fixed == b->elbo_sum_fixed;
}

static int pack_input(packer *p, const char *path)
{
    it_record_reader *r = NULL;
    int rc = it_record_reader_open(&r, path), type, skipping = 0;
    uint32_t ordinal = 0;
    it_window_rec rec;
    if (rc < 0)
        return rc;
    while ((rc = it_record_next(r, &type)) == 1) {
        switch (type) {
        case IT_REC_HEADER: {
            const char *h = it_record_json(r);
            if (!p->header) {
                if (!(p->header = strdup(h)))
                    rc = it_error_set(IT_E_NOMEM, "out of memory");
            } else if (!same_model(p->header, h))
                rc = it_error_set(IT_E_INVALID, "%s: made with another model or window options than the first "
                                  "input; shards hold one model's tokens", it_record_reader_name(r));
            if (rc >= 0 && p->realloc == 0 && input_rate_strategy(h) == IT_STRATEGY_GLOBAL_ELBO)
                rc = it_error_set(IT_E_INVALID, "%s: its rates depend on its corpus statistic (global_elbo), "
                                  "which is at its end: give --avg-rate (and --elbo-stat) to re-allocate, a "
                                  "file instead of stdin, or --full-rate", it_record_reader_name(r));
            break;
        }
        case IT_REC_VIDEO: {
            const char *vj = it_record_json(r);
            skipping = take_skip(p, pack_json_id(vj));
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
        case IT_REC_WINDOW: {
            if (skipping)
                break;
            rec = *it_record_window(r);
            rec.video_ordinal = ordinal;
            const size_t nt = (size_t)rec.lt * rec.lh * rec.lw;
            if (p->realloc == 2) {
                rec.strategy = IT_STRATEGY_NONE;
                rec.rate = 0;
                rec.kept = 0;
                rec.keep = NULL;
            } else if (p->realloc == 1 || p->realloc == 3) {
                if (nt > p->keep_cap) {
                    uint8_t *k = realloc(p->keep, nt);
                    if (!k) {
                        rc = it_error_set(IT_E_NOMEM, "out of memory");
                        break;
                    }
                    p->keep = k;
                    p->keep_cap = nt;
                }
                float rate = it_rate_for_window(p->strategy, p->avg_rate, rec.elbo_mean, it_elbo_stat_mean(&p->stat));
                rec.keep = NULL;
                if ((rc = it_rate_apply(&rec, p->strategy, rate, p->keep)) < 0)
                    break;
            }
            if ((rc = it_shard_write_window(p->w, &rec)) == 0)
                p->windows++;
            break;
        }
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
        case IT_REC_ALLOCATION: {
            const it_alloc_rec *a = it_record_alloc(r);
            const it_alloc_rec ours = {IT_STRATEGY_GLOBAL_ELBO, p->avg_rate, p->stat.count, p->stat.sum_fixed};
            if (p->realloc == 3 && !same_alloc(a, &ours))
                rc = it_error_set(IT_E_INVALID, "%s: allocated over another corpus than these inputs (%" PRIu64
                                  " windows, not %" PRIu64 "): give --avg-rate to re-allocate them together",
                                  it_record_reader_name(r), a->elbo_count, p->stat.count);
            if (p->realloc == 0) {
                if (p->have_input_alloc && !same_alloc(a, &p->input_alloc))
                    rc = it_error_set(IT_E_INVALID, "%s: its allocation differs from an earlier input's; give "
                                      "--strategy/--avg-rate to re-allocate the whole set",
                                      it_record_reader_name(r));
                p->input_alloc = *a;
                p->have_input_alloc = 1;
            }
            break;
        }
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
    enum { OPT_SIZE = 256, OPT_LEVEL, OPT_RATE, OPT_STRATEGY, OPT_STAT, OPT_FULL, OPT_RESUME, OPT_VERSION };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"shard-size", required_argument, NULL, OPT_SIZE},
        {"level", required_argument, NULL, OPT_LEVEL},
        {"avg-rate", required_argument, NULL, OPT_RATE},
        {"strategy", required_argument, NULL, OPT_STRATEGY},
        {"elbo-stat", required_argument, NULL, OPT_STAT},
        {"full-rate", no_argument, NULL, OPT_FULL},
        {"resume", no_argument, NULL, OPT_RESUME},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    packer p = {.shard_size = 1ull << 30, .strategy = IT_STRATEGY_GLOBAL_ELBO, .avg_rate = 0.5f};
    const char *stat_file = NULL;
    int c, resume = 0, rate_given = 0, strategy_given = 0, full = 0, status = EXIT_OK, rc;
    long level = IT_SHARD_DEFAULT_LEVEL;
    double rate = 0.5;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': p.prefix = optarg; break;
        case OPT_SIZE: if (parse_size(optarg, &p.shard_size) < 0) return EXIT_USAGE; break;
        case OPT_LEVEL: if (parse_int("--level", optarg, 1, 22, &level) < 0) return EXIT_USAGE; break;
        case OPT_RATE:
            if (parse_double("--avg-rate", optarg, IT_RATE_MIN, IT_RATE_MAX, &rate) < 0)
                return EXIT_USAGE;
            rate_given = 1;
            break;
        case OPT_STRATEGY:
            if (it_strategy_parse(optarg, &p.strategy) < 0)
                return usage_error("%s", it_error_message());
            strategy_given = 1;
            break;
        case OPT_STAT: stat_file = optarg; break;
        case OPT_FULL: full = 1; break;
        case OPT_RESUME: resume = 1; break;
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
    if (full && (rate_given || strategy_given || stat_file))
        return usage_error("--full-rate cannot be combined with --avg-rate, --strategy or --elbo-stat");
    if ((strategy_given || stat_file) && !rate_given)
        return usage_error("--strategy and --elbo-stat need --avg-rate");
    if (stat_file && p.strategy != IT_STRATEGY_GLOBAL_ELBO)
        return usage_error("--elbo-stat is for --strategy global_elbo");
    if (merge)
        for (int i = optind; i < argc; i++)
            if (strcmp(argv[i], "-") == 0)
                return usage_error("merge takes shard files, not stdin");
    p.level = (int)level;
    p.avg_rate = (float)rate;
    p.realloc = full ? 2 : rate_given ? 1 : 0;
    if (!(p.provenance = provenance_json(argc, argv))) {
        print_error("out of memory");
        return EXIT_FATAL;
    }
    if (p.realloc == 0) {
        int adopt = adopt_input_alloc(&p, argv + optind, argc - optind);
        if (adopt < 0) {
            print_lib_error(adopt, "cannot pack");
            status = EXIT_FATAL;
            goto done;
        }
        if (adopt)
            p.realloc = 3;
    }
    if ((p.realloc == 1 || p.realloc == 3) && p.strategy == IT_STRATEGY_GLOBAL_ELBO) {
        const it_alloc_rec adopted = {IT_STRATEGY_GLOBAL_ELBO, p.avg_rate, 0, 0};
        if ((stat_file ? read_elbo_stat_file(stat_file, &p.stat)
                       : corpus_stat(argv + optind, argc - optind, &p.stat, p.realloc == 3 ? &adopted : NULL)) < 0) {
            status = EXIT_FATAL;
            goto done;
        }
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
    free(p.skip);
    free(p.keep);
    return status;
}
