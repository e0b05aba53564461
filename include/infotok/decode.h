/* decode.h: token records back to frames (spec §4.7-4.8): masked tokens become the zero
 * code, each window is decoded, converted to uint8 and cropped to its unpadded frames, and
 * consecutive windows are blended where they share frames. The exact inverse of encode.h's
 * windowing; what it is not: writing video files (video_write.h) or choosing a rate (rate.h). */
#ifndef IT_DECODE_H
#define IT_DECODE_H

#include <stdint.h>

#include "infotok/records.h"
#include "infotok/stream.h"
#include "infotok/model.h"

/* Exported from libinfotok.so: the public API (the library builds with hidden visibility). */
#pragma GCC visibility push(default)

#ifdef __cplusplus
extern "C" {
#endif

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

/* ---- token records -> frames, video by video (src/decode_records.c) ----------------------
 * The loop it-decode and it-stats --psnr share: each input's HEADER is checked against the
 * model (the hash of the weights that made the tokens) and against the earlier inputs
 * (it_stream_header_compatible), then each video's windows go through a video decoder and its
 * frames to the caller. Re-allocation is the record reader's (it_record_reader_reallocate). */
typedef struct it_decode_events {
    /* An input's HEADER, already checked; may be NULL. */
    int (*header)(void *user, const it_stream_header *h, const char *input);
    /* A video begins (its VIDEO record's JSON and id): 1 to decode it, 0 to pass over it,
     * <0 to stop. */
    int (*video)(void *user, const char *video_json, uint64_t id);
    /* Each window of a decoded video, as it will be decoded (re-allocated if the reader is);
     * may be NULL. A nonzero answer fails the video. */
    int (*window)(void *user, const it_window_rec *rec);
    /* A finished frame of the current video, in order. A nonzero answer fails the video. */
    it_frame_sink frame;
    /* The video ends (not called for videos passed over): its VIDEO_END JSON, whether the
     * encoder finished it ("status":"ok"), and 0 or the code that failed its decoding (message
     * set; the rest of its windows were passed over). 0 goes on, <0 stops everything. */
    int (*video_end)(void *user, const char *end_json, int encoded_ok, int rc);
} it_decode_events;

typedef struct it_records_decoder it_records_decoder;
/* model_name names the model in messages ("the bundled model", a path). */
int it_records_decoder_new(it_records_decoder **out, it_model *m, const char *model_name);
/* Tokens made in another precision than the model's are refused (IT_E_INVALID, saying which
 * --precision to give) unless this is set: the caller asked for that precision explicitly. */
void it_records_decoder_any_precision(it_records_decoder *d, int any);
/* Every record of r, until its END: 0, or the first code that stopped it. */
int it_records_decode(it_records_decoder *d, it_record_reader *r, const it_decode_events *ev, void *user);
/* The source frame rate of the current video (its windows' fps; 0 if unknown). */
double it_records_decoder_fps(const it_records_decoder *d);
void it_records_decoder_free(it_records_decoder **d);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop
#endif
