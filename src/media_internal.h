/* media_internal.h: opening a source with libavformat and finding its video stream,
 * shared by probing and decoding. Not part of the public interface. */
#ifndef IT_MEDIA_INTERNAL_H
#define IT_MEDIA_INTERNAL_H

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

#include "archive_internal.h"
#include "infotok/core.h"

typedef struct it_input {
    AVFormatContext *fmt;
    it_member_stream *member; /* NULL for a plain file */
    int stream;               /* index of the best video stream */
    char name[512];           /* "path" or "path:member", for messages */
} it_input;

/* Open, read the stream info and pick the best video stream. */
int it_input_open(it_input *in, const it_source *src);
void it_input_close(it_input *in);
/* An opened decoder for the input's video stream (threads <= 0 means 1). */
int it_input_decoder(it_input *in, int threads, AVCodecContext **dec);
/* Display rotation of the video stream: counter-clockwise degrees in {0, 90, 180, 270},
 * the angle ffprobe reports; showing the video upright turns it clockwise by as much. */
int it_input_rotation(const it_input *in);

#endif
