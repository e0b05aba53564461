/* stats_collect.c: it-stats' statistics of token records (counts, code usage, distributions,
 * the order-free token checksum), and their mergeable form (--partial, --merge). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "infotok/records.h"
#include "infotok/core.h"
#include "tools/common.h"
#include "tools/stats.h"

const char *const stats_moment_names[NMOM] = {"kept tokens per window", "kept tokens per video", "window rate",
                                              "window ELBO"};

int stats_init(stats *s)
{
    memset(s, 0, sizeof *s);
    s->h_kept.width = KEPT_BIN;
    s->h_elbo.width = ELBO_BIN;
    s->codes = calloc(CODES, sizeof *s->codes);
    return s->codes ? 0 : -1;
}

void stats_free(stats *s)
{
    for (size_t i = 0; i < s->nvid; i++)
        free(s->vids[i].path);
    free(s->vids);
    free(s->codes);
    free(s->win_kept);
    free(s->win_rate);
    free(s->win_elbo);
    free(s->h_kept.count);
    free(s->h_kept.sum);
    free(s->h_elbo.count);
    free(s->h_elbo.sum);
    memset(s, 0, sizeof *s);
}

static void mom_add(moments *m, double v)
{
    if (m->n == 0 || v < m->min)
        m->min = v;
    if (m->n == 0 || v > m->max)
        m->max = v;
    m->n++;
    m->sum += v;
    m->sumsq += v * v;
}

static void mom_merge(moments *m, const moments *o)
{
    if (!o->n)
        return;
    if (m->n == 0 || o->min < m->min)
        m->min = o->min;
    if (m->n == 0 || o->max > m->max)
        m->max = o->max;
    m->n += o->n;
    m->sum += o->sum;
    m->sumsq += o->sumsq;
}

static int fh_add(fixed_hist *h, double v, uint64_t count, double sum)
{
    size_t b = v > 0 ? (size_t)floor(v / h->width) : 0;
    if (b > 100000000)
        b = 100000000; /* a bound on hostile values */
    if (b >= h->n) {
        size_t n = b + 1 > 2 * h->n ? b + 1 : 2 * h->n;
        uint64_t *c = realloc(h->count, n * sizeof *c);
        double *s = c ? realloc(h->sum, n * sizeof *s) : NULL;
        if (c)
            h->count = c;
        if (s)
            h->sum = s;
        if (!s)
            return -1;
        memset(h->count + h->n, 0, (n - h->n) * sizeof *c);
        memset(h->sum + h->n, 0, (n - h->n) * sizeof *s);
        h->n = n;
    }
    h->count[b] += count;
    h->sum[b] += sum;
    return 0;
}

/* ---- collection ------------------------------------------------------------------------- */

/* n bytes of v, little-endian: the checksum is defined on bytes, whatever the host */
static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static int push_window(stats *s, const it_window_rec *r, video_row *v)
{
    if (s->nwin == s->capwin) {
        size_t cap = s->capwin ? 2 * s->capwin : 256;
        double *a = realloc(s->win_kept, cap * sizeof *a), *b = a ? realloc(s->win_rate, cap * sizeof *b) : NULL,
               *c = b ? realloc(s->win_elbo, cap * sizeof *c) : NULL;
        if (a)
            s->win_kept = a;
        if (b)
            s->win_rate = b;
        if (c)
            s->win_elbo = c;
        if (!c)
            return -1;
        s->capwin = cap;
    }
    const size_t nt = (size_t)r->lt * r->lh * r->lw;
    uint64_t kept = 0;
    /* an order-free checksum: the sum of every window's hash of its identity and kept tokens */
    unsigned char le[8];
    put_le(le, r->video_id, 8);
    uint64_t h = it_fnv1a64(IT_FNV1A64_INIT, le, 8);
    put_le(le, r->window_index, 4);
    h = it_fnv1a64(h, le, 4);
    for (size_t i = 0; i < nt; i++)
        if (!r->keep || r->keep[i]) {
            s->codes[r->indices[i]]++;
            kept++;
            put_le(le, i, 4);
            put_le(le + 4, r->indices[i], 2);
            h = it_fnv1a64(h, le, 6);
        }
    s->checksum += h;
    s->win_kept[s->nwin] = (double)kept;
    s->win_rate[s->nwin] = (double)kept / (double)nt;
    s->win_elbo[s->nwin] = r->elbo_mean;
    mom_add(&s->mom[M_WIN_KEPT], (double)kept);
    mom_add(&s->mom[M_RATE], s->win_rate[s->nwin]);
    mom_add(&s->mom[M_ELBO], r->elbo_mean);
    int rb = (int)(s->win_rate[s->nwin] * RATE_BINS);
    s->h_rate[rb < 0 ? 0 : rb >= RATE_BINS ? RATE_BINS - 1 : rb]++;
    if (fh_add(&s->h_kept, (double)kept, 1, 0) < 0 ||
        fh_add(&s->h_elbo, r->elbo_mean, 1, s->win_rate[s->nwin]) < 0)
        return -1;
    s->nwin++;
    s->windows++;
    s->tokens += nt;
    s->kept += kept;
    v->windows++;
    v->tokens += nt;
    v->kept += kept;
    v->fps = r->fps;
    if (v->pixels == 0)
        v->pixels = (uint64_t)r->h * r->w; /* per frame, times the video's frames at its end */
    return 0;
}

static video_row *new_video(stats *s, const char *json)
{
    if (s->nvid == s->capvid) {
        size_t cap = s->capvid ? 2 * s->capvid : 64;
        video_row *p = realloc(s->vids, cap * sizeof *p);
        if (!p)
            return NULL;
        s->vids = p;
        s->capvid = cap;
    }
    video_row *v = &s->vids[s->nvid++];
    memset(v, 0, sizeof *v);
    json_error_t e;
    json_t *o = json_loads(json, 0, &e);
    const char *id = json_string_value(json_object_get(o, "id")), *path = json_string_value(json_object_get(o, "path"));
    snprintf(v->id, sizeof v->id, "%s", id ? id : "?");
    v->path = strdup(path ? path : "?");
    json_decref(o);
    return v;
}

static void end_video(stats *s, video_row *v, const char *json)
{
    /* readers have checked VIDEO_END already; a malformed one counts as a failed video */
    if (it_video_end_parse(json, "VIDEO_END", &v->ok, &v->frames, NULL, 0) < 0)
        v->ok = 0, v->frames = 0;
    v->pixels *= (uint64_t)(v->frames > 0 ? v->frames : 0);
    s->videos++;
    s->failed += !v->ok;
    if (v->ok)
        mom_add(&s->mom[M_VID_KEPT], (double)v->kept);
    s->frames += (uint64_t)(v->frames > 0 ? v->frames : 0);
    s->pixels += v->pixels;
    if (v->fps > 0)
        s->seconds += (double)v->frames / v->fps;
}

int stats_collect(stats *s, const char *path)
{
    it_record_reader *r = NULL;
    int rc = it_record_reader_open(&r, path), type;
    video_row *v = NULL;
    struct stat st;
    if (rc == 0 && strcmp(path, "-") != 0 && stat(path, &st) == 0)
        s->archive_bytes += (uint64_t)st.st_size;
    s->inputs++;
    while (rc >= 0 && (rc = it_record_next(r, &type)) == 1) {
        if (type == IT_REC_VIDEO) {
            if (!(v = new_video(s, it_record_json(r))))
                rc = it_error_set(IT_E_NOMEM, "out of memory");
        } else if (type == IT_REC_WINDOW && v) {
            if (push_window(s, it_record_window(r), v) < 0)
                rc = it_error_set(IT_E_NOMEM, "out of memory");
        } else if (type == IT_REC_VIDEO_END && v) {
            end_video(s, v, it_record_json(r));
            v = NULL;
        }
    }
    if (rc < 0)
        print_lib_error(rc, "cannot read %s", strcmp(path, "-") == 0 ? "stdin" : path);
    it_record_reader_free(&r);
    return rc < 0 ? -1 : 0;
}

/* ---- partial statistics: --partial writes them, --merge adds them up ------------------- */

static json_t *fh_json(const fixed_hist *h)
{
    json_t *a = json_array();
    for (size_t b = 0; b < h->n; b++)
        if (h->count[b])
            json_array_append_new(a, json_pack("[I,I,f]", (json_int_t)b, (json_int_t)h->count[b], h->sum[b]));
    return a;
}

int stats_write_partial(const stats *s, const char *path)
{
    char sum[32];
    snprintf(sum, sizeof sum, "%016" PRIx64, s->checksum);
    json_t *codes = json_array(), *moms = json_object(), *rates = json_array(), *vids = json_array();
    for (int i = 0; i < CODES; i++)
        if (s->codes[i])
            json_array_append_new(codes, json_pack("[i,I]", i, (json_int_t)s->codes[i]));
    for (int k = 0; k < NMOM; k++)
        json_object_set_new(moms, stats_moment_names[k], json_pack("[I,f,f,f,f]", (json_int_t)s->mom[k].n, s->mom[k].sum,
                                                          s->mom[k].sumsq, s->mom[k].min, s->mom[k].max));
    for (int b = 0; b < RATE_BINS; b++)
        json_array_append_new(rates, json_integer((json_int_t)s->h_rate[b]));
    for (size_t i = 0; i < s->nvid; i++) {
        const video_row *v = &s->vids[i];
        json_array_append_new(vids, json_pack("[s,b,I,I,I,I,I,f,s]", v->id, v->ok, (json_int_t)v->windows,
                                              (json_int_t)v->frames, (json_int_t)v->tokens, (json_int_t)v->kept,
                                              (json_int_t)v->pixels, v->fps, v->path));
    }
    json_t *o = json_pack("{s:s, s:i, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:f, s:s, s:o, s:o, s:o, s:o, "
                          "s:o, s:o}",
                          "format", "it-stats-partial", "version", 1, "counts", "inputs", (json_int_t)s->inputs,
                          "archive_bytes", (json_int_t)s->archive_bytes, "videos", (json_int_t)s->videos, "failed",
                          (json_int_t)s->failed, "windows", (json_int_t)s->windows, "frames", (json_int_t)s->frames,
                          "pixels", (json_int_t)s->pixels, "tokens", (json_int_t)s->tokens, "kept",
                          (json_int_t)s->kept, "seconds", s->seconds, "checksum", sum, "codes", codes, "moments", moms,
                          "rate_bins", rates, "kept_bins", fh_json(&s->h_kept), "elbo_bins", fh_json(&s->h_elbo),
                          "videos", vids);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = o && json_dump_file(o, tmp, JSON_COMPACT | JSON_REAL_PRECISION(17)) == 0 && rename(tmp, path) == 0 ? 0 : -1;
    json_decref(o);
    if (rc < 0) {
        print_error("%s: cannot write: %s", path, strerror(errno));
        remove(tmp);
    }
    return rc;
}

static int bad_partial(const char *path, const char *what)
{
    print_error("%s: not it-stats partial statistics (%s)", path, what);
    return -1;
}

static int fh_merge(fixed_hist *h, json_t *a, const char *path)
{
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        json_int_t b = -1, n = -1;
        double sum = 0;
        if (json_unpack(e, "[I,I,F]", &b, &n, &sum) != 0 || b < 0 || b > 100000000 || n < 0)
            return bad_partial(path, "a histogram bin");
        if (fh_add(h, ((double)b + 0.5) * h->width, (uint64_t)n, sum) < 0)
            return -1;
    }
    return 0;
}

int stats_merge_partial(stats *s, const char *path)
{
    json_error_t err;
    json_t *o = json_load_file(path, 0, &err), *counts, *codes, *moms, *rates, *kb, *eb, *vids;
    const char *fmt = NULL, *sum = NULL;
    json_int_t version = 0, c[9];
    double seconds = 0;
    int rc = -1;
    if (!o)
        return bad_partial(path, err.text);
    if (json_unpack(o, "{s:s, s:I, s:o, s:F, s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "format", &fmt, "version", &version,
                    "counts", &counts, "seconds", &seconds, "checksum", &sum, "codes", &codes, "moments", &moms,
                    "rate_bins", &rates, "kept_bins", &kb, "elbo_bins", &eb, "videos", &vids) != 0 ||
        strcmp(fmt, "it-stats-partial") != 0 || version != 1) {
        rc = bad_partial(path, "format or version");
        goto done;
    }
    if (json_unpack(counts, "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "inputs", &c[0], "archive_bytes", &c[1],
                    "videos", &c[2], "failed", &c[3], "windows", &c[4], "frames", &c[5], "pixels", &c[6], "tokens",
                    &c[7], "kept", &c[8]) != 0) {
        rc = bad_partial(path, "counts");
        goto done;
    }
    for (int i = 0; i < 9; i++)
        if (c[i] < 0) {
            rc = bad_partial(path, "a negative count");
            goto done;
        }
    s->inputs += (uint64_t)c[0];
    s->archive_bytes += (uint64_t)c[1];
    s->videos += (uint64_t)c[2];
    s->failed += (uint64_t)c[3];
    s->windows += (uint64_t)c[4];
    s->frames += (uint64_t)c[5];
    s->pixels += (uint64_t)c[6];
    s->tokens += (uint64_t)c[7];
    s->kept += (uint64_t)c[8];
    s->seconds += seconds;
    char *end = NULL;
    uint64_t ck = strtoull(sum, &end, 16);
    if (strlen(sum) != 16 || *end) {
        rc = bad_partial(path, "checksum");
        goto done;
    }
    s->checksum += ck;
    size_t i;
    json_t *e;
    json_array_foreach(codes, i, e) {
        json_int_t idx = -1, n = -1;
        if (json_unpack(e, "[I,I]", &idx, &n) != 0 || idx < 0 || idx >= CODES || n < 0) {
            rc = bad_partial(path, "a code count");
            goto done;
        }
        s->codes[idx] += (uint64_t)n;
    }
    for (int k = 0; k < NMOM; k++) {
        json_int_t n = -1;
        moments m = {0};
        if (json_unpack(json_object_get(moms, stats_moment_names[k]), "[I,F,F,F,F]", &n, &m.sum, &m.sumsq, &m.min, &m.max) != 0 ||
            n < 0) {
            rc = bad_partial(path, "moments");
            goto done;
        }
        m.n = (uint64_t)n;
        mom_merge(&s->mom[k], &m);
    }
    if (json_array_size(rates) != RATE_BINS) {
        rc = bad_partial(path, "rate bins");
        goto done;
    }
    for (int b = 0; b < RATE_BINS; b++)
        s->h_rate[b] += (uint64_t)json_integer_value(json_array_get(rates, (size_t)b));
    if (fh_merge(&s->h_kept, kb, path) < 0 || fh_merge(&s->h_elbo, eb, path) < 0)
        goto done;
    json_array_foreach(vids, i, e) {
        const char *id = NULL, *vpath = NULL;
        int ok = 0;
        json_int_t w = 0, f = 0, t = 0, k = 0, px = 0;
        double fps = 0;
        if (json_unpack(e, "[s,b,I,I,I,I,I,F,s]", &id, &ok, &w, &f, &t, &k, &px, &fps, &vpath) != 0) {
            rc = bad_partial(path, "a video row");
            goto done;
        }
        video_row *v = new_video(s, "{}");
        if (!v)
            goto done;
        snprintf(v->id, sizeof v->id, "%s", id);
        free(v->path);
        v->path = strdup(vpath);
        v->ok = ok;
        v->windows = (uint32_t)w;
        v->frames = f;
        v->tokens = (uint64_t)t;
        v->kept = (uint64_t)k;
        v->pixels = (uint64_t)px;
        v->fps = fps;
    }
    rc = 0;
done:
    json_decref(o);
    return rc;
}

