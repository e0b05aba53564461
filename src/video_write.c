/* video_write.c: RGB24 frames to FFV1/Matroska, H.264/MP4, raw rgb24, PNG frames or Y4M
 * (video_write.h), under a temporary name renamed into place when complete. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "error_internal.h"
#include "infotok/video_write.h"

struct it_video_writer {
    int format, width, height, to_stdout;
    char *path, *tmp;
    FILE *raw;                 /* IT_VFMT_RAW */
    AVFormatContext *oc;       /* FFV1, H.264 */
    AVStream *st;
    AVCodecContext *enc;
    AVFrame *frame;
    AVPacket *pkt;
    struct SwsContext *sws;
    AVRational tb;             /* 1/fps as a rational */
    int64_t frames;
};

int it_video_format_parse(const char *name, int *format)
{
    static const char *names[] = {NULL, "ffv1", "h264", "raw", "png", "y4m"};
    for (int i = 1; i <= IT_VFMT_Y4M; i++)
        if (strcmp(name, names[i]) == 0) {
            *format = i;
            return 0;
        }
    return it_error_set(IT_E_INVALID, "unknown video format '%s': expected ffv1, h264, y4m, png or raw", name);
}

const char *it_video_format_suffix(int format)
{
    switch (format) {
    case IT_VFMT_FFV1: return ".mkv";
    case IT_VFMT_H264: return ".mp4";
    case IT_VFMT_RAW: return ".rgb";
    case IT_VFMT_Y4M: return ".y4m";
    default: return "";
    }
}

static int av_fail(int err, const char *what, const char *name)
{
    char buf[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(err, buf, sizeof buf);
    return it_error_set(IT_E_IO, "%s: %s: %s", name, what, buf);
}

static char *cat(const char *a, const char *b)
{
    char *s = malloc(strlen(a) + strlen(b) + 1);
    if (s)
        sprintf(s, "%s%s", a, b);
    return s;
}

static int open_encoder(it_video_writer *w, double fps, int crf)
{
    const AVCodec *codec = w->format == IT_VFMT_FFV1 ? avcodec_find_encoder(AV_CODEC_ID_FFV1)
                         : w->format == IT_VFMT_PNG  ? avcodec_find_encoder(AV_CODEC_ID_PNG)
                         : w->format == IT_VFMT_Y4M  ? avcodec_find_encoder(AV_CODEC_ID_WRAPPED_AVFRAME)
                                                     : avcodec_find_encoder_by_name("libx264");
    if (!codec)
        return it_error_set(IT_E_UNSUPPORTED, "%s: this FFmpeg has no %s encoder", w->path,
                            w->format == IT_VFMT_H264 ? "libx264" : w->format == IT_VFMT_FFV1 ? "FFV1"
                            : w->format == IT_VFMT_PNG ? "PNG" : "wrapped_avframe");
    enum AVPixelFormat pix = w->format == IT_VFMT_FFV1 ? AV_PIX_FMT_BGR0
                           : w->format == IT_VFMT_PNG  ? AV_PIX_FMT_RGB24
                           /* Y4M has no RGB; full chroma keeps the loss to rounding */
                           : w->format == IT_VFMT_Y4M  ? AV_PIX_FMT_YUV444P
                           /* 4:2:0 needs even sizes; odd ones keep full chroma */
                           : (w->width % 2 || w->height % 2) ? AV_PIX_FMT_YUV444P : AV_PIX_FMT_YUV420P;
    if (!(w->enc = avcodec_alloc_context3(codec)) || !(w->frame = av_frame_alloc()) || !(w->pkt = av_packet_alloc()))
        return it_error_set(IT_E_NOMEM, "out of memory");
    w->tb = av_inv_q(av_d2q(fps, 1000000));
    w->enc->width = w->width;
    w->enc->height = w->height;
    w->enc->pix_fmt = pix;
    w->enc->time_base = w->tb;
    w->enc->framerate = av_inv_q(w->tb);
    w->enc->thread_count = 1;
    if (w->format == IT_VFMT_H264) {
        av_opt_set_int(w->enc->priv_data, "crf", crf, 0);
        av_opt_set(w->enc->priv_data, "preset", "medium", 0);
        w->enc->color_range = AVCOL_RANGE_MPEG;
        w->enc->colorspace = AVCOL_SPC_BT709;
    } else if (w->format == IT_VFMT_Y4M) {
        w->enc->color_range = AVCOL_RANGE_MPEG; /* swscale's default conversion: BT.601, limited */
    }
    if (w->oc && (w->oc->oformat->flags & AVFMT_GLOBALHEADER))
        w->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    int err = avcodec_open2(w->enc, codec, NULL);
    if (err < 0)
        return av_fail(err, "cannot open the encoder", w->path);
    w->frame->format = pix;
    w->frame->width = w->width;
    w->frame->height = w->height;
    if ((err = av_frame_get_buffer(w->frame, 0)) < 0)
        return av_fail(err, "cannot allocate a frame", w->path);
    w->sws = sws_getContext(w->width, w->height, AV_PIX_FMT_RGB24, w->width, w->height, pix,
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (!w->sws)
        return it_error_set(IT_E_UNSUPPORTED, "%s: no RGB conversion to %s", w->path, av_get_pix_fmt_name(pix));
    if (w->format == IT_VFMT_H264)
        sws_setColorspaceDetails(w->sws, sws_getCoefficients(SWS_CS_DEFAULT), 1,
                                 sws_getCoefficients(SWS_CS_ITU709), 0, 0, 1 << 16, 1 << 16);
    return 0;
}

int it_video_writer_open(it_video_writer **out, const char *path, int format, int width, int height,
                         double fps, int crf)
{
    int rc = 0;
    *out = NULL;
    if (width <= 0 || height <= 0 || !(fps > 0) || format < IT_VFMT_FFV1 || format > IT_VFMT_Y4M)
        return it_error_set(IT_E_INVALID, "%s: bad output %dx%d at %g fps", path, width, height, fps);
    it_video_writer *w = calloc(1, sizeof *w);
    IT_CHECK_ALLOC(w, "a video writer");
    w->format = format;
    w->width = width;
    w->height = height;
    w->to_stdout = strcmp(path, "-") == 0;
    if (w->to_stdout && format == IT_VFMT_PNG)
        IT_FAIL(IT_E_INVALID, "PNG frames go to a directory, not to stdout");
    w->path = strdup(w->to_stdout ? "stdout" : path);
    w->tmp = w->to_stdout ? NULL : cat(path, ".tmp");
    IT_CHECK_ALLOC(w->path && (w->to_stdout || w->tmp), "a file name");
    if (format == IT_VFMT_RAW) {
        w->raw = w->to_stdout ? stdout : fopen(w->tmp, "wb");
        if (!w->raw)
            IT_FAIL(IT_E_IO, "%s: cannot create: %s", w->tmp, strerror(errno));
    } else if (format == IT_VFMT_PNG) {
        if (mkdir(w->tmp, 0777) != 0 && errno != EEXIST)
            IT_FAIL(IT_E_IO, "%s: cannot create the directory: %s", w->tmp, strerror(errno));
        IT_TRY(open_encoder(w, fps, crf));
    } else {
        const char *mux = format == IT_VFMT_Y4M ? "yuv4mpegpipe"
                        : format == IT_VFMT_FFV1 || w->to_stdout ? "matroska" : "mp4";
        int err = avformat_alloc_output_context2(&w->oc, NULL, mux, w->to_stdout ? "pipe:1" : w->tmp);
        if (err < 0)
            IT_FAIL(IT_E_UNSUPPORTED, "%s: no %s muxer", w->path, mux);
        IT_TRY(open_encoder(w, fps, crf));
        if (!(w->st = avformat_new_stream(w->oc, NULL)))
            IT_FAIL(IT_E_NOMEM, "out of memory");
        w->st->time_base = w->tb;
        w->st->avg_frame_rate = av_inv_q(w->tb);
        if ((err = avcodec_parameters_from_context(w->st->codecpar, w->enc)) < 0)
            IT_FAIL(IT_E_INTERNAL, "%s: encoder parameters", w->path);
        if ((err = avio_open(&w->oc->pb, w->to_stdout ? "pipe:1" : w->tmp, AVIO_FLAG_WRITE)) < 0) {
            rc = av_fail(err, "cannot create", w->to_stdout ? "stdout" : w->tmp);
            goto done;
        }
        if ((err = avformat_write_header(w->oc, NULL)) < 0) {
            rc = av_fail(err, "cannot write the header", w->path);
            goto done;
        }
    }
    *out = w;
    return 0;
done:
    it_video_writer_abort(&w);
    return rc;
}

/* Sends frame (NULL: flush) and writes what the encoder gives back. */
static int encode(it_video_writer *w, AVFrame *frame)
{
    int err = avcodec_send_frame(w->enc, frame);
    if (err < 0)
        return av_fail(err, "encoding failed", w->path);
    for (;;) {
        err = avcodec_receive_packet(w->enc, w->pkt);
        if (err == AVERROR(EAGAIN) || err == AVERROR_EOF)
            return 0;
        if (err < 0)
            return av_fail(err, "encoding failed", w->path);
        if (w->format == IT_VFMT_PNG) {
            char name[64];
            snprintf(name, sizeof name, "/%06" PRId64 ".png", w->frames - 1);
            char *p = cat(w->tmp, name);
            FILE *f = p ? fopen(p, "wb") : NULL;
            int ok = f && fwrite(w->pkt->data, 1, (size_t)w->pkt->size, f) == (size_t)w->pkt->size;
            if (f && fclose(f) != 0)
                ok = 0;
            av_packet_unref(w->pkt);
            if (!ok) {
                int e = it_error_set(IT_E_IO, "%s: cannot write: %s", p ? p : w->tmp, strerror(errno));
                free(p);
                return e;
            }
            free(p);
            continue;
        }
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        if ((err = av_interleaved_write_frame(w->oc, w->pkt)) < 0)
            return av_fail(err, "cannot write", w->path);
    }
}

int it_video_writer_write(it_video_writer *w, int64_t frame_index, const uint8_t *rgb)
{
    if (w->format == IT_VFMT_RAW) {
        const size_t n = (size_t)w->width * w->height * 3;
        if (fwrite(rgb, 1, n, w->raw) != n)
            return it_error_set(IT_E_IO, "%s: cannot write: %s", w->tmp ? w->tmp : "stdout", strerror(errno));
        w->frames++;
        return 0;
    }
    int err = av_frame_make_writable(w->frame);
    if (err < 0)
        return av_fail(err, "frame buffer", w->path);
    const uint8_t *src[4] = {rgb, NULL, NULL, NULL};
    const int stride[4] = {3 * w->width, 0, 0, 0};
    sws_scale(w->sws, src, stride, 0, w->height, w->frame->data, w->frame->linesize);
    w->frame->pts = frame_index;
    w->frames++;
    return encode(w, w->frame);
}

int it_video_writer_close(it_video_writer **wp)
{
    it_video_writer *w = *wp;
    int rc = 0;
    if (w->format == IT_VFMT_RAW) {
        if ((w->to_stdout ? fflush(w->raw) : fclose(w->raw)) != 0)
            rc = it_error_set(IT_E_IO, "%s: cannot write: %s", w->path, strerror(errno));
        if (!w->to_stdout)
            w->raw = NULL;
    } else {
        rc = encode(w, NULL);
        if (rc == 0 && w->oc) {
            int err = av_write_trailer(w->oc);
            if (err < 0)
                rc = av_fail(err, "cannot finish", w->path);
            if (avio_closep(&w->oc->pb) < 0 && rc == 0)
                rc = it_error_set(IT_E_IO, "%s: cannot close", w->tmp);
        }
    }
    if (rc == 0 && !w->to_stdout) {
        if (w->format == IT_VFMT_PNG) {
            /* rename a directory: an old output of the same name is replaced only if empty */
            if (rename(w->tmp, w->path) != 0)
                rc = it_error_set(IT_E_IO, "%s: cannot rename to %s: %s", w->tmp, w->path, strerror(errno));
        } else if (rename(w->tmp, w->path) != 0) {
            rc = it_error_set(IT_E_IO, "%s: cannot rename to %s: %s", w->tmp, w->path, strerror(errno));
        }
        if (rc == 0) {
            free(w->tmp);
            w->tmp = NULL; /* nothing left to remove */
        }
    }
    it_video_writer_abort(wp);
    return rc;
}

static void remove_tree(const char *dir)
{
    char name[64];
    for (int64_t i = 0;; i++) {
        snprintf(name, sizeof name, "/%06" PRId64 ".png", i);
        char *p = cat(dir, name);
        int gone = p && unlink(p) != 0;
        free(p);
        if (gone)
            break;
    }
    rmdir(dir);
}

void it_video_writer_abort(it_video_writer **wp)
{
    it_video_writer *w = *wp;
    if (!w)
        return;
    if (w->raw && !w->to_stdout)
        fclose(w->raw);
    if (w->oc) {
        if (w->oc->pb)
            avio_closep(&w->oc->pb); /* the pipe protocol leaves fd 1 open */
        avformat_free_context(w->oc);
    }
    if (w->tmp)
        w->format == IT_VFMT_PNG ? remove_tree(w->tmp) : (void)unlink(w->tmp);
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    sws_freeContext(w->sws);
    free(w->path);
    free(w->tmp);
    free(w);
    *wp = NULL;
}
