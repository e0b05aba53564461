/* video_write.h: RGB24 frames to a video file with libavformat/libavcodec, complete or not at
 * all: written under PATH.tmp (a directory for PNG frames) and renamed by close. */
#ifndef IT_VIDEO_WRITE_H
#define IT_VIDEO_WRITE_H

#include <stdint.h>

/* Exported from libinfotok.so: the public API (the library builds with hidden visibility). */
#pragma GCC visibility push(default)

#ifdef __cplusplus
extern "C" {
#endif

enum it_video_format {
    IT_VFMT_FFV1 = 1, /* FFV1 in Matroska, RGB (bgr0): lossless */
    IT_VFMT_H264,     /* H.264 (libx264, yuv420p, --crf) in MP4; Matroska on stdout */
    IT_VFMT_RAW,      /* headerless rgb24 frames, back to back */
    IT_VFMT_PNG,      /* a directory of PNG frames 000000.png, 000001.png, ... */
    IT_VFMT_Y4M       /* YUV4MPEG2, 4:4:4 BT.601 limited range: not lossless from RGB (rounding) */
};

/* "ffv1", "h264", "raw", "png", "y4m" -> enum; IT_E_INVALID otherwise. */
int it_video_format_parse(const char *name, int *format);
/* The file name suffix of a format (".mkv", ".mp4", ".rgb", ".y4m", "" for the PNG directory). */
const char *it_video_format_suffix(int format);

typedef struct it_video_writer it_video_writer;

/* path "-": standard output (not for PNG). fps > 0; crf for H.264 (0-51). */
int it_video_writer_open(it_video_writer **out, const char *path, int format, int width, int height,
                         double fps, int crf);
/* frame_index gives the timestamp (frame_index / fps), so gaps in the source stay gaps. */
int it_video_writer_write(it_video_writer *w, int64_t frame_index, const uint8_t *rgb);
/* Flushes, closes and renames into place; on error (or abort) nothing is left. Frees w. */
int it_video_writer_close(it_video_writer **w);
void it_video_writer_abort(it_video_writer **w);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop
#endif
