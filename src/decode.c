/* decode.c: window records -> frames (decode.h).
 *
 * Windows overlap by the frames the encoder repeated (spec §4.2): the shared count is taken
 * from the geometry (previous first_frame + t - this first_frame), not assumed, and checked.
 * The last `overlap` frames of the output so far wait in `held`; a new window first releases
 * the held frames it does not share, blends the shared ones into its head (it_blend_overlap,
 * spec §4.8), then emits its frames except its last `overlap`, which it holds in turn. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/decode.h"
#include "error_internal.h"

/* A sink's nonzero answer stops decoding and is passed back as it is. */
#define EMIT(...) do { if ((rc = emit(__VA_ARGS__)) != 0) goto done; } while (0)

struct it_video_decoder {
    it_model *m;
    int overlap;
    /* scratch, grown to the largest window seen */
    uint8_t *full, *rgb, *blend;
    size_t full_cap, rgb_cap, blend_cap;
    /* held frames of the previous window */
    uint8_t *held;
    size_t held_cap;
    int nheld, h, w;
    int64_t held_first;    /* frame index of held[0] */
    int have_prev;
    uint32_t next_window;
    uint64_t video_id;
};

static int grow(void **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    void *q = realloc(*p, need);
    if (!q)
        return it_error_set(IT_E_NOMEM, "out of memory for a %zu-byte decode buffer", need);
    *p = q;
    *cap = need;
    return 0;
}

int it_video_decoder_new(it_video_decoder **out, it_model *m, int overlap)
{
    *out = NULL;
    if (overlap < 0)
        return it_error_set(IT_E_INVALID, "overlap %d is negative", overlap);
    it_video_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return it_error_set(IT_E_NOMEM, "out of memory");
    d->m = m;
    d->overlap = overlap;
    *out = d;
    return 0;
}

static int emit(it_video_decoder *d, const uint8_t *frames, int n, int64_t first, it_frame_sink sink, void *user)
{
    const size_t fb = (size_t)d->h * d->w * 3;
    for (int i = 0; i < n; i++) {
        int rc = sink(user, first + i, d->h, d->w, frames + i * fb);
        if (rc)
            return rc;
    }
    return 0;
}

int it_video_decoder_push(it_video_decoder *d, const it_window_rec *r, it_frame_sink sink, void *user)
{
    int rc = 0;
    if (d->have_prev && (r->video_id != d->video_id || r->window_index != d->next_window))
        return it_error_set(IT_E_INVALID, "window %" PRIu32 " of video %016" PRIx64 " does not follow window %" PRIu32
                            " of video %016" PRIx64 " (finish a video before the next)", r->window_index, r->video_id,
                            d->next_window - 1, d->video_id);
    if (d->have_prev && (r->h != d->h || r->w != d->w))
        return it_error_set(IT_E_FORMAT, "window %" PRIu32 " is %dx%d, the video's earlier windows %dx%d",
                            r->window_index, r->w, r->h, d->w, d->h);
    int lt, lh, lw;
    IT_TRY(it_model_latent_shape(d->m, r->pt, r->ph, r->pw, &lt, &lh, &lw));
    if (lt != r->lt || lh != r->lh || lw != r->lw)
        IT_FAIL(IT_E_FORMAT, "window %" PRIu32 ": latent grid %dx%dx%d does not match the padded size %dx%dx%d "
                "for this model (%dx%dx%d)", r->window_index, r->lt, r->lh, r->lw, r->pt, r->ph, r->pw, lt, lh, lw);
    const size_t fb = (size_t)r->h * r->w * 3;
    if (r->t0 < 0 || r->h0 < 0 || r->w0 < 0 || r->t0 + r->t > r->pt || r->h0 + r->h > r->ph ||
        r->w0 + r->w > r->pw)
        IT_FAIL(IT_E_FORMAT, "window %" PRIu32 ": crop %dx%dx%d at %d,%d,%d lies outside the padded %dx%dx%d",
                r->window_index, r->t, r->h, r->w, r->t0, r->h0, r->w0, r->pt, r->ph, r->pw);
    IT_TRY(grow((void **)&d->full, &d->full_cap, (size_t)r->pt * r->ph * r->pw * 3));
    IT_TRY(grow((void **)&d->rgb, &d->rgb_cap, (size_t)r->t * fb));
    /* masked tokens (keep 0) become the zero code (index 32036) inside the model */
    IT_TRY(it_model_detokenize(d->m, 1, lt, lh, lw, r->indices, r->keep, d->full));
    for (int f = 0; f < r->t; f++) /* crop to the unpadded frames */
        for (int y = 0; y < r->h; y++)
            memcpy(d->rgb + ((size_t)f * r->h + y) * r->w * 3,
                   d->full + (((size_t)(f + r->t0) * r->ph + y + r->h0) * r->pw + r->w0) * 3, (size_t)r->w * 3);

    if (d->have_prev) {
        const int64_t held_end = d->held_first + d->nheld;
        const int64_t shared = held_end - r->first_frame;
        if (shared < 0 || shared > d->nheld || shared > r->t)
            IT_FAIL(IT_E_FORMAT, "window %" PRIu32 " starts at frame %" PRId64 ", but the previous window's frames "
                    "end at %" PRId64 " (overlap %d)", r->window_index, r->first_frame, held_end, d->overlap);
        const int k = (int)shared, lead = d->nheld - k;
        EMIT(d, d->held, lead, d->held_first, sink, user);
        if (k > 0) {
            /* The blended frames replace the window's head: the official code blends the next
             * window into its output so far, so a window shorter than twice the overlap passes
             * on frames that were already blended. */
            IT_TRY(grow((void **)&d->blend, &d->blend_cap, (size_t)k * fb));
            it_blend_overlap(k, fb, d->held + (size_t)lead * fb, d->rgb, d->blend);
            memcpy(d->rgb, d->blend, (size_t)k * fb);
        }
    } else {
        d->h = r->h;
        d->w = r->w;
        d->video_id = r->video_id;
    }
    const int hold = d->overlap < r->t ? d->overlap : r->t;
    EMIT(d, d->rgb, r->t - hold, r->first_frame, sink, user);
    IT_TRY(grow((void **)&d->held, &d->held_cap, (size_t)(hold ? hold : 1) * fb));
    memcpy(d->held, d->rgb + (size_t)(r->t - hold) * fb, (size_t)hold * fb);
    d->nheld = hold;
    d->held_first = r->first_frame + r->t - hold;
    d->have_prev = 1;
    d->next_window = r->window_index + 1;
done:
    return rc;
}

int it_video_decoder_finish(it_video_decoder *d, it_frame_sink sink, void *user)
{
    int rc = d->have_prev ? emit(d, d->held, d->nheld, d->held_first, sink, user) : 0;
    d->have_prev = 0;
    d->nheld = 0;
    d->next_window = 0;
    return rc;
}

void it_video_decoder_free(it_video_decoder **dp)
{
    it_video_decoder *d = *dp;
    if (!d)
        return;
    free(d->full);
    free(d->rgb);
    free(d->blend);
    free(d->held);
    free(d);
    *dp = NULL;
}
