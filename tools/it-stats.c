/* it-stats: what token records cost and keep, in the style of samtools stats: a header, then
 * TAB-separated sections each line of which starts with its section code (grep ^SN). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
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
#include "quality.h"
#include "rate.h"
#include "tools/common.h"
#include "tools/stats_plot.h"

#define CODES 64000

static const char usage_text[] =
    "Usage: it-stats [options] INPUT...\n"
    "Statistics of InfoTok token records (token streams or shards; '-' for stdin).\n"
    "\n"
    "Options:\n"
    "      --format F             tsv (samtools-stats style sections) or json [tsv]\n"
    "      --check                only check that every input reads completely; one line each,\n"
    "                             exit status 1 if any is damaged or incomplete\n"
    "      --psnr                 decode and compare with the source videos: PSNR (TokenBench:\n"
    "                             mean over videos; and of the pooled MSE) and SSIM\n"
    "      --rates LIST           with --psnr: re-allocate at each average rate (e.g.\n"
    "                             1,0.75,0.5,0.25) instead of using the records' masks\n"
    "      --strategy LIST        with --rates: static, elbo and/or global_elbo [static]\n"
    "                             (both lists: comma-separated, or the option repeated)\n"
    "      --no-ssim              with --psnr: skip SSIM (the slow part)\n"
    "      --plot DIR             write SVG figures into DIR\n"
    "      --partial FILE         also write mergeable statistics to FILE (a task's share)\n"
    "      --merge                the inputs are --partial files: report their sum (moments\n"
    "                             and fixed-bin histograms; no quantiles), as if run on all\n"
    "      --checkpoint FILE      model weights for --psnr [the bundled model]\n"
    "      --device DEV           cpu or cuda [cpu]\n"
    "  -@, --threads N            compute threads [1]\n"
    "  -q, --quiet                no progress messages\n"
    "  -v, --verbose              more messages\n"
    "  -h, --help                 show this help and exit\n"
    "      --version              show versions and exit\n"
    "\n"
    "Exit status: 0 ok, 1 some inputs damaged (--check) or some videos failed (to encode, or\n"
    "to compare with --psnr), 2 usage error, 3 fatal error.\n";

typedef struct video_row {
    char id[17];
    char *path;
    int ok;
    uint32_t windows;
    int64_t frames;
    uint64_t tokens, kept, pixels;
    double fps;
} video_row;

/* Moments of a distribution: mergeable exactly (n, min, max; sums in double). */
typedef struct moments { uint64_t n; double sum, sumsq, min, max; } moments;

/* A histogram with fixed bins [i*width, (i+1)*width), grown on demand: fixed bins are what
 * lets per-task statistics be merged (--partial / --merge) into exactly the whole corpus's. */
typedef struct fixed_hist { double width; uint64_t *count; double *sum; size_t n; } fixed_hist;

#define KEPT_BIN 16.0   /* kept tokens per window */
#define ELBO_BIN 0.01   /* window ELBO */
#define RATE_BINS 20    /* window rate over [0, 1] */

enum { M_WIN_KEPT, M_VID_KEPT, M_RATE, M_ELBO, NMOM };
static const char *const mom_names[NMOM] = {"kept tokens per window", "kept tokens per video", "window rate",
                                             "window ELBO"};

typedef struct stats {
    uint64_t inputs, archive_bytes, videos, failed, windows, frames, pixels, tokens, kept;
    double seconds;
    uint64_t *codes;            /* [CODES] kept-token counts */
    uint64_t checksum;
    moments mom[NMOM];
    fixed_hist h_kept, h_elbo;  /* h_elbo.sum: the windows' rates, for rate against ELBO */
    uint64_t h_rate[RATE_BINS];
    /* per window, for quantiles and the scatter plot (not in merged statistics) */
    double *win_kept, *win_rate, *win_elbo;
    size_t nwin, capwin;
    int merged;
    /* per video */
    video_row *vids;
    size_t nvid, capvid;
} stats;

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

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211u;
    }
    return h;
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
    uint64_t h = fnv(1469598103934665603u, &r->video_id, 8);
    h = fnv(h, &r->window_index, 4);
    for (size_t i = 0; i < nt; i++)
        if (!r->keep || r->keep[i]) {
            s->codes[r->indices[i]]++;
            kept++;
            uint32_t pos = (uint32_t)i;
            h = fnv(h, &pos, 4);
            h = fnv(h, &r->indices[i], 2);
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
    json_error_t e;
    json_t *o = json_loads(json, 0, &e);
    const char *st = json_string_value(json_object_get(o, "status"));
    v->ok = st && strcmp(st, "ok") == 0;
    v->frames = json_integer_value(json_object_get(o, "frames"));
    json_decref(o);
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

static int collect(stats *s, const char *path)
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

/* ---- summaries -------------------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Linear-interpolated quantile of a sorted array (numpy's default). */
static double quantile(const double *v, size_t n, double q)
{
    if (n == 0)
        return NAN;
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    return i + 1 < n ? v[i] + (v[i + 1] - v[i]) * (pos - (double)i) : v[n - 1];
}

typedef struct dist {
    double mean, min, p10, p50, p90, max;
    size_t n;
} dist;

static dist describe(const double *in, size_t n)
{
    dist d = {NAN, NAN, NAN, NAN, NAN, NAN, n};
    if (!n)
        return d;
    double *v = malloc(n * sizeof *v), sum = 0;
    if (!v)
        return d;
    memcpy(v, in, n * sizeof *v);
    qsort(v, n, sizeof *v, cmp_d);
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    d = (dist){sum / (double)n, v[0], quantile(v, n, 0.1), quantile(v, n, 0.5), quantile(v, n, 0.9), v[n - 1], n};
    free(v);
    return d;
}

/* ---- --psnr ----------------------------------------------------------------------------- */

typedef struct qconf {
    int strategy;        /* IT_STRATEGY_NONE: the records' own masks */
    float rate;
    it_quality pooled;
    double psnr_sum, ssim_sum;
    int psnr_inf;
    uint64_t videos, failed, tokens, kept;
    /* per compared video */
    double *vpsnr, *vssim;
    char (*vid)[17];
} qconf;

typedef struct qrun {
    qconf *c;
    it_model *m;
    it_video_decoder *dec;
    int overlap, ssim;
    it_video_opts vopts;
    it_video *src;
    uint8_t *srcbuf;
    int64_t src_index;      /* frames read from the source so far */
    it_quality q;
    char video_id[17];
    const char *video_path;
    int skip;               /* this video failed: its windows are passed over */
    uint64_t vtokens, vkept;
    it_elbo_stat stat;
    uint8_t *keep;
    size_t keep_cap;
} qrun;

static int compare_frame(void *user, int64_t index, int h, int w, const uint8_t *rgb)
{
    qrun *r = user;
    if (!r->src)
        return 0;
    if (it_video_width(r->src) != w || it_video_height(r->src) != h)
        return it_error_set(IT_E_FORMAT, "the source is %dx%d, the tokens %dx%d (other resize options?)",
                            it_video_width(r->src), it_video_height(r->src), w, h);
    while (r->src_index <= index) {
        double pts;
        int rc = it_video_read(r->src, r->srcbuf, &pts);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return it_error_set(IT_E_TRUNCATED, "the source has %" PRId64 " frames, the tokens more", r->src_index);
        r->src_index++;
    }
    it_quality_add_frame(&r->q, rgb, r->srcbuf, h, w, r->ssim);
    return 0;
}

static int parse_header(qrun *r, const char *json, const char *input)
{
    json_error_t e;
    json_t *h = json_loads(json, 0, &e);
    json_int_t ov = -1;
    const char *hash = NULL;
    int rc = 0;
    if (!h || json_unpack(h, "{s:{s:s}, s:{s:I}}", "model", "hash", &hash, "window", "overlap", &ov) != 0 || ov < 0)
        rc = it_error_set(IT_E_FORMAT, "%s: the header has no model hash or window overlap", input);
    else if (strcmp(hash, it_model_hash(r->m)) != 0)
        rc = it_error_set(IT_E_INVALID, "%s: made by the model with hash %s, not the one loaded (%s): give "
                          "the right --checkpoint", input, hash, it_model_hash(r->m));
    if (rc == 0) {
        json_t *rs = json_object_get(h, "resize");
        memset(&r->vopts, 0, sizeof r->vopts);
        if (json_is_object(rs)) {
            r->vopts.short_side = (int)json_integer_value(json_object_get(rs, "short_side"));
            json_t *crop = json_object_get(rs, "crop");
            if (json_is_array(crop) && json_array_size(crop) == 2) {
                r->vopts.crop_w = (int)json_integer_value(json_array_get(crop, 0));
                r->vopts.crop_h = (int)json_integer_value(json_array_get(crop, 1));
            }
        }
        if (r->dec && (int)ov != r->overlap)
            rc = it_error_set(IT_E_INVALID, "%s: window overlap differs from an earlier input's", input);
        else if (!r->dec) {
            r->overlap = (int)ov;
            rc = it_video_decoder_new(&r->dec, r->m, r->overlap);
        }
    }
    json_decref(h);
    return rc;
}

/* A video that cannot be compared (source missing or different, decoding failed) is reported
 * and left out, like a video it-encode could not read; out of memory stays fatal. */
static int video_failed(qrun *r, int rc)
{
    if (rc == IT_E_NOMEM)
        return rc;
    print_lib_error(rc, "--psnr: video %s (%s)", r->video_id, r->video_path);
    r->skip = 1;
    it_video_close(&r->src);
    return 0;
}

static int start_video(qrun *r, const char *json, char **path, char **member, const char *input)
{
    json_error_t e;
    json_t *o = json_loads(json, 0, &e);
    const char *p = json_string_value(json_object_get(o, "path"));
    const char *m = json_string_value(json_object_get(o, "member"));
    const char *id = json_string_value(json_object_get(o, "id"));
    free(*path);
    free(*member);
    *path = p ? strdup(p) : NULL;
    *member = m ? strdup(m) : NULL;
    snprintf(r->video_id, sizeof r->video_id, "%s", id ? id : "?");
    json_decref(o);
    memset(&r->q, 0, sizeof r->q);
    r->src_index = 0;
    r->skip = 0;
    r->vtokens = r->vkept = 0;
    r->video_path = *path ? *path : "?";
    it_video_close(&r->src);
    if (!*path)
        return it_error_set(IT_E_FORMAT, "%s: a VIDEO record without a path", input);
    it_source src = {*path, *member};
    int rc = it_video_open(&r->src, &src, &r->vopts);
    if (rc < 0)
        return video_failed(r, rc);
    free(r->srcbuf);
    r->srcbuf = malloc((size_t)it_video_width(r->src) * it_video_height(r->src) * 3);
    return r->srcbuf ? 0 : it_error_set(IT_E_NOMEM, "out of memory");
}

static int window(qrun *r, qconf *c, const it_window_rec *in)
{
    it_window_rec rec = *in;
    const size_t nt = (size_t)rec.lt * rec.lh * rec.lw;
    if (c->strategy != IT_STRATEGY_NONE) {
        if (nt > r->keep_cap) {
            uint8_t *k = realloc(r->keep, nt);
            if (!k)
                return it_error_set(IT_E_NOMEM, "out of memory");
            r->keep = k;
            r->keep_cap = nt;
        }
        rec.keep = NULL;
        float rate = it_rate_for_window(c->strategy, c->rate, rec.elbo_mean, it_elbo_stat_mean(&r->stat));
        int rc = it_rate_apply(&rec, c->strategy, rate, r->keep);
        if (rc < 0)
            return rc;
    }
    r->vtokens += nt;
    r->vkept += rec.keep ? rec.kept : nt;
    int rc = it_video_decoder_push(r->dec, &rec, compare_frame, r);
    return rc < 0 ? video_failed(r, rc) : 0;
}

static int end_video_q(qrun *r, qconf *c, const char *json)
{
    /* finish also resets the decoder after a failure (frames go nowhere: no source open) */
    int rc = it_video_decoder_finish(r->dec, compare_frame, r);
    if (rc < 0 && !r->skip && (rc = video_failed(r, rc)) < 0)
        return rc;
    it_video_close(&r->src);
    json_error_t e;
    json_t *o = json_loads(json, 0, &e);
    const char *st = json_string_value(json_object_get(o, "status"));
    const int encoded = st && strcmp(st, "ok") == 0;
    json_decref(o);
    if (r->skip) {
        c->failed++;
        return 0;
    }
    if (!encoded || r->q.frames == 0)
        return 0; /* it-encode failed on it: nothing to compare (counted in SN videos failed) */
    const double p = it_quality_psnr(&r->q);
    memcpy(c->vid[c->videos], r->video_id, sizeof r->video_id);
    c->vpsnr[c->videos] = p;
    c->vssim[c->videos] = it_quality_ssim(&r->q);
    c->videos++;
    if (isinf(p))
        c->psnr_inf = 1;
    else
        c->psnr_sum += p;
    c->ssim_sum += it_quality_ssim(&r->q);
    c->pooled.sse += r->q.sse;
    c->pooled.values += r->q.values;
    c->tokens += r->vtokens;
    c->kept += r->vkept;
    return 0;
}

static int quality_pass(qrun *r, qconf *c, char **inputs, int n, size_t nvid_total)
{
    r->c = c;
    const size_t nv = nvid_total ? nvid_total : 1;
    c->vpsnr = calloc(nv, sizeof *c->vpsnr);
    c->vssim = calloc(nv, sizeof *c->vssim);
    c->vid = calloc(nv, sizeof *c->vid);
    if (!c->vpsnr || !c->vssim || !c->vid)
        return it_error_set(IT_E_NOMEM, "out of memory");
    int rc = 0;
    char *path = NULL, *member = NULL;
    for (int i = 0; i < n && rc >= 0; i++) {
        it_record_reader *rd = NULL;
        int type;
        rc = it_record_reader_open(&rd, inputs[i]);
        while (rc >= 0 && (rc = it_record_next(rd, &type)) == 1) {
            if (type == IT_REC_HEADER)
                rc = parse_header(r, it_record_json(rd), it_record_reader_name(rd));
            else if (type == IT_REC_VIDEO)
                rc = start_video(r, it_record_json(rd), &path, &member, it_record_reader_name(rd));
            else if (type == IT_REC_WINDOW && !r->skip && r->dec)
                rc = window(r, c, it_record_window(rd));
            else if (type == IT_REC_VIDEO_END && r->dec)
                rc = end_video_q(r, c, it_record_json(rd));
        }
        if (rc < 0)
            print_lib_error(rc, "--psnr");
        it_record_reader_free(&rd);
    }
    free(path);
    free(member);
    it_video_close(&r->src);
    return rc < 0 ? rc : 0;
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

static int write_partial(const stats *s, const char *path)
{
    char sum[32];
    snprintf(sum, sizeof sum, "%016" PRIx64, s->checksum);
    json_t *codes = json_array(), *moms = json_object(), *rates = json_array(), *vids = json_array();
    for (int i = 0; i < CODES; i++)
        if (s->codes[i])
            json_array_append_new(codes, json_pack("[i,I]", i, (json_int_t)s->codes[i]));
    for (int k = 0; k < NMOM; k++)
        json_object_set_new(moms, mom_names[k], json_pack("[I,f,f,f,f]", (json_int_t)s->mom[k].n, s->mom[k].sum,
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

static int merge_partial(stats *s, const char *path)
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
        if (json_unpack(json_object_get(moms, mom_names[k]), "[I,F,F,F,F]", &n, &m.sum, &m.sumsq, &m.min, &m.max) != 0 ||
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

/* ---- output ----------------------------------------------------------------------------- */

static void fmt_db(char *buf, size_t n, double v)
{
    if (isinf(v))
        snprintf(buf, n, "inf");
    else if (isnan(v))
        snprintf(buf, n, "NA");
    else
        snprintf(buf, n, "%.4f", v);
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

typedef struct out {
    int json;
    json_t *root;
} out;

static void put_sn(out *o, const char *key, double v, const char *fmt)
{
    if (o->json) {
        json_object_set_new(json_object_get(o->root, "summary"), key, jnum(v));
        return;
    }
    printf("SN\t%s:\t", key);
    if (isnan(v))
        printf("NA\n");
    else if (isinf(v))
        printf("inf\n");
    else
        printf(fmt, v), printf("\n");
}

int main(int argc, char **argv)
{
    tool_init("it-stats");
    enum { OPT_FORMAT = 256, OPT_CHECK, OPT_PSNR, OPT_RATES, OPT_STRATEGY, OPT_NOSSIM, OPT_PLOT, OPT_PARTIAL,
           OPT_MERGE, OPT_CHECKPOINT, OPT_DEVICE, OPT_VERSION };
    static const struct option longopts[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"check", no_argument, NULL, OPT_CHECK},
        {"psnr", no_argument, NULL, OPT_PSNR},
        {"rates", required_argument, NULL, OPT_RATES},
        {"strategy", required_argument, NULL, OPT_STRATEGY},
        {"no-ssim", no_argument, NULL, OPT_NOSSIM},
        {"plot", required_argument, NULL, OPT_PLOT},
        {"partial", required_argument, NULL, OPT_PARTIAL},
        {"merge", no_argument, NULL, OPT_MERGE},
        {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"threads", required_argument, NULL, '@'},
        {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0}};
    int c, json = 0, check = 0, psnr = 0, ssim = 1, quiet = 0, status = EXIT_OK, merge = 0;
    const char *partial = NULL;
    const char *rates_arg = NULL, *strategy_arg = "static", *plot_dir = NULL, *checkpoint = NULL, *device = "cpu";
    static char rates_buf[1024], strategy_buf[1024];
    long threads = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "@:qvh", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_FORMAT:
            if (strcmp(optarg, "tsv") && strcmp(optarg, "json"))
                return usage_error("invalid value '%s' for --format: expected tsv or json", optarg);
            json = strcmp(optarg, "json") == 0;
            break;
        case OPT_CHECK: check = 1; break;
        case OPT_PSNR: psnr = 1; break;
        case OPT_RATES:
        case OPT_STRATEGY: {
            /* repeatable: the values join one comma list */
            char *buf = c == OPT_RATES ? rates_buf : strategy_buf;
            const char *name = c == OPT_RATES ? "--rates" : "--strategy";
            const size_t used = strlen(buf);
            if (used + strlen(optarg) + 2 > sizeof rates_buf)
                return usage_error("%s: too many values", name);
            snprintf(buf + used, sizeof rates_buf - used, "%s%s", used ? "," : "", optarg);
            if (c == OPT_RATES)
                rates_arg = rates_buf;
            else
                strategy_arg = strategy_buf;
            break;
        }
        case OPT_NOSSIM: ssim = 0; break;
        case OPT_PLOT: plot_dir = optarg; break;
        case OPT_PARTIAL: partial = optarg; break;
        case OPT_MERGE: merge = 1; break;
        case OPT_CHECKPOINT: checkpoint = optarg; break;
        case OPT_DEVICE: device = optarg; break;
        case '@': if (parse_int("--threads", optarg, 1, 1024, &threads) < 0) return EXIT_USAGE; break;
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
    if (rates_arg && !psnr)
        return usage_error("--rates needs --psnr");
    for (int i = optind; i < argc && psnr; i++)
        if (strcmp(argv[i], "-") == 0)
            return usage_error("--psnr reads its inputs more than once: give files, not stdin");
    if (merge && (psnr || check || partial))
        return usage_error("--merge reads statistics, not records: no --psnr, --check or --partial");
    if (strcmp(device, "cpu") != 0)
        return usage_error("--device %s: this build has only the cpu backend", device);

    /* --check: read everything, say which inputs are bad */
    if (check) {
        for (int i = optind; i < argc; i++) {
            it_record_reader *r = NULL;
            int rc = it_record_reader_open(&r, argv[i]), type;
            while (rc >= 0 && (rc = it_record_next(r, &type)) == 1)
                ;
            if (rc < 0) {
                printf("BAD\t%s\t%s\n", argv[i], it_error_message());
                status = EXIT_SOME_FAILED;
            } else {
                printf("ok\t%s\n", argv[i]);
            }
            it_record_reader_free(&r);
        }
        return status;
    }

    /* configurations for --psnr */
    qconf *confs = NULL;
    size_t nconf = 0;
    if (psnr) {
        if (!rates_arg) {
            confs = calloc(1, sizeof *confs);
            nconf = confs ? 1 : 0;
        } else {
            char *ss = strdup(strategy_arg), *save1 = NULL;
            for (char *sname = strtok_r(ss, ",", &save1); sname; sname = strtok_r(NULL, ",", &save1)) {
                int strategy;
                if (it_strategy_parse(sname, &strategy) < 0) {
                    free(ss);
                    free(confs);
                    return usage_error("%s", it_error_message());
                }
                char *rs = strdup(rates_arg), *save2 = NULL;
                for (char *rt = strtok_r(rs, ",", &save2); rt; rt = strtok_r(NULL, ",", &save2)) {
                    double v;
                    if (parse_double("--rates", rt, IT_RATE_MIN, IT_RATE_MAX, &v) < 0) {
                        free(rs);
                        free(ss);
                        free(confs);
                        return EXIT_USAGE;
                    }
                    qconf *p = realloc(confs, (nconf + 1) * sizeof *p);
                    if (!p)
                        return EXIT_FATAL;
                    confs = p;
                    memset(&confs[nconf], 0, sizeof *confs);
                    confs[nconf].strategy = strategy;
                    confs[nconf].rate = (float)v;
                    nconf++;
                }
                free(rs);
            }
            free(ss);
        }
    }

    stats s = {.h_kept = {.width = KEPT_BIN}, .h_elbo = {.width = ELBO_BIN}};
    qrun qr = {.ssim = ssim};
    s.codes = calloc(CODES, sizeof *s.codes);
    if (!s.codes)
        return EXIT_FATAL;
    s.merged = merge;
    for (int i = optind; i < argc; i++)
        if ((merge ? merge_partial(&s, argv[i]) : collect(&s, argv[i])) < 0) {
            status = EXIT_FATAL;
            goto done;
        }
    if (partial && write_partial(&s, partial) < 0) {
        status = EXIT_FATAL;
        goto done;
    }
    if (s.failed)
        status = EXIT_SOME_FAILED;

    if (psnr) {
        it_kernels_set_threads((int)threads);
        int rc = it_model_load(&qr.m, checkpoint ? checkpoint : it_default_model_path(), "cpu");
        if (rc < 0) {
            print_lib_error(rc, "cannot load the model");
            status = EXIT_FATAL;
            goto done;
        }
        for (size_t w = 0; w < s.nwin; w++)
            it_elbo_stat_add(&qr.stat, (float)s.win_elbo[w]);
        for (size_t k = 0; k < nconf; k++) {
            if (!quiet && nconf > 1)
                fprintf(stderr, "%s: --psnr %s at %g\n", tool_name(),
                        confs[k].strategy ? it_strategy_name(confs[k].strategy) : "as stored", (double)confs[k].rate);
            if (quality_pass(&qr, &confs[k], argv + optind, argc - optind, s.nvid) < 0) {
                status = EXIT_FATAL;
                goto done;
            }
            if (confs[k].failed)
                status = EXIT_SOME_FAILED;
        }
    }

    /* ---- report ---- */
    out o = {json, json ? json_object() : NULL};
    char cmd[4096] = "";
    for (int i = 0; i < argc; i++) {
        strncat(cmd, argv[i], sizeof cmd - strlen(cmd) - 2);
        if (i + 1 < argc)
            strncat(cmd, " ", sizeof cmd - strlen(cmd) - 1);
    }
    const double bits_per_token = log2((double)CODES);
    uint64_t used = 0;
    double entropy = 0;
    for (int i = 0; i < CODES; i++)
        if (s.codes[i]) {
            used++;
            double p = (double)s.codes[i] / (double)s.kept;
            entropy -= p * log2(p);
        }
    double means[NMOM];
    for (int k = 0; k < NMOM; k++)
        means[k] = s.mom[k].n ? s.mom[k].sum / (double)s.mom[k].n : NAN;
    char sum[32];
    snprintf(sum, sizeof sum, "%016" PRIx64, s.checksum);
    if (json) {
        json_object_set_new(o.root, "tool", json_string("it-stats"));
        json_object_set_new(o.root, "version", json_string(it_version()));
        json_object_set_new(o.root, "command", json_string(cmd));
        json_object_set_new(o.root, "summary", json_object());
    } else {
        printf("# This file was produced by it-stats (infotok %s) and can be plotted with --plot.\n", it_version());
        printf("# The command line was: %s\n", cmd);
        printf("# Summary numbers. Use `grep ^SN | cut -f 2-` to extract this part.\n");
    }
    put_sn(&o, "inputs", (double)s.inputs, "%.0f");
    put_sn(&o, "videos", (double)s.videos, "%.0f");
    put_sn(&o, "videos failed", (double)s.failed, "%.0f");
    put_sn(&o, "windows", (double)s.windows, "%.0f");
    put_sn(&o, "frames", (double)s.frames, "%.0f");
    put_sn(&o, "seconds of video", s.seconds, "%.3f");
    put_sn(&o, "pixels", (double)s.pixels, "%.0f");
    put_sn(&o, "tokens (full rate)", (double)s.tokens, "%.0f");
    put_sn(&o, "tokens kept", (double)s.kept, "%.0f");
    put_sn(&o, "average rate", s.tokens ? (double)s.kept / (double)s.tokens : NAN, "%.6f");
    put_sn(&o, "codebook size", CODES, "%.0f");
    put_sn(&o, "bits per token", bits_per_token, "%.4f");
    put_sn(&o, "bits per pixel", s.pixels ? (double)s.kept * bits_per_token / (double)s.pixels : NAN, "%.6f");
    put_sn(&o, "tokens per second of video", s.seconds > 0 ? (double)s.kept / s.seconds : NAN, "%.1f");
    put_sn(&o, "archive bytes", (double)s.archive_bytes, "%.0f");
    put_sn(&o, "archive bytes per kept token", s.kept ? (double)s.archive_bytes / (double)s.kept : NAN, "%.4f");
    put_sn(&o, "codes used", (double)used, "%.0f");
    put_sn(&o, "codes unused", (double)(CODES - used), "%.0f");
    put_sn(&o, "code entropy (bits)", s.kept ? entropy : NAN, "%.4f");
    put_sn(&o, "code perplexity", s.kept ? pow(2, entropy) : NAN, "%.1f");
    put_sn(&o, "kept tokens per window, mean", means[M_WIN_KEPT], "%.2f");
    put_sn(&o, "kept tokens per video, mean", means[M_VID_KEPT], "%.2f");
    put_sn(&o, "window rate, mean", means[M_RATE], "%.6f");
    put_sn(&o, "window ELBO, mean", means[M_ELBO], "%.6f");
    if (json)
        json_object_set_new(json_object_get(o.root, "summary"), "token checksum", json_string(sum));
    else
        printf("SN\ttoken checksum:\t%s\n", sum);

    /* distributions: moments (DM, mergeable), quantiles (DQ, not in merged statistics) */
    if (!json)
        printf("# Distributions. Use `grep ^DM | cut -f 2-`: name, n, mean, standard deviation, min, max.\n");
    for (int k = 0; k < NMOM; k++) {
        const moments *m = &s.mom[k];
        const double mean = means[k];
        const double var = m->n ? m->sumsq / (double)m->n - mean * mean : NAN;
        const double sd = m->n ? sqrt(var > 0 ? var : 0) : NAN;
        if (json)
            json_object_set_new(o.root, mom_names[k],
                                json_pack("{s:I, s:o, s:o, s:o, s:o}", "n", (json_int_t)m->n, "mean", jnum(mean), "sd",
                                          jnum(sd), "min", jnum(m->n ? m->min : NAN), "max", jnum(m->n ? m->max : NAN)));
        else
            printf("DM\t%s\t%" PRIu64 "\t%.6g\t%.6g\t%.6g\t%.6g\n", mom_names[k], m->n, mean, sd, m->n ? m->min : NAN,
                   m->n ? m->max : NAN);
    }
    if (!s.merged) {
        double *vkept = malloc((s.nvid ? s.nvid : 1) * sizeof *vkept);
        size_t nv = 0;
        for (size_t i = 0; vkept && i < s.nvid; i++)
            if (s.vids[i].ok)
                vkept[nv++] = (double)s.vids[i].kept;
        const dist d[NMOM] = {describe(s.win_kept, s.nwin), describe(vkept, nv), describe(s.win_rate, s.nwin),
                              describe(s.win_elbo, s.nwin)};
        free(vkept);
        if (!json)
            printf("# Quantiles. Use `grep ^DQ | cut -f 2-`: name, n, p10, median, p90.\n");
        for (int k = 0; k < NMOM; k++) {
            if (json) {
                json_t *e = json_object_get(o.root, mom_names[k]);
                json_object_set_new(e, "p10", jnum(d[k].p10));
                json_object_set_new(e, "median", jnum(d[k].p50));
                json_object_set_new(e, "p90", jnum(d[k].p90));
            } else {
                printf("DQ\t%s\t%zu\t%.6g\t%.6g\t%.6g\n", mom_names[k], d[k].n, d[k].p10, d[k].p50, d[k].p90);
            }
        }
    }
    /* histograms over fixed bins */
    const struct { const char *code, *name; const fixed_hist *h; } fh[] = {
        {"WL", "kept tokens per window", &s.h_kept}, {"EL", "window ELBO", &s.h_elbo}};
    for (size_t k = 0; k < 2; k++) {
        const fixed_hist *h = fh[k].h;
        if (!json)
            printf("# Histogram of the %s. Use `grep ^%s | cut -f 2-`: bin start, bin end, count (empty bins "
                   "left out).\n", fh[k].name, fh[k].code);
        json_t *arr = json ? json_array() : NULL;
        for (size_t b = 0; b < h->n; b++) {
            if (!h->count[b])
                continue;
            const double lo = h->width * (double)b;
            if (json)
                json_array_append_new(arr, json_pack("[f,f,I]", lo, lo + h->width, (json_int_t)h->count[b]));
            else
                printf("%s\t%.6g\t%.6g\t%" PRIu64 "\n", fh[k].code, lo, lo + h->width, h->count[b]);
        }
        if (json) {
            char key[96];
            snprintf(key, sizeof key, "histogram: %s", fh[k].name);
            json_object_set_new(o.root, key, arr);
        }
    }
    /* kept tokens per video: a clip and a film differ by orders of magnitude, so power-of-two
     * bins [2^(b-1), 2^b) (bin 0: none kept); from the video rows, which merge too */
    {
        uint64_t vl[66] = {0};
        int top = -1;
        for (size_t i = 0; i < s.nvid; i++)
            if (s.vids[i].ok) {
                int b = 0;
                for (uint64_t k = s.vids[i].kept; k; k >>= 1)
                    b++;
                vl[b]++;
                top = b > top ? b : top;
            }
        if (!json)
            printf("# Histogram of the kept tokens per video. Use `grep ^VL | cut -f 2-`: bin start, bin end, count "
                   "(bins of powers of two; empty bins left out).\n");
        json_t *arr = json ? json_array() : NULL;
        for (int b = 0; b <= top; b++) {
            if (!vl[b])
                continue;
            const double lo = b ? ldexp(1, b - 1) : 0, hi = ldexp(1, b);
            if (json)
                json_array_append_new(arr, json_pack("[f,f,I]", lo, hi, (json_int_t)vl[b]));
            else
                printf("VL\t%.0f\t%.0f\t%" PRIu64 "\n", lo, hi, vl[b]);
        }
        if (json)
            json_object_set_new(o.root, "histogram: kept tokens per video", arr);
    }
    {
        if (!json)
            printf("# Histogram of the window rate. Use `grep ^RT | cut -f 2-`: bin start, bin end, count.\n");
        json_t *arr = json ? json_array() : NULL;
        for (int b = 0; b < RATE_BINS; b++) {
            const double lo = (double)b / RATE_BINS, hi = (double)(b + 1) / RATE_BINS;
            if (json)
                json_array_append_new(arr, json_pack("[f,f,I]", lo, hi, (json_int_t)s.h_rate[b]));
            else
                printf("RT\t%.6g\t%.6g\t%" PRIu64 "\n", lo, hi, s.h_rate[b]);
        }
        if (json)
            json_object_set_new(o.root, "histogram: window rate", arr);
    }
    /* rate against ELBO: windows binned by ELBO, mean rate per bin */
    {
        if (!json)
            printf("# Rate against ELBO. Use `grep ^RE | cut -f 2-`: ELBO bin start, end, windows, mean rate.\n");
        json_t *arr = json ? json_array() : NULL;
        for (size_t b = 0; b < s.h_elbo.n; b++) {
            const double n = (double)s.h_elbo.count[b];
            if (!n)
                continue;
            const double lo = s.h_elbo.width * (double)b;
            if (json)
                json_array_append_new(arr, json_pack("[f,f,f,f]", lo, lo + s.h_elbo.width, n, s.h_elbo.sum[b] / n));
            else
                printf("RE\t%.6g\t%.6g\t%.0f\t%.6f\n", lo, lo + s.h_elbo.width, n, s.h_elbo.sum[b] / n);
        }
        if (json)
            json_object_set_new(o.root, "rate against ELBO", arr);
    }
    /* per video */
    if (!json)
        printf("# Videos. Use `grep ^VD | cut -f 2-`: id, status, windows, frames, tokens, kept, rate, "
               "bits per pixel, path.\n");
    json_t *varr = json ? json_array() : NULL;
    for (size_t i = 0; i < s.nvid; i++) {
        const video_row *v = &s.vids[i];
        const double rate = v->tokens ? (double)v->kept / (double)v->tokens : NAN;
        const double bpp = v->pixels ? (double)v->kept * bits_per_token / (double)v->pixels : NAN;
        if (json)
            json_array_append_new(varr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:s}", "id", v->id,
                                                  "status", v->ok ? "ok" : "error", "windows", (json_int_t)v->windows,
                                                  "frames", (json_int_t)v->frames, "tokens", (json_int_t)v->tokens,
                                                  "kept", (json_int_t)v->kept, "rate", jnum(rate), "bpp", jnum(bpp),
                                                  "path", v->path));
        else
            printf("VD\t%s\t%s\t%" PRIu32 "\t%" PRId64 "\t%" PRIu64 "\t%" PRIu64 "\t%.6f\t%.6f\t%s\n", v->id,
                   v->ok ? "ok" : "error", v->windows, v->frames, v->tokens, v->kept, rate, bpp, v->path);
    }
    if (json)
        json_object_set_new(o.root, "videos", varr);
    /* top codes */
    if (!json)
        printf("# The 20 most used codes. Use `grep ^CU | cut -f 2-`: index, count, fraction.\n");
    json_t *carr = json ? json_array() : NULL;
    {
        uint64_t prev = UINT64_MAX;
        int prev_i = -1;
        for (int k = 0; k < 20; k++) {
            int best = -1;
            for (int i = 0; i < CODES; i++)
                if (s.codes[i] && (s.codes[i] < prev || (s.codes[i] == prev && i > prev_i)) &&
                    (best < 0 || s.codes[i] > s.codes[best]))
                    best = i;
            if (best < 0)
                break;
            prev = s.codes[best];
            prev_i = best;
            const double frac = (double)s.codes[best] / (double)s.kept;
            if (json)
                json_array_append_new(carr, json_pack("[i,I,f]", best, (json_int_t)s.codes[best], frac));
            else
                printf("CU\t%d\t%" PRIu64 "\t%.6f\n", best, s.codes[best], frac);
        }
    }
    if (json)
        json_object_set_new(o.root, "top codes", carr);
    /* quality */
    if (psnr) {
        if (!json)
            printf("# Quality. Use `grep ^PS | cut -f 2-`: strategy, requested rate, actual rate, videos, mean "
                   "PSNR over videos (TokenBench), PSNR of the pooled MSE, mean SSIM.\n");
        json_t *qarr = json ? json_array() : NULL;
        for (size_t k = 0; k < nconf; k++) {
            qconf *q = &confs[k];
            const double mean = q->videos ? (q->psnr_inf ? INFINITY : q->psnr_sum / (double)q->videos) : NAN;
            const double pooled = it_quality_psnr(&q->pooled), ss = ssim && q->videos ? q->ssim_sum / (double)q->videos : NAN;
            const double actual = q->tokens ? (double)q->kept / (double)q->tokens : NAN;
            const char *sname = q->strategy ? it_strategy_name(q->strategy) : "stored";
            char a[32], b[32], c2[32];
            fmt_db(a, sizeof a, mean);
            fmt_db(b, sizeof b, pooled);
            snprintf(c2, sizeof c2, isnan(ss) ? "NA" : "%.5f", ss);
            if (json) {
                json_t *per = json_array();
                for (uint64_t v = 0; v < q->videos; v++)
                    json_array_append_new(per, json_pack("{s:s, s:o, s:o}", "id", q->vid[v], "psnr",
                                                         isinf(q->vpsnr[v]) ? json_string("inf") : jnum(q->vpsnr[v]),
                                                         "ssim", jnum(q->vssim[v])));
                json_array_append_new(qarr, json_pack("{s:s, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o}", "strategy",
                                                      sname, "rate", q->strategy ? json_real(q->rate) : json_null(),
                                                      "actual_rate", jnum(actual), "videos", (json_int_t)q->videos,
                                                      "failed", (json_int_t)q->failed, "psnr_mean",
                                                      isinf(mean) ? json_string("inf") : jnum(mean), "psnr_pooled",
                                                      isinf(pooled) ? json_string("inf") : jnum(pooled), "ssim",
                                                      jnum(ss), "per_video", per));
            }
            else {
                char req[32];
                snprintf(req, sizeof req, q->strategy ? "%g" : "NA", (double)q->rate);
                printf("PS\t%s\t%s\t%.6f\t%" PRIu64 "\t%s\t%s\t%s\n", sname, req, actual, q->videos, a, b, c2);
            }
        }
        if (json)
            json_object_set_new(o.root, "quality", qarr);
        if (!json)
            printf("# Quality per video. Use `grep ^PV | cut -f 2-`: strategy, requested rate, video id, PSNR, "
                   "SSIM.\n");
        for (size_t k = 0; k < nconf && !json; k++)
            for (uint64_t v = 0; v < confs[k].videos; v++) {
                char a[32], req[32], sv[32];
                fmt_db(a, sizeof a, confs[k].vpsnr[v]);
                snprintf(req, sizeof req, confs[k].strategy ? "%g" : "NA", (double)confs[k].rate);
                snprintf(sv, sizeof sv, isnan(confs[k].vssim[v]) ? "NA" : "%.5f", confs[k].vssim[v]);
                printf("PV\t%s\t%s\t%s\t%s\t%s\n",
                       confs[k].strategy ? it_strategy_name(confs[k].strategy) : "stored", req, confs[k].vid[v], a, sv);
            }
    }
    if (json) {
        char *text = json_dumps(o.root, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        if (text)
            puts(text);
        free(text);
        json_decref(o.root);
    }
    if (fflush(stdout) != 0) {
        print_error("cannot write the report: %s", strerror(errno));
        status = EXIT_FATAL;
    }

    if (plot_dir) {
        if (mkdir(plot_dir, 0777) != 0 && errno != EEXIST) {
            print_error("%s: cannot create: %s", plot_dir, strerror(errno));
            status = EXIT_FATAL;
            goto done;
        }
        char p[4096];
        int bad = 0;
        snprintf(p, sizeof p, "%s/token-lengths.svg", plot_dir);
        {
            /* the occupied range of the fixed bins */
            size_t lo = 0, hi = s.h_kept.n;
            while (lo < hi && !s.h_kept.count[lo])
                lo++;
            while (hi > lo && !s.h_kept.count[hi - 1])
                hi--;
            double *counts = calloc(hi > lo ? hi - lo : 1, sizeof *counts);
            for (size_t b = lo; counts && b < hi; b++)
                counts[b - lo] = (double)s.h_kept.count[b];
            bad |= !counts || plot_histogram(p, "Kept tokens per window", "kept tokens", KEPT_BIN * (double)lo, KEPT_BIN,
                                             counts, hi - lo);
            free(counts);
        }
        snprintf(p, sizeof p, "%s/rate-vs-elbo.svg", plot_dir);
        /* every window, or with merged statistics the ELBO bins' mean rates */
        double rx[4096], ry[4096];
        size_t nr = 0;
        for (size_t b = 0; s.merged && b < s.h_elbo.n && nr < 4096; b++)
            if (s.h_elbo.count[b]) {
                rx[nr] = s.h_elbo.width * ((double)b + 0.5);
                ry[nr++] = s.h_elbo.sum[b] / (double)s.h_elbo.count[b];
            }
        plot_series sr = s.merged ? (plot_series){"ELBO bins (mean rate)", rx, ry, nr}
                                  : (plot_series){"windows", s.win_elbo, s.win_rate, s.nwin};
        bad |= plot_xy(p, "Window rate against window ELBO", "window ELBO (mean chunk loss)", "fraction of tokens kept",
                       &sr, 1, 0);
        if (psnr && rates_arg) {
            plot_series ps[4];
            double xs[4][64], ys[4][64];
            size_t np = 0;
            const int strategies[3] = {IT_STRATEGY_STATIC, IT_STRATEGY_ELBO, IT_STRATEGY_GLOBAL_ELBO};
            for (int k = 0; k < 3; k++) {
                size_t n = 0;
                for (size_t j = 0; j < nconf && n < 64; j++)
                    if (confs[j].strategy == strategies[k] && confs[j].tokens) {
                        xs[np][n] = (double)confs[j].kept / (double)confs[j].tokens;
                        ys[np][n] = confs[j].videos && !confs[j].psnr_inf ? confs[j].psnr_sum / (double)confs[j].videos : NAN;
                        n++;
                    }
                for (size_t j = 1; j < n; j++) /* by rate, so that the line runs left to right */
                    for (size_t i = j; i > 0 && xs[np][i - 1] > xs[np][i]; i--) {
                        double tx = xs[np][i], ty = ys[np][i];
                        xs[np][i] = xs[np][i - 1];
                        ys[np][i] = ys[np][i - 1];
                        xs[np][i - 1] = tx;
                        ys[np][i - 1] = ty;
                    }
                if (n) {
                    ps[np] = (plot_series){it_strategy_name(strategies[k]), xs[np], ys[np], n};
                    np++;
                }
            }
            snprintf(p, sizeof p, "%s/psnr-vs-rate.svg", plot_dir);
            bad |= plot_xy(p, "PSNR against the actual average rate", "fraction of tokens kept",
                           "PSNR (dB, mean over videos)", ps, np, 1);
        }
        if (bad)
            status = EXIT_FATAL;
        else if (!quiet)
            fprintf(stderr, "%s: figures in %s/\n", tool_name(), plot_dir);
    }
done:
    for (size_t k = 0; k < nconf; k++) {
        free(confs[k].vpsnr);
        free(confs[k].vssim);
        free(confs[k].vid);
    }
    free(confs);
    it_video_decoder_free(&qr.dec);
    it_model_free(&qr.m);
    free(qr.srcbuf);
    free(qr.keep);
    for (size_t i = 0; i < s.nvid; i++)
        free(s.vids[i].path);
    free(s.vids);
    free(s.codes);
    free(s.win_kept);
    free(s.win_rate);
    free(s.win_elbo);
    free(s.h_kept.count);
    free(s.h_kept.sum);
    free(s.h_elbo.count);
    free(s.h_elbo.sum);
    return status;
}
