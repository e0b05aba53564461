/* window.c: cutting a decoded video into the network's temporal windows (spec §4.2).
 * Windows overlap by ov frames; each is padded to T = 1 + 8k frames (edge-replicated)
 * and to multiples of 16 pixels (zeros), with floor(pad/2) before and the rest after.
 * Memory holds one window plus one look-ahead frame, whatever the video's length. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"

enum { TIME_MULTIPLE = 8, SPACE_MULTIPLE = 16 };

int64_t it_window_count(int64_t n, int tw, int ov)
{
    if (n <= 0 || tw <= 0 || ov < 0 || ov >= tw)
        return 0;
    if (n <= tw)
        return 1;
    int64_t step = tw - ov;
    return (n - tw + step - 1) / step + 1;
}

void it_pad_compute(int t, int h, int w, it_pad *p)
{
    int padt = (TIME_MULTIPLE - (t - 1) % TIME_MULTIPLE) % TIME_MULTIPLE;
    int padh = (SPACE_MULTIPLE - h % SPACE_MULTIPLE) % SPACE_MULTIPLE;
    int padw = (SPACE_MULTIPLE - w % SPACE_MULTIPLE) % SPACE_MULTIPLE;
    p->t = t;
    p->h = h;
    p->w = w;
    p->pt = t + padt;
    p->ph = h + padh;
    p->pw = w + padw;
    p->t0 = padt / 2;
    p->h0 = padh / 2;
    p->w0 = padw / 2;
}

struct it_windower {
    it_video *video;
    int tw, ov, w, h;
    size_t frame_bytes;
    uint8_t **frames;  /* tw + 1 slots: the window and one look-ahead frame */
    double *pts;       /* per slot */
    int have;          /* filled slots */
    int eof;
    int64_t next_index, next_first;
    it_window win;
    size_t padded_cap;
};

int it_windower_new(it_windower **out, it_video *v, int tw, int ov)
{
    int rc = 0;
    if (tw < 1 || ov < 0 || ov >= tw)
        return it_error_set(IT_E_INVALID, "window of %d frames with overlap %d: need 0 <= overlap < window", tw, ov);
    it_windower *wd = calloc(1, sizeof *wd);
    IT_CHECK_ALLOC(wd, "a windower");
    wd->video = v;
    wd->tw = tw;
    wd->ov = ov;
    wd->w = it_video_width(v);
    wd->h = it_video_height(v);
    wd->frame_bytes = (size_t)wd->w * wd->h * 3;
    wd->frames = calloc((size_t)tw + 1, sizeof *wd->frames);
    wd->pts = calloc((size_t)tw + 1, sizeof *wd->pts);
    wd->win.pts = calloc((size_t)tw, sizeof *wd->win.pts);
    IT_CHECK_ALLOC(wd->frames && wd->pts && wd->win.pts, "a windower");
    for (int i = 0; i <= tw; i++) {
        wd->frames[i] = malloc(wd->frame_bytes);
        IT_CHECK_ALLOC(wd->frames[i], "window frames");
    }
    *out = wd;
    wd = NULL;
done:
    it_windower_free(&wd);
    return rc;
}

void it_windower_free(it_windower **pwd)
{
    it_windower *wd = *pwd;
    if (!wd)
        return;
    if (wd->frames)
        for (int i = 0; i <= wd->tw; i++)
            free(wd->frames[i]);
    free(wd->frames);
    free(wd->pts);
    free(wd->win.pts);
    free(wd->win.rgb);
    free(wd);
    *pwd = NULL;
}

static int fill_to(it_windower *wd, int want)
{
    while (wd->have < want && !wd->eof) {
        int r = it_video_read(wd->video, wd->frames[wd->have], &wd->pts[wd->have]);
        if (r < 0)
            return r;
        if (r == 0)
            wd->eof = 1;
        else
            wd->have++;
    }
    return 0;
}

/* Zero-pad in space, replicate the first/last frame in time. */
static void pad_window(it_windower *wd, int t)
{
    it_window *win = &wd->win;
    const it_pad *p = &win->pad;
    size_t prow = (size_t)p->pw * 3, pframe = prow * p->ph;
    memset(win->rgb, 0, pframe * p->pt);
    for (int pt = 0; pt < p->pt; pt++) {
        int src = pt - p->t0;
        src = src < 0 ? 0 : src >= t ? t - 1 : src;
        const uint8_t *s = wd->frames[src];
        uint8_t *d = win->rgb + pframe * pt + prow * p->h0 + (size_t)p->w0 * 3;
        for (int y = 0; y < wd->h; y++)
            memcpy(d + prow * y, s + (size_t)y * wd->w * 3, (size_t)wd->w * 3);
    }
}

int it_windower_next(it_windower *wd, const it_window **out)
{
    int rc = 0;
    if (wd->win.last)
        return 0;
    if (wd->next_index > 0) {
        /* Keep the overlap frames and the look-ahead frame; recycle the rest. */
        int step = wd->tw - wd->ov;
        for (int i = 0; i < step; i++) {
            uint8_t *f = wd->frames[0];
            memmove(wd->frames, wd->frames + 1, (size_t)wd->tw * sizeof *wd->frames);
            memmove(wd->pts, wd->pts + 1, (size_t)wd->tw * sizeof *wd->pts);
            wd->frames[wd->tw] = f;
        }
        wd->have -= step;
    }
    IT_TRY(fill_to(wd, wd->tw));
    if (wd->have == 0)
        IT_FAIL(IT_E_DECODE, "no video frames could be decoded");
    int t = wd->have < wd->tw ? wd->have : wd->tw;
    /* A full window is the last one unless at least one more frame follows it. */
    if (wd->have == wd->tw)
        IT_TRY(fill_to(wd, wd->tw + 1));
    it_window *win = &wd->win;
    win->index = wd->next_index;
    win->first = wd->next_first;
    win->last = wd->have <= wd->tw;
    it_pad_compute(t, wd->h, wd->w, &win->pad);
    size_t need = (size_t)win->pad.pt * win->pad.ph * win->pad.pw * 3;
    if (need > wd->padded_cap) {
        free(win->rgb);
        win->rgb = malloc(need);
        wd->padded_cap = win->rgb ? need : 0;
        IT_CHECK_ALLOC(win->rgb, "a padded window");
    }
    pad_window(wd, t);
    memcpy(win->pts, wd->pts, (size_t)t * sizeof *win->pts);
    wd->next_index++;
    wd->next_first += wd->tw - wd->ov;
    *out = win;
    return 1;
done:
    return rc;
}
