/* test_window: window counts and per-window padding against the spec's worked examples
 * (infotok-model.md §4.2) and the official formulas, checked exhaustively on small sizes. */
#include <stdio.h>
#include <stdlib.h>

#include "infotok/core.h"

static int failures;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* The official loop, written out: windows start at i*step while the previous one has not
 * reached the end. */
static long official_count(long n, int tw, int ov)
{
    if (n <= tw)
        return 1;
    long step = tw - ov, count = 0;
    for (long start = 0;; start += step) {
        count++;
        if (start + tw >= n)
            return count;
    }
}

int main(void)
{
    /* 81/3 as the release runs it: [0,81), [78,159), [156,237), [234,270). */
    CHECK(it_window_count(270, 81, 3) == 4, "270 frames 81/3: %lld", (long long)it_window_count(270, 81, 3));
    CHECK(it_window_count(81, 81, 3) == 1, "exactly one window");
    CHECK(it_window_count(82, 81, 3) == 2, "one frame more is two windows");
    CHECK(it_window_count(1, 17, 0) == 1, "a single frame is one window");
    CHECK(it_window_count(0, 17, 0) == 0, "no frames, no windows");
    CHECK(it_window_count(34, 17, 0) == 2 && it_window_count(35, 17, 0) == 3, "no overlap");
    CHECK(it_window_count(10, 5, 5) == 0, "overlap must be smaller than the window");
    for (int tw = 1; tw <= 12; tw++)
        for (int ov = 0; ov < tw; ov++)
            for (long n = 1; n <= 60; n++)
                CHECK(it_window_count(n, tw, ov) == official_count(n, tw, ov),
                      "n=%ld tw=%d ov=%d: %lld vs %ld", n, tw, ov,
                      (long long)it_window_count(n, tw, ov), official_count(n, tw, ov));

    /* 13x50x70 pads 2/2 frames, 7/7 rows, 5/5 columns; crop [2,7,5,15,57,75]. */
    it_pad p;
    it_pad_compute(13, 50, 70, &p);
    CHECK(p.pt == 17 && p.ph == 64 && p.pw == 80, "13x50x70 padded to %dx%dx%d", p.pt, p.ph, p.pw);
    CHECK(p.t0 == 2 && p.h0 == 7 && p.w0 == 5, "13x50x70 pad before %d,%d,%d", p.t0, p.h0, p.w0);
    CHECK(p.t0 + p.t == 15 && p.h0 + p.h == 57 && p.w0 + p.w == 75, "13x50x70 crop end");
    /* A 20-frame tail gets 2 frames in front and 3 behind: 25 = 1 + 3*8. */
    it_pad_compute(20, 48, 64, &p);
    CHECK(p.pt == 25 && p.t0 == 2, "20 frames: %d, front %d", p.pt, p.t0);
    CHECK(p.ph == 48 && p.pw == 64 && p.h0 == 0 && p.w0 == 0, "aligned sizes are not padded");
    it_pad_compute(1, 1, 1, &p);
    CHECK(p.pt == 1 && p.ph == 16 && p.pw == 16 && p.h0 == 7 && p.w0 == 7, "1x1x1");
    for (int t = 1; t <= 40; t++) {
        it_pad_compute(t, 16, 16, &p);
        CHECK((p.pt - 1) % 8 == 0 && p.pt >= t && p.pt - t < 8, "t=%d padded to %d", t, p.pt);
        CHECK(p.t0 == (p.pt - t) / 2, "t=%d front %d", t, p.t0);
    }
    if (failures)
        fprintf(stderr, "%d checks failed\n", failures);
    return failures ? 1 : 0;
}
