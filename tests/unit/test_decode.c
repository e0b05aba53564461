/* test_decode: the video decoder (src/decode.c) stitches windows exactly as spec §4.7-4.8
 * says. Real clips of the generated corpus are encoded with the bundled model into short,
 * overlapping windows (tw 9, ov 3; a masked rate so the zero code is exercised; an odd-sized
 * clip so spatial and temporal padding are cropped); the decoder's frames are compared byte
 * for byte with frames assembled independently here: each window decoded alone (mask -> zero
 * code, it_model_decode, it_pixels_to_u8 with its crop), the shared frames found from the
 * windows' first_frame, joined with it_blend_overlap (tested against the reference in
 * test_blend), the rest appended. Also: one frame per source frame, indices in order. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "encode.h"
#include "infotok.h"
#include "kernels/it_kernels.h"
#include "model.h"
#include "rate.h"

static int failures;
#define CHECK(c, ...)                                    \
    do {                                                 \
        if (!(c)) {                                      \
            fprintf(stderr, "FAIL: " __VA_ARGS__);       \
            fprintf(stderr, " (%s)\n", it_error_message()); \
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
    it_model_backend(m)->fsq_decode(nt, idx, codes);
    for (size_t i = 0; i < nt; i++)
        if (r->keep && !r->keep[i])
            for (int c = 0; c < 6; c++)
                codes[c * nt + i] = 0;
    it_model_decode(m, r->lt, r->lh, r->lw, codes, y);
    const it_pad crop = {r->t, r->h, r->w, r->pt, r->ph, r->pw, r->t0, r->h0, r->w0};
    it_pixels_to_u8(r->pt, r->ph, r->pw, y, &crop, rgb);
    free(idx);
    free(codes);
    free(y);
    return rgb;
}

static void check_clip(it_model *m, const char *path, int64_t source_frames)
{
    it_source src = {path, NULL};
    it_encode_opts o = {.temporal_window = 9, .overlap = 3, .strategy = IT_STRATEGY_STATIC, .avg_rate = 0.5f};
    recs c = {.n = 0};
    it_encode_result res;
    CHECK(it_encode_video(m, &src, 7, 0, &o, collect, &c, &res) == 0, "%s: encode", path);
    CHECK(c.n >= 2, "%s: %d windows, expected several", path, c.n);
    it_video_decoder *d = NULL;
    frames got = {.order_ok = 1};
    CHECK(it_video_decoder_new(&d, m, 3) == 0, "decoder");
    for (int i = 0; i < c.n; i++)
        CHECK(it_video_decoder_push(d, &c.r[i], take, &got) == 0, "%s: push window %d", path, i);
    CHECK(it_video_decoder_finish(d, take, &got) == 0, "%s: finish", path);
    CHECK(got.n == source_frames, "%s: %" PRId64 " frames decoded, the source has %" PRId64, path, got.n,
          source_frames);
    CHECK(got.order_ok, "%s: frame indices out of order", path);

    /* the independent assembly */
    const size_t fb = (size_t)c.r[0].h * c.r[0].w * 3;
    uint8_t *want = malloc((size_t)source_frames * fb + fb);
    int64_t have = 0;
    for (int i = 0; i < c.n; i++) {
        const it_window_rec *r = &c.r[i];
        uint8_t *win = decode_alone(m, r);
        const int64_t shared = have - r->first_frame;
        CHECK(shared >= 0 && shared <= 3, "%s: window %d shares %" PRId64 " frames", path, i, shared);
        if (shared > 0)
            it_blend_overlap((int)shared, fb, want + (size_t)(have - shared) * fb, win,
                             want + (size_t)(have - shared) * fb);
        if (r->first_frame + r->t <= source_frames && shared >= 0)
            memcpy(want + (size_t)have * fb, win + (size_t)shared * fb, (size_t)(r->t - shared) * fb);
        have = r->first_frame + r->t;
        free(win);
    }
    CHECK(have == source_frames, "%s: windows cover %" PRId64 " frames", path, have);
    if (got.n == source_frames && have == source_frames)
        CHECK(memcmp(got.rgb, want, (size_t)source_frames * fb) == 0, "%s: decoded frames differ from the spec's "
              "assembly", path);
    /* a window out of order is refused */
    CHECK(it_video_decoder_push(d, &c.r[1], take, &got) == 0, "restart at window 1");
    CHECK(it_video_decoder_push(d, &c.r[0], take, &got) < 0, "%s: window 0 after window 1 accepted", path);
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
    if (argc != 2) {
        fprintf(stderr, "usage: test_decode GEN_VIDEO_DIR\n");
        return 99;
    }
    it_model *m = NULL;
    if (it_model_load(&m, it_default_model_path(), "cpu") < 0) {
        fprintf(stderr, "cannot load the bundled model: %s\n", it_error_message());
        return 99;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/long.mkv", argv[1]);
    check_clip(m, path, 45);
    snprintf(path, sizeof path, "%s/odd_size.mkv", argv[1]);
    check_clip(m, path, 13);
    it_model_free(&m);
    return failures ? 1 : 0;
}
