/* test_decode: the video decoder (src/decode.c) stitches windows exactly as spec §4.7-4.8
 * says. Real clips of the generated corpus are encoded with the bundled model into short
 * windows: overlapping (tw 9, ov 3), overlapping by more than half a window (tw 9, ov 5, where
 * already blended frames are blended again), not overlapping (ov 0), and one window for the
 * whole clip; masked (static 0.5, so the zero code is exercised) and full rate; an odd-sized
 * clip so spatial and temporal padding are cropped. The decoder's frames are compared byte
 * for byte with frames assembled independently here, as the official pipeline does: each
 * window decoded alone (mask -> zero code, it_model_decode, it_pixels_to_u8 with its crop),
 * appended to the output so far with it_blend_overlap (tested against the reference in
 * test_blend) over the frames the windows share. Also: one frame per source frame, indices
 * in order, and the frames match the source they came from: the PSNR against the source is
 * finite, above a floor, and clearly better than against the source one frame or one pixel
 * off (what a wrong offset or crop would give). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/decode.h"
#include "infotok/encode.h"
#include "infotok/core.h"
#include "kernels/it_kernels.h"
#include "infotok/model.h"
#include "infotok/rate.h"

static int failures;
#define CHECK(c, ...)                                    \
    do {                                                 \
        if (!(c)) {                                      \
            fprintf(stderr, "FAIL: " __VA_ARGS__);       \
            fprintf(stderr, " (last library message: %s)\n", it_error_message()); \
            failures++;                                  \
        }                                                \
    } while (0)

typedef struct recs {
    it_window_rec r[64];
    int n;
} recs;

static int collect(void *user, const it_window_rec *rec)
{
    recs *c = user;
    if (c->n == 64)
        return 1;
    it_window_rec *d = &c->r[c->n++];
    *d = *rec;
    const size_t nt = (size_t)rec->lt * rec->lh * rec->lw;
    d->indices = malloc(nt * 2);
    d->elbo = malloc(nt * 4);
    d->keep = rec->keep ? malloc(nt) : NULL;
    memcpy(d->indices, rec->indices, nt * 2);
    memcpy(d->elbo, rec->elbo, nt * 4);
    if (rec->keep)
        memcpy(d->keep, rec->keep, nt);
    return 0;
}

typedef struct frames {
    uint8_t *rgb;
    int64_t n, next_index;
    size_t fb;
    int order_ok;
} frames;

static int take(void *user, int64_t index, int h, int w, const uint8_t *rgb)
{
    frames *f = user;
    f->fb = (size_t)h * w * 3;
    if (index != f->next_index)
        f->order_ok = 0;
    f->next_index = index + 1;
    f->rgb = realloc(f->rgb, (size_t)(f->n + 1) * f->fb);
    memcpy(f->rgb + f->n * f->fb, rgb, f->fb);
    f->n++;
    return 0;
}

/* One window alone -> its unpadded uint8 frames. */
static uint8_t *decode_alone(it_model *m, const it_window_rec *r)
{
    const size_t nt = (size_t)r->lt * r->lh * r->lw;
    int32_t *idx = malloc(nt * sizeof *idx);
    float *codes = malloc(6 * nt * sizeof *codes), *y = malloc((size_t)3 * r->pt * r->ph * r->pw * sizeof *y);
    uint8_t *rgb = malloc((size_t)r->t * r->h * r->w * 3);
    for (size_t i = 0; i < nt; i++)
        idx[i] = r->indices[i];
    for (size_t i = 0; i < nt; i++) /* spec 3.6's inverse, written out here */
        for (int c = 0; c < 6; c++) {
            int L = it_fsq_levels[c], half = L / 2;
            codes[c * nt + i] = r->keep && !r->keep[i] ? 0.0f : (float)(idx[i] / it_fsq_basis[c] % L - half) / half;
        }
    it_model_decode(m, r->lt, r->lh, r->lw, codes, y);
    const it_pad crop = {r->t, r->h, r->w, r->pt, r->ph, r->pw, r->t0, r->h0, r->w0};
    it_pixels_to_u8(r->pt, r->ph, r->pw, y, &crop, rgb);
    free(idx);
    free(codes);
    free(y);
    return rgb;
}

/* The source's frames, as it-encode read them (no resize, no crop). */
static uint8_t *read_source(const char *path, int64_t *n, int *h, int *w)
{
    it_source src = {path, NULL};
    it_video *v = NULL;
    *n = 0;
    if (it_video_open(&v, &src, NULL) < 0)
        return NULL;
    *h = it_video_height(v);
    *w = it_video_width(v);
    const size_t fb = (size_t)*h * *w * 3;
    uint8_t *all = NULL;
    double pts;
    for (;;) {
        uint8_t *p = realloc(all, (size_t)(*n + 1) * fb);
        if (!p)
            break;
        all = p;
        if (it_video_read(v, all + (size_t)*n * fb, &pts) != 1)
            break;
        (*n)++;
    }
    it_video_close(&v);
    return all;
}

/* PSNR of the luma ((R+G+B)/3) of got against want displaced by (dt frames, dy rows, dx
 * columns), over the frames both have and the frame's interior (3 pixels in from each edge,
 * where the zero padding makes the small bundled model's errors large; colour is left out
 * because the model desaturates it): got[f][y][x] vs want[f+dt][y+dy][x+dx]. */
static double psnr_luma(const uint8_t *got, const uint8_t *want, int64_t n, int h, int w, int dt, int dy, int dx)
{
    const int m = 3;
    double se = 0;
    int64_t count = 0;
    for (int64_t f = dt < 0 ? -dt : 0; f < n && f + dt < n; f++)
        for (int y = m; y < h - m; y++)
            for (int x = m; x < w - m; x++) {
                const uint8_t *g = got + ((f * h + y) * w + x) * 3;
                const uint8_t *s = want + (((f + dt) * h + y + dy) * w + x + dx) * 3;
                double e = ((double)g[0] + g[1] + g[2] - s[0] - s[1] - s[2]) / 3;
                se += e * e;
                count++;
            }
    return se == 0 ? INFINITY : 10 * log10(255.0 * 255.0 / (se / (double)count));
}

static void check_clip(it_model *m, const char *path, int64_t source_frames, int tw, int ov, int strategy, int align)
{
    it_source src = {path, NULL};
    it_encode_opts o = {.temporal_window = tw, .overlap = ov, .strategy = strategy, .avg_rate = 0.5f};
    const int64_t nwin = it_window_count(source_frames, tw, ov);
    recs c = {.n = 0};
    it_encode_result res;
    fprintf(stderr, "%s: window %d, overlap %d, %s: %" PRId64 " windows\n", path, tw, ov,
            strategy ? it_strategy_name(strategy) : "full rate", nwin);
    CHECK(it_encode_video(m, &src, 7, 0, &o, collect, &c, &res) == 0, "%s: encode", path);
    CHECK(c.n == nwin, "%s: %d windows, expected %" PRId64, path, c.n, nwin);
    it_video_decoder *d = NULL;
    frames got = {.order_ok = 1};
    CHECK(it_video_decoder_new(&d, m, ov) == 0, "decoder");
    for (int i = 0; i < c.n; i++)
        CHECK(it_video_decoder_push(d, &c.r[i], take, &got) == 0, "%s: push window %d", path, i);
    CHECK(it_video_decoder_finish(d, take, &got) == 0, "%s: finish", path);
    CHECK(got.n == source_frames, "%s: %" PRId64 " frames decoded, the source has %" PRId64, path, got.n,
          source_frames);
    CHECK(got.order_ok, "%s: frame indices out of order", path);

    /* the independent assembly: the output so far, each window blended onto its end */
    const size_t fb = (size_t)c.r[0].h * c.r[0].w * 3;
    uint8_t *want = malloc((size_t)source_frames * fb + fb);
    int64_t have = 0;
    for (int i = 0; i < c.n; i++) {
        const it_window_rec *r = &c.r[i];
        uint8_t *win = decode_alone(m, r);
        const int64_t shared = have - r->first_frame;
        CHECK(shared == (i ? ov : 0), "%s: window %d shares %" PRId64 " frames", path, i, shared);
        if (shared >= 0 && shared <= r->t && r->first_frame + r->t <= source_frames) {
            if (shared > 0)
                it_blend_overlap((int)shared, fb, want + (size_t)(have - shared) * fb, win,
                                 want + (size_t)(have - shared) * fb);
            memcpy(want + (size_t)have * fb, win + (size_t)shared * fb, (size_t)(r->t - shared) * fb);
            have = r->first_frame + r->t;
        }
        free(win);
    }
    CHECK(have == source_frames, "%s: windows cover %" PRId64 " frames", path, have);
    if (got.n == source_frames && have == source_frames)
        CHECK(memcmp(got.rgb, want, (size_t)source_frames * fb) == 0, "%s: decoded frames differ from the spec's "
              "assembly", path);

    /* against the source: the right frames in the right place. A moving pattern (test_decode.sh
     * makes it) tells a frame or two pixels off clearly even through this small model. */
    int64_t sn = 0;
    int sh = 0, sw = 0;
    uint8_t *source = read_source(path, &sn, &sh, &sw);
    CHECK(source && sn == source_frames && sh == c.r[0].h && sw == c.r[0].w, "%s: the source reads as %" PRId64
          " frames of %dx%d", path, sn, sw, sh);
    if (align && source && got.n == source_frames && sn == source_frames && sh == c.r[0].h && sw == c.r[0].w) {
        static const int off[][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 2, 0}, {0, -2, 0}, {0, 0, 2}, {0, 0, -2}};
        const double p = psnr_luma(got.rgb, source, sn, sh, sw, 0, 0, 0);
        /* masked, the pattern (the same information everywhere) loses too much to tell */
        const double floor = strategy == IT_STRATEGY_NONE ? 18 : 12;
        fprintf(stderr, "  luma PSNR %.2f dB", p);
        CHECK(isfinite(p) && p > floor, "%s: luma PSNR %.2f dB against the source, expected > %g", path, p, floor);
        for (size_t k = 0; strategy == IT_STRATEGY_NONE && k < sizeof off / sizeof off[0]; k++) {
            const double q = psnr_luma(got.rgb, source, sn, sh, sw, off[k][0], off[k][1], off[k][2]);
            fprintf(stderr, "%s (%d,%d,%d) %.2f", k ? "" : "; displaced (frames, rows, columns):", off[k][0],
                    off[k][1], off[k][2], q);
            CHECK(p > q + 0.5, "%s: luma PSNR %.2f dB is not clearly better than displaced by (%d,%d,%d): %.2f dB",
                  path, p, off[k][0], off[k][1], off[k][2], q);
        }
        fputc('\n', stderr);
    }
    free(source);

    /* a window out of order is refused */
    if (c.n >= 2) {
        CHECK(it_video_decoder_push(d, &c.r[1], take, &got) == 0, "restart at window 1");
        CHECK(it_video_decoder_push(d, &c.r[0], take, &got) < 0, "%s: window 0 after window 1 accepted", path);
    }
    it_video_decoder_free(&d);
    free(want);
    free(got.rgb);
    for (int i = 0; i < c.n; i++) {
        free(c.r[i].indices);
        free(c.r[i].elbo);
        free(c.r[i].keep);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_decode GEN_VIDEO_DIR PATTERN_CLIP\n");
        return 99;
    }
    it_model *m = NULL;
    if (it_model_load(&m, it_default_model_path(), "cpu") < 0) {
        fprintf(stderr, "cannot load the bundled model: %s\n", it_error_message());
        return 99;
    }
    char lng[4096], odd[4096];
    snprintf(lng, sizeof lng, "%s/long.mkv", argv[1]);
    snprintf(odd, sizeof odd, "%s/odd_size.mkv", argv[1]);
    check_clip(m, lng, 45, 9, 3, IT_STRATEGY_STATIC, 0);
    check_clip(m, lng, 45, 9, 5, IT_STRATEGY_STATIC, 0);
    check_clip(m, lng, 45, 17, 0, IT_STRATEGY_NONE, 0);
    check_clip(m, odd, 13, 9, 3, IT_STRATEGY_STATIC, 0);
    check_clip(m, odd, 13, 17, 3, IT_STRATEGY_NONE, 0); /* one window */
    /* 25 frames of 67x45: spatial padding 3 rows and 13 columns, the last window 7 frames
     * padded to 9 (one in front) */
    check_clip(m, argv[2], 25, 9, 3, IT_STRATEGY_NONE, 1);
    check_clip(m, argv[2], 25, 9, 5, IT_STRATEGY_STATIC, 1);
    check_clip(m, argv[2], 25, 33, 5, IT_STRATEGY_NONE, 1); /* one window */
    it_model_free(&m);
    return failures ? 1 : 0;
}
