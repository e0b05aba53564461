/* it-encode: videos through the InfoTok tokenizer into a token stream (infotok-stream(5)):
 * per window, the full-rate FSQ indices and the per-token ELBO map, and, with a rate, the
 * keep-mask and kept tokens. The model runs 1 encode + 1 full-rate decode per window, once;
 * global_elbo needs no second pass over the videos, only over the records. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "infotok/stream.h"
#include "infotok/core.h"
#include "infotok/encode.h"
#include "infotok/model.h"
#include "infotok/rate.h"
#include "tools/common.h"

static const char usage_text[] =
    "Usage: it-encode [options] INPUT...\n"
    "Tokenize videos into a token stream (infotok-stream(5)) on stdout.\n"
    "\n"
    "INPUT is an it-scan manifest (a .jsonl/.json file, or '-' for stdin) or a video file.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE          write the stream to FILE (complete or not at all) [stdout]\n"
    "      --checkpoint FILE      model weights: native .safetensors or official .pt\n"
    "                             [the bundled model]\n"
    "      --device DEV           cpu, cuda or cuda:N [cpu]\n"
    "      --precision P          fp32 or bf16 (infotok-precision(7)) [fp32 on cpu,\n"
    "                             bf16 on cuda]\n"
    "  -@, --threads N            compute threads [1]\n"
    "      --temporal-window N    frames per window [33]\n"
    "      --overlap-window N     frames shared by consecutive windows [5]\n"
    "      --short-side N         resize so that the shorter side is N pixels\n"
    "      --crop WxH             center-crop to W x H (after --short-side)\n"
    "      --avg-rate R           average fraction of tokens kept, in [0.0625, 1] [0.5]\n"
    "      --strategy S           static, elbo or global_elbo [global_elbo]\n"
    "      --full-rate            no rate: records keep only full-rate tokens and ELBO maps\n"
    "      --shard I/N            encode only slice I (0-based) of N of the inputs\n"
    "                             (auto: from a Slurm job array; auto/N: a Kubernetes\n"
    "                             indexed job's JOB_COMPLETION_INDEX of N)\n"
    "      --balance B            count: slices of equally many inputs; duration: of about\n"
    "                             equal total duration (it-scan's metadata) [count]\n"
    "      --resume               with -o: keep the videos an interrupted run completed\n"
    "  -q, --quiet                no progress bar\n"
    "      --progress MODE        auto, bar, lines (one every 30 s) or none [auto:\n"
    "                             a bar on a terminal, else lines]\n"
    "  -v, --verbose              more messages\n"
    "  -h, --help                 show this help and exit\n"
    "      --version              show versions and exit\n"
    "\n"
    "Exit status: 0 all videos encoded, 1 some videos failed (each has a VIDEO_END record\n"
    "with status \"error\" and a message on stderr), 2 usage error, 3 fatal error.\n";

typedef struct video_in {
    it_manifest_entry e;
    char *line; /* the manifest line as read (or made), for the VIDEO record */
} video_in;

typedef struct inputs { video_in *v; size_t n, cap; } inputs;

static int push_input(inputs *in, it_manifest_entry *e, char *line)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 64;
        video_in *v = realloc(in->v, cap * sizeof *v);
        if (!v)
            return -1;
        in->v = v;
        in->cap = cap;
    }
    in->v[in->n].e = *e;
    in->v[in->n].line = line;
    in->n++;
    return 0;
}

/* --balance duration: each input's duration from its manifest metadata (duration, else
 * frames / fps); inputs without one (bare paths, unknown durations) weigh the mean of the
 * known ones, failed ones nothing. */
static double *input_durations(const inputs *in)
{
    double *w = malloc((in->n ? in->n : 1) * sizeof *w), known = 0;
    size_t nknown = 0;
    if (!w)
        return NULL;
    for (size_t i = 0; i < in->n; i++) {
        const it_probe_info *p = &in->v[i].e.info;
        w[i] = !in->v[i].e.ok ? 0 : p->duration > 0 ? p->duration : p->frames > 0 && p->fps > 0 ? (double)p->frames / p->fps : -1;
        /* A manifest is outside input: clamp absurd durations (over ~30 years) so that the
         * total stays finite and the slices stay defined. */
        if (w[i] > 1e9)
            w[i] = 1e9;
        if (w[i] > 0) {
            known += w[i];
            nknown++;
        }
    }
    for (size_t i = 0; i < in->n; i++)
        if (w[i] < 0)
            w[i] = nknown ? known / (double)nknown : 1;
    return w;
}

static int is_manifest_name(const char *s)
{
    size_t n = strlen(s);
    return strcmp(s, "-") == 0 || (n > 6 && strcmp(s + n - 6, ".jsonl") == 0) ||
           (n > 5 && strcmp(s + n - 5, ".json") == 0);
}

static int read_manifest(inputs *in, const char *name)
{
    FILE *f = strcmp(name, "-") == 0 ? stdin : fopen(name, "r");
    if (!f) {
        print_error("%s: cannot open: %s", name, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", strcmp(name, "-") == 0 ? "stdin" : name, lineno);
        it_manifest_entry e;
        if (it_manifest_parse(line, (size_t)n, where, &e) < 0) {
            print_error("%s", it_error_message());
            rc = -1;
            break;
        }
        char *copy = strdup(line);
        if (!copy || push_input(in, &e, copy) < 0) {
            print_error("out of memory reading %s", where);
            rc = -1;
        }
    }
    free(line);
    if (ferror(f)) {
        print_error("%s: read error", name);
        rc = -1;
    }
    if (f != stdin)
        fclose(f);
    return rc;
}

static int add_video_path(inputs *in, const char *path)
{
    it_manifest_entry e;
    memset(&e, 0, sizeof e);
    e.path = strdup(path);
    e.ok = 1;
    e.info.size = -1;
    if (!e.path)
        return -1;
    it_source src = {e.path, NULL};
    it_source_id(&src, e.id);
    /* The VIDEO record of a bare path carries what is known without probing. */
    json_t *o = json_pack("{s:s, s:s}", "id", e.id, "path", path);
    char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(o);
    if (!line) {
        it_manifest_entry_clear(&e);
        return -1;
    }
    return push_input(in, &e, line);
}

/* ---- output ---------------------------------------------------------------------------- */

typedef struct encoder {
    it_stream_writer *w;
    it_elbo_stat stat;
    uint64_t windows;
    int resumed_failed;  /* failed videos copied from an interrupted run */
    int64_t frames_done;
    tool_progress *prog;
} encoder;

static int window_sink(void *user, const it_window_rec *rec)
{
    encoder *enc = user;
    if (it_stream_write_window(enc->w, rec) < 0)
        return -1;
    it_elbo_stat_add(&enc->stat, rec->elbo_mean);
    enc->windows++;
    return 0;
}

static char *video_json(const video_in *v, uint32_t ordinal)
{
    json_error_t err;
    json_t *o = json_loads(v->line, 0, &err);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "ordinal", json_integer(ordinal));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(o);
    return s;
}

static char *video_end_json(const video_in *v, uint32_t ordinal, const char *error,
                            uint32_t windows, int64_t frames)
{
    json_t *o = json_pack("{s:i, s:s, s:s}", "ordinal", (json_int_t)ordinal, "id", v->e.id,
                          "status", error ? "error" : "ok");
    if (!o)
        return NULL;
    if (error)
        json_object_set_new(o, "error", json_string(error));
    json_object_set_new(o, "windows", json_integer(windows));
    json_object_set_new(o, "frames", json_integer(frames));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(o);
    return s;
}

static int write_json_record(it_stream_writer *w, int type, char *json)
{
    if (!json) {
        print_error("out of memory formatting a record");
        return -1;
    }
    int rc = it_stream_write_json(w, type, json);
    free(json);
    if (rc < 0)
        print_lib_error(rc, "cannot write the stream");
    return rc;
}

/* The stream header: what made it, so that a resume or a reader can check. */
static char *header_json(const it_model *m, int argc, char **argv, const it_encode_opts *o,
                         int strategy, float avg_rate)
{
    it_stream_header h = {0};
    char *json = NULL;
    json_t *cmd = json_array();
    for (int i = 0; cmd && i < argc; i++)
        json_array_append_new(cmd, json_string(argv[i]));
    if (it_config_to_json(it_model_config(m), &h.model_config) == 0 &&
        (h.command = cmd ? json_dumps(cmd, JSON_COMPACT) : NULL) && (h.tool = strdup("it-encode")) &&
        (h.version = strdup(it_version()))) {
        memcpy(h.model_hash, it_model_hash(m), 17);
        h.model_params = it_model_param_count(m);
        h.temporal = o->temporal_window;
        h.overlap = o->overlap;
        h.short_side = o->video.short_side;
        h.crop_w = o->video.crop_w;
        h.crop_h = o->video.crop_h;
        h.strategy = strategy;
        h.avg_rate = strategy == IT_STRATEGY_NONE ? 0 : avg_rate;
        h.precision = it_model_precision(m);
        it_stream_header_format(&h, &json);
    }
    json_decref(cmd);
    it_stream_header_clear(&h);
    return json;
}

/* The parts of a header that must match for a resume to continue a run. */
static int same_run(const char *a, const char *b)
{
    it_stream_header x = {0}, y = {0};
    int same = it_stream_header_parse(a, "a", &x) == 0 && it_stream_header_parse(b, "b", &y) == 0 &&
               it_stream_header_compatible(&x, "a", &y, "b") == 0 && x.strategy == y.strategy &&
               x.avg_rate == y.avg_rate;
    it_stream_header_clear(&x);
    it_stream_header_clear(&y);
    return same;
}

/* Copy the complete videos of an interrupted run's partial output into w: one pass to find
 * how many videos were completed (VIDEO_END written), one to copy their records. Returns
 * the number of videos kept (their ids in *done_ids), or -1. */
static long resume_from(const char *partial, const char *header, it_stream_writer *w,
                        char ***done_ids, encoder *enc)
{
    long complete = 0, kept = 0;
    char **ids = NULL;
    for (int pass = 0; pass < 2; pass++) {
        FILE *f = fopen(partial, "rb");
        it_stream_reader *r = NULL;
        int type;
        if (!f || it_stream_reader_new(&r, f, partial) < 0) {
            if (f)
                fclose(f);
            return pass == 0 ? 0 : -1;
        }
        long closed = 0;
        /* The reader stops at the truncation an interrupted run leaves: that is expected. */
        while (it_stream_next(r, &type) > 0 && (pass == 0 || closed < complete)) {
            if (type == IT_REC_HEADER) {
                if (!same_run(it_stream_json(r), header)) {
                    print_error("%s: was made with another model or other options; cannot resume", partial);
                    it_stream_reader_free(&r);
                    fclose(f);
                    return -1;
                }
                continue;
            }
            if (type == IT_REC_VIDEO_END)
                closed++;
            if (pass == 0)
                continue;
            int rc;
            if (type == IT_REC_WINDOW) {
                rc = it_stream_write_window(w, it_stream_window(r));
                it_elbo_stat_add(&enc->stat, it_stream_window(r)->elbo_mean);
                enc->windows++;
            } else {
                rc = it_stream_write_json(w, type, it_stream_json(r));
            }
            if (rc < 0) {
                print_lib_error(rc, "cannot write the stream");
                it_stream_reader_free(&r);
                fclose(f);
                return -1;
            }
            if (type == IT_REC_VIDEO_END) {
                /* the reader checked the record: its id and status are well formed */
                int ok = 0;
                int64_t frames;
                uint64_t id = 0;
                char hex[17];
                it_video_end_parse(it_stream_json(r), partial, &ok, &frames, NULL, 0);
                it_video_json_id(it_stream_json(r), partial, &id);
                it_video_id_format(id, hex);
                enc->resumed_failed += !ok;
                char **grown = realloc(ids, (size_t)(kept + 1) * sizeof *ids);
                if (grown) {
                    ids = grown;
                    ids[kept++] = strdup(hex);
                }
            }
        }
        if (pass == 0)
            complete = closed;
        it_stream_reader_free(&r);
        fclose(f);
    }
    *done_ids = ids;
    return kept;
}

/* Second pass over the records for global_elbo: every window gets its rate and mask. */
static int apply_allocation(FILE *spill, it_stream_writer *out, const it_allocation *a)
{
    it_stream_reader *r = NULL;
    int rc, type;
    uint8_t *keep = NULL;
    size_t keep_cap = 0;
    rewind(spill);
    if ((rc = it_stream_reader_new(&r, spill, "spill file")) < 0)
        return rc;
    while ((rc = it_stream_next(r, &type)) > 0) {
        if (type == IT_REC_WINDOW) {
            it_window_rec rec = *it_stream_window(r);
            size_t nt = (size_t)rec.lt * rec.lh * rec.lw;
            if (nt > keep_cap) {
                free(keep);
                keep = malloc(nt);
                keep_cap = keep ? nt : 0;
                if (!keep) {
                    rc = it_error_set(IT_E_NOMEM, "out of memory applying rates");
                    break;
                }
            }
            if ((rc = it_allocation_apply(a, &rec, keep)) < 0 || (rc = it_stream_write_window(out, &rec)) < 0)
                break;
        } else if (type == IT_REC_END) {
            const it_alloc_rec ar = it_allocation_record(a);
            /* No windows (every video failed): there is no corpus statistic to record. */
            if ((a->stat.count > 0 && (rc = it_stream_write_alloc(out, &ar)) < 0) ||
                (rc = it_stream_write_json(out, type, it_stream_json(r))) < 0)
                break;
        } else if ((rc = it_stream_write_json(out, type, it_stream_json(r))) < 0) {
            break;
        }
    }
    free(keep);
    it_stream_reader_free(&r);
    return rc;
}

static int parse_wxh(const char *s, int *w, int *h)
{
    char tail;
    if (sscanf(s, "%dx%d%c", w, h, &tail) != 2 || *w < 1 || *h < 1 || *w > 65536 || *h > 65536) {
        print_error("invalid value '%s' for --crop: expected WxH", s);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    tool_init("it-encode");
    enum { OPT_TW = OPT_TOOL_FIRST, OPT_OV, OPT_SHORT, OPT_CROP, OPT_SHARD, OPT_BALANCE, OPT_RESUME,
           OPT_VERSION };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        MODEL_LONGOPTS,
        {"temporal-window", required_argument, NULL, OPT_TW},
        {"overlap-window", required_argument, NULL, OPT_OV},
        {"short-side", required_argument, NULL, OPT_SHORT},
        {"crop", required_argument, NULL, OPT_CROP},
        RATE_LONGOPTS,
        {"shard", required_argument, NULL, OPT_SHARD},
        {"balance", required_argument, NULL, OPT_BALANCE},
        {"resume", no_argument, NULL, OPT_RESUME},
        {"quiet", no_argument, NULL, 'q'}, PROGRESS_LONGOPT,
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    const char *output = NULL;
    long tw = 33, ov = 5, short_side = 0;
    int crop_w = 0, crop_h = 0, resume = 0, quiet = 0, c, taken;
    rate_opts ro;
    model_opts mo;
    rate_opts_init(&ro);
    model_opts_init(&mo);
    tool_shard shard = {0, 1};
    int by_duration = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:@:qvh", longopts, NULL)) != -1) {
        if ((taken = rate_option(&ro, c, optarg)) == 0)
            taken = model_option(&mo, c, optarg);
        if (taken < 0)
            return EXIT_USAGE;
        if (taken)
            continue;
        switch (c) {
        case 'o': output = optarg; break;
        case OPT_TW: if (parse_int("--temporal-window", optarg, 1, 193, &tw) < 0) return EXIT_USAGE; break;
        case OPT_OV: if (parse_int("--overlap-window", optarg, 0, 192, &ov) < 0) return EXIT_USAGE; break;
        case OPT_SHORT: if (parse_int("--short-side", optarg, 8, 65536, &short_side) < 0) return EXIT_USAGE; break;
        case OPT_CROP: if (parse_wxh(optarg, &crop_w, &crop_h) < 0) return EXIT_USAGE; break;
        case OPT_SHARD: if (parse_shard(optarg, &shard) < 0) return EXIT_USAGE; break;
        case OPT_BALANCE:
            if (strcmp(optarg, "count") && strcmp(optarg, "duration"))
                return usage_error("invalid value '%s' for --balance: expected count or duration", optarg);
            by_duration = strcmp(optarg, "duration") == 0;
            break;
        case OPT_RESUME: resume = 1; break;
        case OPT_PROGRESS: if (parse_progress(optarg) < 0) return EXIT_USAGE; break;
        case 'q': quiet = 1; break;
        case 'v': it_log_set_level(IT_LOG_DEBUG); break;
        case 'h': fputs(usage_text, stdout); return EXIT_OK;
        case OPT_VERSION: print_version(); return EXIT_OK;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind == argc)
        return usage_error("no input given");
    if (ov >= tw)
        return usage_error("--overlap-window %ld must be smaller than --temporal-window %ld", ov, tw);
    if (ro.stat_file)
        return usage_error("--elbo-stat is for re-allocating records (it-pack, it-decode, it-stats): it-encode "
                           "computes the statistic of the corpus it encodes");
    if (rate_opts_check(&ro, 0) != 0)
        return EXIT_USAGE;
    if (resume && (!output || strcmp(output, "-") == 0))
        return usage_error("--resume needs -o FILE");
    if ((crop_w > 0) != (crop_h > 0))
        return usage_error("--crop needs WxH");
    const int strategy = ro.full_rate ? IT_STRATEGY_NONE : ro.strategy;
    const double avg_rate = ro.avg_rate;

    int status = EXIT_OK, failed = 0;
    inputs in = {0};
    it_model *model = NULL;
    FILE *spill = NULL;
    char *partial = NULL, *final_tmp = NULL, *header = NULL, **done_ids = NULL;
    long n_done = 0;
    it_stream_writer *w = NULL;
    encoder enc = {0};

    for (int i = optind; i < argc; i++) {
        int rc = is_manifest_name(argv[i]) ? read_manifest(&in, argv[i]) : add_video_path(&in, argv[i]);
        if (rc < 0) {
            status = EXIT_FATAL;
            goto done;
        }
    }
    int64_t begin, end;
    if (by_duration) {
        double *wt = input_durations(&in);
        if (!wt) {
            print_error("out of memory");
            status = EXIT_FATAL;
            goto done;
        }
        shard_range_weighted(&shard, wt, (int64_t)in.n, &begin, &end);
        free(wt);
    } else {
        shard_range(&shard, (int64_t)in.n, &begin, &end);
    }

    int rc;
    if (model_opts_load(&mo, &model) < 0) {
        status = EXIT_FATAL;
        goto done;
    }
    it_encode_opts eo = {(int)tw, (int)ov, {1, (int)short_side, crop_w, crop_h}, strategy, (float)avg_rate};
    header = header_json(model, argc, argv, &eo, strategy, (float)avg_rate);
    if (!header) {
        print_error("out of memory formatting the stream header");
        status = EXIT_FATAL;
        goto done;
    }

    /* Pass 1 goes to OUTPUT.partial (kept for --resume if interrupted), or to stdout; for
     * global_elbo, to a spill file that pass 2 turns into the output. */
    if (output && strcmp(output, "-") != 0) {
        struct stat sb;
        if (resume && stat(output, &sb) == 0) {
            it_log(IT_LOG_WARN, "%s is complete already; nothing to do", output);
            goto done;
        }
        if (asprintf(&partial, "%s.partial", output) < 0 || asprintf(&final_tmp, "%s.tmp", output) < 0) {
            status = EXIT_FATAL;
            goto done;
        }
    }
    FILE *pass1 = NULL;
    char *resume_src = NULL;
    if (partial) {
        if (resume && access(partial, R_OK) == 0) {
            if (asprintf(&resume_src, "%s.old", partial) < 0 || rename(partial, resume_src) != 0) {
                print_error("%s: cannot set aside: %s", partial, strerror(errno));
                status = EXIT_FATAL;
                free(resume_src);
                goto done;
            }
        }
        pass1 = fopen(partial, "wb");
        if (!pass1) {
            print_error("%s: cannot create: %s", partial, strerror(errno));
            status = EXIT_FATAL;
            free(resume_src);
            goto done;
        }
    } else if (strategy == IT_STRATEGY_GLOBAL_ELBO) {
        pass1 = spill = tmpfile();
        if (!spill) {
            print_error("cannot create a temporary file: %s", strerror(errno));
            status = EXIT_FATAL;
            goto done;
        }
    } else {
        pass1 = stdout;
    }
    if ((rc = it_stream_writer_new(&w, pass1, partial ? partial : "stdout")) < 0 ||
        (rc = it_stream_write_json(w, IT_REC_HEADER, header)) < 0) {
        print_lib_error(rc, "cannot write the stream");
        status = EXIT_FATAL;
        free(resume_src);
        goto done;
    }
    if (resume_src) {
        n_done = resume_from(resume_src, header, w, &done_ids, &enc);
        if (n_done < 0) {
            rename(resume_src, partial); /* leave things as they were */
            free(resume_src);
            status = EXIT_FATAL;
            goto done;
        }
        unlink(resume_src);
        free(resume_src);
        if (n_done > 0)
            it_log(IT_LOG_INFO, "resuming after %ld complete videos", n_done);
    }

    tool_progress prog;
    progress_start(&prog, end - begin, "videos", quiet);
    enc.w = w;
    uint32_t ordinal = (uint32_t)n_done;
    for (int64_t i = begin; i < end; i++) {
        video_in *v = &in.v[i];
        int skip = 0;
        for (long k = 0; k < n_done && !skip; k++)
            skip = done_ids[k] && strcmp(done_ids[k], v->e.id) == 0;
        if (skip) {
            progress_update(&prog, i - begin + 1);
            continue;
        }
        if (write_json_record(w, IT_REC_VIDEO, video_json(v, ordinal)) < 0) {
            status = EXIT_FATAL;
            goto done;
        }
        it_encode_result res = {0, 0};
        const char *error = NULL;
        char msg[1200];
        if (!v->e.ok) {
            snprintf(msg, sizeof msg, "%s", v->e.error ? v->e.error : "failed in it-scan");
            error = msg;
        } else {
            it_source src = {v->e.path, v->e.member};
            uint64_t id = 0;
            it_video_id_parse(v->e.id, &id); /* made by it_source_id or checked by the manifest reader */
            rc = it_encode_video(model, &src, id, ordinal, &eo, window_sink, &enc, &res);
            if (rc < 0) {
                snprintf(msg, sizeof msg, "%s", it_error_message());
                error = msg;
            }
        }
        if (error) {
            failed++;
            print_error("%s", error); /* library messages name the input already */
        }
        if (write_json_record(w, IT_REC_VIDEO_END, video_end_json(v, ordinal, error, res.windows, res.frames)) < 0) {
            status = EXIT_FATAL;
            goto done;
        }
        ordinal++;
        progress_update(&prog, i - begin + 1);
    }
    progress_finish(&prog);
    char *end_json = NULL;
    failed += enc.resumed_failed;
    json_t *eo_json = json_pack("{s:i, s:i, s:I}", "videos", (int)ordinal, "failed", failed,
                                "windows", (json_int_t)enc.windows);
    end_json = eo_json ? json_dumps(eo_json, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(eo_json);
    if (write_json_record(w, IT_REC_END, end_json) < 0 || (rc = it_stream_writer_free(&w)) < 0) {
        if (w == NULL)
            print_lib_error(rc, "cannot write the stream");
        status = EXIT_FATAL;
        goto done;
    }
    if (partial && fclose(pass1) != 0) {
        print_error("%s: cannot write: %s", partial, strerror(errno));
        status = EXIT_FATAL;
        goto done;
    }

    if (strategy == IT_STRATEGY_GLOBAL_ELBO) {
        /* Pass 2, over records only: the corpus mean is known now. */
        FILE *src = spill ? spill : fopen(partial, "rb");
        FILE *dst = partial ? fopen(final_tmp, "wb") : stdout;
        if (!src || !dst) {
            print_error("cannot reopen the records for the rate allocation: %s", strerror(errno));
            status = EXIT_FATAL;
            goto done;
        }
        it_stream_writer *w2 = NULL;
        rc = it_stream_writer_new(&w2, dst, partial ? final_tmp : "stdout");
        if (rc == 0)
            rc = apply_allocation(src, w2, &(it_allocation){strategy, (float)avg_rate, enc.stat});
        int rc2 = it_stream_writer_free(&w2);
        if (!spill)
            fclose(src);
        if (partial && fclose(dst) != 0 && rc == 0)
            rc = it_error_set(IT_E_IO, "%s: cannot write", final_tmp);
        if (rc < 0 || rc2 < 0) {
            print_lib_error(rc < 0 ? rc : rc2, "rate allocation failed");
            if (partial)
                unlink(final_tmp);
            status = EXIT_FATAL;
            goto done;
        }
        if (partial && (rename(final_tmp, output) != 0 || unlink(partial) != 0)) {
            print_error("%s: cannot rename into place: %s", output, strerror(errno));
            status = EXIT_FATAL;
            goto done;
        }
    } else if (partial && rename(partial, output) != 0) {
        print_error("%s: cannot rename into place: %s", output, strerror(errno));
        status = EXIT_FATAL;
        goto done;
    }
    if (failed) {
        print_error("%d of %lld videos failed", failed, (long long)(end - begin));
        status = EXIT_SOME_FAILED;
    }
done:
    if (w)
        it_stream_writer_free(&w);
    if (spill)
        fclose(spill);
    for (size_t i = 0; i < in.n; i++) {
        it_manifest_entry_clear(&in.v[i].e);
        free(in.v[i].line);
    }
    free(in.v);
    for (long k = 0; k < n_done; k++)
        free(done_ids[k]);
    free(done_ids);
    free(partial);
    free(final_tmp);
    free(header);
    it_model_free(&model);
    return status;
}
