/* decode_records.c: token records -> frames, video by video (decode.h): the header checks and
 * the VIDEO / WINDOW / VIDEO_END loop that it-decode and it-stats --psnr share. */
#include <stdlib.h>
#include <string.h>

#include "infotok/decode.h"
#include "error_internal.h"

struct it_records_decoder {
    it_model *m;
    char *model_name;
    it_video_decoder *vd;
    it_stream_header first;  /* the first input's header: later inputs must be compatible */
    char *first_name;
    int have_first;
    int any_precision;
    /* the current video */
    int decoding, failed_rc;
    double fps;
};

int it_records_decoder_new(it_records_decoder **out, it_model *m, const char *model_name)
{
    it_records_decoder *d = calloc(1, sizeof *d);
    if (!d || !(d->model_name = strdup(model_name ? model_name : "the model"))) {
        free(d);
        return it_error_set(IT_E_NOMEM, "out of memory");
    }
    d->m = m;
    *out = d;
    return 0;
}

void it_records_decoder_free(it_records_decoder **dp)
{
    it_records_decoder *d = *dp;
    if (!d)
        return;
    it_video_decoder_free(&d->vd);
    it_stream_header_clear(&d->first);
    free(d->first_name);
    free(d->model_name);
    free(d);
    *dp = NULL;
}

double it_records_decoder_fps(const it_records_decoder *d) { return d->fps; }

void it_records_decoder_any_precision(it_records_decoder *d, int any) { d->any_precision = any; }

static int check_header(it_records_decoder *d, const char *json, const char *input, it_stream_header *h)
{
    int rc = it_stream_header_parse(json, input, h);
    if (rc < 0)
        return rc;
    if (strcmp(h->model_hash, it_model_hash(d->m)) != 0)
        return it_error_set(IT_E_INVALID, "%s: made by the model with hash %s, but %s has hash %s: give the "
                            "right --checkpoint", input, h->model_hash, d->model_name, it_model_hash(d->m));
    if (!d->any_precision && h->precision != it_model_precision(d->m))
        return it_error_set(IT_E_INVALID, "%s: the tokens were made in %s, the model runs in %s: give --precision %s "
                            "(or ask for %s explicitly)", input, it_precision_name(h->precision),
                            it_precision_name(it_model_precision(d->m)), it_precision_name(h->precision),
                            it_precision_name(it_model_precision(d->m)));
    if (d->have_first)
        return it_stream_header_compatible(&d->first, d->first_name, h, input);
    if (!(d->first_name = strdup(input)))
        return it_error_set(IT_E_NOMEM, "out of memory");
    d->first = *h;
    d->have_first = 1;
    memset(h, 0, sizeof *h); /* now d->first's */
    return it_video_decoder_new(&d->vd, d->m, d->first.overlap);
}

static int drop_frame(void *user, int64_t index, int h, int w, const uint8_t *rgb)
{
    (void)user, (void)index, (void)h, (void)w, (void)rgb;
    return 0;
}

/* A failed video: its remaining windows are passed over and the decoder reset at its end. */
static void fail_video(it_records_decoder *d, int rc)
{
    if (d->failed_rc == 0)
        d->failed_rc = rc < 0 ? rc : IT_E_INVALID;
}

int it_records_decode(it_records_decoder *d, it_record_reader *r, const it_decode_events *ev, void *user)
{
    int rc, type;
    const char *input = it_record_reader_name(r);
    while ((rc = it_record_next(r, &type)) == 1) {
        switch (type) {
        case IT_REC_HEADER: {
            it_stream_header h = {0};
            rc = check_header(d, it_record_json(r), input, &h);
            if (rc == 0 && ev->header)
                rc = ev->header(user, d->have_first && !h.model_hash[0] ? &d->first : &h, input);
            it_stream_header_clear(&h);
            break;
        }
        case IT_REC_VIDEO: {
            uint64_t id;
            if ((rc = it_video_json_id(it_record_json(r), input, &id)) < 0)
                break;
            rc = ev->video ? ev->video(user, it_record_json(r), id) : 1;
            d->decoding = rc == 1;
            d->failed_rc = 0;
            d->fps = 0;
            rc = rc < 0 ? rc : 0;
            break;
        }
        case IT_REC_WINDOW: {
            if (!d->decoding || d->failed_rc)
                break;
            const it_window_rec *w = it_record_window(r);
            d->fps = w->fps;
            int vrc = ev->window ? ev->window(user, w) : 0;
            if (vrc == 0)
                vrc = it_video_decoder_push(d->vd, w, ev->frame, user);
            if (vrc == IT_E_NOMEM)
                rc = vrc;
            else if (vrc != 0)
                fail_video(d, vrc);
            break;
        }
        case IT_REC_VIDEO_END: {
            if (!d->decoding)
                break;
            /* finish also resets the video decoder after a failure */
            int vrc = it_video_decoder_finish(d->vd, d->failed_rc ? drop_frame : ev->frame, user);
            if (vrc == IT_E_NOMEM)
                return vrc;
            if (vrc != 0 && !d->failed_rc)
                fail_video(d, vrc);
            int ok = 0;
            int64_t frames;
            if ((rc = it_video_end_parse(it_record_json(r), input, &ok, &frames, NULL, 0)) < 0)
                break;
            rc = ev->video_end ? ev->video_end(user, it_record_json(r), ok, d->failed_rc) : d->failed_rc;
            d->decoding = 0;
            break;
        }
        default:
            break;
        }
        if (rc < 0)
            return rc;
    }
    return rc < 0 ? rc : 0;
}
