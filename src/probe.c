/* probe.c: what a video is (container, codec, size, rate, duration, frames) from its
 * headers, or with count_frames by decoding every frame. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <libavutil/pixdesc.h>

#include "error_internal.h"
#include "media_internal.h"

static int count_decoded_frames(const it_source *src, int64_t *frames)
{
    int rc = 0, r;
    it_video *v = NULL;
    /* Every frame is decoded and converted, exactly as it-encode will see them. */
    it_video_opts opts = {.threads = 1};
    IT_TRY(it_video_open(&v, src, &opts));
    uint8_t *rgb = malloc((size_t)it_video_width(v) * it_video_height(v) * 3);
    IT_CHECK_ALLOC(rgb, "a frame buffer");
    int64_t n = 0;
    while ((r = it_video_read(v, rgb, NULL)) > 0)
        n++;
    free(rgb);
    if (r < 0)
        IT_FAIL(r, "%s", it_error_message());
    *frames = n;
done:
    it_video_close(&v);
    return rc;
}

int it_probe(const it_source *src, int count_frames, it_probe_info *info)
{
    int rc = 0;
    it_input in;
    memset(info, 0, sizeof *info);
    info->duration = -1;
    info->frames = -1;
    info->size = -1;
    if (!src->member) {
        struct stat sb;
        if (stat(src->path, &sb) != 0)
            return it_error_set(IT_E_NOTFOUND, "%s: no such file", src->path);
        if (!S_ISREG(sb.st_mode))
            return it_error_set(IT_E_INVALID, "%s: not a regular file", src->path);
        info->size = sb.st_size;
        if (sb.st_size == 0)
            return it_error_set(IT_E_FORMAT, "%s: empty file", src->path);
    }
    IT_TRY(it_input_open(&in, src));
    if (in.member)
        info->size = it_member_stream_size(in.member);
    const AVStream *st = in.fmt->streams[in.stream];
    const AVCodecParameters *par = st->codecpar;
    snprintf(info->container, sizeof info->container, "%s", in.fmt->iformat->name);
    snprintf(info->codec, sizeof info->codec, "%s", avcodec_get_name(par->codec_id));
    const char *pf = av_get_pix_fmt_name(par->format);
    snprintf(info->pix_fmt, sizeof info->pix_fmt, "%s", pf ? pf : "unknown");
    info->width = par->width;
    info->height = par->height;
    info->rotation = it_input_rotation(&in);
    AVRational r = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    info->fps = r.num > 0 && r.den > 0 ? av_q2d(r) : 0;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0)
        info->duration = st->duration * av_q2d(st->time_base);
    else if (in.fmt->duration != AV_NOPTS_VALUE && in.fmt->duration > 0)
        info->duration = in.fmt->duration / (double)AV_TIME_BASE;
    info->frames = st->nb_frames > 0 ? st->nb_frames : -1;
    info->bit_rate = par->bit_rate > 0 ? par->bit_rate : in.fmt->bit_rate;
    for (unsigned i = 0; i < in.fmt->nb_streams; i++)
        if (in.fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
            info->has_audio = 1;
    it_input_close(&in);
    if (count_frames) {
        IT_TRY(count_decoded_frames(src, &info->frames));
        info->frames_exact = 1;
    }
    return 0;
done:
    return rc;
}
