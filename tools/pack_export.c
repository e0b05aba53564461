/* pack_export.c: it-pack export: kept tokens of each video, in one streaming pass, to what
 * trainers read. Memory holds one video at a time; per-video tables go to temporary files and
 * are joined at the end.
 *
 *  megatron: Megatron-LM's indexed dataset (MMIDIDX version 1): PREFIX.bin (uint16 tokens)
 *            and PREFIX.idx; one sequence and one document per video.
 *  npy:      PREFIX.tokens.npy (uint16, all videos concatenated), PREFIX.offsets.npy (int64,
 *            videos + 1 entries), PREFIX.videos.jsonl (the VIDEO records, in order).
 *  wds:      PREFIX.tar (webdataset): per video KEY.tokens.npy (uint16), KEY.keep.npy (uint8,
 *            the keep mask over every window's token grid, 1 where kept) and KEY.json
 *            (the VIDEO record plus the windows' geometry and rates). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "infotok/records.h"
#include "infotok/core.h"
#include "infotok/rate.h"
#include "tools/common.h"
#include "tools/pack.h"

const char *pack_usage(void);

enum { FMT_MEGATRON = 1, FMT_NPY, FMT_WDS };

/* One video's tokens and masks, grown as its windows arrive. */
typedef struct video_buf {
    uint16_t *tok;
    uint8_t *keep;
    size_t ntok, nkeep, cap_tok, cap_keep;
    json_t *windows;
    char *video_json;
    uint64_t id;
} video_buf;

static int vb_append(video_buf *v, const it_window_rec *w)
{
    const size_t nt = (size_t)w->lt * w->lh * w->lw;
    if (v->ntok + nt > v->cap_tok) {
        size_t cap = (v->ntok + nt) * 2;
        uint16_t *t = realloc(v->tok, cap * sizeof *t);
        if (!t)
            return -1;
        v->tok = t;
        v->cap_tok = cap;
    }
    if (v->nkeep + nt > v->cap_keep) {
        size_t cap = (v->nkeep + nt) * 2;
        uint8_t *k = realloc(v->keep, cap);
        if (!k)
            return -1;
        v->keep = k;
        v->cap_keep = cap;
    }
    v->ntok += pack_kept_tokens(w, v->tok + v->ntok);
    for (size_t i = 0; i < nt; i++)
        v->keep[v->nkeep + i] = w->keep ? w->keep[i] : 1;
    v->nkeep += nt;
    json_array_append_new(v->windows,
                          json_pack("{s:I, s:[i,i,i], s:[i,i,i], s:[i,i,i], s:s, s:f, s:I}", "first_frame",
                                    (json_int_t)w->first_frame, "thw", w->t, w->h, w->w, "origin", w->t0, w->h0,
                                    w->w0, "latent", w->lt, w->lh, w->lw, "strategy",
                                    w->strategy ? it_strategy_name(w->strategy) : "none", "rate",
                                    w->strategy ? (double)w->rate : 1.0, "kept",
                                    (json_int_t)(w->strategy ? w->kept : nt)));
    return 0;
}

/* A .npy header for a 1-D array, padded to 128 bytes so it can be rewritten in place once the
 * length is known. */
static void npy_header(unsigned char h[128], const char *descr, uint64_t n)
{
    char dict[118];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%" PRIu64 ",), }",
                       descr, n);
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    h[8] = 118;
    h[9] = 0;
    memset(h + 10, ' ', 118);
    memcpy(h + 10, dict, (size_t)len);
    h[127] = '\n';
}

static int write_all(FILE *f, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, f) == n ? 0 : -1; }

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

typedef struct exporter {
    int format;
    const char *prefix;
    char *path[4], *tmp[4];
    FILE *f[4];            /* megatron: bin, lengths, pointers; npy: tokens, offsets, jsonl */
    struct archive *ar;
    uint64_t videos, tokens, bytes;
} exporter;

static char *with(const char *a, const char *b)
{
    char *s = malloc(strlen(a) + strlen(b) + 1);
    if (s)
        sprintf(s, "%s%s", a, b);
    return s;
}

static int ex_open(exporter *x, int i, const char *suffix, int temporary)
{
    x->path[i] = with(x->prefix, suffix);
    x->tmp[i] = x->path[i] ? with(x->path[i], temporary ? ".tmp-part" : ".tmp") : NULL;
    if (!x->tmp[i] || !(x->f[i] = fopen(x->tmp[i], temporary ? "w+b" : "wb"))) {
        print_error("%s: cannot create: %s", x->tmp[i] ? x->tmp[i] : suffix, strerror(errno));
        return -1;
    }
    return 0;
}

static int ex_begin(exporter *x)
{
    if (x->format == FMT_MEGATRON)
        return ex_open(x, 0, ".bin", 0) || ex_open(x, 1, ".idx", 0) || ex_open(x, 2, ".lengths", 1) ||
                       ex_open(x, 3, ".pointers", 1)
                   ? -1
                   : 0;
    if (x->format == FMT_NPY) {
        if (ex_open(x, 0, ".tokens.npy", 0) || ex_open(x, 1, ".offsets.npy", 0) || ex_open(x, 2, ".videos.jsonl", 0))
            return -1;
        unsigned char h[128] = {0};
        uint64_t zero = 0;
        return write_all(x->f[0], h, 128) || write_all(x->f[1], h, 128) || write_all(x->f[1], &zero, 8) ? -1 : 0;
    }
    x->path[0] = with(x->prefix, ".tar");
    x->tmp[0] = x->path[0] ? with(x->path[0], ".tmp") : NULL;
    if (!x->tmp[0])
        return -1;
    x->ar = archive_write_new();
    if (!x->ar || archive_write_set_format_pax_restricted(x->ar) != ARCHIVE_OK ||
        archive_write_open_filename(x->ar, x->tmp[0]) != ARCHIVE_OK) {
        print_error("%s: cannot create: %s", x->tmp[0], x->ar ? archive_error_string(x->ar) : "out of memory");
        return -1;
    }
    return 0;
}

static int tar_add(exporter *x, const char *name, const void *data, size_t n)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return -1;
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, 0, 0); /* reproducible archives */
    int ok = archive_write_header(x->ar, e) == ARCHIVE_OK &&
             (n == 0 || archive_write_data(x->ar, data, n) == (la_ssize_t)n);
    archive_entry_free(e);
    if (!ok)
        print_error("%s: %s", x->tmp[0], archive_error_string(x->ar));
    return ok ? 0 : -1;
}

static int tar_npy(exporter *x, const char *name, const char *descr, const void *data, size_t n, size_t elem)
{
    unsigned char *buf = malloc(128 + n * elem);
    if (!buf)
        return -1;
    npy_header(buf, descr, n);
    if (n)
        memcpy(buf + 128, data, n * elem);
    int rc = tar_add(x, name, buf, 128 + n * elem);
    free(buf);
    return rc;
}

static int ex_video(exporter *x, video_buf *v)
{
    if (x->format == FMT_MEGATRON) {
        unsigned char len[4], ptr[8];
        put_le(len, v->ntok, 4);
        put_le(ptr, x->bytes, 8);
        if (write_all(x->f[0], v->tok, v->ntok * 2) || write_all(x->f[2], len, 4) || write_all(x->f[3], ptr, 8))
            return -1;
    } else if (x->format == FMT_NPY) {
        uint64_t end = x->tokens + v->ntok;
        unsigned char off[8];
        put_le(off, end, 8);
        if (write_all(x->f[0], v->tok, v->ntok * 2) || write_all(x->f[1], off, 8) ||
            fprintf(x->f[2], "%s\n", v->video_json) < 0)
            return -1;
    } else {
        char key[64], name[96];
        snprintf(key, sizeof key, "%016" PRIx64 "-%06" PRIu64, v->id, x->videos);
        json_error_t e;
        json_t *meta = json_loads(v->video_json, 0, &e);
        if (!meta)
            meta = json_object();
        json_object_set(meta, "windows", v->windows);
        char *text = json_dumps(meta, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(meta);
        if (!text)
            return -1;
        snprintf(name, sizeof name, "%s.json", key);
        int rc = tar_add(x, name, text, strlen(text));
        free(text);
        snprintf(name, sizeof name, "%s.tokens.npy", key);
        if (rc == 0)
            rc = tar_npy(x, name, "<u2", v->tok, v->ntok, 2);
        snprintf(name, sizeof name, "%s.keep.npy", key);
        if (rc == 0)
            rc = tar_npy(x, name, "|u1", v->keep, v->nkeep, 1);
        if (rc < 0)
            return -1;
    }
    x->videos++;
    x->tokens += v->ntok;
    x->bytes += v->ntok * 2;
    return 0;
}

static int copy_file(FILE *from, FILE *to)
{
    char buf[65536];
    size_t n;
    rewind(from);
    while ((n = fread(buf, 1, sizeof buf, from)) > 0)
        if (fwrite(buf, 1, n, to) != n)
            return -1;
    return ferror(from) ? -1 : 0;
}

static int ex_finish(exporter *x)
{
    int rc = 0;
    if (x->format == FMT_MEGATRON) {
        unsigned char h[34];
        memcpy(h, "MMIDIDX\x00\x00", 9);
        put_le(h + 9, 1, 8);           /* version */
        h[17] = 8;                     /* dtype code 8: uint16 */
        put_le(h + 18, x->videos, 8);  /* sequences */
        put_le(h + 26, x->videos + 1, 8); /* document indices */
        rc = write_all(x->f[1], h, sizeof h) || copy_file(x->f[2], x->f[1]) || copy_file(x->f[3], x->f[1]);
        for (uint64_t d = 0; d <= x->videos && rc == 0; d++) {
            unsigned char b[8];
            put_le(b, d, 8);
            rc = write_all(x->f[1], b, 8);
        }
    } else if (x->format == FMT_NPY) {
        unsigned char h[128];
        npy_header(h, "<u2", x->tokens);
        rc = fseek(x->f[0], 0, SEEK_SET) || write_all(x->f[0], h, 128);
        npy_header(h, "<i8", x->videos + 1);
        rc = rc || fseek(x->f[1], 0, SEEK_SET) || write_all(x->f[1], h, 128);
    } else {
        rc = archive_write_close(x->ar) != ARCHIVE_OK;
        if (rc)
            print_error("%s: %s", x->tmp[0], archive_error_string(x->ar));
    }
    for (int i = 0; i < 4; i++) {
        if (x->f[i] && (fflush(x->f[i]) != 0 || fsync(fileno(x->f[i])) != 0))
            rc = -1;
        if (x->f[i] && fclose(x->f[i]) != 0)
            rc = -1;
        x->f[i] = NULL;
    }
    if (rc) {
        print_error("cannot write the export under %s: %s", x->prefix, strerror(errno));
        return -1;
    }
    int outputs = x->format == FMT_MEGATRON ? 2 : x->format == FMT_NPY ? 3 : 1;
    for (int i = 0; i < outputs; i++)
        if (rename(x->tmp[i], x->path[i]) != 0) {
            print_error("cannot rename %s: %s", x->tmp[i], strerror(errno));
            return -1;
        }
    for (int i = outputs; i < 4; i++)
        if (x->tmp[i])
            unlink(x->tmp[i]);
    return 0;
}

static void ex_free(exporter *x)
{
    for (int i = 0; i < 4; i++) {
        if (x->f[i])
            fclose(x->f[i]);
        if (x->tmp[i])
            unlink(x->tmp[i]); /* temporaries, or the outputs of a failed export */
        free(x->path[i]);
        free(x->tmp[i]);
    }
    if (x->ar)
        archive_write_free(x->ar);
}

int pack_export(int argc, char **argv)
{
    enum { OPT_FORMAT = 256, OPT_VERSION };
    static const struct option longopts[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    exporter x = {0};
    int c, quiet = 0, status = EXIT_OK;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_FORMAT:
            x.format = strcmp(optarg, "megatron") == 0 ? FMT_MEGATRON
                       : strcmp(optarg, "npy") == 0    ? FMT_NPY
                       : strcmp(optarg, "wds") == 0    ? FMT_WDS
                                                       : -1;
            if (x.format < 0)
                return usage_error("invalid value '%s' for --format: expected megatron, npy or wds", optarg);
            break;
        case 'o': x.prefix = optarg; break;
        case 'q': quiet = 1; break;
        case 'v': it_log_set_level(IT_LOG_DEBUG); break;
        case 'h': fputs(pack_usage(), stdout); return EXIT_OK;
        case OPT_VERSION: print_version(); return EXIT_OK;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!x.format || !x.prefix)
        return usage_error("export needs --format and -o PREFIX");
    if (optind == argc)
        return usage_error("no input given");
    video_buf v = {0};
    int prc = make_parent_dirs(x.prefix);
    if (prc < 0) {
        print_lib_error(prc, "cannot export");
        return EXIT_FATAL;
    }
    if (ex_begin(&x) < 0) {
        status = EXIT_FATAL;
        goto done;
    }
    for (int i = optind; i < argc && status == EXIT_OK; i++) {
        it_record_reader *r = NULL;
        int rc = it_record_reader_open(&r, argv[i]), type;
        while (rc >= 0 && (rc = it_record_next(r, &type)) == 1) {
            if (type == IT_REC_VIDEO) {
                free(v.video_json);
                json_decref(v.windows);
                v.video_json = strdup(it_record_json(r));
                v.windows = json_array();
                rc = it_video_json_id(it_record_json(r), it_record_reader_name(r), &v.id);
                v.ntok = v.nkeep = 0;
                if (rc == 0 && (!v.video_json || !v.windows))
                    rc = it_error_set(IT_E_NOMEM, "out of memory");
            } else if (type == IT_REC_WINDOW) {
                if (vb_append(&v, it_record_window(r)) < 0)
                    rc = it_error_set(IT_E_NOMEM, "out of memory for a video's tokens");
            } else if (type == IT_REC_VIDEO_END) {
                if (ex_video(&x, &v) < 0)
                    rc = it_error_set(IT_E_IO, "cannot write the export: %s", strerror(errno));
            }
        }
        if (rc < 0) {
            print_lib_error(rc, "%s", argv[i]);
            status = EXIT_FATAL;
        }
        it_record_reader_free(&r);
    }
    if (status == EXIT_OK && ex_finish(&x) < 0)
        status = EXIT_FATAL;
    if (status == EXIT_OK && !quiet)
        fprintf(stderr, "%s: exported %" PRIu64 " videos, %" PRIu64 " tokens to %s\n", tool_name(), x.videos,
                x.tokens, x.prefix);
done:
    if (status == EXIT_OK) /* the outputs were renamed: nothing to remove */
        for (int i = 0; i < 4; i++) {
            free(x.tmp[i]);
            x.tmp[i] = NULL;
        }
    ex_free(&x);
    free(v.tok);
    free(v.keep);
    free(v.video_json);
    json_decref(v.windows);
    return status;
}
