/* pack_export.c: it-pack export: kept tokens of each video, in one streaming pass, to what
 * trainers read, with what it takes to turn them back into records (it-pack import) and video.
 * Memory holds one video at a time; per-video tables go to temporary files and are joined when
 * an output shard is finished. The formats are it-pack(1)'s EXPORTS section:
 *
 *  every video is one sequence of ids: [BOS] window 0's kept tokens [SEP] window 1's ... [EOD]
 *  (each special only when given), a token t written as t + vocab offset; the dtype is uint16
 *  while the largest possible id fits, else int32.
 *  megatron: NAME.bin/.idx (MMIDIDX v1, the ids), NAME.keep.bin/.idx (uint8: each video's keep
 *            masks over its windows' token grids), NAME.videos.jsonl (one video record a line).
 *  npy:      NAME.tokens.npy, NAME.offsets.npy (int64, videos + 1), NAME.keep.npy (uint8),
 *            NAME.keep_offsets.npy (int64, videos + 1), NAME.videos.jsonl.
 *  wds:      NAME.tar: KEY.json (video record), KEY.txt (its "caption", when it has one),
 *            KEY.tokens.npy (int32, which torch's default collate takes), KEY.keep.npy (uint8).
 *  NAME is PREFIX, or PREFIX-000000, PREFIX-000001, ... with --shard-size; PREFIX.export.json,
 *  written last, describes the whole export (options, dtype, HEADER, shard names). */
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

/* One video's kept tokens and masks, grown as its windows arrive. */
typedef struct video_buf {
    uint16_t *tok;
    uint8_t *keep;
    size_t ntok, nkeep, cap_tok, cap_keep;
    uint32_t *win_kept;      /* kept tokens per window (where the separators go) */
    size_t nwin, cap_win;
    json_t *windows;
    char *video_json;
    uint64_t id;
} video_buf;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = need * 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int vb_append(video_buf *v, const it_window_rec *w)
{
    const size_t nt = (size_t)w->lt * w->lh * w->lw;
    if (grow((void **)&v->tok, &v->cap_tok, v->ntok + nt, sizeof *v->tok) ||
        grow((void **)&v->keep, &v->cap_keep, v->nkeep + nt, 1) ||
        grow((void **)&v->win_kept, &v->cap_win, v->nwin + 1, sizeof *v->win_kept))
        return -1;
    const uint32_t n = pack_kept_tokens(w, v->tok + v->ntok);
    v->ntok += n;
    v->win_kept[v->nwin++] = n;
    for (size_t i = 0; i < nt; i++)
        v->keep[v->nkeep + i] = w->keep ? w->keep[i] : 1;
    v->nkeep += nt;
    /* everything a window record needs besides its tokens, so it-pack import can rebuild it */
    json_t *o = json_pack("{s:I, s:[i,i,i], s:[i,i,i], s:[i,i,i], s:[i,i,i], s:f, s:f, s:s, s:f, s:I}",
                          "first_frame", (json_int_t)w->first_frame, "thw", w->t, w->h, w->w, "padded", w->pt,
                          w->ph, w->pw, "origin", w->t0, w->h0, w->w0, "latent", w->lt, w->lh, w->lw, "fps",
                          w->fps, "elbo_mean", (double)w->elbo_mean, "strategy",
                          w->strategy ? it_strategy_name(w->strategy) : "none", "rate",
                          w->strategy ? (double)w->rate : 1.0, "kept", (json_int_t)(w->strategy ? w->kept : nt));
    return o && json_array_append_new(v->windows, o) == 0 ? 0 : -1;
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

enum { FMT_MEGATRON = 1, FMT_NPY, FMT_WDS };
static const char *const format_names[] = {"", "megatron", "npy", "wds"};
#define MAX_FILES 9

/* A Megatron indexed dataset being written: the data file, and the lengths and pointers
 * gathered in scratch files until the index is written. */
typedef struct mmid {
    int bin, idx, len, ptr; /* indexes into the shard's files */
    int code, item;         /* MMIDIDX dtype code and its size */
    uint64_t seqs, bytes;
} mmid;

typedef struct out_shard {
    char *path[MAX_FILES], *tmp[MAX_FILES];
    FILE *f[MAX_FILES];
    int scratch[MAX_FILES];  /* removed at the end, not renamed */
    int nfiles;
    struct archive *ar;
    mmid tok, keep;          /* megatron */
    int npy_tok, npy_off, npy_keep, npy_koff, jsonl;
    uint64_t videos, ids, masks, bytes;
} out_shard;

typedef struct exporter {
    int format;
    const char *prefix;
    int sharded;
    uint64_t shard_size;
    int64_t offset, bos, eod, sep; /* -1: not given */
    int wide;                      /* 1: int32 ids, 0: uint16 */
    out_shard s;
    int open;
    uint32_t nshards;
    json_t *shard_names;           /* basenames of the shards (wds: the tars) */
    json_t *done_paths;            /* every finished file, removed if the export fails */
    char *header;                  /* the first input's HEADER */
    it_stream_header first;
    char *first_name;
    uint64_t videos, ids, tokens;
    int32_t *ids_buf;
    size_t ids_cap;
} exporter;

static char *with(const char *a, const char *b)
{
    char *s = malloc(strlen(a) + strlen(b) + 1);
    if (s)
        sprintf(s, "%s%s", a, b);
    return s;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The name of shard n without its extension: PREFIX or PREFIX-%06u. */
static char *shard_stem(const exporter *x, uint32_t n)
{
    size_t len = strlen(x->prefix) + 16;
    char *s = malloc(len);
    if (s) {
        if (x->sharded)
            snprintf(s, len, "%s-%06" PRIu32, x->prefix, n);
        else
            snprintf(s, len, "%s", x->prefix);
    }
    return s;
}

static int sh_open(out_shard *s, const char *stem, const char *suffix, int scratch)
{
    int i = s->nfiles++;
    s->scratch[i] = scratch;
    s->path[i] = with(stem, suffix);
    s->tmp[i] = s->path[i] ? with(s->path[i], scratch ? ".tmp-part" : ".tmp") : NULL;
    if (!s->tmp[i] || !(s->f[i] = fopen(s->tmp[i], scratch ? "w+b" : "wb"))) {
        print_error("%s: cannot create: %s", s->tmp[i] ? s->tmp[i] : suffix, strerror(errno));
        return -1;
    }
    return i;
}

static int mmid_open(out_shard *s, mmid *m, const char *stem, const char *ext, int code, int item)
{
    char a[32], b[32], c[32], d[32];
    snprintf(a, sizeof a, "%s.bin", ext);
    snprintf(b, sizeof b, "%s.idx", ext);
    snprintf(c, sizeof c, "%s.lengths", ext);
    snprintf(d, sizeof d, "%s.pointers", ext);
    m->code = code;
    m->item = item;
    return (m->bin = sh_open(s, stem, a, 0)) < 0 || (m->idx = sh_open(s, stem, b, 0)) < 0 ||
                   (m->len = sh_open(s, stem, c, 1)) < 0 || (m->ptr = sh_open(s, stem, d, 1)) < 0
               ? -1
               : 0;
}

static int mmid_add(out_shard *s, mmid *m, const void *data, uint64_t n)
{
    if (n > INT32_MAX) {
        print_error("a video of %" PRIu64 " tokens does not fit Megatron's int32 sequence lengths", n);
        return -1;
    }
    unsigned char len[4], ptr[8];
    put_le(len, n, 4);
    put_le(ptr, m->bytes, 8);
    if (write_all(s->f[m->bin], data, n * m->item) || write_all(s->f[m->len], len, 4) ||
        write_all(s->f[m->ptr], ptr, 8))
        return -1;
    m->seqs++;
    m->bytes += n * m->item;
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

/* The index: header, lengths, pointers, then the document index (one document a sequence). */
static int mmid_finish(out_shard *s, mmid *m)
{
    unsigned char h[34];
    memcpy(h, "MMIDIDX\x00\x00", 9);
    put_le(h + 9, 1, 8);          /* version */
    h[17] = (unsigned char)m->code;
    put_le(h + 18, m->seqs, 8);
    put_le(h + 26, m->seqs + 1, 8);
    FILE *f = s->f[m->idx];
    if (write_all(f, h, sizeof h) || copy_file(s->f[m->len], f) || copy_file(s->f[m->ptr], f))
        return -1;
    for (uint64_t d = 0; d <= m->seqs; d++) {
        unsigned char b[8];
        put_le(b, d, 8);
        if (write_all(f, b, 8))
            return -1;
    }
    return 0;
}

static const char *ids_descr(const exporter *x) { return x->wide ? "<i4" : "<u2"; }

static int ex_start_shard(exporter *x)
{
    out_shard *s = &x->s;
    memset(s, 0, sizeof *s);
    char *stem = shard_stem(x, x->nshards);
    int rc = 0;
    if (!stem || make_parent_dirs(stem) < 0) {
        print_error("%s: cannot create the directory or out of memory", x->prefix);
        free(stem);
        return -1;
    }
    if (x->format == FMT_MEGATRON) {
        rc = mmid_open(s, &s->tok, stem, "", x->wide ? 4 : 8, x->wide ? 4 : 2) < 0 ||
                     mmid_open(s, &s->keep, stem, ".keep", 1, 1) < 0 ||
                     (s->jsonl = sh_open(s, stem, ".videos.jsonl", 0)) < 0
                 ? -1
                 : 0;
    } else if (x->format == FMT_NPY) {
        if ((s->npy_tok = sh_open(s, stem, ".tokens.npy", 0)) < 0 || (s->npy_off = sh_open(s, stem, ".offsets.npy", 0)) < 0 ||
            (s->npy_keep = sh_open(s, stem, ".keep.npy", 0)) < 0 ||
            (s->npy_koff = sh_open(s, stem, ".keep_offsets.npy", 0)) < 0 ||
            (s->jsonl = sh_open(s, stem, ".videos.jsonl", 0)) < 0) {
            rc = -1;
        } else {
            unsigned char h[128] = {0}, zero[8] = {0};
            for (int i = 0; i < 4 && rc == 0; i++)
                rc = write_all(s->f[i], h, 128);
            rc = rc || write_all(s->f[s->npy_off], zero, 8) || write_all(s->f[s->npy_koff], zero, 8) ? -1 : 0;
        }
    } else {
        s->nfiles = 1;
        s->path[0] = with(stem, ".tar");
        s->tmp[0] = s->path[0] ? with(s->path[0], ".tmp") : NULL;
        s->ar = archive_write_new();
        if (!s->tmp[0] || !s->ar || archive_write_set_format_pax_restricted(s->ar) != ARCHIVE_OK ||
            archive_write_open_filename(s->ar, s->tmp[0]) != ARCHIVE_OK) {
            print_error("%s: cannot create: %s", s->tmp[0] ? s->tmp[0] : stem,
                        s->ar ? archive_error_string(s->ar) : "out of memory");
            rc = -1;
        }
    }
    if (rc == 0) {
        const char *name = base_name(x->format == FMT_WDS ? s->path[0] : stem);
        json_array_append_new(x->shard_names, json_string(name));
        x->open = 1;
        x->nshards++;
    }
    free(stem);
    return rc;
}

static int tar_add(out_shard *s, const char *name, const void *data, size_t n)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return -1;
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, 0, 0); /* reproducible archives */
    int ok = archive_write_header(s->ar, e) == ARCHIVE_OK &&
             (n == 0 || archive_write_data(s->ar, data, n) == (la_ssize_t)n);
    archive_entry_free(e);
    if (!ok)
        print_error("%s: %s", s->tmp[0], archive_error_string(s->ar));
    s->bytes += n;
    return ok ? 0 : -1;
}

static int tar_npy(out_shard *s, const char *name, const char *descr, const void *data, size_t n, size_t elem)
{
    unsigned char *buf = malloc(128 + n * elem);
    if (!buf)
        return -1;
    npy_header(buf, descr, n);
    if (n)
        memcpy(buf + 128, data, n * elem);
    int rc = tar_add(s, name, buf, 128 + n * elem);
    free(buf);
    return rc;
}

/* The video's sequence of ids: specials and offset applied, in ids_buf (int32) and, for
 * uint16 outputs, packed in place to uint16 little-endian. Returns the count. */
static int64_t video_ids(exporter *x, const video_buf *v)
{
    size_t n = v->ntok + (x->bos >= 0) + (x->eod >= 0) + (x->sep >= 0 && v->nwin ? v->nwin - 1 : 0);
    if (grow((void **)&x->ids_buf, &x->ids_cap, n + 1, sizeof *x->ids_buf))
        return -1;
    int32_t *o = x->ids_buf;
    size_t k = 0, t = 0;
    if (x->bos >= 0)
        o[k++] = (int32_t)x->bos;
    for (size_t w = 0; w < v->nwin; w++) {
        if (w && x->sep >= 0)
            o[k++] = (int32_t)x->sep;
        for (uint32_t i = 0; i < v->win_kept[w]; i++)
            o[k++] = (int32_t)(v->tok[t++] + x->offset);
    }
    if (x->eod >= 0)
        o[k++] = (int32_t)x->eod;
    /* little-endian on disk whatever the host */
    unsigned char *b = (unsigned char *)o;
    for (size_t i = 0; i < k; i++) {
        const uint32_t u = (uint32_t)o[i];
        if (x->wide || x->format == FMT_WDS)
            put_le(b + 4 * i, u, 4);
        else
            put_le(b + 2 * i, u, 2);
    }
    return (int64_t)k;
}

/* The video record: the VIDEO record (the manifest line, passthrough keys included) with the
 * export's own ordinal, its windows and its VIDEO_END. */
static char *video_record(const exporter *x, const video_buf *v, const char *end_json, int64_t nids)
{
    json_error_t e;
    json_t *meta = json_loads(v->video_json, 0, &e), *end = json_loads(end_json, 0, &e);
    char *text = NULL;
    if (meta && json_is_object(meta) && end && json_is_object(end)) {
        json_object_set_new(meta, "ordinal", json_integer((json_int_t)x->videos));
        json_object_set_new(end, "ordinal", json_integer((json_int_t)x->videos));
        json_object_set_new(meta, "ids", json_integer(nids));
        json_object_set(meta, "windows", v->windows);
        json_object_set(meta, "end", end);
        text = json_dumps(meta, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    json_decref(meta);
    json_decref(end);
    return text;
}

static int ex_video(exporter *x, video_buf *v, const char *end_json)
{
    if (!x->open && ex_start_shard(x) < 0)
        return -1;
    out_shard *s = &x->s;
    int64_t n = video_ids(x, v);
    char *rec = n >= 0 ? video_record(x, v, end_json, n) : NULL;
    int rc = rec ? 0 : -1;
    if (rc == 0 && x->format == FMT_MEGATRON) {
        rc = mmid_add(s, &s->tok, x->ids_buf, (uint64_t)n) || mmid_add(s, &s->keep, v->keep, v->nkeep) ||
                     fprintf(s->f[s->jsonl], "%s\n", rec) < 0
                 ? -1
                 : 0;
        s->bytes += (uint64_t)n * s->tok.item;
    } else if (rc == 0 && x->format == FMT_NPY) {
        unsigned char off[8], koff[8];
        put_le(off, s->ids + (uint64_t)n, 8);
        put_le(koff, s->masks + v->nkeep, 8);
        const size_t item = x->wide ? 4 : 2;
        rc = write_all(s->f[s->npy_tok], x->ids_buf, (size_t)n * item) || write_all(s->f[s->npy_off], off, 8) ||
                     write_all(s->f[s->npy_keep], v->keep, v->nkeep) || write_all(s->f[s->npy_koff], koff, 8) ||
                     fprintf(s->f[s->jsonl], "%s\n", rec) < 0
                 ? -1
                 : 0;
        s->bytes += (uint64_t)n * item;
    } else if (rc == 0) {
        char key[64], name[96];
        snprintf(key, sizeof key, "%016" PRIx64 "-%06" PRIu64, v->id, x->videos);
        snprintf(name, sizeof name, "%s.json", key);
        rc = tar_add(s, name, rec, strlen(rec));
        json_error_t e;
        json_t *meta = json_loads(v->video_json, 0, &e);
        const char *caption = json_string_value(json_object_get(meta, "caption"));
        snprintf(name, sizeof name, "%s.txt", key);
        if (rc == 0 && caption)
            rc = tar_add(s, name, caption, strlen(caption));
        json_decref(meta);
        snprintf(name, sizeof name, "%s.tokens.npy", key);
        if (rc == 0)
            rc = tar_npy(s, name, "<i4", x->ids_buf, (size_t)n, 4);
        snprintf(name, sizeof name, "%s.keep.npy", key);
        if (rc == 0)
            rc = tar_npy(s, name, "|u1", v->keep, v->nkeep, 1);
    }
    free(rec);
    if (rc < 0)
        return -1;
    s->videos++;
    s->ids += (uint64_t)n;
    s->masks += v->nkeep;
    x->videos++;
    x->ids += (uint64_t)n;
    x->tokens += v->ntok;
    return 0;
}

static void sh_free(out_shard *s, int remove_tmp)
{
    for (int i = 0; i < s->nfiles; i++) {
        if (s->f[i])
            fclose(s->f[i]);
        if (remove_tmp && s->tmp[i])
            unlink(s->tmp[i]);
        free(s->path[i]);
        free(s->tmp[i]);
    }
    if (s->ar)
        archive_write_free(s->ar);
    memset(s, 0, sizeof *s);
}

static int ex_finish_shard(exporter *x)
{
    out_shard *s = &x->s;
    int rc = 0;
    if (x->format == FMT_MEGATRON) {
        rc = mmid_finish(s, &s->tok) || mmid_finish(s, &s->keep);
    } else if (x->format == FMT_NPY) {
        unsigned char h[128];
        const char *descr[4] = {ids_descr(x), "<i8", "|u1", "<i8"};
        const uint64_t n[4] = {s->ids, s->videos + 1, s->masks, s->videos + 1};
        const int which[4] = {s->npy_tok, s->npy_off, s->npy_keep, s->npy_koff};
        for (int i = 0; i < 4 && rc == 0; i++) {
            npy_header(h, descr[i], n[i]);
            rc = fseek(s->f[which[i]], 0, SEEK_SET) || write_all(s->f[which[i]], h, 128);
        }
    } else {
        rc = archive_write_close(s->ar) != ARCHIVE_OK;
        if (rc)
            print_error("%s: %s", s->tmp[0], archive_error_string(s->ar));
    }
    for (int i = 0; i < s->nfiles; i++) {
        if (s->f[i] && !s->scratch[i] && (fflush(s->f[i]) != 0 || fsync(fileno(s->f[i])) != 0))
            rc = -1;
        if (s->f[i] && fclose(s->f[i]) != 0)
            rc = -1;
        s->f[i] = NULL;
    }
    if (rc) {
        print_error("cannot write the export under %s: %s", x->prefix, strerror(errno));
        sh_free(s, 1);
        return -1;
    }
    for (int i = 0; i < s->nfiles; i++) {
        if (s->scratch[i]) {
            unlink(s->tmp[i]);
        } else if (rename(s->tmp[i], s->path[i]) != 0) {
            print_error("cannot rename %s: %s", s->tmp[i], strerror(errno));
            sh_free(s, 1);
            return -1;
        } else {
            json_array_append_new(x->done_paths, json_string(s->path[i]));
        }
    }
    sh_free(s, 0);
    x->open = 0;
    return 0;
}

/* PREFIX.export.json: what the export holds and how to read it (it-pack(1), EXPORTS). */
static int write_description(exporter *x)
{
    json_error_t e;
    json_t *header = x->header ? json_loads(x->header, 0, &e) : json_null();
    char pattern[512];
    const char *ext = x->format == FMT_WDS ? ".tar" : "";
    const char *stem = base_name(x->prefix);
    if (x->sharded)
        snprintf(pattern, sizeof pattern, "%s-{%06d..%06" PRIu32 "}%s", stem, 0, x->nshards - 1, ext);
    else
        snprintf(pattern, sizeof pattern, "%s%s", stem, ext);
    json_t *o = json_pack("{s:s, s:i, s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:i, s:o, s:s, s:O, s:I, s:I, s:I}",
                          "format", "infotok-export", "version", 1, "kind", format_names[x->format], "dtype",
                          x->format == FMT_WDS || x->wide ? "int32" : "uint16", "vocab_offset",
                          (json_int_t)x->offset, "codebook", (json_int_t)IT_STREAM_CODEBOOK, "bos",
                          x->bos >= 0 ? json_integer(x->bos) : json_null(), "eod",
                          x->eod >= 0 ? json_integer(x->eod) : json_null(), "window_sep",
                          x->sep >= 0 ? json_integer(x->sep) : json_null(), "shard_count", (int)x->nshards,
                          "header", header ? header : json_null(), "pattern", pattern, "shards", x->shard_names,
                          "videos", (json_int_t)x->videos, "ids", (json_int_t)x->ids, "tokens",
                          (json_int_t)x->tokens);
    char *path = with(x->prefix, ".export.json"), *tmp = path ? with(path, ".tmp") : NULL;
    int rc = o && tmp && json_dump_file(o, tmp, JSON_INDENT(1) | JSON_PRESERVE_ORDER) == 0 ? 0 : -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc < 0) {
        print_error("%s: cannot write: %s", path ? path : x->prefix, strerror(errno));
        if (tmp)
            unlink(tmp);
    }
    json_decref(o);
    free(path);
    free(tmp);
    return rc;
}

/* The first input's header is the export's; the others must have been made the same way. */
static int take_header(exporter *x, const char *json, const char *input)
{
    it_stream_header h;
    int rc = it_stream_header_parse(json, input, &h);
    if (rc < 0)
        return rc;
    if (!x->header) {
        if (!(x->header = strdup(json)) || !(x->first_name = strdup(input)))
            rc = it_error_set(IT_E_NOMEM, "out of memory");
        x->first = h;
        return rc;
    }
    if ((rc = it_stream_header_compatible(&x->first, x->first_name, &h, input)) < 0)
        rc = it_error_set(rc, "%s; an export holds one model's tokens", it_error_message());
    it_stream_header_clear(&h);
    return rc;
}

static int parse_id(const char *opt, const char *arg, int64_t *out)
{
    long v;
    if (parse_int(opt, arg, 0, INT32_MAX, &v) < 0)
        return -1;
    *out = v;
    return 0;
}

int pack_export(int argc, char **argv)
{
    enum { OPT_FORMAT = OPT_TOOL_FIRST, OPT_VERSION, OPT_OFFSET, OPT_BOS, OPT_EOD, OPT_SEP, OPT_SIZE };
    static const struct option longopts[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"output", required_argument, NULL, 'o'},
        {"vocab-offset", required_argument, NULL, OPT_OFFSET},
        {"bos", required_argument, NULL, OPT_BOS},
        {"eod", required_argument, NULL, OPT_EOD},
        {"window-sep", required_argument, NULL, OPT_SEP},
        {"shard-size", required_argument, NULL, OPT_SIZE},
        PROGRESS_LONGOPT,
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    exporter x = {.bos = -1, .eod = -1, .sep = -1};
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
        case OPT_OFFSET:
            if (parse_id("--vocab-offset", optarg, &x.offset) < 0)
                return EXIT_USAGE;
            break;
        case OPT_BOS: if (parse_id("--bos", optarg, &x.bos) < 0) return EXIT_USAGE; break;
        case OPT_EOD: if (parse_id("--eod", optarg, &x.eod) < 0) return EXIT_USAGE; break;
        case OPT_SEP: if (parse_id("--window-sep", optarg, &x.sep) < 0) return EXIT_USAGE; break;
        case OPT_SIZE:
            if (parse_size("--shard-size", optarg, &x.shard_size) < 0)
                return EXIT_USAGE;
            x.sharded = 1;
            break;
        case OPT_PROGRESS: if (parse_progress(optarg) < 0) return EXIT_USAGE; break;
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
    const int64_t top = x.offset + IT_STREAM_CODEBOOK - 1;
    if (top > INT32_MAX)
        return usage_error("--vocab-offset %" PRId64 " puts token ids above the int32 range", x.offset);
    const int64_t special[3] = {x.bos, x.eod, x.sep};
    static const char *const special_opt[3] = {"--bos", "--eod", "--window-sep"};
    int64_t largest = top;
    for (int i = 0; i < 3; i++) {
        if (special[i] >= x.offset && special[i] <= top)
            return usage_error("%s %" PRId64 " is a token id (tokens are %" PRId64 "..%" PRId64 " with --vocab-offset "
                               "%" PRId64 "): give an id outside them", special_opt[i], special[i], x.offset, top,
                               x.offset);
        for (int j = 0; j < i; j++)
            if (special[i] >= 0 && special[i] == special[j])
                return usage_error("%s and %s are both %" PRId64 ": the ids must differ", special_opt[j],
                                   special_opt[i], special[i]);
        if (special[i] > largest)
            largest = special[i];
    }
    x.wide = largest > UINT16_MAX; /* Megatron's rule: uint16 while the vocabulary fits */
    x.shard_names = json_array();
    x.done_paths = json_array();
    video_buf v = {0};
    char *end_json = NULL;
    tool_progress prog;
    progress_start(&prog, argc - optind, "inputs", quiet);
    for (int i = optind; i < argc && status == EXIT_OK; i++) {
        it_record_reader *r = NULL;
        int rc = it_record_reader_open(&r, argv[i]), type;
        while (rc >= 0 && (rc = it_record_next(r, &type)) == 1) {
            if (type == IT_REC_HEADER) {
                rc = take_header(&x, it_record_json(r), it_record_reader_name(r));
            } else if (type == IT_REC_VIDEO) {
                free(v.video_json);
                json_decref(v.windows);
                v.video_json = strdup(it_record_json(r));
                v.windows = json_array();
                rc = it_video_json_id(it_record_json(r), it_record_reader_name(r), &v.id);
                v.ntok = v.nkeep = v.nwin = 0;
                if (rc == 0 && (!v.video_json || !v.windows))
                    rc = it_error_set(IT_E_NOMEM, "out of memory");
            } else if (type == IT_REC_WINDOW) {
                if (vb_append(&v, it_record_window(r)) < 0)
                    rc = it_error_set(IT_E_NOMEM, "out of memory for a video's tokens");
            } else if (type == IT_REC_VIDEO_END) {
                if (ex_video(&x, &v, it_record_json(r)) < 0)
                    rc = it_error_set(IT_E_IO, "cannot write the export");
                else if (x.sharded && x.s.bytes >= x.shard_size && ex_finish_shard(&x) < 0)
                    rc = it_error_set(IT_E_IO, "cannot finish an export shard");
            }
        }
        if (rc < 0) {
            print_lib_error(rc, "%s", argv[i]);
            status = EXIT_FATAL;
        }
        it_record_reader_free(&r);
        progress_update(&prog, i - optind + 1);
    }
    progress_finish(&prog);
    /* an export of no videos still has its (empty) files */
    if (status == EXIT_OK && ((!x.open && x.nshards == 0 && ex_start_shard(&x) < 0) ||
                              (x.open && ex_finish_shard(&x) < 0) || write_description(&x) < 0))
        status = EXIT_FATAL;
    if (status == EXIT_OK && !quiet)
        fprintf(stderr, "%s: exported %" PRIu64 " videos, %" PRIu64 " tokens (%" PRIu64 " ids, %s) to %" PRIu32
                " shard(s) %s\n", tool_name(), x.videos, x.tokens, x.ids,
                x.format == FMT_WDS || x.wide ? "int32" : "uint16", x.nshards, x.prefix);
    if (status != EXIT_OK) {
        /* a failed export leaves nothing behind: the unfinished shard, and the finished ones */
        sh_free(&x.s, 1);
        for (size_t i = 0; i < json_array_size(x.done_paths); i++)
            unlink(json_string_value(json_array_get(x.done_paths, i)));
    }
    json_decref(x.shard_names);
    json_decref(x.done_paths);
    free(x.header);
    free(x.first_name);
    it_stream_header_clear(&x.first);
    free(x.ids_buf);
    free(v.tok);
    free(v.keep);
    free(v.win_kept);
    free(v.video_json);
    json_decref(v.windows);
    free(end_json);
    return status;
}
