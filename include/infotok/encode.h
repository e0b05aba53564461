/* encode.h: one video through the tokenizer, window by window (spec §4.2-4.4): decode,
 * pad, encode, one full-rate decode for the ELBO map, and a record per window. The next
 * window is decoded on another thread while the model works on the current one.
 * What it is not: corpus-level allocation (rate.h) or output (formats/tokstream.h). */
#ifndef IT_ENCODE_H
#define IT_ENCODE_H

#include "infotok/stream.h"
#include "infotok/core.h"
#include "infotok/model.h"

/* Exported from libinfotok.so: the public API (the library builds with hidden visibility). */
#pragma GCC visibility push(default)

#ifdef __cplusplus
extern "C" {
#endif

typedef struct it_encode_opts {
    int temporal_window;   /* frames per window (spec: tw) */
    int overlap;           /* frames shared by consecutive windows (spec: ov) */
    it_video_opts video;   /* decoder threads, resize, crop */
    int strategy;          /* IT_STRATEGY_STATIC/ELBO: apply avg_rate per window now;
                              NONE or GLOBAL_ELBO: records stay full-rate */
    float avg_rate;
} it_encode_opts;

/* Receives each window record; buffers are valid during the call only. Nonzero stops. */
typedef int (*it_window_sink)(void *user, const it_window_rec *rec);

typedef struct it_encode_result {
    int64_t frames;        /* source frames decoded */
    uint32_t windows;
} it_encode_result;

/* Encode one source. video_id/ordinal are copied into every record. On failure the
 * records already delivered stay delivered; the caller decides what a failed video means. */
int it_encode_video(it_model *m, const it_source *src, uint64_t video_id, uint32_t ordinal,
                    const it_encode_opts *opts, it_window_sink sink, void *user,
                    it_encode_result *result);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop
#endif
