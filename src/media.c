/* media.c: open a file or archive member with libavformat and find its video stream. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <libavutil/display.h>

#include "error_internal.h"
#include "media_internal.h"

int it_input_open(it_input *in, const it_source *src)
{
    int rc = 0, err;
    AVIOContext *avio = NULL;
    memset(in, 0, sizeof *in);
    in->stream = -1;
    if (src->member)
        snprintf(in->name, sizeof in->name, "%s:%s", src->path, src->member);
    else
        snprintf(in->name, sizeof in->name, "%s", src->path);

    in->fmt = avformat_alloc_context();
    IT_CHECK_ALLOC(in->fmt, "a demuxer");
    if (src->member) {
        IT_TRY(it_member_stream_open(&in->member, src->path, src->member, &avio));
        in->fmt->pb = avio;
        in->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    }
    /* The member name gives the demuxer probe its extension hint. */
    err = avformat_open_input(&in->fmt, src->member ? src->member : src->path, NULL, NULL);
    if (err < 0) {
        in->fmt = NULL; /* freed by avformat_open_input on failure */
        IT_FAIL(err == AVERROR(ENOENT) ? IT_E_NOTFOUND : IT_E_FORMAT, "%s: cannot open: %s",
                in->name, av_err2str(err));
    }
    err = avformat_find_stream_info(in->fmt, NULL);
    if (err < 0)
        IT_FAIL(IT_E_FORMAT, "%s: cannot read stream information: %s", in->name, av_err2str(err));
    err = av_find_best_stream(in->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (err < 0)
        IT_FAIL(IT_E_NOTFOUND, "%s: no video stream", in->name);
    in->stream = err;
    /* Cover art (an attached picture) is not a video. */
    if (in->fmt->streams[in->stream]->disposition & AV_DISPOSITION_ATTACHED_PIC)
        IT_FAIL(IT_E_NOTFOUND, "%s: no video stream (only an attached picture)", in->name);
    if (in->fmt->streams[in->stream]->codecpar->width <= 0 ||
        in->fmt->streams[in->stream]->codecpar->height <= 0)
        IT_FAIL(IT_E_FORMAT, "%s: video stream has no frame size", in->name);
done:
    if (rc < 0)
        it_input_close(in);
    return rc;
}

void it_input_close(it_input *in)
{
    if (in->fmt)
        avformat_close_input(&in->fmt);
    it_member_stream_close(&in->member);
}

int it_input_decoder(it_input *in, int threads, AVCodecContext **out)
{
    int rc = 0, err;
    AVStream *st = in->fmt->streams[in->stream];
    AVCodecContext *dec = NULL;
    const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
    if (!codec)
        IT_FAIL(IT_E_UNSUPPORTED, "%s: no decoder for codec '%s'", in->name,
                avcodec_get_name(st->codecpar->codec_id));
    dec = avcodec_alloc_context3(codec);
    IT_CHECK_ALLOC(dec, "a decoder");
    if ((err = avcodec_parameters_to_context(dec, st->codecpar)) < 0)
        IT_FAIL(IT_E_DECODE, "%s: bad codec parameters: %s", in->name, av_err2str(err));
    dec->pkt_timebase = st->time_base;
    /* Frame threading decodes several frames at once; slice threading helps intra codecs. */
    dec->thread_count = threads > 0 ? threads : 1;
    dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    if ((err = avcodec_open2(dec, codec, NULL)) < 0)
        IT_FAIL(IT_E_DECODE, "%s: cannot open decoder '%s': %s", in->name, codec->name,
                av_err2str(err));
    *out = dec;
    dec = NULL;
done:
    avcodec_free_context(&dec);
    return rc;
}

int it_input_rotation(const it_input *in)
{
    const AVStream *st = in->fmt->streams[in->stream];
    const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (!m)
        return 0;
    /* Counter-clockwise degrees, as ffprobe reports them, snapped to a quarter turn. */
    double theta = av_display_rotation_get((const int32_t *)m);
    if (isnan(theta))
        return 0;
    int r = (int)lround(theta / 90) % 4 * 90;
    return r < 0 ? r + 360 : r;
}
