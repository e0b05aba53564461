/* it-decode: token records (streams or shards) back to video files. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "infotok/decode.h"
#include "infotok/records.h"
#include "infotok/core.h"
#include "infotok/model.h"
#include "infotok/rate.h"
#include "tools/common.h"
#include "infotok/video_write.h"

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
    "                             without it, the inputs' own: infotok(7), RATE ALLOCATION\n"
    "      --full-rate            decode every token, ignoring the records' masks\n"
    "      --checkpoint FILE      model weights: native .safetensors or official .pt\n"
    "                             [the bundled model]\n"
    "      --device DEV           cpu, cuda or cuda:N [cpu]\n"
    "      --precision P          fp32 or bf16 (infotok-precision(7)) [the tokens'\n"
    "                             own, from their header]\n"
    "  -@, --threads N            compute threads [1]\n"
    "  -q, --quiet                no progress bar\n"
    "      --progress MODE        auto, bar, lines (one every 30 s) or none [auto:\n"
    "                             a bar on a terminal, else lines]\n"
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
    const char *output;
    int out_kind;              /* OUT_DIR, OUT_PATTERN or OUT_FILE ('-' included) */
    int format, crf, quiet, realloc;
    it_allocation alloc;       /* with realloc */
    uint64_t *ids;
    int nids;
    long range_a, range_b;
} opts;

typedef struct run {
    opts *o;
    it_model *m;
    it_records_decoder *dec;
    /* the current video */
    uint64_t id;
    char idhex[17];
    long ordinal;              /* across all inputs */
    it_video_writer *w;
    char *out_path;
    int64_t frames;
    /* totals */
    long written, failed, nselected;
    int64_t frames_total;
    tool_progress prog;
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
        const double fps = it_records_decoder_fps(r->dec);
        if ((rc = it_video_writer_open(&r->w, r->out_path, r->o->format, w, h, fps > 0 ? fps : 25.0,
                                       r->o->crf)) < 0)
            return rc;
    }
    r->frames++;
    progress_update(&r->prog, ++r->frames_total);
    return it_video_writer_write(r->w, frame_index, rgb);
}

/* A video begins: decode it when selected. */
static int video(void *user, const char *video_json, uint64_t id)
{
    run *r = user;
    (void)video_json;
    r->id = id;
    it_video_id_format(id, r->idhex);
    const int sel = selected(r->o, id, r->ordinal++);
    if (sel && r->o->out_kind == OUT_FILE && r->nselected++ > 0)
        return it_error_set(IT_E_INVALID, "%s: several videos are selected (the second is %s): give a directory or a "
                            "pattern with {id} for -o, or choose one with --video/--range",
                            strcmp(r->o->output, "-") == 0 ? "stdout" : r->o->output, r->idhex);
    return sel;
}

static int end_video(void *user, const char *end_json, int encoded_ok, int rc)
{
    run *r = user;
    char error[512] = "";
    int64_t frames;
    if (!encoded_ok) {
        it_video_end_parse(end_json, "VIDEO_END", &encoded_ok, &frames, error, sizeof error);
        print_error("video %s failed to encode, no tokens: %s", r->idhex, error);
        r->failed++;
    } else if (rc == 0) {
        /* A single output file is completed only after all inputs: a second selected video or
         * a fatal error later must leave nothing behind. */
        if (r->w && r->o->out_kind != OUT_FILE)
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
    if (r->o->out_kind != OUT_FILE || rc < 0) {
        it_video_writer_abort(&r->w);
        free(r->out_path);
        r->out_path = NULL;
    }
    r->frames = 0;
    return rc;
}

static int decode_input(run *r, const char *path)
{
    static const it_decode_events ev = {NULL, video, NULL, sink, end_video};
    it_record_reader *rd = NULL;
    int rc = it_record_reader_open(&rd, path);
    if (rc == 0 && r->o->realloc)
        rc = it_record_reader_reallocate(rd, &r->o->alloc);
    if (rc == 0)
        rc = it_records_decode(r->dec, rd, &ev, r);
    if (rc < 0)
        print_lib_error(rc, "cannot decode %s", rd ? it_record_reader_name(rd) : path);
    it_record_reader_free(&rd);
    return rc < 0 ? rc : 0;
}

int main(int argc, char **argv)
{
    tool_init("it-decode");
    enum { OPT_FORMAT = OPT_TOOL_FIRST, OPT_CRF, OPT_VIDEO, OPT_RANGE, OPT_VERSION };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"crf", required_argument, NULL, OPT_CRF},
        {"video", required_argument, NULL, OPT_VIDEO},
        {"range", required_argument, NULL, OPT_RANGE},
        RATE_LONGOPTS,
        MODEL_LONGOPTS,
        {"quiet", no_argument, NULL, 'q'}, PROGRESS_LONGOPT,
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    opts o = {.output = ".", .format = IT_VFMT_FFV1, .crf = 18, .range_a = 0, .range_b = -1};
    rate_opts ro;
    model_opts mo;
    rate_opts_init(&ro);
    model_opts_init(&mo);
    long crf = 18;
    int c, taken, status = EXIT_OK;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:@:qvh", longopts, NULL)) != -1) {
        if ((taken = rate_option(&ro, c, optarg)) == 0)
            taken = model_option(&mo, c, optarg);
        if (taken < 0)
            return EXIT_USAGE;
        if (taken)
            continue;
        switch (c) {
        case 'o': o.output = optarg; break;
        case OPT_FORMAT:
            if (it_video_format_parse(optarg, &o.format) < 0)
                return usage_error("%s", it_error_message());
            break;
        case OPT_CRF: if (parse_int("--crf", optarg, 0, 51, &crf) < 0) return EXIT_USAGE; break;
        case OPT_VIDEO: {
            uint64_t id;
            if (it_video_id_parse(optarg, &id) < 0)
                return usage_error("invalid value '%s' for --video: expected 16 lowercase hex digits", optarg);
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
        case OPT_PROGRESS: if (parse_progress(optarg) < 0) return EXIT_USAGE; break;
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
    if (rate_opts_check(&ro, 1) != 0)
        return EXIT_USAGE;
    if (strstr(o.output, "{id}") || strstr(o.output, "{ordinal}"))
        o.out_kind = OUT_PATTERN;
    else
        o.out_kind = strcmp(o.output, "-") != 0 && is_dir(o.output) ? OUT_DIR : OUT_FILE;
    if (o.format == IT_VFMT_PNG && strcmp(o.output, "-") == 0)
        return usage_error("--format png writes a directory of frames, not to stdout");
    o.crf = (int)crf;
    run r = {.o = &o};
    if ((o.realloc = rate_opts_allocation(&ro, argv + optind, argc - optind, &o.alloc)) < 0 ||
        model_opts_precision_from_inputs(&mo, argv + optind, argc - optind) < 0 || model_opts_load(&mo, &r.m) < 0 ||
        it_records_decoder_new(&r.dec, r.m, model_opts_name(&mo)) < 0) {
        if (r.m && !r.dec)
            print_lib_error(IT_E_NOMEM, "cannot decode");
        it_model_free(&r.m);
        free(o.ids);
        return EXIT_FATAL;
    }
    int rc;
    it_records_decoder_any_precision(r.dec, mo.precision_given);
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
    it_records_decoder_free(&r.dec);
    it_model_free(&r.m);
    free(o.ids);
    return status;
}
