/* stats_quality.c: it-stats --psnr: decode every video of the token records (the records ->
 * frames loop of src/decode_records.c, as it-decode runs it) and compare it frame by frame
 * with its source video, opened with the resize options its encoder recorded. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "infotok/decode.h"
#include "infotok/records.h"
#include "infotok/core.h"
#include "tools/common.h"
#include "tools/stats.h"

typedef struct qrun {
    qconf *c;
    int ssim;
    it_video_opts vopts;
    /* the current video */
    it_video *src;
    uint8_t *srcbuf;
    size_t srcbuf_cap;
    int64_t src_index;      /* frames read from the source so far */
    it_quality q;
    char video_id[17];
    char *video_path;
    uint64_t vtokens, vkept;
} qrun;

static int header(void *user, const it_stream_header *h, const char *input)
{
    qrun *r = user;
    (void)input;
    memset(&r->vopts, 0, sizeof r->vopts);
    r->vopts.short_side = h->short_side;
    r->vopts.crop_w = h->crop_w;
    r->vopts.crop_h = h->crop_h;
    return 0;
}

/* A video that cannot be compared (source missing or different, decoding failed) is reported
 * and left out, like a video it-encode could not read; out of memory stays fatal. */
static int video_failed(qrun *r, int rc)
{
    if (rc == IT_E_NOMEM)
        return rc;
    print_lib_error(rc, "--psnr: video %s (%s)", r->video_id, r->video_path ? r->video_path : "?");
    r->c->failed++;
    it_video_close(&r->src);
    return 0;
}

static int video(void *user, const char *json, uint64_t id)
{
    qrun *r = user;
    json_error_t e;
    json_t *o = json_loads(json, 0, &e);
    const char *p = json_string_value(json_object_get(o, "path"));
    const char *m = json_string_value(json_object_get(o, "member"));
    it_video_id_format(id, r->video_id);
    free(r->video_path);
    r->video_path = p ? strdup(p) : NULL;
    memset(&r->q, 0, sizeof r->q);
    r->src_index = 0;
    r->vtokens = r->vkept = 0;
    it_video_close(&r->src);
    int rc = 0;
    if (!r->video_path)
        rc = it_error_set(p ? IT_E_NOMEM : IT_E_FORMAT, "a VIDEO record without a path");
    else {
        it_source src = {r->video_path, m};
        rc = it_video_open(&r->src, &src, &r->vopts);
    }
    if (rc == 0) {
        const size_t need = (size_t)it_video_width(r->src) * it_video_height(r->src) * 3;
        if (need > r->srcbuf_cap) {
            free(r->srcbuf);
            r->srcbuf = malloc(need);
            r->srcbuf_cap = r->srcbuf ? need : 0;
            if (!r->srcbuf)
                rc = it_error_set(IT_E_NOMEM, "out of memory");
        }
    }
    json_decref(o);
    if (rc < 0)
        return (rc = video_failed(r, rc)) < 0 ? rc : 0; /* passed over */
    return 1;
}

static int window(void *user, const it_window_rec *rec)
{
    qrun *r = user;
    const uint64_t nt = (uint64_t)rec->lt * rec->lh * rec->lw;
    r->vtokens += nt;
    r->vkept += rec->keep ? rec->kept : nt;
    return 0;
}

static int compare_frame(void *user, int64_t index, int h, int w, const uint8_t *rgb)
{
    qrun *r = user;
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

static int video_end(void *user, const char *end_json, int encoded_ok, int rc)
{
    qrun *r = user;
    qconf *c = r->c;
    (void)end_json;
    it_video_close(&r->src);
    if (rc != 0)
        return video_failed(r, rc);
    if (!encoded_ok || r->q.frames == 0)
        return 0; /* it-encode failed on it: nothing to compare (counted in SN videos failed) */
    const double p = it_quality_psnr(&r->q), ss = it_quality_ssim(&r->q);
    memcpy(c->vid[c->videos], r->video_id, sizeof r->video_id);
    c->vpsnr[c->videos] = p;
    c->vssim[c->videos] = ss;
    c->videos++;
    if (isinf(p))
        c->psnr_inf = 1;
    else
        c->psnr_sum += p;
    c->ssim_sum += ss;
    c->pooled.sse += r->q.sse;
    c->pooled.values += r->q.values;
    c->tokens += r->vtokens;
    c->kept += r->vkept;
    return 0;
}

void qconf_free(qconf *c)
{
    free(c->vpsnr);
    free(c->vssim);
    free(c->vid);
    c->vpsnr = c->vssim = NULL;
    c->vid = NULL;
}

int stats_quality(it_model *m, const char *model_name, int any_precision, qconf *c, const it_elbo_stat *stat, char **inputs, int n,
                  size_t nvid, int ssim)
{
    static const it_decode_events ev = {header, video, window, compare_frame, video_end};
    qrun r = {.c = c, .ssim = ssim};
    const size_t nv = nvid ? nvid : 1;
    it_records_decoder *dec = NULL;
    int rc = 0;
    c->vpsnr = calloc(nv, sizeof *c->vpsnr);
    c->vssim = calloc(nv, sizeof *c->vssim);
    c->vid = calloc(nv, sizeof *c->vid);
    if (!c->vpsnr || !c->vssim || !c->vid)
        rc = it_error_set(IT_E_NOMEM, "out of memory");
    if (rc == 0)
        rc = it_records_decoder_new(&dec, m, model_name);
    if (rc == 0)
        it_records_decoder_any_precision(dec, any_precision);
    const it_allocation a = {c->strategy, c->rate, *stat};
    for (int i = 0; i < n && rc >= 0; i++) {
        it_record_reader *rd = NULL;
        rc = it_record_reader_open(&rd, inputs[i]);
        if (rc == 0 && c->strategy != IT_STRATEGY_NONE)
            rc = it_record_reader_reallocate(rd, &a);
        if (rc == 0)
            rc = it_records_decode(dec, rd, &ev, &r);
        it_record_reader_free(&rd);
    }
    if (rc < 0)
        print_lib_error(rc, "--psnr");
    it_records_decoder_free(&dec);
    it_video_close(&r.src);
    free(r.srcbuf);
    free(r.video_path);
    return rc < 0 ? -1 : 0;
}
