/* test_stream.c: the token stream (formats/tokstream.c) and CRC-32 (formats/crc32.c).
 *   test_stream                     run the tests (Automake harness: 0 pass, 99 failure)
 *   test_stream --generate FILE     write the golden stream (tests/stream/golden.itok)
 *   test_stream --seeds DIR         write small valid streams (tests/stream/fuzz.sh's seeds)
 * Covers: CRC-32 vectors; a round trip of a realistic stream; the committed golden file byte
 * for byte; every truncation of small streams; bit flips; hostile records with valid CRCs
 * (built here with an encoder independent of the library's); the writer's refusals. All random
 * data comes from a fixed-seed generator. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/stream.h"
#include "infotok/core.h"

static int failures;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

#define CHECK_OK(expr)                                                                   \
    do {                                                                                 \
        it_error_clear();                                                                \
        int rc_ = (expr);                                                                \
        if (rc_ < 0) {                                                                   \
            fprintf(stderr, "%s:%d: %s failed: %d (%s) %s\n", __FILE__, __LINE__, #expr, \
                    rc_, it_strerror(rc_), it_error_message());                          \
            failures++;                                                                  \
        }                                                                                \
    } while (0)

/* A call that must fail with `code` and a message containing `needle`. */
#define CHECK_ERR(expr, code, needle) check_err_((expr), (code), (needle), #expr, __LINE__)
static void check_err_(int rc, int code, const char *needle, const char *expr, int line)
{
    const char *m = it_error_message();
    if (rc != code || !strstr(m, needle)) {
        fprintf(stderr, "%s:%d: %s: got %d (%s) \"%s\", expected %d (%s) with \"%s\"\n", __FILE__,
                line, expr, rc, it_strerror(rc), m, code, it_strerror(code), needle);
        failures++;
    } else if (getenv("VERBOSE")) {
        fprintf(stderr, "ok: %s\n", m);
    }
}

/* xorshift64*: fixed seeds, the same numbers on every machine. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

/* ---- a growable byte buffer and an encoder independent of the library -------------------- */

typedef struct bytes { unsigned char *p; size_t n, cap; } bytes;

static void b_put(bytes *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            perror("realloc");
            exit(99);
        }
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void b_u8(bytes *b, uint8_t v) { b_put(b, &v, 1); }
static void b_u16(bytes *b, uint16_t v) { b_u8(b, (uint8_t)v); b_u8(b, (uint8_t)(v >> 8)); }
static void b_u32(bytes *b, uint32_t v) { b_u16(b, (uint16_t)v); b_u16(b, (uint16_t)(v >> 16)); }
static void b_u64(bytes *b, uint64_t v) { b_u32(b, (uint32_t)v); b_u32(b, (uint32_t)(v >> 32)); }
static void b_f32(bytes *b, float v) { uint32_t u; memcpy(&u, &v, 4); b_u32(b, u); }
static void b_f64(bytes *b, double v) { uint64_t u; memcpy(&u, &v, 8); b_u64(b, u); }

static void file_header(bytes *b, uint32_t version, uint32_t flags)
{
    b_put(b, "ITOKSTRM", 8);
    b_u32(b, version);
    b_u32(b, flags);
}

/* A framed record with a correct CRC (the 8 bytes type..length, then the payload). */
static void record(bytes *b, unsigned type, const void *payload, size_t len)
{
    unsigned char frame[8] = {(unsigned char)type, (unsigned char)(type >> 8), 0, 0,
                              (unsigned char)len, (unsigned char)(len >> 8),
                              (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
    b_put(b, "ITRC", 4);
    b_put(b, frame, 8);
    b_put(b, payload, len);
    b_u32(b, it_crc32(it_crc32(0, frame, 8), payload, len));
}

static void json_record(bytes *b, unsigned type, const char *json)
{
    record(b, type, json, strlen(json));
}

/* The window payload as infotok-stream(5) lays it out. The mask comes from keep[]; kept_tokens
 * are the first r->kept kept indices (zeros if the mask has fewer), so that a mask and a count
 * that disagree can be written. */
static void window_payload(bytes *b, const it_window_rec *r)
{
    /* hostile grids write no arrays */
    const int64_t grid = (int64_t)r->lt * r->lh * r->lw;
    const size_t nt = r->lt > 0 && r->lh > 0 && r->lw > 0 && grid <= IT_STREAM_MAX_TOKENS ? (size_t)grid : 0;
    b_u64(b, r->video_id);
    b_u32(b, r->video_ordinal);
    b_u32(b, r->window_index);
    b_u64(b, (uint64_t)r->first_frame);
    const int32_t d[12] = {r->t, r->h, r->w, r->pt, r->ph, r->pw, r->t0, r->h0, r->w0, r->lt, r->lh, r->lw};
    for (int i = 0; i < 12; i++)
        b_u32(b, (uint32_t)d[i]);
    b_f64(b, r->fps);
    b_f32(b, r->elbo_mean);
    b_u8(b, r->strategy);
    b_u8(b, 0);
    b_u16(b, 0);
    b_f32(b, r->rate);
    b_u32(b, r->kept);
    for (size_t i = 0; i < nt; i++)
        b_u16(b, r->indices[i]);
    for (size_t i = 0; i < nt; i++)
        b_f32(b, r->elbo[i]);
    if (r->strategy) {
        for (size_t i = 0; i < (nt + 7) / 8; i++) {
            uint8_t m = 0;
            for (size_t j = 0; j < 8 && 8 * i + j < nt; j++)
                m |= (uint8_t)((r->keep[8 * i + j] & 1) << j);
            b_u8(b, m);
        }
        uint32_t k = 0;
        for (size_t i = 0; i < nt && k < r->kept; i++)
            if (r->keep[i]) {
                b_u16(b, r->indices[i]);
                k++;
            }
        for (; k < r->kept; k++)
            b_u16(b, 0);
    }
}

static void window_record(bytes *b, const it_window_rec *r)
{
    bytes p = {0};
    window_payload(&p, r);
    record(b, IT_REC_WINDOW, p.p, p.n);
    free(p.p);
}

static void alloc_record(bytes *b, uint8_t strategy, float avg, uint64_t count, int64_t sum)
{
    bytes p = {0};
    b_u8(&p, strategy);
    b_u8(&p, 0);
    b_u16(&p, 0);
    b_f32(&p, avg);
    b_u64(&p, count);
    b_u64(&p, (uint64_t)sum);
    record(b, IT_REC_ALLOCATION, p.p, p.n);
    free(p.p);
}

/* ---- test windows ------------------------------------------------------------------------- */

typedef struct twin {
    it_window_rec r;
    uint16_t *idx;
    float *elbo;
    uint8_t *keep;
} twin;

static float mean_of(const float *e, size_t nt)
{
    double s = 0;
    for (size_t i = 0; i < nt; i++)
        s += e[i];
    return (float)(s / (double)nt);
}

/* A random window of an lt x lh x lw latent; strategy != NONE keeps tokens above the median-ish
 * ELBO (any mask will do here: the format does not check how it was chosen). */
static void twin_make(twin *w, uint64_t id, uint32_t ord, uint32_t wi, int lt, int lh, int lw,
                      int strategy, float rate)
{
    const size_t nt = (size_t)lt * lh * lw;
    memset(w, 0, sizeof *w);
    w->idx = malloc(nt * sizeof *w->idx);
    w->elbo = malloc(nt * sizeof *w->elbo);
    w->keep = malloc(nt);
    if (!w->idx || !w->elbo || !w->keep)
        exit(99);
    it_window_rec *r = &w->r;
    r->video_id = id;
    r->video_ordinal = ord;
    r->window_index = wi;
    r->first_frame = (int64_t)wi * 16;
    r->lt = lt; r->lh = lh; r->lw = lw;
    r->pt = (lt - 1) * 8 + 1; r->ph = lh * 16; r->pw = lw * 16;
    r->t = r->pt; r->h = r->ph - 3; r->w = r->pw - 5;
    r->t0 = 0; r->h0 = 1; r->w0 = 2;
    r->fps = 30000.0 / 1001.0;
    for (size_t i = 0; i < nt; i++) {
        w->idx[i] = (uint16_t)(rng() % 64000);
        /* exact zeros happen (a perfectly reconstructed token) */
        w->elbo[i] = (rng() % 17 == 0) ? 0.0f : (float)(rng() % 1000000) / 999983.0f;
    }
    r->elbo_mean = mean_of(w->elbo, nt);
    r->indices = w->idx;
    r->elbo = w->elbo;
    if (strategy) {
        r->strategy = (uint8_t)strategy;
        r->rate = rate;
        for (size_t i = 0; i < nt; i++) {
            w->keep[i] = w->elbo[i] > r->elbo_mean;
            r->kept += w->keep[i];
        }
        r->keep = w->keep;
    }
}

static void twin_free(twin *w)
{
    free(w->idx);
    free(w->elbo);
    free(w->keep);
}

static int window_equal(const it_window_rec *a, const it_window_rec *b)
{
    const size_t nt = (size_t)a->lt * a->lh * a->lw;
    int ok = a->video_id == b->video_id && a->video_ordinal == b->video_ordinal &&
             a->window_index == b->window_index && a->first_frame == b->first_frame &&
             a->t == b->t && a->h == b->h && a->w == b->w && a->pt == b->pt && a->ph == b->ph &&
             a->pw == b->pw && a->t0 == b->t0 && a->h0 == b->h0 && a->w0 == b->w0 &&
             a->lt == b->lt && a->lh == b->lh && a->lw == b->lw && a->fps == b->fps &&
             a->elbo_mean == b->elbo_mean && a->strategy == b->strategy && a->rate == b->rate &&
             a->kept == b->kept;
    ok = ok && memcmp(a->indices, b->indices, nt * 2) == 0 && memcmp(a->elbo, b->elbo, nt * 4) == 0;
    if (ok && a->strategy)
        ok = a->keep && b->keep && memcmp(a->keep, b->keep, nt) == 0;
    else if (ok)
        ok = b->keep == NULL;
    return ok;
}

/* ---- reading helpers ------------------------------------------------------------------------ */

/* Read a whole stream from memory: the first error, or 0 when it reads to the end. */
static int read_all(const unsigned char *p, size_t n, uint64_t *records)
{
    /* fmemopen on 0 bytes is refused by older glibc; an empty file is read as /dev/null. */
    FILE *f = n ? fmemopen((void *)p, n, "rb") : fopen("/dev/null", "rb");
    if (!f) {
        perror("fmemopen");
        exit(99);
    }
    it_stream_reader *r = NULL;
    int rc = it_stream_reader_new(&r, f, "mem"), type;
    if (records)
        *records = 0;
    while (rc >= 0 && (rc = it_stream_next(r, &type)) > 0)
        if (records)
            (*records)++;
    it_stream_reader_free(&r);
    fclose(f);
    return rc;
}

#define EXPECT_REFUSED(b, code, needle)                                                  \
    do {                                                                                 \
        it_error_clear();                                                                \
        check_err_(read_all((b)->p, (b)->n, NULL), (code), (needle), "read " #b, __LINE__); \
        free((b)->p);                                                                    \
        memset((b), 0, sizeof *(b));                                                     \
    } while (0)

/* ---- the streams -------------------------------------------------------------------------- */

static const char *header_json =
    "{\"model\":{\"config\":{\"patch\":[4,16,16],\"levels\":[8,8,8,5,5,5]},"
    "\"hash\":\"0123456789abcdef\",\"params\":123456},\"tool\":\"it-encode\",\"version\":\"0.1.0\","
    "\"command\":\"it-encode -o out.itok manifest.jsonl\",\"window\":{\"temporal\":17,\"overlap\":1},"
    "\"resize\":{\"short_side\":256,\"crop\":[256,256]}}";

static void video_json(char *buf, size_t size, uint32_t ord, uint64_t id)
{
    snprintf(buf, size,
             "{\"id\":\"%016llx\",\"path\":\"clips/v%u.mp4\",\"size\":123456,\"container\":\"mov,mp4,m4a,3gp,3g2,mj2\","
             "\"codec\":\"h264\",\"width\":320,\"height\":240,\"rotation\":0,\"pix_fmt\":\"yuv420p\","
             "\"fps\":29.97,\"duration\":2.5,\"frames\":75,\"frames_exact\":false,\"audio\":true,"
             "\"bit_rate\":400000,\"status\":\"ok\",\"ordinal\":%u}",
             (unsigned long long)id, ord, ord);
}

static void video_end_json(char *buf, size_t size, uint32_t ord, uint64_t id, int ok, unsigned windows)
{
    if (ok)
        snprintf(buf, size, "{\"ordinal\":%u,\"id\":\"%016llx\",\"status\":\"ok\",\"windows\":%u,\"frames\":%u}",
                 ord, (unsigned long long)id, windows, windows * 16 + 1);
    else
        snprintf(buf, size, "{\"ordinal\":%u,\"id\":\"%016llx\",\"status\":\"error\",\"error\":\"clips/v%u.mp4: "
                 "decoding failed\",\"windows\":%u,\"frames\":%u}", ord, (unsigned long long)id, ord, windows,
                 windows * 16);
}

/* The realistic stream: 4 videos (no rate; static rates; a failure after one window; elbo
 * rates with NT not a multiple of 8), a maximal window, an allocation. */
#define RT_WINDOWS 8
typedef struct realistic {
    twin w[RT_WINDOWS];
    int nw;
    it_alloc_rec alloc;
} realistic;

static const struct { int video, lt, lh, lw, strategy; float rate; } rt_plan[RT_WINDOWS] = {
    {0, 3, 4, 6, 0, 0}, {0, 3, 4, 6, 0, 0}, {0, 2, 4, 6, 0, 0},
    {1, 3, 5, 7, IT_STRATEGY_STATIC, 0.5f}, {1, 1, 5, 7, IT_STRATEGY_STATIC, 0.5f},
    {2, 3, 2, 2, IT_STRATEGY_GLOBAL_ELBO, 1.0f},
    {3, 5, 3, 3, IT_STRATEGY_ELBO, 0.0f}, {3, 49, 96, 96, IT_STRATEGY_ELBO, 0.25f},
};
#define RT_VIDEOS 4

static uint64_t video_id(int v) { return 0x1234567890abcdefULL * (uint64_t)(v + 1); }

/* big = 0 leaves out the maximal window (the fuzzer's seeds stay small). */
static int write_realistic(realistic *rt, int big, unsigned char **out, size_t *outn)
{
    int rc = 0;
    char json[1024];
    FILE *f = open_memstream((char **)out, outn);
    it_stream_writer *w = NULL;
    if (!f)
        return -1;
    CHECK_OK(rc = it_stream_writer_new(&w, f, "realistic"));
    if (rc < 0)
        goto done;
    CHECK_OK(it_stream_write_json(w, IT_REC_HEADER, header_json));
    int k = 0, total = 0;
    for (int v = 0; v < RT_VIDEOS; v++) {
        video_json(json, sizeof json, (uint32_t)v, video_id(v));
        CHECK_OK(it_stream_write_json(w, IT_REC_VIDEO, json));
        unsigned nwin = 0;
        for (; k < RT_WINDOWS && rt_plan[k].video == v; k++) {
            if (!big && rt_plan[k].lt * rt_plan[k].lh * rt_plan[k].lw > 100000)
                continue;
            twin_make(&rt->w[k], video_id(v), (uint32_t)v, nwin, rt_plan[k].lt, rt_plan[k].lh,
                      rt_plan[k].lw, rt_plan[k].strategy, rt_plan[k].rate);
            rt->nw = k + 1;
            CHECK_OK(it_stream_write_window(w, &rt->w[k].r));
            nwin++;
            total++;
        }
        video_end_json(json, sizeof json, (uint32_t)v, video_id(v), v != 2, nwin);
        CHECK_OK(it_stream_write_json(w, IT_REC_VIDEO_END, json));
    }
    rt->alloc = (it_alloc_rec){IT_STRATEGY_GLOBAL_ELBO, 0.25f, 8, (int64_t)3 << 31};
    CHECK_OK(it_stream_write_alloc(w, &rt->alloc));
    snprintf(json, sizeof json, "{\"videos\":%d,\"failed\":1,\"windows\":%d}", RT_VIDEOS, total);
    CHECK_OK(it_stream_write_json(w, IT_REC_END, json));
done:
    CHECK_OK(it_stream_writer_free(&w));
    if (fclose(f) != 0)
        return -1;
    return rc;
}

static void test_round_trip(void)
{
    realistic rt;
    unsigned char *buf = NULL;
    size_t n = 0;
    memset(&rt, 0, sizeof rt);
    CHECK(write_realistic(&rt, 1, &buf, &n) == 0);
    CHECK(rt.nw == RT_WINDOWS);

    FILE *f = fmemopen(buf, n, "rb");
    it_stream_reader *r = NULL;
    int type, rc, k = 0;
    uint64_t recs = 0;
    const int expect[] = {IT_REC_HEADER, IT_REC_VIDEO, IT_REC_WINDOW, IT_REC_WINDOW, IT_REC_WINDOW,
                          IT_REC_VIDEO_END, IT_REC_VIDEO, IT_REC_WINDOW, IT_REC_WINDOW, IT_REC_VIDEO_END,
                          IT_REC_VIDEO, IT_REC_WINDOW, IT_REC_VIDEO_END, IT_REC_VIDEO, IT_REC_WINDOW,
                          IT_REC_WINDOW, IT_REC_VIDEO_END, IT_REC_ALLOCATION, IT_REC_END};
    CHECK(it_stream_reader_new(&r, f, "-") == 0);
    CHECK(it_stream_record_number(r) == 0);
    while ((rc = it_stream_next(r, &type)) > 0) {
        CHECK(recs < sizeof expect / sizeof expect[0] && type == expect[recs]);
        recs++;
        CHECK(it_stream_record_number(r) == recs);
        if (type == IT_REC_WINDOW) {
            const it_window_rec *got = it_stream_window(r);
            CHECK(got && k < rt.nw && window_equal(&rt.w[k].r, got));
            CHECK(it_stream_json(r) == NULL && it_stream_alloc(r) == NULL);
            k++;
        } else if (type == IT_REC_ALLOCATION) {
            const it_alloc_rec *a = it_stream_alloc(r);
            CHECK(a && a->strategy == rt.alloc.strategy && a->avg_rate == rt.alloc.avg_rate &&
                  a->elbo_count == rt.alloc.elbo_count && a->elbo_sum_fixed == rt.alloc.elbo_sum_fixed);
            CHECK(it_stream_window(r) == NULL);
        } else {
            const char *j = it_stream_json(r);
            CHECK(j != NULL);
            if (j && type == IT_REC_HEADER)
                CHECK(strcmp(j, header_json) == 0);
            if (j && type == IT_REC_END)
                CHECK(strcmp(j, "{\"videos\":4,\"failed\":1,\"windows\":8}") == 0);
        }
    }
    CHECK(rc == 0);
    if (rc < 0)
        fprintf(stderr, "round trip: %s\n", it_error_message());
    CHECK(recs == sizeof expect / sizeof expect[0] && k == RT_WINDOWS);
    /* After END: 0 again, and nothing to look at. */
    CHECK(it_stream_next(r, &type) == 0 && type == 0);
    CHECK(it_stream_json(r) == NULL && it_stream_window(r) == NULL);
    it_stream_reader_free(&r);
    it_stream_reader_free(&r); /* NULL-safe */
    fclose(f);

    /* Bit flips at many random offsets of the realistic stream: always refused. */
    uint64_t s = rng_state;
    rng_state = 0x5eed0001ULL;
    unsigned char *copy = malloc(n);
    for (int i = 0; i < 400 && copy; i++) {
        size_t off = (size_t)(rng() % n);
        memcpy(copy, buf, n);
        copy[off] ^= (unsigned char)(1u << (rng() % 8));
        it_error_clear();
        rc = read_all(copy, n, NULL);
        if (!(rc == IT_E_CHECKSUM || rc == IT_E_FORMAT || rc == IT_E_TRUNCATED || rc == IT_E_UNSUPPORTED)) {
            fprintf(stderr, "flip at %zu of the realistic stream: rc %d %s\n", off, rc, it_error_message());
            failures++;
        }
    }
    /* Truncation at random offsets of the realistic stream (every offset: see test_truncation). */
    for (int i = 0; i < 200; i++) {
        size_t cut = (size_t)(rng() % n);
        it_error_clear();
        rc = read_all(buf, cut, NULL);
        if (rc != IT_E_TRUNCATED || !strstr(it_error_message(), "incomplete")) {
            fprintf(stderr, "cut at %zu of the realistic stream: rc %d %s\n", cut, rc, it_error_message());
            failures++;
        }
    }
    rng_state = s;
    free(copy);
    free(buf);
    for (int i = 0; i < rt.nw; i++)
        twin_free(&rt.w[i]);
}

/* ---- the golden stream ---------------------------------------------------------------------- */

/* One tiny video, one 1x2x3 window with a static rate, an allocation; every value exact.
 * golden.itok is this stream as written by the C writer (test_stream --generate). Its six
 * record CRCs were checked once by hand against Python (2026-11-28):
 *   python3 -c 'import zlib,struct; d=open("golden.itok","rb").read(); o=16
 *   while o<len(d): n=struct.unpack_from("<I",d,o+8)[0]; \
 *     print(hex(zlib.crc32(d[o+4:o+12+n])), hex(struct.unpack_from("<I",d,o+12+n)[0])); o+=16+n'
 * which printed six matching pairs (computed == stored), in order 0x226dc991 0xabafd99c
 * 0xb361336e 0xc069d9c5 0x7f7e3331 0x593b21d2: GOLDEN_CRCS below, also checked by this test.
 * The file is 630 bytes; the window payload is 139 bytes (96 + 6*2 + 6*4 + 1 + 3*2). */
static const char *golden_header = "{\"model\":{\"config\":{},\"hash\":\"00000000deadbeef\",\"params\":0},"
                                   "\"tool\":\"test_stream\",\"version\":\"1\",\"command\":\"test_stream --generate\","
                                   "\"window\":{\"temporal\":1,\"overlap\":0},\"resize\":null}";
static const char *golden_video = "{\"id\":\"00000000000000ff\",\"path\":\"a.mp4\",\"status\":\"ok\",\"ordinal\":0}";
static const char *golden_video_end = "{\"ordinal\":0,\"id\":\"00000000000000ff\",\"status\":\"ok\",\"windows\":1,\"frames\":1}";
static const char *golden_end = "{\"videos\":1,\"failed\":0,\"windows\":1}";
static uint16_t golden_idx[6] = {0, 1, 63999, 12345, 500, 7};
static float golden_elbo[6] = {0.5f, 0.25f, 1.0f, 0.0f, 0.75f, 0.125f}; /* mean 0.4375 exactly */
static uint8_t golden_keep[6] = {1, 0, 1, 0, 1, 0};

static it_window_rec golden_window(void)
{
    it_window_rec r;
    memset(&r, 0, sizeof r);
    r.video_id = 0xff;
    r.t = 1; r.h = 20; r.w = 40;
    r.pt = 1; r.ph = 32; r.pw = 48;
    r.t0 = 0; r.h0 = 6; r.w0 = 4;
    r.lt = 1; r.lh = 2; r.lw = 3;
    r.fps = 24.0;
    r.elbo_mean = 0.4375f;
    r.strategy = IT_STRATEGY_STATIC;
    r.rate = 0.5f;
    r.kept = 3;
    r.indices = golden_idx;
    r.elbo = golden_elbo;
    r.keep = golden_keep;
    return r;
}

static const it_alloc_rec golden_alloc = {IT_STRATEGY_GLOBAL_ELBO, 0.5f, 1, 1879048192}; /* 0.4375 * 2^32 */

static int write_golden(FILE *f)
{
    it_stream_writer *w = NULL;
    it_window_rec r = golden_window();
    int rc = it_stream_writer_new(&w, f, "golden");
    if (rc == 0 && (rc = it_stream_write_json(w, IT_REC_HEADER, golden_header)) == 0 &&
        (rc = it_stream_write_json(w, IT_REC_VIDEO, golden_video)) == 0 &&
        (rc = it_stream_write_window(w, &r)) == 0 &&
        (rc = it_stream_write_json(w, IT_REC_VIDEO_END, golden_video_end)) == 0 &&
        (rc = it_stream_write_alloc(w, &golden_alloc)) == 0)
        rc = it_stream_write_json(w, IT_REC_END, golden_end);
    int rc2 = it_stream_writer_free(&w);
    return rc < 0 ? rc : rc2;
}

/* The same stream through this file's own encoder: a second opinion on the byte layout. */
static void golden_by_hand(bytes *b)
{
    it_window_rec r = golden_window();
    file_header(b, 1, 0);
    json_record(b, IT_REC_HEADER, golden_header);
    json_record(b, IT_REC_VIDEO, golden_video);
    window_record(b, &r);
    json_record(b, IT_REC_VIDEO_END, golden_video_end);
    alloc_record(b, golden_alloc.strategy, golden_alloc.avg_rate, golden_alloc.elbo_count,
                 golden_alloc.elbo_sum_fixed);
    json_record(b, IT_REC_END, golden_end);
}

static const uint32_t GOLDEN_CRCS[6] = {0x226dc991u, 0xabafd99cu, 0xb361336eu,
                                        0xc069d9c5u, 0x7f7e3331u, 0x593b21d2u};

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    bytes b = {0};
    unsigned char tmp[4096];
    size_t got;
    if (!f)
        return NULL;
    while ((got = fread(tmp, 1, sizeof tmp, f)) > 0)
        b_put(&b, tmp, got);
    fclose(f);
    *n = b.n;
    return b.p ? b.p : malloc(1);
}

static void test_golden(void)
{
    char *mem = NULL;
    size_t n = 0, fn = 0;
    FILE *f = open_memstream(&mem, &n);
    CHECK(f && write_golden(f) == 0);
    if (f)
        fclose(f);

    bytes hand = {0};
    golden_by_hand(&hand);
    CHECK(hand.n == n && memcmp(hand.p, mem, n) == 0);

    /* The committed file, byte for byte. */
    char path[4096];
    const char *top = getenv("top_srcdir");
    snprintf(path, sizeof path, "%s/tests/stream/golden.itok", top ? top : ".");
    unsigned char *file = slurp(path, &fn);
    if (!file) {
        fprintf(stderr, "cannot read %s (set top_srcdir)\n", path);
        failures++;
    } else {
        CHECK(fn == n && memcmp(file, mem, n) == 0);
        /* Its CRCs, record by record, as Python computed them. */
        size_t off = 16;
        for (int i = 0; i < 6 && off + 16 <= fn; i++) {
            uint32_t len, crc;
            memcpy(&len, file + off + 8, 4); /* little-endian host assumed by this check */
            if (off + 16 + len > fn)
                break;
            memcpy(&crc, file + off + 12 + len, 4);
            CHECK(crc == GOLDEN_CRCS[i]);
            CHECK(it_crc32(0, file + off + 4, 8 + len) == GOLDEN_CRCS[i]);
            off += 16 + len;
        }
        CHECK(off == fn);
        uint64_t recs = 0;
        CHECK(read_all(file, fn, &recs) == 0 && recs == 6);
    }
    free(file);
    free(hand.p);
    free(mem);
}

/* ---- truncation and bit flips of small streams ------------------------------------------ */

static void test_truncation_and_flips(void)
{
    bytes g = {0};
    golden_by_hand(&g);
    for (size_t cut = 0; cut < g.n; cut++) {
        it_error_clear();
        int rc = read_all(g.p, cut, NULL);
        if (rc != IT_E_TRUNCATED || !strstr(it_error_message(), "incomplete")) {
            fprintf(stderr, "golden cut at %zu: rc %d \"%s\"\n", cut, rc, it_error_message());
            failures++;
        }
    }
    /* One extra byte, or a whole valid record, after END. */
    bytes more = {0};
    b_put(&more, g.p, g.n);
    b_u8(&more, 0);
    EXPECT_REFUSED(&more, IT_E_FORMAT, "record 6: data after the END record");
    b_put(&more, g.p, g.n);
    json_record(&more, IT_REC_END, golden_end);
    EXPECT_REFUSED(&more, IT_E_FORMAT, "data after the END record");

    /* Every bit of every byte. */
    unsigned char *copy = malloc(g.n);
    int by_code[4] = {0};
    for (size_t off = 0; copy && off < g.n; off++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(copy, g.p, g.n);
            copy[off] ^= (unsigned char)(1u << bit);
            it_error_clear();
            int rc = read_all(copy, g.n, NULL);
            if (rc == IT_E_CHECKSUM)
                by_code[0]++;
            else if (rc == IT_E_FORMAT)
                by_code[1]++;
            else if (rc == IT_E_TRUNCATED)
                by_code[2]++;
            else if (rc == IT_E_UNSUPPORTED)
                by_code[3]++;
            else {
                fprintf(stderr, "golden flip at %zu bit %d: rc %d \"%s\"\n", off, bit, rc, it_error_message());
                failures++;
            }
        }
    }
    if (getenv("VERBOSE"))
        fprintf(stderr, "flips: %d checksum, %d format, %d truncated, %d unsupported\n",
                by_code[0], by_code[1], by_code[2], by_code[3]);
    CHECK(by_code[0] > 0 && by_code[1] > 0 && by_code[3] > 0);
    free(copy);
    free(g.p);
}

/* ---- hostile records with valid CRCs ----------------------------------------------------------- */

/* A stream up to an open video 0 (id 0xff), ready for windows. */
static void open_video(bytes *b)
{
    file_header(b, 1, 0);
    json_record(b, IT_REC_HEADER, golden_header);
    json_record(b, IT_REC_VIDEO, golden_video);
}

/* A valid stream with the golden window replaced by *r (through this file's encoder). */
static void with_window(bytes *b, const it_window_rec *r)
{
    open_video(b);
    window_record(b, r);
    json_record(b, IT_REC_VIDEO_END, golden_video_end);
    json_record(b, IT_REC_END, golden_end);
}

static void test_hostile_windows(void)
{
    bytes b = {0};
    it_window_rec r;
    uint16_t idx[6];
    float elbo[6];
    uint8_t keep[6];
#define RESET() (r = golden_window(), memcpy(idx, golden_idx, sizeof idx), memcpy(elbo, golden_elbo, sizeof elbo), \
                 memcpy(keep, golden_keep, sizeof keep), r.indices = idx, r.elbo = elbo, r.keep = keep)

    RESET();
    with_window(&b, &r);
    CHECK(read_all(b.p, b.n, NULL) == 0); /* the baseline is valid */
    free(b.p);
    memset(&b, 0, sizeof b);

    /* Lengths that lie: the payload is longer or shorter than the fields imply. */
    RESET();
    open_video(&b);
    {
        bytes p = {0};
        window_payload(&p, &r);
        b_u32(&p, 0);
        record(&b, IT_REC_WINDOW, p.p, p.n);
        free(p.p);
    }
    EXPECT_REFUSED(&b, IT_E_FORMAT, "mem: record 3: window payload is 143 bytes, expected 139 for a 1x2x3 latent with 3 kept tokens");
    open_video(&b);
    {
        bytes p = {0};
        window_payload(&p, &r);
        record(&b, IT_REC_WINDOW, p.p, p.n - 2);
        free(p.p);
    }
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window payload is 137 bytes, expected 139");
    open_video(&b);
    record(&b, IT_REC_WINDOW, "tiny", 4);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window payload is 4 bytes, shorter than its 96-byte header");
    RESET();
    r.strategy = IT_STRATEGY_NONE;
    r.rate = 0;
    r.kept = 0;
    open_video(&b);
    {
        bytes p = {0};
        window_payload(&p, &r);
        b_put(&p, "\x15\x00\x00\x00\x00\x00\x00", 7); /* a mask and tokens that should not be there */
        record(&b, IT_REC_WINDOW, p.p, p.n);
        free(p.p);
    }
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window payload is 139 bytes, expected 132 for a 1x2x3 latent");

    /* Grids: empty, too many tokens, products that overflow 32 bits. */
    RESET();
    r.lw = 0;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window latent grid 1x2x0 is empty or has more than 451584 tokens");
    RESET();
    r.lt = 49; r.lh = 96; r.lw = 97; r.pt = 385; r.ph = 96 * 16; r.pw = 97 * 16;
    open_video(&b);
    {
        bytes p = {0};
        window_payload(&p, &(it_window_rec){.video_id = 0xff, .t = 1, .h = 1, .w = 1, .pt = 1, .ph = 1, .pw = 1,
                                            .lt = 1, .lh = 1, .lw = 1, .indices = idx, .elbo = elbo});
        /* patch the grid in the fixed part: lt, lh, lw at offsets 60, 64, 68 */
        const int32_t g[3] = {49, 96, 97};
        memcpy(p.p + 60, g, 12); /* little-endian host: fine for a test fixture */
        record(&b, IT_REC_WINDOW, p.p, p.n);
        free(p.p);
    }
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window latent grid 49x96x97 is empty or has more than 451584 tokens");
    RESET();
    r.lt = 65536; r.lh = 65536; r.lw = 1;
    open_video(&b);
    {
        bytes p = {0};
        window_payload(&p, &(it_window_rec){.video_id = 0xff, .t = 1, .h = 1, .w = 1, .pt = 1, .ph = 1, .pw = 1,
                                            .lt = 1, .lh = 1, .lw = 1, .indices = idx, .elbo = elbo});
        const int32_t g[3] = {65536, 65536, 1};
        memcpy(p.p + 60, g, 12);
        record(&b, IT_REC_WINDOW, p.p, p.n);
        free(p.p);
    }
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window latent grid 65536x65536x1");
    RESET();
    r.lh = -2;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window latent grid 1x-2x3");

    /* Padding and crop geometry. */
    RESET();
    r.t = 2;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window t=2 with padded t=1 and origin t0=0");
    RESET();
    r.w0 = 9;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window w=40 with padded w=48 and origin w0=9: need 1 <= w <= pw and w0 + w <= pw");
    RESET();
    r.h0 = -1;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "origin h0=-1");
    RESET();
    r.h = 0;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window h=0");
    RESET();
    r.w = 2147483647; r.pw = 2147483647; r.w0 = 2147483647;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "w0 + w <= pw");
    RESET();
    r.first_frame = -5;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window first_frame -5 is negative");
    RESET();
    r.fps = NAN;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window fps nan is not a finite number >= 0");
    RESET();
    r.fps = -1;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window fps -1");

    /* Token values. */
    RESET();
    idx[2] = 64000;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "mem: record 3: window token 2 has index 64000, expected < 64000");
    RESET();
    idx[5] = 65535;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window token 5 has index 65535");
    RESET();
    elbo[1] = NAN;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window token 1 has ELBO nan, expected a finite number >= 0");
    RESET();
    elbo[4] = INFINITY;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window token 4 has ELBO inf");
    RESET();
    elbo[3] = -0.5f;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window token 3 has ELBO -0.5");
    RESET();
    r.elbo_mean = 0.4375001f;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "differs from the mean of its ELBO map 0.4375");
    RESET();
    r.elbo_mean = NAN;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window elbo_mean nan");

    /* Strategy, rate, mask, kept tokens. */
    RESET();
    r.strategy = 4;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window strategy 4 is unknown");
    RESET();
    r.rate = 1.5f;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window rate 1.5 is outside [0, 1]");
    RESET();
    r.rate = NAN;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window rate nan is outside [0, 1]");
    RESET();
    r.rate = -0.25f;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window rate -0.25");
    RESET();
    r.strategy = IT_STRATEGY_NONE;
    r.kept = 0;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window without a strategy has rate 0.5 and kept 0, expected 0 and 0");
    RESET();
    r.strategy = IT_STRATEGY_NONE;
    r.kept = 0;
    r.rate = -0.0f; /* one encoding per record: the sign bit of a zero rate is not free */
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window without a strategy has rate -0 and kept 0");
    RESET();
    keep[1] = 1; /* 4 bits in the mask, kept says 3 */
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window mask keeps 4 tokens, but kept is 3");
    RESET();
    keep[0] = 0; /* 2 bits, kept 3 */
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window mask keeps 2 tokens, but kept is 3");
    RESET();
    r.kept = 7;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window keeps 7 tokens of 6");
    RESET();
    open_video(&b);
    {
        bytes p = {0};
        window_payload(&p, &r);
        p.p[p.n - 4] ^= 0x01; /* kept_tokens[1] = 63999 becomes 63998 */
        record(&b, IT_REC_WINDOW, p.p, p.n);
        free(p.p);
    }
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window kept_tokens[1] is 63998, but token 2 (kept) has index 63999");
    open_video(&b);
    {
        bytes p = {0};
        window_payload(&p, &r);
        p.p[p.n - 7] |= 0x40; /* the mask byte: bit 6 is past NT = 6 */
        record(&b, IT_REC_WINDOW, p.p, p.n);
        free(p.p);
    }
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window mask has bits set past token 6");
    open_video(&b);
    {
        bytes p = {0};
        window_payload(&p, &r);
        p.p[85] = 1; /* the reserved byte after the strategy */
        record(&b, IT_REC_WINDOW, p.p, p.n);
        free(p.p);
    }
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window reserved bytes are not zero");

    /* Windows against the sequence. */
    RESET();
    r.video_ordinal = 1;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 3: window belongs to video 1, but video 0 is open");
    RESET();
    r.window_index = 1;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 3: window index 1, expected 0");
    RESET();
    r.video_id = 0xfe;
    with_window(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "window video_id 00000000000000fe differs from video 0's id 00000000000000ff");
    RESET();
    open_video(&b);
    window_record(&b, &r);
    window_record(&b, &r); /* index 0 twice */
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 4: window index 0, expected 1");
    RESET();
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    window_record(&b, &r);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 2: WINDOW record outside a video (no open VIDEO record)");
#undef RESET
}

static void test_hostile_sequence(void)
{
    bytes b = {0};
    it_window_rec r = golden_window();

    /* File header. */
    file_header(&b, 2, 0);
    EXPECT_REFUSED(&b, IT_E_UNSUPPORTED, "mem: token stream version 2, this build reads version 1");
    file_header(&b, 1, 1);
    EXPECT_REFUSED(&b, IT_E_UNSUPPORTED, "mem: token stream flags 0x00000001");
    b_put(&b, "ITOKSTRX", 8);
    b_u64(&b, 1);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "not an infotok token stream");
    b_put(&b, "GIF89a", 6);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "not an infotok token stream");
    EXPECT_REFUSED(&b, IT_E_TRUNCATED, "mem: empty, no file header: the stream is incomplete");
    file_header(&b, 1, 0);
    EXPECT_REFUSED(&b, IT_E_TRUNCATED, "mem: record 1: end of file before the END record: the stream is incomplete");

    /* Framing. */
    file_header(&b, 1, 0);
    b_put(&b, "ITRc", 4);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 1: no record magic \"ITRC\"");
    file_header(&b, 1, 0);
    b_put(&b, "ITRC\x01\x00\x00\x00\x01\x00\x00\x20", 12); /* 512 MiB + 1 */
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 1: payload length 536870913 exceeds the limit of 268435456 bytes");
    file_header(&b, 1, 0);
    b_put(&b, "ITRC\x01\x00\x00\x00\x00\x00\x00\x10", 12); /* 256 MiB, then 3 bytes */
    b_put(&b, "{}x", 3);
    EXPECT_REFUSED(&b, IT_E_TRUNCATED, "record 1: truncated in the payload (3 of 268435460 bytes): the stream is incomplete");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    record(&b, 7, "{}", 2);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 2: unknown record type 7 (version 1 has no other record types)");
    file_header(&b, 1, 0);
    record(&b, 0, "{}", 2);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 1: unknown record type 0");
    file_header(&b, 1, 0);
    {
        unsigned char frame[8] = {1, 0, 1, 0, 2, 0, 0, 0};
        b_put(&b, "ITRC", 4);
        b_put(&b, frame, 8);
        b_put(&b, "{}", 2);
        b_u32(&b, it_crc32(it_crc32(0, frame, 8), "{}", 2));
    }
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 1: reserved field after the record type is 1, expected 0");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    b.p[b.n - 1] ^= 0x80;
    EXPECT_REFUSED(&b, IT_E_CHECKSUM, "mem: record 1: checksum mismatch");

    /* JSON records. */
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, "{\"tool\": ");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 1: HEADER record: invalid JSON");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, "[1,2]");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 1: HEADER record: the JSON text is not an object");
    file_header(&b, 1, 0);
    record(&b, IT_REC_HEADER, "{\"a\":1}\0", 8);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "HEADER record: the JSON text contains a NUL byte at offset 7");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, "{\"a\":\"\xff\xfe\"}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "HEADER record: invalid JSON");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, "{\"a\":\"x\\u0000y\"}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "HEADER record: invalid JSON");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, "{\"a\":1,\"a\":2}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "HEADER record: invalid JSON");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, "");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "HEADER record: invalid JSON");

    /* Order of records. */
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_VIDEO, golden_video);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 1: the stream starts with a VIDEO record, expected HEADER");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    json_record(&b, IT_REC_HEADER, golden_header);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 2: a second HEADER record");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    json_record(&b, IT_REC_VIDEO, "{\"id\":\"00000000000000ff\",\"ordinal\":1}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 2: VIDEO record: ordinal 1, expected 0");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    json_record(&b, IT_REC_VIDEO, "{\"id\":\"00000000000000ff\"}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 2: VIDEO record: \"ordinal\" is missing (a non-negative integer)");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    json_record(&b, IT_REC_VIDEO, "{\"id\":\"00000000000000ff\",\"ordinal\":\"0\"}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "\"ordinal\" is not a non-negative integer");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    json_record(&b, IT_REC_VIDEO, "{\"id\":\"00000000000000FF\",\"ordinal\":0}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "VIDEO record: \"id\" is malformed, expected 16 lowercase hex digits");
    open_video(&b);
    json_record(&b, IT_REC_VIDEO, "{\"id\":\"00000000000000ff\",\"ordinal\":1}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 3: VIDEO record while video 0 is open (no VIDEO_END)");
    open_video(&b);
    json_record(&b, IT_REC_VIDEO_END, "{\"ordinal\":1,\"id\":\"00000000000000ff\",\"status\":\"ok\",\"windows\":0,\"frames\":0}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 3: VIDEO_END record: ordinal 1, but video 0 is open");
    open_video(&b);
    json_record(&b, IT_REC_VIDEO_END, "{\"ordinal\":0,\"id\":\"00000000000000fe\",\"status\":\"ok\",\"windows\":0,\"frames\":0}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "VIDEO_END record: id 00000000000000fe, but video 0 has id 00000000000000ff");
    open_video(&b);
    window_record(&b, &r);
    json_record(&b, IT_REC_VIDEO_END, "{\"ordinal\":0,\"id\":\"00000000000000ff\",\"status\":\"ok\",\"windows\":2,\"frames\":0}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 4: VIDEO_END record: \"windows\" is 2, but video 0 has 1 WINDOW records");
    open_video(&b);
    json_record(&b, IT_REC_VIDEO_END, "{\"ordinal\":0,\"id\":\"00000000000000ff\",\"status\":\"fine\",\"windows\":0,\"frames\":0}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "VIDEO_END record: \"status\" is neither, expected \"ok\" or \"error\"");
    open_video(&b);
    json_record(&b, IT_REC_VIDEO_END, "{\"ordinal\":0,\"id\":\"00000000000000ff\",\"status\":\"error\",\"windows\":0,\"frames\":0}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "VIDEO_END record: status \"error\" without an \"error\" message");
    open_video(&b);
    json_record(&b, IT_REC_VIDEO_END, "{\"ordinal\":0,\"id\":\"00000000000000ff\",\"status\":\"ok\",\"windows\":0}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "VIDEO_END record: \"frames\" is missing");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    json_record(&b, IT_REC_VIDEO_END, golden_video_end);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 2: VIDEO_END record outside a video");
    open_video(&b);
    json_record(&b, IT_REC_END, "{\"videos\":1,\"failed\":0,\"windows\":0}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 3: END record while video 0 is open (no VIDEO_END)");
    open_video(&b);
    json_record(&b, IT_REC_VIDEO_END, "{\"ordinal\":0,\"id\":\"00000000000000ff\",\"status\":\"ok\",\"windows\":0,\"frames\":0}");
    json_record(&b, IT_REC_END, "{\"videos\":1,\"failed\":1,\"windows\":0}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 4: END record says 1 videos, 1 failed, 0 windows; the stream has 1, 0, 0");
    open_video(&b);
    json_record(&b, IT_REC_VIDEO_END, "{\"ordinal\":0,\"id\":\"00000000000000ff\",\"status\":\"ok\",\"windows\":0,\"frames\":0}");
    json_record(&b, IT_REC_END, "{\"videos\":1,\"failed\":0}");
    EXPECT_REFUSED(&b, IT_E_FORMAT, "END record: \"windows\" is missing");
    open_video(&b);
    json_record(&b, IT_REC_VIDEO_END, "{\"ordinal\":0,\"id\":\"00000000000000ff\",\"status\":\"ok\",\"windows\":0,\"frames\":0}");
    EXPECT_REFUSED(&b, IT_E_TRUNCATED, "record 4: end of file before the END record: the stream is incomplete");
    open_video(&b);
    window_record(&b, &r);
    {
        size_t n = b.n;
        EXPECT_REFUSED(&b, IT_E_TRUNCATED, "record 4: end of file before the END record");
        open_video(&b);
        window_record(&b, &r);
        b.n = n - 3;
        EXPECT_REFUSED(&b, IT_E_TRUNCATED, "record 3: truncated in the checksum (140 of 143 bytes): the stream is incomplete");
        open_video(&b);
        window_record(&b, &r);
        b.n = n - 50;
        EXPECT_REFUSED(&b, IT_E_TRUNCATED, "record 3: truncated in the payload (93 of 143 bytes)");
        open_video(&b);
        window_record(&b, &r);
        b.n = n - 143 - 5;
        EXPECT_REFUSED(&b, IT_E_TRUNCATED, "record 3: truncated in the record header (7 of 12 bytes)");
    }

    /* Allocation records. */
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    alloc_record(&b, IT_STRATEGY_GLOBAL_ELBO, 0.5f, 1, 0);
    json_record(&b, IT_REC_END, "{\"videos\":0,\"failed\":0,\"windows\":0}");
    CHECK(read_all(b.p, b.n, NULL) == 0); /* an empty corpus with an allocation is valid */
    free(b.p);
    memset(&b, 0, sizeof b);
    open_video(&b);
    alloc_record(&b, IT_STRATEGY_GLOBAL_ELBO, 0.5f, 1, 0);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 3: ALLOCATION record while video 0 is open (no VIDEO_END)");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    alloc_record(&b, IT_STRATEGY_GLOBAL_ELBO, 0.5f, 1, 0);
    alloc_record(&b, IT_STRATEGY_GLOBAL_ELBO, 0.5f, 1, 0);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 3: ALLOCATION record after the ALLOCATION record (only END may follow it)");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    alloc_record(&b, IT_STRATEGY_GLOBAL_ELBO, 0.5f, 1, 0);
    json_record(&b, IT_REC_VIDEO, golden_video);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 3: VIDEO record after the ALLOCATION record");
    static const struct { uint8_t s; float avg; uint64_t count; int64_t sum; const char *needle; } bad_alloc[] = {
        {IT_STRATEGY_NONE, 0.5f, 1, 0, "allocation strategy 0 is none"},
        {9, 0.5f, 1, 0, "allocation strategy 9 is unknown"},
        {IT_STRATEGY_STATIC, 0.0625f - 1e-6f, 1, 0, "allocation avg_rate 0.062499 is outside [0.0625, 1]"},
        {IT_STRATEGY_STATIC, 1.0001f, 1, 0, "allocation avg_rate 1.0001 is outside"},
        {IT_STRATEGY_STATIC, NAN, 1, 0, "allocation avg_rate nan is outside"},
        {IT_STRATEGY_ELBO, 0.5f, 0, 0, "allocation elbo_count is 0"},
        {IT_STRATEGY_ELBO, 0.5f, 3, -1, "allocation elbo_sum_fixed -1 is negative"},
    };
    for (size_t i = 0; i < sizeof bad_alloc / sizeof bad_alloc[0]; i++) {
        file_header(&b, 1, 0);
        json_record(&b, IT_REC_HEADER, golden_header);
        alloc_record(&b, bad_alloc[i].s, bad_alloc[i].avg, bad_alloc[i].count, bad_alloc[i].sum);
        EXPECT_REFUSED(&b, IT_E_FORMAT, bad_alloc[i].needle);
    }
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    record(&b, IT_REC_ALLOCATION, "\x01\x00\x00\x00\x00\x00\x00\x3f", 8);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 2: allocation payload is 8 bytes, expected 24");
    file_header(&b, 1, 0);
    json_record(&b, IT_REC_HEADER, golden_header);
    record(&b, IT_REC_ALLOCATION, "\x01\x00\x01\x00\x00\x00\x00\x3f\x01\x00\x00\x00\x00\x00\x00\x00"
                                  "\x00\x00\x00\x00\x00\x00\x00\x00", 24);
    EXPECT_REFUSED(&b, IT_E_FORMAT, "record 2: allocation reserved bytes are not zero");

    /* The error is sticky, with its message; the record number names the failed record. */
    open_video(&b);
    json_record(&b, IT_REC_VIDEO, golden_video);
    {
        FILE *f = fmemopen(b.p, b.n, "rb");
        it_stream_reader *rd = NULL;
        int type;
        CHECK(f && it_stream_reader_new(&rd, f, "-") == 0);
        CHECK(it_stream_next(rd, &type) == 1 && type == IT_REC_HEADER);
        CHECK(it_stream_next(rd, &type) == 1 && type == IT_REC_VIDEO);
        CHECK_ERR(it_stream_next(rd, &type), IT_E_FORMAT, "stdin: record 3: VIDEO record while video 0 is open");
        CHECK(it_stream_record_number(rd) == 3 && type == 0);
        it_error_clear();
        CHECK_ERR(it_stream_next(rd, &type), IT_E_FORMAT, "stdin: record 3: VIDEO record while video 0 is open");
        CHECK(it_stream_json(rd) == NULL);
        it_stream_reader_free(&rd);
        fclose(f);
    }
    free(b.p);
}

/* ---- the writer's refusals ---------------------------------------------------------------- */

static void test_writer(void)
{
    char *mem = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&mem, &n);
    it_stream_writer *w = NULL;
    it_window_rec r = golden_window();
    uint16_t idx[6];
    memcpy(idx, golden_idx, sizeof idx);
    CHECK(f && it_stream_writer_new(&w, f, "-") == 0);
    if (!w)
        return;
#define WRITTEN() (fflush(f), n)
    size_t before = WRITTEN();
    CHECK(before == 16);
    CHECK_ERR(it_stream_write_json(w, IT_REC_VIDEO, golden_video), IT_E_INVALID,
              "stdout: record 1: the stream starts with a VIDEO record, expected HEADER");
    CHECK_ERR(it_stream_write_window(w, &r), IT_E_INVALID, "stdout: record 1: the stream starts with a WINDOW record");
    CHECK_ERR(it_stream_write_json(w, IT_REC_HEADER, "[]"), IT_E_INVALID, "record 1: HEADER record: the JSON text is not an object");
    CHECK_ERR(it_stream_write_json(w, IT_REC_HEADER, "{"), IT_E_INVALID, "HEADER record: invalid JSON");
    CHECK_ERR(it_stream_write_json(w, IT_REC_HEADER, NULL), IT_E_INVALID, "HEADER record without JSON text");
    CHECK_ERR(it_stream_write_json(w, IT_REC_WINDOW, "{}"), IT_E_INVALID, "record type 3 (WINDOW) does not hold JSON");
    CHECK(WRITTEN() == before);
    CHECK_OK(it_stream_write_json(w, IT_REC_HEADER, golden_header));
    CHECK_OK(it_stream_write_json(w, IT_REC_VIDEO, golden_video));
    before = WRITTEN();
    /* Every invariant the reader checks, refused before anything is written. */
    r.indices = idx;
    idx[0] = 64000;
    CHECK_ERR(it_stream_write_window(w, &r), IT_E_INVALID, "stdout: record 3: window token 0 has index 64000");
    idx[0] = 0;
    r.kept = 2;
    CHECK_ERR(it_stream_write_window(w, &r), IT_E_INVALID, "window mask keeps 3 tokens, but kept is 2");
    r.kept = 3;
    r.elbo_mean = 0.5f;
    CHECK_ERR(it_stream_write_window(w, &r), IT_E_INVALID, "window elbo_mean 0.5 differs from the mean of its ELBO map 0.4375");
    r.elbo_mean = 0.4375f;
    r.keep = NULL;
    CHECK_ERR(it_stream_write_window(w, &r), IT_E_INVALID, "window without its keep array");
    r.keep = golden_keep;
    r.lt = 49; r.lh = 96; r.lw = 97;
    CHECK_ERR(it_stream_write_window(w, &r), IT_E_INVALID, "more than 451584 tokens");
    r.lt = 1; r.lh = 2; r.lw = 3;
    r.window_index = 1;
    CHECK_ERR(it_stream_write_window(w, &r), IT_E_INVALID, "window index 1, expected 0");
    r.window_index = 0;
    it_alloc_rec a = golden_alloc;
    CHECK_ERR(it_stream_write_alloc(w, &a), IT_E_INVALID, "ALLOCATION record while video 0 is open");
    CHECK_ERR(it_stream_write_json(w, IT_REC_END, golden_end), IT_E_INVALID, "END record while video 0 is open");
    CHECK(WRITTEN() == before);
    /* The writer stays usable after a refusal. */
    CHECK_OK(it_stream_write_window(w, &r));
    CHECK_OK(it_stream_write_json(w, IT_REC_VIDEO_END, golden_video_end));
    a.avg_rate = 0.01f;
    CHECK_ERR(it_stream_write_alloc(w, &a), IT_E_INVALID, "allocation avg_rate 0.01 is outside [0.0625, 1]");
    a.avg_rate = 0.5f;
    CHECK_OK(it_stream_write_alloc(w, &a));
    CHECK_ERR(it_stream_write_json(w, IT_REC_END, "{\"videos\":2,\"failed\":0,\"windows\":1}"), IT_E_INVALID,
              "END record says 2 videos");
    CHECK_OK(it_stream_write_json(w, IT_REC_END, golden_end));
    CHECK_ERR(it_stream_write_json(w, IT_REC_END, golden_end), IT_E_INVALID, "record 7: END record after the END record");
    CHECK_OK(it_stream_writer_free(&w));
    CHECK(it_stream_writer_free(&w) == 0); /* NULL-safe */
    fclose(f);
    /* The result is the golden stream. */
    bytes g = {0};
    golden_by_hand(&g);
    CHECK(g.n == n && memcmp(g.p, mem, n) == 0);
    free(g.p);
    free(mem);
#undef WRITTEN

    /* A device that fails: the error surfaces, naming the stream, at the latest on free. */
    FILE *full = fopen("/dev/full", "wb");
    if (full) {
        int rc = it_stream_writer_new(&w, full, "out.itok");
        if (rc == 0) {
            it_stream_write_json(w, IT_REC_HEADER, golden_header);
            CHECK_ERR(it_stream_writer_free(&w), IT_E_IO, "out.itok: ");
        } else {
            CHECK_ERR(rc, IT_E_IO, "out.itok: ");
        }
        fclose(full);
    }
}

static void test_crc32(void)
{
    const char *nine = "123456789", *fox = "The quick brown fox jumps over the lazy dog";
    CHECK(it_crc32(0, "", 0) == 0);
    CHECK(it_crc32(0, nine, 9) == 0xcbf43926u);              /* the CRC-32/ISO-HDLC check value */
    CHECK(it_crc32(0, fox, strlen(fox)) == 0x414fa339u);    /* zlib.crc32(b"The quick ...") */
    CHECK(it_crc32(it_crc32(0, nine, 4), nine + 4, 5) == 0xcbf43926u);
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    CHECK(it_crc32(0, all, 256) == 0x29058c73u);             /* zlib.crc32(bytes(range(256))) */
    /* The 8-bytes-a-step path against the bitwise definition: every length up to 300, every
     * alignment, chained at an arbitrary split. */
    unsigned char buf[320];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(rng() >> 56);
    for (size_t len = 0; len <= 300; len++) {
        for (size_t off = 0; off < 8; off++) {
            uint32_t c = 0xffffffffu;
            for (size_t i = 0; i < len; i++) {
                c ^= buf[off + i];
                for (int k = 0; k < 8; k++)
                    c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
            }
            c = ~c;
            const size_t split = len / 3;
            if (it_crc32(0, buf + off, len) != c ||
                it_crc32(it_crc32(0, buf + off, split), buf + off + split, len - split) != c) {
                fprintf(stderr, "crc32 of %zu bytes at offset %zu differs from the definition\n", len, off);
                failures++;
                return;
            }
        }
    }
}

/* Seeds for tests/stream/fuzz.sh: small valid streams of every kind of record. */
static int write_seeds(const char *dir)
{
    char path[4096];
    realistic rt;
    unsigned char *buf = NULL;
    size_t n = 0;
    bytes b = {0};
    memset(&rt, 0, sizeof rt);
    if (write_realistic(&rt, 0, &buf, &n) < 0)
        return -1;
    for (int i = 0; i < RT_WINDOWS; i++)
        if (rt.w[i].idx)
            twin_free(&rt.w[i]);
    snprintf(path, sizeof path, "%s/realistic.itok", dir);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(buf, 1, n, f) == n;
    ok = f && fclose(f) == 0 && ok;
    free(buf);
    snprintf(path, sizeof path, "%s/golden.itok", dir);
    f = fopen(path, "wb");
    ok = ok && f && write_golden(f) == 0;
    ok = f && fclose(f) == 0 && ok;
    /* A window without a rate, then an empty video, and nothing else. */
    it_window_rec r = golden_window();
    r.strategy = IT_STRATEGY_NONE;
    r.rate = 0;
    r.kept = 0;
    open_video(&b);
    window_record(&b, &r);
    json_record(&b, IT_REC_VIDEO_END, golden_video_end);
    json_record(&b, IT_REC_VIDEO, "{\"id\":\"0123456789abcdef\",\"ordinal\":1}");
    json_record(&b, IT_REC_VIDEO_END, "{\"ordinal\":1,\"id\":\"0123456789abcdef\",\"status\":\"error\","
                                      "\"error\":\"x\",\"windows\":0,\"frames\":0}");
    json_record(&b, IT_REC_END, "{\"videos\":2,\"failed\":1,\"windows\":1}");
    snprintf(path, sizeof path, "%s/norate.itok", dir);
    f = fopen(path, "wb");
    ok = ok && f && fwrite(b.p, 1, b.n, f) == b.n;
    ok = f && fclose(f) == 0 && ok;
    free(b.p);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--seeds") == 0) {
        if (write_seeds(argv[2]) < 0) {
            fprintf(stderr, "test_stream: cannot write seeds to %s: %s\n", argv[2], it_error_message());
            return 99;
        }
        return failures ? 99 : 0;
    }
    if (argc == 3 && strcmp(argv[1], "--generate") == 0) {
        FILE *f = fopen(argv[2], "wb");
        if (!f || write_golden(f) < 0) {
            fprintf(stderr, "test_stream: %s: %s\n", argv[2], f ? it_error_message() : "cannot open");
            return 99;
        }
        return fclose(f) == 0 ? 0 : 99;
    }
    if (argc != 1) {
        fprintf(stderr, "usage: test_stream [--generate FILE | --seeds DIR]\n");
        return 99;
    }
    test_crc32();
    test_golden();
    test_round_trip();
    test_truncation_and_flips();
    test_hostile_windows();
    test_hostile_sequence();
    test_writer();
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 99 : 0;
}
