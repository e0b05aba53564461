/* decode.h: token records back to frames (spec §4.7-4.8): masked tokens become the zero
 * code, each window is decoded, converted to uint8 and cropped to its unpadded frames, and
 * consecutive windows are blended where they share frames. The exact inverse of encode.h's
 * windowing; what it is not: writing video files (video_write.h) or choosing a rate (rate.h). */
#ifndef IT_DECODE_H
#define IT_DECODE_H

#include <stdint.h>

#include "formats/tokstream.h"
#include "model.h"

/* Receives each finished frame, in order: frame_index is the source frame number
 * (rec->first_frame + i), rgb is h*w*3 bytes (RGB24), valid during the call. Nonzero stops
 * (and is returned). */
typedef int (*it_frame_sink)(void *user, int64_t frame_index, int h, int w, const uint8_t *rgb);

typedef struct it_video_decoder it_video_decoder;

/* overlap: frames shared by consecutive windows (the stream HEADER's "window":{"overlap":N}). */
int it_video_decoder_new(it_video_decoder **out, it_model *m, int overlap);
/* One window record of the current video, in window order. Tokens whose keep is 0 become the
 * zero code (all tokens are used when rec->keep is NULL). Frames that are final go to sink;
 * the last `overlap` frames are held until the next window or finish. */
int it_video_decoder_push(it_video_decoder *d, const it_window_rec *rec, it_frame_sink sink, void *user);
/* End of the video: emits the held frames and resets for the next video. */
int it_video_decoder_finish(it_video_decoder *d, it_frame_sink sink, void *user);
void it_video_decoder_free(it_video_decoder **d);

#endif
