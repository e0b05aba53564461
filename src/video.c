/* video.c: decode a video stream to RGB24 frames, applying rotation, resize and crop.
 * The send/receive loop follows FFmpeg's doc/examples: EAGAIN means "feed more", a NULL
 * packet flushes the decoder at the end of the stream. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "error_internal.h"
#include "media_internal.h"

/* Decoding stops after this many consecutive undecodable packets; isolated bad packets are
 * concealed and skipped, as the ffmpeg CLI does. */
enum { MAX_CONSECUTIVE_BAD_PACKETS = 64 };

struct it_video {
    it_input in;
    AVCodecContext *dec;
    AVPacket *pkt;
    AVFrame *frame;
    struct SwsContext *sws;
    int rotation;           /* clockwise turn that shows the frame upright */
    int scaled_w, scaled_h; /* swscale output, before rotation */
    int crop_x, crop_y;     /* in the rotated image */
    int out_w, out_h;
    uint8_t *scaled;        /* [scaled_h][scaled_w][3], only when rotating or cropping */
    int flushing, finished;
    int bad_packets;
    int64_t frames_out;
    double time_base, start_time;
};

int it_video_width(const it_video *v) { return v->out_w; }
int it_video_height(const it_video *v) { return v->out_h; }

double it_video_fps(const it_video *v)
{
    const AVStream *st = v->in.fmt->streams[v->in.stream];
    AVRational r = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    return r.num > 0 && r.den > 0 ? av_q2d(r) : 0;
}

/* Sizes: the displayed size is the coded size after rotation; the short side is resized
 * (keeping the aspect ratio); then a center crop. */
static int plan_geometry(it_video *v, const it_video_opts *o)
{
    const AVCodecParameters *par = v->in.fmt->streams[v->in.stream]->codecpar;
    int quarter = v->rotation == 90 || v->rotation == 270;
    int disp_w = quarter ? par->height : par->width;
    int disp_h = quarter ? par->width : par->height;
    int rw = disp_w, rh = disp_h;
    if (o && o->short_side > 0) {
        if (disp_w <= disp_h) {
            rw = o->short_side;
            rh = (int)lround((double)disp_h * o->short_side / disp_w);
        } else {
            rh = o->short_side;
            rw = (int)lround((double)disp_w * o->short_side / disp_h);
        }
        if (rw < 1) rw = 1;
        if (rh < 1) rh = 1;
    }
    v->scaled_w = quarter ? rh : rw;
    v->scaled_h = quarter ? rw : rh;
    v->out_w = rw;
    v->out_h = rh;
    if (o && o->crop_w > 0 && o->crop_h > 0) {
        if (o->crop_w > rw || o->crop_h > rh)
            return it_error_set(IT_E_INVALID, "%s: crop %dx%d is larger than the frame (%dx%d)",
                                v->in.name, o->crop_w, o->crop_h, rw, rh);
        v->crop_x = (rw - o->crop_w) / 2;
        v->crop_y = (rh - o->crop_h) / 2;
        v->out_w = o->crop_w;
        v->out_h = o->crop_h;
    }
    return 0;
}

int it_video_open(it_video **out, const it_source *src, const it_video_opts *opts)
{
    int rc = 0;
    it_video *v = calloc(1, sizeof *v);
    IT_CHECK_ALLOC(v, "a video");
    IT_TRY(it_input_open(&v->in, src));
    IT_TRY(it_input_decoder(&v->in, opts ? opts->threads : 1, &v->dec));
    v->rotation = (360 - it_input_rotation(&v->in)) % 360;
    IT_TRY(plan_geometry(v, opts));
    v->pkt = av_packet_alloc();
    v->frame = av_frame_alloc();
    IT_CHECK_ALLOC(v->pkt && v->frame, "decoder buffers");
    if (v->rotation || v->out_w != v->scaled_w || v->out_h != v->scaled_h) {
        v->scaled = malloc((size_t)v->scaled_w * v->scaled_h * 3);
        IT_CHECK_ALLOC(v->scaled, "a frame buffer");
    }
    const AVStream *st = v->in.fmt->streams[v->in.stream];
    v->time_base = av_q2d(st->time_base);
    v->start_time = st->start_time != AV_NOPTS_VALUE ? st->start_time * v->time_base : 0;
    *out = v;
    v = NULL;
done:
    it_video_close(&v);
    return rc;
}

void it_video_close(it_video **pv)
{
    it_video *v = *pv;
    if (!v)
        return;
    sws_freeContext(v->sws);
    av_frame_free(&v->frame);
    av_packet_free(&v->pkt);
    avcodec_free_context(&v->dec);
    it_input_close(&v->in);
    free(v->scaled);
    free(v);
    *pv = NULL;
}

/* Next decoded frame into v->frame: 1, 0 at the end, <0 on error. */
static int decode_next(it_video *v)
{
    for (;;) {
        int err = avcodec_receive_frame(v->dec, v->frame);
        if (err == 0)
            return 1;
        if (err == AVERROR_EOF)
            return 0;
        if (err != AVERROR(EAGAIN))
            return it_error_set(IT_E_DECODE, "%s: decoding failed after %lld frames: %s",
                                v->in.name, (long long)v->frames_out, av_err2str(err));
        if (v->flushing)
            return 0;
        /* Feed the next packet of our stream, or start the flush at the end. */
        for (;;) {
            err = av_read_frame(v->in.fmt, v->pkt);
            if (err == AVERROR_EOF) {
                v->flushing = 1;
                avcodec_send_packet(v->dec, NULL);
                break;
            }
            if (err < 0)
                return it_error_set(IT_E_IO, "%s: read failed after %lld frames: %s",
                                    v->in.name, (long long)v->frames_out, av_err2str(err));
            if (v->pkt->stream_index != v->in.stream) {
                av_packet_unref(v->pkt);
                continue;
            }
            err = avcodec_send_packet(v->dec, v->pkt);
            av_packet_unref(v->pkt);
            if (err == AVERROR_INVALIDDATA) {
                if (++v->bad_packets > MAX_CONSECUTIVE_BAD_PACKETS)
                    return it_error_set(IT_E_DECODE,
                                        "%s: more than %d undecodable packets in a row after "
                                        "%lld frames", v->in.name, MAX_CONSECUTIVE_BAD_PACKETS,
                                        (long long)v->frames_out);
                continue;
            }
            if (err < 0 && err != AVERROR(EAGAIN))
                return it_error_set(IT_E_DECODE, "%s: decoding failed after %lld frames: %s",
                                    v->in.name, (long long)v->frames_out, av_err2str(err));
            v->bad_packets = 0;
            break;
        }
    }
}

/* Copy the scaled RGB image into rgb, rotated clockwise by v->rotation and cropped. */
static void rotate_crop(const it_video *v, uint8_t *rgb)
{
    const int sw = v->scaled_w, sh = v->scaled_h;
    for (int y = 0; y < v->out_h; y++) {
        uint8_t *dst = rgb + (size_t)y * v->out_w * 3;
        int ry = y + v->crop_y; /* row in the rotated image */
        for (int x = 0; x < v->out_w; x++) {
            int rx = x + v->crop_x, sx, sy;
            switch (v->rotation) {
            case 90: sx = ry; sy = sh - 1 - rx; break;
            case 180: sx = sw - 1 - rx; sy = sh - 1 - ry; break;
            case 270: sx = sw - 1 - ry; sy = rx; break;
            default: sx = rx; sy = ry; break;
            }
            memcpy(dst + x * 3, v->scaled + ((size_t)sy * sw + sx) * 3, 3);
        }
    }
}

int it_video_read(it_video *v, uint8_t *rgb, double *pts)
{
    if (v->finished)
        return 0;
    int r = decode_next(v);
    if (r <= 0) {
        v->finished = 1;
        return r;
    }
    AVFrame *f = v->frame;
    /* The same context serves every frame unless the stream changes size or format
     * mid-way; every frame is scaled to the size planned at open. Bicubic is what the
     * ffmpeg CLI uses, and so what the official reader (mediapy) sees. */
    v->sws = sws_getCachedContext(v->sws, f->width, f->height, f->format, v->scaled_w,
                                  v->scaled_h, AV_PIX_FMT_RGB24, SWS_BICUBIC, NULL, NULL, NULL);
    if (!v->sws) {
        av_frame_unref(f);
        v->finished = 1;
        return it_error_set(IT_E_UNSUPPORTED, "%s: cannot convert %s %dx%d to RGB", v->in.name,
                            av_get_pix_fmt_name(f->format), f->width, f->height);
    }
    uint8_t *target = v->scaled ? v->scaled : rgb;
    uint8_t *planes[4] = {target, NULL, NULL, NULL};
    int strides[4] = {v->scaled_w * 3, 0, 0, 0};
    sws_scale(v->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, planes, strides);
    if (v->scaled)
        rotate_crop(v, rgb);
    if (pts) {
        int64_t t = f->best_effort_timestamp;
        *pts = t == AV_NOPTS_VALUE ? NAN : t * v->time_base - v->start_time;
    }
    av_frame_unref(f);
    v->frames_out++;
    return 1;
}
