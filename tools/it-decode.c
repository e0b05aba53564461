/* it-decode: token records (streams or shards) back to video files. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "decode.h"
#include "formats/records.h"
#include "infotok.h"
#include "kernels/it_kernels.h"
#include "model.h"
#include "rate.h"
#include "tools/common.h"
#include "video_write.h"

static const char usage_text[] =
    "Usage: it-decode [options] INPUT...\n"
    "Reconstruct videos from InfoTok token records (a token stream or shard; '-' for stdin).\n"
    "\n"
    "Masked tokens become the zero code; windows are decoded, blended where they overlap and\n"
    "cropped to the source frames (spec 4.7-4.8), and written at the source frame rate.\n"
    "\n"
    "Options:\n"
    "  -o, --output PATH          a directory (one file per video, named by its id), a\n"
    "                             pattern with {id} or {ordinal} (out/{id}.mkv) or, for one\n"
    "                             video, a file; '-' for stdout [.]\n"
    "      --format F             ffv1 (lossless, Matroska), h264 (MP4), y4m (YUV 4:4:4),\n"
    "                             png (a directory of frames) or raw (rgb24 frames) [ffv1]\n"
    "      --crf N                H.264 quality, 0 (best) to 51 [18]\n"
    "      --video ID             only this video (16 hex digits; repeatable)\n"
    "      --range A:B            only videos A to B-1 (their order in the inputs, from 0)\n"
    "      --avg-rate R           re-allocate: average fraction of tokens kept, in [0.0625, 1]\n"
    "      --strategy S           static, elbo or global_elbo (with --avg-rate) [global_elbo]\n"
    "      --elbo-stat FILE       corpus ELBO statistic for global_elbo (it-pack elbo-stat);\n"
    "                             without it, the inputs' own (their ALLOCATION records, or\n"
    "                             computed from their windows)\n"
    "      --full-rate            decode every token, ignoring the records' masks\n"
    "      --checkpoint FILE      model weights: native .safetensors or official .pt\n"
    "                             [the bundled model]\n"
    "      --device DEV           cpu or cuda [cpu]\n"
    "  -@, --threads N            compute threads [1]\n"
    "  -q, --quiet                no progress bar\n"
    "  -v, --verbose              more messages (a line per video written)\n"
    "  -h, --help                 show this help and exit\n"
    "      --version              show versions and exit\n"
    "\n"
    "The model must be the one that made the tokens (its hash is in the records' header):\n"
    "another is refused, --checkpoint or not.\n"
    "Exit status: 0 all selected videos written, 1 some failed (a video that failed to encode\n"
    "has no tokens), 2 usage error, 3 fatal error.\n";

enum { OUT_DIR = 1, OUT_PATTERN, OUT_FILE };

typedef struct opts {
    const char *output, *checkpoint, *stat_file;
    int out_kind;              /* OUT_DIR, OUT_PATTERN or OUT_FILE ('-' included) */
    int format, crf, quiet, full_rate, strategy, realloc;
    float avg_rate;
    uint64_t *ids;
    int nids;
    long range_a, range_b;
    it_elbo_stat stat;
} opts;

typedef struct run {
    opts *o;
    it_model *m;
    it_video_decoder *dec;
    int overlap;
    char *model_hash;
    /* the current video */
    int selected, failed_video;
    uint64_t id;
    char idhex[17];
    long ordinal;              /* across all inputs */
    it_video_writer *w;
    double fps;
    char *out_path;
    int64_t frames;
    /* totals */
    long written, failed, nselected;
    int64_t frames_total;
    tool_progress prog;
    uint8_t *keep;
    size_t keep_cap;
} run;

static int is_dir(const char *p)
{
    struct stat st;
    size_t n = strlen(p);
    return (n > 0 && p[n - 1] == '/') || (stat(p, &st) == 0 && S_ISDIR(st.st_mode));
}

static int selected(const opts *o, uint64_t id, long ordinal)
{
    if (o->range_b >= 0 && (ordinal < o->range_a || ordinal >= o->range_b))
        return 0;
    if (o->nids == 0)
        return 1;
    for (int i = 0; i < o->nids; i++)
        if (o->ids[i] == id)
            return 1;
    return 0;
}

/* The output file of the current video, from -o. */
static char *output_path(const run *r)
{
    const opts *o = r->o;
    const char *out = o->output, *sfx = it_video_format_suffix(o->format);
    if (o->out_kind == OUT_FILE)
        return strdup(out);
    size_t n = strlen(out) + 64;
    char *p = malloc(n);
    if (!p)
        return NULL;
    if (o->out_kind == OUT_DIR) {
        snprintf(p, n, "%s%s%s%s", out, out[strlen(out) - 1] == '/' ? "" : "/", r->idhex, sfx);
        return p;
    }
    /* a pattern: {id} -> the 16 hex digits, {ordinal} -> the video's number in the inputs */
    size_t k = 0;
    for (const char *c = out; *c && k + 24 < n; ) {
        if (strncmp(c, "{id}", 4) == 0) {
            k += (size_t)snprintf(p + k, n - k, "%s", r->idhex);
            c += 4;
        } else if (strncmp(c, "{ordinal}", 9) == 0) {
            k += (size_t)snprintf(p + k, n - k, "%ld", r->ordinal - 1);
            c += 9;
        } else {
            p[k++] = *c++;
        }
    }
    p[k] = '\0';
    return p;
}

static int sink(void *user, int64_t frame_index, int h, int w, const uint8_t *rgb)
{
    run *r = user;
    int rc;
    if (!r->w) {
        if (!(r->out_path = output_path(r)))
            return it_error_set(IT_E_NOMEM, "out of memory");
        if (strcmp(r->out_path, "-") != 0 && (rc = make_parent_dirs(r->out_path)) < 0)
            return rc;
        if ((rc = it_video_writer_open(&r->w, r->out_path, r->o->format, w, h, r->fps > 0 ? r->fps : 25.0,
                                       r->o->crf)) < 0)
            return rc;
    }
    r->frames++;
    progress_update(&r->prog, ++r->frames_total);
    return it_video_writer_write(r->w, frame_index, rgb);
}

static int header(run *r, const char *json, const char *input)
{
    json_error_t e;
    json_t *h = json_loads(json, 0, &e);
    json_int_t ov = -1;
    const char *hash = NULL;
    int rc = 0;
    if (!h || json_unpack(h, "{s:{s:s}, s:{s:I}}", "model", "hash", &hash, "window", "overlap", &ov) != 0 || ov < 0 ||
        ov > 1000)
        rc = it_error_set(IT_E_FORMAT, "%s: the header has no model hash or window overlap", input);
    else if (strcmp(hash, it_model_hash(r->m)) != 0)
        rc = it_error_set(IT_E_INVALID, "%s: made by the model with hash %s, but the model loaded (%s) has hash %s: "
                          "give the right --checkpoint", input, hash,
                          r->o->checkpoint ? r->o->checkpoint : "the bundled model", it_model_hash(r->m));
    else if (r->dec && (int)ov != r->overlap)
        rc = it_error_set(IT_E_INVALID, "%s: window overlap %d differs from an earlier input's %d", input, (int)ov,
                          r->overlap);
    if (rc == 0 && !r->dec) {
        r->overlap = (int)ov;
        rc = it_video_decoder_new(&r->dec, r->m, r->overlap);
    }
    json_decref(h);
    return rc;
}

static int end_video(run *r, const char *end_json)
{
    int rc = 0;
    if (!r->selected)
        return 0;
    json_error_t e;
    json_t *o = json_loads(end_json, 0, &e);
    const char *status = json_string_value(json_object_get(o, "status"));
    const char *error = json_string_value(json_object_get(o, "error"));
    if (status && strcmp(status, "ok") != 0) {
        print_error("video %s failed to encode, no tokens: %s", r->idhex, error ? error : "(no message)");
        r->failed++;
    } else {
        rc = it_video_decoder_finish(r->dec, sink, r);
        /* A single output file is completed only after all inputs: a second selected video or
         * a fatal error later must leave nothing behind. */
        if (rc == 0 && r->w && r->o->out_kind != OUT_FILE)
            rc = it_video_writer_close(&r->w);
        if (rc == 0 && r->frames > 0) {
            r->written++;
            it_log(IT_LOG_INFO, "%s: %" PRId64 " frames -> %s", r->idhex, r->frames,
                   strcmp(r->out_path, "-") == 0 ? "stdout" : r->out_path);
        } else if (rc == 0) {
            print_error("video %s has no frames to decode", r->idhex);
            r->failed++;
        }
    }
    json_decref(o);
    if (r->o->out_kind != OUT_FILE || rc < 0) {
        it_video_writer_abort(&r->w);
        free(r->out_path);
        r->out_path = NULL;
    }
    r->frames = 0;
    return rc;
}

static int window(run *r, const it_window_rec *in)
{
    if (!r->selected)
        return 0;
    it_window_rec rec = *in;
    const size_t nt = (size_t)rec.lt * rec.lh * rec.lw;
    if (r->o->full_rate) {
        rec.keep = NULL;
    } else if (r->o->realloc) {
        if (nt > r->keep_cap) {
            uint8_t *k = realloc(r->keep, nt);
            if (!k)
                return it_error_set(IT_E_NOMEM, "out of memory");
            r->keep = k;
            r->keep_cap = nt;
        }
        rec.keep = NULL;
        float rate = it_rate_for_window(r->o->strategy, r->o->avg_rate, rec.elbo_mean, it_elbo_stat_mean(&r->o->stat));
        int rc = it_rate_apply(&rec, r->o->strategy, rate, r->keep);
        if (rc < 0)
            return rc;
    }
    r->fps = rec.fps;
    return it_video_decoder_push(r->dec, &rec, sink, r);
}

static int decode_input(run *r, const char *path)
{
    it_record_reader *rd = NULL;
    int rc = it_record_reader_open(&rd, path), type;
    while (rc >= 0 && (rc = it_record_next(rd, &type)) == 1) {
        switch (type) {
        case IT_REC_HEADER: rc = header(r, it_record_json(rd), it_record_reader_name(rd)); break;
        case IT_REC_VIDEO: {
            json_error_t e;
            json_t *v = json_loads(it_record_json(rd), 0, &e);
            const char *id = json_string_value(json_object_get(v, "id"));
            snprintf(r->idhex, sizeof r->idhex, "%s", id && strlen(id) == 16 ? id : "0000000000000000");
            json_decref(v);
            r->id = strtoull(r->idhex, NULL, 16);
            r->selected = selected(r->o, r->id, r->ordinal);
            r->ordinal++;
            if (r->selected && r->o->out_kind == OUT_FILE && r->nselected++ > 0)
                rc = it_error_set(IT_E_INVALID, "%s: several videos are selected (the second is %s): give a "
                                  "directory or a pattern with {id} for -o, or choose one with --video/--range",
                                  strcmp(r->o->output, "-") == 0 ? "stdout" : r->o->output, r->idhex);
            break;
        }
        case IT_REC_WINDOW: rc = window(r, it_record_window(rd)); break;
        case IT_REC_VIDEO_END: rc = end_video(r, it_record_json(rd)); break;
        default: break;
        }
    }
    if (rc < 0)
        print_lib_error(rc, "cannot decode %s", it_record_reader_name(rd) ? it_record_reader_name(rd) : path);
    it_record_reader_free(&rd);
    return rc < 0 ? rc : 0;
}

/* global_elbo: the corpus statistic, needed before the first window. Inputs allocated with
 * global_elbo carry it in their ALLOCATION record: over the whole corpus they were allocated
 * in, which may be more than these inputs (one shard of many), so it is used when every input
 * has the same one. Inputs without one: computed from their windows. A mixture is refused. */
static int corpus_stat(char **inputs, int n, it_elbo_stat *stat)
{
    it_elbo_stat own = {0, 0}, alloc = {0, 0};
    int with = 0;
    const char *first_with = NULL, *first_without = NULL;
    for (int i = 0; i < n; i++) {
        if (strcmp(inputs[i], "-") == 0) {
            print_error("global_elbo needs the corpus statistic before decoding: give --elbo-stat (it-pack "
                        "elbo-stat) or files instead of stdin");
            return -1;
        }
        it_record_reader *r = NULL;
        int type, has = 0, rc = it_record_reader_open(&r, inputs[i]);
        while (rc >= 0 && (rc = it_record_next(r, &type)) == 1) {
            if (type == IT_REC_WINDOW) {
                it_elbo_stat_add(&own, it_record_window(r)->elbo_mean);
            } else if (type == IT_REC_ALLOCATION && it_record_alloc(r)->strategy == IT_STRATEGY_GLOBAL_ELBO) {
                const it_alloc_rec *a = it_record_alloc(r);
                const it_elbo_stat s = {a->elbo_count, a->elbo_sum_fixed};
                if (with && (s.count != alloc.count || s.sum_fixed != alloc.sum_fixed)) {
                    print_error("%s and %s were allocated over different corpora (%" PRIu64 " and %" PRIu64
                                " windows): give --elbo-stat", first_with, inputs[i], alloc.count, s.count);
                    it_record_reader_free(&r);
                    return -1;
                }
                alloc = s;
                has = 1;
            }
        }
        if (rc < 0)
            print_lib_error(rc, "cannot read %s", inputs[i]);
        it_record_reader_free(&r);
        if (rc < 0)
            return -1;
        if (has && !with++)
            first_with = inputs[i];
        if (!has && !first_without)
            first_without = inputs[i];
    }
    if (with && first_without) {
        print_error("%s carries the statistic of the corpus it was allocated in, %s does not: give --elbo-stat",
                    first_with, first_without);
        return -1;
    }
    *stat = with ? alloc : own;
    it_log(IT_LOG_INFO, "corpus ELBO statistic: %" PRIu64 " windows, mean %.6g (%s)", stat->count,
           (double)it_elbo_stat_mean(stat), with ? "from the inputs' ALLOCATION records" : "from the inputs' windows");
    return 0;
}

int main(int argc, char **argv)
{
    tool_init("it-decode");
    enum { OPT_FORMAT = 256, OPT_CRF, OPT_VIDEO, OPT_RANGE, OPT_RATE, OPT_STRATEGY, OPT_STAT, OPT_FULL,
           OPT_CHECKPOINT, OPT_DEVICE, OPT_VERSION };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"crf", required_argument, NULL, OPT_CRF},
        {"video", required_argument, NULL, OPT_VIDEO},
        {"range", required_argument, NULL, OPT_RANGE},
        {"avg-rate", required_argument, NULL, OPT_RATE},
        {"strategy", required_argument, NULL, OPT_STRATEGY},
        {"elbo-stat", required_argument, NULL, OPT_STAT},
        {"full-rate", no_argument, NULL, OPT_FULL},
        {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"threads", required_argument, NULL, '@'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    opts o = {.output = ".", .format = IT_VFMT_FFV1, .crf = 18, .strategy = IT_STRATEGY_GLOBAL_ELBO,
              .range_a = 0, .range_b = -1};
    const char *device = "cpu";
    long threads = 1, crf = 18;
    double rate = 0.5;
    int c, rate_given = 0, strategy_given = 0, status = EXIT_OK;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:@:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': o.output = optarg; break;
        case OPT_FORMAT:
            if (it_video_format_parse(optarg, &o.format) < 0)
                return usage_error("%s", it_error_message());
            break;
        case OPT_CRF: if (parse_int("--crf", optarg, 0, 51, &crf) < 0) return EXIT_USAGE; break;
        case OPT_VIDEO: {
            char *end;
            uint64_t id = strtoull(optarg, &end, 16);
            if (strlen(optarg) != 16 || *end)
                return usage_error("invalid value '%s' for --video: expected 16 hex digits", optarg);
            uint64_t *v = realloc(o.ids, (o.nids + 1) * sizeof *v);
            if (!v)
                return EXIT_FATAL;
            o.ids = v;
            o.ids[o.nids++] = id;
            break;
        }
        case OPT_RANGE: {
            char *end;
            errno = 0;
            o.range_a = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end != ':' || o.range_a < 0)
                return usage_error("invalid value '%s' for --range: expected A:B", optarg);
            const char *b = end + 1;
            o.range_b = strtol(b, &end, 10);
            if (errno || end == b || *end || o.range_b <= o.range_a)
                return usage_error("invalid value '%s' for --range: expected A:B with A < B", optarg);
            break;
        }
        case OPT_RATE:
            if (parse_double("--avg-rate", optarg, IT_RATE_MIN, IT_RATE_MAX, &rate) < 0)
                return EXIT_USAGE;
            rate_given = 1;
            break;
        case OPT_STRATEGY:
            if (it_strategy_parse(optarg, &o.strategy) < 0)
                return usage_error("%s", it_error_message());
            strategy_given = 1;
            break;
        case OPT_STAT: o.stat_file = optarg; break;
        case OPT_FULL: o.full_rate = 1; break;
        case OPT_CHECKPOINT: o.checkpoint = optarg; break;
        case OPT_DEVICE: device = optarg; break;
        case '@': if (parse_int("--threads", optarg, 1, 1024, &threads) < 0) return EXIT_USAGE; break;
        case 'q': o.quiet = 1; break;
        case 'v': it_log_set_level(IT_LOG_DEBUG); break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case OPT_VERSION: print_version(); return EXIT_OK;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return usage_error("no input given");
    if (o.full_rate && (rate_given || strategy_given || o.stat_file))
        return usage_error("--full-rate cannot be combined with --avg-rate, --strategy or --elbo-stat");
    if ((strategy_given || o.stat_file) && !rate_given)
        return usage_error("--strategy and --elbo-stat need --avg-rate");
    const char *backend = NULL;
    if (strcmp(device, "cpu") == 0)
        backend = "cpu";
    else if (strcmp(device, "cuda") == 0 || strncmp(device, "cuda:", 5) == 0)
        backend = "cuda";
    else
        return usage_error("invalid value '%s' for --device: expected cpu or cuda", device);
    if (strstr(o.output, "{id}") || strstr(o.output, "{ordinal}"))
        o.out_kind = OUT_PATTERN;
    else
        o.out_kind = strcmp(o.output, "-") != 0 && is_dir(o.output) ? OUT_DIR : OUT_FILE;
    if (o.format == IT_VFMT_PNG && strcmp(o.output, "-") == 0)
        return usage_error("--format png writes a directory of frames, not to stdout");
    o.crf = (int)crf;
    o.avg_rate = (float)rate;
    o.realloc = rate_given;
    if (strcmp(backend, "cuda") == 0 && !it_backend_find("cuda")) {
        print_error("--device cuda: this build has no CUDA backend (configure --enable-cuda)");
        free(o.ids);
        return EXIT_FATAL;
    }
    if (o.realloc && o.strategy == IT_STRATEGY_GLOBAL_ELBO &&
        (o.stat_file ? read_elbo_stat_file(o.stat_file, &o.stat) : corpus_stat(argv + optind, argc - optind, &o.stat)) < 0) {
        free(o.ids);
        return EXIT_FATAL;
    }
    it_kernels_set_threads((int)threads);
    run r = {.o = &o};
    int rc = it_model_load(&r.m, o.checkpoint ? o.checkpoint : it_default_model_path(), backend);
    if (rc < 0) {
        print_lib_error(rc, "cannot load the model");
        free(o.ids);
        return EXIT_FATAL;
    }
    progress_start(&r.prog, 0, "frames", o.quiet);
    for (int i = optind; i < argc; i++)
        if (decode_input(&r, argv[i]) < 0) {
            status = EXIT_FATAL;
            break;
        }
    progress_finish(&r.prog);
    if (status == EXIT_OK && r.w && (rc = it_video_writer_close(&r.w)) < 0) {
        print_lib_error(rc, "cannot write %s", r.out_path);
        status = EXIT_FATAL;
    }
    if (status == EXIT_OK && r.failed)
        status = EXIT_SOME_FAILED;
    if (status == EXIT_OK && r.written == 0 && (o.nids || o.range_b >= 0)) {
        print_error("no video matched the selection");
        status = EXIT_SOME_FAILED;
    }
    it_video_writer_abort(&r.w);
    free(r.out_path);
    it_video_decoder_free(&r.dec);
    it_model_free(&r.m);
    free(r.keep);
    free(o.ids);
    return status;
}
