/* pack_import.c: it-pack import: an export (it-pack export, any format) back into token
 * records, as one slim shard (infotok-shard(5)): the kept tokens, masks and window geometry an
 * export keeps are exactly what decoding needs, so it-decode of the imported shard gives the
 * frames it-decode of the exported records gives. The ELBO maps are not in an export: the
 * shard is slim and cannot be re-allocated.
 *
 * Every file is outside input: array headers, lengths, ids, specials and masks are checked
 * against the video records and PREFIX.export.json, and a mismatch names the file and video.
 * A shard of the export is read into memory whole (its arrays are a few bytes per token). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "infotok/shard.h"
#include "infotok/core.h"
#include "tools/common.h"
#include "tools/pack.h"

const char *pack_usage(void);

#define IT_FAIL_TOOL(code, ...)                 \
    do {                                        \
        rc = it_error_set(code, __VA_ARGS__);   \
        goto done;                              \
    } while (0)

/* A 1-D little-endian array from a .npy file (or a Megatron sequence, viewed the same way). */
typedef struct arr {
    const unsigned char *data;
    uint64_t n;
    int item;      /* bytes per element */
    int is_signed; /* for int32/int64 */
} arr;

static int64_t arr_get(const arr *a, uint64_t i)
{
    const unsigned char *p = a->data + i * (uint64_t)a->item;
    uint64_t v = 0;
    for (int k = 0; k < a->item; k++)
        v |= (uint64_t)p[k] << (8 * k);
    if (a->is_signed && a->item == 4)
        return (int32_t)(uint32_t)v;
    return (int64_t)v;
}

/* .npy version 1 or 2, C order, 1-D, of one of the dtypes exports write. */
static int parse_npy(const unsigned char *b, size_t n, const char *where, arr *out)
{
    if (n < 10 || memcmp(b, "\x93NUMPY", 6) != 0 || (b[6] != 1 && b[6] != 2))
        return it_error_set(IT_E_FORMAT, "%s: not a .npy file (version 1 or 2)", where);
    size_t hl = b[6] == 1 ? (size_t)(b[8] | b[9] << 8) : (n >= 12 ? (size_t)b[8] | (size_t)b[9] << 8 |
                                                                        (size_t)b[10] << 16 | (size_t)b[11] << 24
                                                                  : SIZE_MAX);
    size_t start = b[6] == 1 ? 10 : 12;
    if (hl > n - start || hl > 65536)
        return it_error_set(IT_E_FORMAT, "%s: .npy header longer than the file", where);
    char h[65537];
    memcpy(h, b + start, hl);
    h[hl] = '\0';
    static const struct { const char *descr; int item, is_signed; } types[] = {
        {"'<u2'", 2, 0}, {"'<i4'", 4, 1}, {"'<i8'", 8, 1}, {"'|u1'", 1, 0}, {"'<u1'", 1, 0}};
    const char *d = strstr(h, "'descr':"), *s = strstr(h, "'shape':"), *f = strstr(h, "'fortran_order':");
    int t = -1;
    for (int i = 0; d && i < 5 && t < 0; i++) {
        const char *q = d + 8;
        while (*q == ' ')
            q++;
        if (strncmp(q, types[i].descr, strlen(types[i].descr)) == 0)
            t = i;
    }
    unsigned long long len = 0;
    char *end = NULL;
    if (s) {
        const char *q = s + 8;
        while (*q == ' ')
            q++;
        if (*q == '(')
            len = strtoull(q + 1, &end, 10);
    }
    if (t < 0 || !end || strncmp(end, ",)", 2) != 0 || !f || !strstr(f, "False"))
        return it_error_set(IT_E_FORMAT, "%s: expected a 1-D C-order array of uint16, int32, int64 or uint8: %s",
                            where, h);
    const size_t body = n - start - hl;
    if (len > body / (size_t)types[t].item || len * types[t].item != body)
        return it_error_set(IT_E_FORMAT, "%s: %llu elements declared, %zu bytes of data", where, len, body);
    *out = (arr){b + start + hl, len, types[t].item, types[t].is_signed};
    return 0;
}

static int slurp(const char *path, unsigned char **buf, size_t *n)
{
    FILE *f = fopen(path, "rb");
    *buf = NULL;
    if (!f)
        return it_error_set(errno == ENOENT ? IT_E_NOTFOUND : IT_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0)
        rc = it_error_set(IT_E_IO, "%s: %s", path, strerror(errno));
    else if (!(*buf = malloc((size_t)st.st_size + 1)))
        rc = it_error_set(IT_E_NOMEM, "%s: out of memory for %lld bytes", path, (long long)st.st_size);
    else if (fread(*buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        rc = it_error_set(IT_E_IO, "%s: short read", path);
    fclose(f);
    *n = rc == 0 ? (size_t)st.st_size : 0;
    if (rc < 0) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

typedef struct importer {
    int64_t offset, bos, eod, sep; /* -1: none */
    it_shard_writer *w;
    uint64_t videos, windows;
    uint16_t *indices;
    uint8_t *keep;
    size_t cap;
} importer;

static int64_t opt_id(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

static int int3(json_t *w, const char *key, int32_t *a, int32_t *b, int32_t *c)
{
    json_int_t x, y, z;
    if (json_unpack(json_object_get(w, key), "[III]", &x, &y, &z) != 0 || x < 0 || y < 0 || z < 0 || x > INT32_MAX ||
        y > INT32_MAX || z > INT32_MAX)
        return -1;
    *a = (int32_t)x, *b = (int32_t)y, *c = (int32_t)z;
    return 0;
}

/* One video: its record (a line of videos.jsonl or a wds .json), its ids and its masks. */
static int import_video(importer *im, const char *record, size_t rlen, const arr *ids, const arr *keep,
                        const char *where)
{
    json_error_t e;
    json_t *o = json_loadb(record, rlen, 0, &e), *wins = json_incref(json_object_get(o, "windows"));
    json_t *end = json_deep_copy(json_object_get(o, "end"));
    int rc = 0;
    char *vj = NULL, *ej = NULL;
    uint64_t id = 0;
    if (!o || !json_is_object(o) || !json_is_array(wins) || !json_is_object(end))
        IT_FAIL_TOOL(IT_E_FORMAT, "%s: the video record is not an object with \"windows\" and \"end\"", where);
    const char *idtext = json_string_value(json_object_get(o, "id"));
    if (!idtext || it_video_id_parse(idtext, &id) < 0)
        IT_FAIL_TOOL(IT_E_FORMAT, "%s: the video record has no valid \"id\"", where);
    const uint32_t ordinal = it_shard_writer_videos(im->w);
    json_object_del(o, "windows");
    json_object_del(o, "end");
    json_object_del(o, "ids");
    json_object_set_new(o, "ordinal", json_integer(ordinal));
    json_object_set_new(end, "ordinal", json_integer(ordinal));
    vj = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    ej = json_dumps(end, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!vj || !ej)
        IT_FAIL_TOOL(IT_E_NOMEM, "out of memory");
    if ((rc = it_shard_write_video(im->w, vj)) < 0)
        goto done;
    uint64_t p = 0, k = 0;
    if (im->bos >= 0 && (ids->n < 1 || arr_get(ids, p++) != im->bos))
        IT_FAIL_TOOL(IT_E_FORMAT, "%s: the ids do not start with --bos %" PRId64, where, im->bos);
    for (size_t wi = 0; wi < json_array_size(wins); wi++) {
        json_t *wj = json_array_get(wins, wi);
        it_window_rec r = {0};
        json_int_t first = -1, kept = -1;
        double fps = -1, elbo = -1, rate = -1;
        const char *strategy = NULL;
        if (json_unpack(wj, "{s:I, s:F, s:F, s:s, s:F, s:I}", "first_frame", &first, "fps", &fps, "elbo_mean", &elbo,
                        "strategy", &strategy, "rate", &rate, "kept", &kept) != 0 ||
            int3(wj, "thw", &r.t, &r.h, &r.w) || int3(wj, "padded", &r.pt, &r.ph, &r.pw) ||
            int3(wj, "origin", &r.t0, &r.h0, &r.w0) || int3(wj, "latent", &r.lt, &r.lh, &r.lw) || kept < 0)
            IT_FAIL_TOOL(IT_E_FORMAT, "%s: window %zu: missing or malformed geometry", where, wi);
        const uint64_t nt = (uint64_t)r.lt * r.lh * r.lw;
        if (nt == 0 || nt > IT_STREAM_MAX_TOKENS || (uint64_t)kept > nt)
            IT_FAIL_TOOL(IT_E_FORMAT, "%s: window %zu: latent grid %dx%dx%d or kept %lld out of range", where, wi,
                         r.lt, r.lh, r.lw, (long long)kept);
        int s = IT_STRATEGY_NONE;
        if (strcmp(strategy, "none") != 0 && it_strategy_parse(strategy, &s) < 0)
            IT_FAIL_TOOL(IT_E_FORMAT, "%s: window %zu: strategy \"%s\" is unknown", where, wi, strategy);
        if (nt > im->cap) {
            uint16_t *ix = realloc(im->indices, nt * sizeof *ix);
            if (ix)
                im->indices = ix;
            uint8_t *kp = realloc(im->keep, nt);
            if (kp)
                im->keep = kp;
            if (!ix || !kp)
                IT_FAIL_TOOL(IT_E_NOMEM, "out of memory");
            im->cap = nt;
        }
        if (k + nt > keep->n)
            IT_FAIL_TOOL(IT_E_FORMAT, "%s: the keep masks end inside window %zu", where, wi);
        if (wi > 0 && im->sep >= 0 && (p >= ids->n || arr_get(ids, p++) != im->sep))
            IT_FAIL_TOOL(IT_E_FORMAT, "%s: no --window-sep %" PRId64 " before window %zu", where, im->sep, wi);
        uint64_t count = 0;
        for (uint64_t i = 0; i < nt; i++) {
            const int64_t m = arr_get(keep, k + i);
            if (m != 0 && m != 1)
                IT_FAIL_TOOL(IT_E_FORMAT, "%s: window %zu: keep value %" PRId64 " is not 0 or 1", where, wi, m);
            im->keep[i] = (uint8_t)m;
            im->indices[i] = 0; /* dropped positions: never read by the decoder */
            if (!m)
                continue;
            if (p >= ids->n)
                IT_FAIL_TOOL(IT_E_FORMAT, "%s: the ids end inside window %zu", where, wi);
            const int64_t t = arr_get(ids, p++) - im->offset;
            if (t < 0 || t >= IT_STREAM_CODEBOOK)
                IT_FAIL_TOOL(IT_E_FORMAT, "%s: window %zu: id %" PRId64 " is not a token (vocab offset %" PRId64 ")",
                             where, wi, t + im->offset, im->offset);
            im->indices[i] = (uint16_t)t;
            count++;
        }
        k += nt;
        if (count != (uint64_t)kept || (s == IT_STRATEGY_NONE && count != nt))
            IT_FAIL_TOOL(IT_E_FORMAT, "%s: window %zu: the mask keeps %" PRIu64 " tokens, the record says %lld", where,
                         wi, count, (long long)kept);
        r.video_id = id;
        r.video_ordinal = ordinal;
        r.window_index = (uint32_t)wi;
        r.first_frame = first;
        r.fps = fps;
        r.elbo_mean = (float)elbo;
        r.strategy = (uint8_t)s;
        r.rate = s == IT_STRATEGY_NONE ? 0.0f : (float)rate;
        r.kept = s == IT_STRATEGY_NONE ? 0 : (uint32_t)kept;
        r.indices = im->indices;
        r.keep = s == IT_STRATEGY_NONE ? NULL : im->keep;
        r.elbo = NULL; /* an export has no ELBO maps: the shard is slim */
        if ((rc = it_shard_write_window(im->w, &r)) < 0)
            goto done;
        im->windows++;
    }
    if (im->eod >= 0 && (p >= ids->n || arr_get(ids, p++) != im->eod))
        IT_FAIL_TOOL(IT_E_FORMAT, "%s: the ids do not end with --eod %" PRId64, where, im->eod);
    if (p != ids->n || k != keep->n)
        IT_FAIL_TOOL(IT_E_FORMAT, "%s: %" PRIu64 " ids and %" PRIu64 " mask values are left over after the windows",
                     where, ids->n - p, keep->n - k);
    rc = it_shard_write_video_end(im->w, ej);
    im->videos++;
done:
    json_decref(o);
    json_decref(wins);
    json_decref(end);
    free(vj);
    free(ej);
    return rc;
}

/* Lines of a videos.jsonl, one at a time (NUL-terminated in place). */
static char *next_line(char **cur, char *end)
{
    if (*cur >= end)
        return NULL;
    char *s = *cur, *nl = memchr(s, '\n', (size_t)(end - s));
    if (!nl)
        nl = end;
    *nl = '\0';
    *cur = nl + 1;
    return s;
}

/* A data file (tokens, keep masks, offsets, a Megatron .idx/.bin) mapped read-only: an export
 * shard can be far larger than memory, and an import reads each sequence once, in order, so
 * the kernel pages it in and drops it as it goes. Release with unmap_data. */
static const unsigned char empty_file[1];
static int map_data(const char *path, const unsigned char **buf, size_t *n)
{
    *buf = NULL;
    *n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return it_error_set(errno == ENOENT ? IT_E_NOTFOUND : IT_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = it_error_set(IT_E_IO, "%s: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = it_error_set(IT_E_IO, "%s: not a regular file", path);
    else if (st.st_size == 0)
        *buf = empty_file;
    else if ((uintmax_t)st.st_size > SIZE_MAX)
        rc = it_error_set(IT_E_IO, "%s: too large to map", path);
    else {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            rc = it_error_set(IT_E_IO, "%s: cannot map %lld bytes: %s", path, (long long)st.st_size, strerror(errno));
        else {
            madvise(m, (size_t)st.st_size, MADV_SEQUENTIAL);
            *buf = m;
            *n = (size_t)st.st_size;
        }
    }
    close(fd);
    return rc;
}

static void unmap_data(const unsigned char *buf, size_t n)
{
    if (buf && buf != empty_file)
        munmap((void *)buf, n);
}

static int read_offsets(const char *path, uint64_t videos, uint64_t total, const unsigned char **buf, size_t *nbuf,
                        arr *a)
{
    int rc = map_data(path, buf, nbuf);
    size_t n = *nbuf;
    if (rc == 0)
        rc = parse_npy(*buf, n, path, a);
    if (rc == 0 && (a->n != videos + 1 || a->item != 8))
        rc = it_error_set(IT_E_FORMAT, "%s: %" PRIu64 " int64 offsets expected, %" PRIu64 " found", path, videos + 1,
                          a->n);
    for (uint64_t i = 0; rc == 0 && i < a->n; i++)
        if (arr_get(a, i) < (i ? arr_get(a, i - 1) : 0) || (uint64_t)arr_get(a, i) > total ||
            (i == a->n - 1 && (uint64_t)arr_get(a, i) != total))
            rc = it_error_set(IT_E_FORMAT, "%s: offset %" PRIu64 " is out of order or range", path, i);
    return rc;
}

static int import_npy(importer *im, const char *stem)
{
    char p[5][4096];
    const char *ext[5] = {".videos.jsonl", ".tokens.npy", ".offsets.npy", ".keep.npy", ".keep_offsets.npy"};
    for (int i = 0; i < 5; i++)
        snprintf(p[i], sizeof p[i], "%s%s", stem, ext[i]);
    unsigned char *jl = NULL; /* the video lines: read whole (small; next_line writes into it) */
    const unsigned char *b[5] = {0};
    size_t n[5] = {0}, nj = 0;
    arr tok, off, keep, koff;
    int rc = slurp(p[0], &jl, &nj);
    uint64_t videos = 0;
    for (size_t i = 0; rc == 0 && i < nj; i++)
        videos += jl[i] == '\n';
    if (rc == 0 && (rc = map_data(p[1], &b[1], &n[1])) == 0 && (rc = parse_npy(b[1], n[1], p[1], &tok)) == 0 &&
        (rc = map_data(p[3], &b[3], &n[3])) == 0 && (rc = parse_npy(b[3], n[3], p[3], &keep)) == 0 &&
        (rc = read_offsets(p[2], videos, tok.n, &b[2], &n[2], &off)) == 0)
        rc = read_offsets(p[4], videos, keep.n, &b[4], &n[4], &koff);
    char *cur = (char *)jl, *line;
    for (uint64_t v = 0; rc == 0 && (line = next_line(&cur, (char *)jl + nj)); v++) {
        char where[4200];
        snprintf(where, sizeof where, "%s line %" PRIu64, p[0], v + 1);
        const uint64_t t0 = (uint64_t)arr_get(&off, v), k0 = (uint64_t)arr_get(&koff, v);
        arr ids = {tok.data + t0 * tok.item, (uint64_t)arr_get(&off, v + 1) - t0, tok.item, tok.is_signed};
        arr km = {keep.data + k0, (uint64_t)arr_get(&koff, v + 1) - k0, 1, 0};
        rc = import_video(im, line, strlen(line), &ids, &km, where);
    }
    for (int i = 1; i < 5; i++)
        unmap_data(b[i], n[i]);
    free(jl);
    return rc;
}

/* A Megatron indexed dataset: its sequences as arrays over the mapped data. */
typedef struct mm_set {
    const unsigned char *idx, *bin;
    size_t nidx, nbin;
    uint64_t seqs;
    const unsigned char *len, *ptr;
    int item, is_signed;
} mm_set;

static int mm_open(mm_set *m, const char *stem, const char *ext)
{
    char pi[4096], pb[4096];
    snprintf(pi, sizeof pi, "%s%s.idx", stem, ext);
    snprintf(pb, sizeof pb, "%s%s.bin", stem, ext);
    int rc = map_data(pi, &m->idx, &m->nidx);
    if (rc == 0)
        rc = map_data(pb, &m->bin, &m->nbin);
    if (rc < 0)
        return rc;
    const unsigned char *h = m->idx;
    if (m->nidx < 34 || memcmp(h, "MMIDIDX\0\0", 9) != 0 || h[9] != 1 || memcmp(h + 10, "\0\0\0\0\0\0\0", 7) != 0)
        return it_error_set(IT_E_FORMAT, "%s: not a Megatron index (MMIDIDX version 1)", pi);
    arr hdr = {h + 18, 2, 8, 0};
    m->seqs = (uint64_t)arr_get(&hdr, 0);
    const uint64_t docs = (uint64_t)arr_get(&hdr, 1);
    static const int item[9] = {0, 1, 1, 2, 4, 8, 8, 4, 2};
    if (h[17] != 1 && h[17] != 4 && h[17] != 8)
        return it_error_set(IT_E_FORMAT, "%s: dtype code %u is not uint8, int32 or uint16", pi, (unsigned)h[17]);
    m->item = item[h[17]];
    m->is_signed = h[17] == 4;
    if (m->seqs > m->nidx / 20 || docs != m->seqs + 1 || 34 + m->seqs * 12 + docs * 8 != m->nidx)
        return it_error_set(IT_E_FORMAT, "%s: %" PRIu64 " sequences and %" PRIu64 " documents do not fit %zu bytes "
                            "(one document a sequence expected)", pi, m->seqs, docs, m->nidx);
    m->len = h + 34;
    m->ptr = m->len + 4 * m->seqs;
    return 0;
}

static int mm_seq(const mm_set *m, uint64_t i, const char *stem, arr *out)
{
    arr L = {m->len, m->seqs, 4, 1}, P = {m->ptr, m->seqs, 8, 1};
    const int64_t n = arr_get(&L, i), at = arr_get(&P, i);
    if (n < 0 || at < 0 || (uint64_t)at % m->item || (uint64_t)at > m->nbin || (uint64_t)n > (m->nbin - at) / m->item)
        return it_error_set(IT_E_FORMAT, "%s: sequence %" PRIu64 " (%" PRId64 " at byte %" PRId64 ") is outside the "
                            "data file", stem, i, n, at);
    *out = (arr){m->bin + at, (uint64_t)n, m->item, m->is_signed};
    return 0;
}

static int import_megatron(importer *im, const char *stem)
{
    mm_set tok = {0}, keep = {0};
    char pj[4096];
    snprintf(pj, sizeof pj, "%s.videos.jsonl", stem);
    unsigned char *jl = NULL;
    size_t nj = 0;
    int rc = mm_open(&tok, stem, "");
    if (rc == 0)
        rc = mm_open(&keep, stem, ".keep");
    if (rc == 0)
        rc = slurp(pj, &jl, &nj);
    if (rc == 0 && (keep.seqs != tok.seqs || keep.item != 1))
        rc = it_error_set(IT_E_FORMAT, "%s: the keep dataset does not match the tokens (%" PRIu64 " vs %" PRIu64
                          " sequences)", stem, keep.seqs, tok.seqs);
    char *cur = (char *)jl, *line;
    uint64_t v = 0;
    for (; rc == 0 && (line = next_line(&cur, (char *)jl + nj)); v++) {
        char where[4200];
        snprintf(where, sizeof where, "%s line %" PRIu64, pj, v + 1);
        arr ids, km;
        if (v >= tok.seqs)
            rc = it_error_set(IT_E_FORMAT, "%s: more lines than the %" PRIu64 " sequences", pj, tok.seqs);
        else if ((rc = mm_seq(&tok, v, stem, &ids)) == 0 && (rc = mm_seq(&keep, v, stem, &km)) == 0)
            rc = import_video(im, line, strlen(line), &ids, &km, where);
    }
    if (rc == 0 && v != tok.seqs)
        rc = it_error_set(IT_E_FORMAT, "%s: %" PRIu64 " lines for %" PRIu64 " sequences", pj, v, tok.seqs);
    unmap_data(tok.idx, tok.nidx);
    unmap_data(tok.bin, tok.nbin);
    unmap_data(keep.idx, keep.nidx);
    unmap_data(keep.bin, keep.nbin);
    free(jl);
    return rc;
}

/* A webdataset tar: members KEY.json, KEY.tokens.npy, KEY.keep.npy (and KEY.txt) together. */
static int import_wds(importer *im, const char *tar)
{
    struct archive *a = archive_read_new();
    if (!a)
        return it_error_set(IT_E_NOMEM, "out of memory");
    archive_read_support_format_tar(a);
    int rc = 0;
    if (archive_read_open_filename(a, tar, 65536) != ARCHIVE_OK) {
        rc = it_error_set(IT_E_IO, "%s: %s", tar, archive_error_string(a));
        archive_read_free(a);
        return rc;
    }
    char key[512] = "";
    unsigned char *part[3] = {0}; /* json, tokens, keep */
    size_t plen[3] = {0};
    struct archive_entry *e;
    for (;;) {
        int r = archive_read_next_header(a, &e);
        const char *name = r == ARCHIVE_OK ? archive_entry_pathname(e) : NULL;
        const char *dot = name ? strchr(name, '.') : NULL;
        const size_t kl = dot ? (size_t)(dot - name) : 0;
        const int same = name && dot && kl == strlen(key) && strncmp(name, key, kl) == 0;
        if (key[0] && !same) { /* the previous sample is complete */
            char where[1200];
            snprintf(where, sizeof where, "%s: %s", tar, key);
            arr ids, km;
            if (!part[0] || !part[1] || !part[2])
                rc = it_error_set(IT_E_FORMAT, "%s: missing .json, .tokens.npy or .keep.npy", where);
            else if ((rc = parse_npy(part[1], plen[1], where, &ids)) == 0 &&
                     (rc = parse_npy(part[2], plen[2], where, &km)) == 0)
                rc = import_video(im, (const char *)part[0], plen[0], &ids, &km, where);
            for (int i = 0; i < 3; i++) {
                free(part[i]);
                part[i] = NULL;
            }
            key[0] = '\0';
            if (rc < 0)
                break;
        }
        if (r == ARCHIVE_EOF)
            break;
        if (r != ARCHIVE_OK) {
            rc = it_error_set(IT_E_FORMAT, "%s: %s", tar, archive_error_string(a));
            break;
        }
        if (!dot || kl == 0 || kl >= sizeof key) {
            rc = it_error_set(IT_E_FORMAT, "%s: member \"%s\" is not KEY.EXT", tar, name);
            break;
        }
        memcpy(key, name, kl);
        key[kl] = '\0';
        int which = strcmp(dot, ".json") == 0 ? 0 : strcmp(dot, ".tokens.npy") == 0 ? 1
                  : strcmp(dot, ".keep.npy") == 0 ? 2 : -1;
        if (which < 0)
            continue; /* .txt and other passthrough members */
        const la_int64_t size = archive_entry_size(e);
        if (part[which] || size < 0 || size > (la_int64_t)1 << 32) {
            rc = it_error_set(IT_E_FORMAT, "%s: member %s is repeated or too large", tar, name);
            break;
        }
        if (!(part[which] = malloc((size_t)size + 1))) {
            rc = it_error_set(IT_E_NOMEM, "out of memory");
            break;
        }
        plen[which] = (size_t)size;
        if (archive_read_data(a, part[which], (size_t)size) != (la_ssize_t)size) {
            rc = it_error_set(IT_E_FORMAT, "%s: member %s is truncated", tar, name);
            break;
        }
    }
    for (int i = 0; i < 3; i++)
        free(part[i]);
    archive_read_free(a);
    return rc;
}

int pack_import(int argc, char **argv)
{
    enum { OPT_VERSION = OPT_TOOL_FIRST };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'}, {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION}, {NULL, 0, NULL, 0}};
    const char *prefix = NULL;
    int c, quiet = 0, status = EXIT_OK;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': prefix = optarg; break;
        case 'q': quiet = 1; break;
        case 'v': it_log_set_level(IT_LOG_DEBUG); break;
        case 'h': fputs(pack_usage(), stdout); return EXIT_OK;
        case OPT_VERSION: print_version(); return EXIT_OK;
        case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
        default: return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (!prefix)
        return usage_error("no output: give -o PREFIX");
    if (optind + 1 != argc)
        return usage_error("import takes one export: its PREFIX.export.json");
    const char *desc = argv[optind];
    json_error_t je;
    json_t *d = json_load_file(desc, 0, &je);
    const char *kind = json_string_value(json_object_get(d, "kind"));
    json_t *shards = json_object_get(d, "shards"), *header = json_object_get(d, "header");
    importer im = {.offset = json_integer_value(json_object_get(d, "vocab_offset")), .bos = opt_id(d, "bos"),
                   .eod = opt_id(d, "eod"), .sep = opt_id(d, "window_sep")};
    char *hj = NULL, *name = NULL, *dir = NULL;
    int rc = 0;
    if (!d || json_integer_value(json_object_get(d, "version")) != 1 ||
        strcmp(json_string_value(json_object_get(d, "format")) ? json_string_value(json_object_get(d, "format")) : "",
               "infotok-export") != 0 ||
        !kind || !json_is_array(shards) || !json_is_object(header) || im.offset < 0) {
        print_error("%s: not an export description (PREFIX.export.json of it-pack export)%s%s", desc,
                    d ? "" : ": ", d ? "" : je.text);
        json_decref(d);
        return EXIT_FATAL;
    }
    /* shard names are relative to the description's directory */
    const char *slash = strrchr(desc, '/');
    dir = slash ? strndup(desc, (size_t)(slash - desc + 1)) : strdup("");
    hj = json_dumps(header, JSON_COMPACT | JSON_PRESERVE_ORDER);
    name = malloc(strlen(prefix) + 32);
    if (!dir || !hj || !name || make_parent_dirs(prefix) < 0) {
        print_error("%s: out of memory or cannot create the directory", prefix);
        status = EXIT_FATAL;
        goto done;
    }
    sprintf(name, "%s-00000" IT_SHARD_SUFFIX, prefix);
    struct stat st;
    if (stat(name, &st) == 0) {
        print_error("%s exists: give another prefix", name);
        status = EXIT_FATAL;
        goto done;
    }
    it_shard_write_opts o = {.slim = 1};
    if ((rc = it_shard_writer_new(&im.w, name, hj, &o)) < 0)
        goto fail;
    for (size_t i = 0; i < json_array_size(shards) && rc == 0; i++) {
        const char *s = json_string_value(json_array_get(shards, i));
        if (!s || strchr(s, '/')) {
            rc = it_error_set(IT_E_FORMAT, "%s: shard %zu is not a file name", desc, i);
            break;
        }
        char *path = malloc(strlen(dir) + strlen(s) + 1);
        if (!path) {
            rc = it_error_set(IT_E_NOMEM, "out of memory");
            break;
        }
        sprintf(path, "%s%s", dir, s);
        rc = strcmp(kind, "npy") == 0        ? import_npy(&im, path)
             : strcmp(kind, "megatron") == 0 ? import_megatron(&im, path)
             : strcmp(kind, "wds") == 0      ? import_wds(&im, path)
                                             : it_error_set(IT_E_FORMAT, "%s: kind \"%s\" is unknown", desc, kind);
        free(path);
    }
    if (rc == 0)
        rc = it_shard_writer_finish(&im.w);
fail:
    if (rc < 0) {
        print_lib_error(rc, "cannot import %s", desc);
        status = EXIT_FATAL;
    } else if (!quiet) {
        fprintf(stderr, "%s: imported %" PRIu64 " videos, %" PRIu64 " windows into %s (slim)\n", tool_name(),
                im.videos, im.windows, name);
    }
done:
    it_shard_writer_abort(&im.w);
    json_decref(d);
    free(hj);
    free(name);
    free(dir);
    free(im.indices);
    free(im.keep);
    return status;
}
