/* test_shard: the shard C API on synthetic records: a map far too small for the data grows
 * while writing; random access by ordinal, window and video id (a duplicated id finds both
 * copies); iteration gives back every record; verify accepts the shard; a shard without its
 * completion (abort) leaves nothing; the writer refuses out-of-sequence records. Slim records
 * keep the kept tokens and masks only; a slim shard refuses re-allocation, a full writer
 * refuses slim records. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "infotok/shard.h"
#include "infotok/core.h"
#include "infotok/rate.h"
#include "infotok/records.h"

static int failures;
#define CHECK(c)                                                                \
    do {                                                                        \
        if (!(c)) {                                                             \
            fprintf(stderr, "FAIL %s:%d: %s (%s)\n", __FILE__, __LINE__, #c,   \
                    it_error_message());                                        \
            failures++;                                                         \
        }                                                                       \
    } while (0)

enum { LT = 9, LH = 16, LW = 16, NT = LT * LH * LW, VIDEOS = 6, WINDOWS = 5 };

static void make_window(it_window_rec *r, uint16_t *ix, float *el, uint8_t *keep, uint64_t id, uint32_t v, uint32_t w)
{
    uint64_t x = id * 31 + w * 7 + 1;
    for (int i = 0; i < NT; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        ix[i] = (uint16_t)((x >> 33) % 64000); /* random tokens: incompressible, so the map fills */
        el[i] = (float)((x >> 20) % 1000) / 997.0f;
    }
    memset(r, 0, sizeof *r);
    r->video_id = id;
    r->video_ordinal = v;
    r->window_index = w;
    r->first_frame = 28 * w;
    r->t = r->pt = 33;
    r->h = r->ph = 8 * LH;
    r->w = r->pw = 8 * LW;
    r->lt = LT;
    r->lh = LH;
    r->lw = LW;
    r->fps = 30;
    r->indices = ix;
    r->elbo = el;
    r->elbo_mean = it_elbo_window_mean(el, NT);
    if (w % 2)
        it_rate_apply(r, IT_STRATEGY_STATIC, 0.5f, keep);
}

int main(void)
{
    char path[] = "/tmp/it-test-shard-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    unlink(path);
    static uint16_t ix[NT];
    static float el[NT];
    static uint8_t keep[NT];
    const uint64_t ids[VIDEOS] = {0x10, 0xff00, 0x10, 0x7, 0xabcdef, 0x3};
    it_shard_write_opts o = {.zstd_level = 1, .batch = 3, .map_size = 64 << 10};
    it_shard_writer *w = NULL;
    CHECK(it_shard_writer_new(&w, path, "{\"model\":{}}", &o) == 0);
    it_elbo_stat stat = {0, 0};
    for (uint32_t v = 0; v < VIDEOS && w; v++) {
        char vj[128], ej[160];
        snprintf(vj, sizeof vj, "{\"id\":\"%016" PRIx64 "\",\"path\":\"v%u.mp4\",\"ordinal\":%u}", ids[v], v, v);
        CHECK(it_shard_write_video(w, vj) == 0);
        for (uint32_t i = 0; i < WINDOWS; i++) {
            it_window_rec r;
            make_window(&r, ix, el, keep, ids[v], v, i);
            CHECK(it_shard_write_window(w, &r) == 0);
            it_elbo_stat_add(&stat, r.elbo_mean);
        }
        /* out of sequence: a window of another video is refused and changes nothing */
        it_window_rec bad;
        make_window(&bad, ix, el, keep, ids[v], v + 1, 0);
        CHECK(it_shard_write_window(w, &bad) < 0);
        snprintf(ej, sizeof ej, "{\"ordinal\":%u,\"id\":\"%016" PRIx64 "\",\"status\":\"ok\",\"windows\":%d,\"frames\":145}",
                 v, ids[v], WINDOWS);
        CHECK(it_shard_write_video_end(w, ej) == 0);
    }
    CHECK(it_shard_writer_finish(&w) == 0);
    CHECK(access(path, F_OK) == 0);
    char partial[96];
    snprintf(partial, sizeof partial, "%s.partial", path);
    CHECK(access(partial, F_OK) != 0);
    CHECK(it_shard_verify(path) == 0);

    it_shard *s = NULL;
    CHECK(it_shard_open(&s, path, IT_SHARD_CHECK_FILE) == 0);
    if (s) {
        CHECK(it_shard_video_count(s) == VIDEOS);
        uint64_t count;
        int64_t sum;
        CHECK(it_shard_elbo_stat(s, &count, &sum) == 0 && count == stat.count && sum == stat.sum_fixed);
        uint32_t found[4];
        CHECK(it_shard_find(s, 0x10, found, 4) == 2 && found[0] == 0 && found[1] == 2);
        CHECK(it_shard_find(s, 0xabcdef, found, 4) == 1 && found[0] == 4);
        CHECK(it_shard_find(s, 0x11, found, 4) == 0);
        /* random access in an order unlike the writing order */
        for (int k = 0; k < VIDEOS * WINDOWS; k++) {
            uint32_t v = (uint32_t)((k * 7) % VIDEOS), i = (uint32_t)((k * 3) % WINDOWS);
            const it_window_rec *r;
            CHECK(it_shard_window(s, v, i, &r) == 0);
            it_window_rec want;
            make_window(&want, ix, el, keep, ids[v], v, i);
            CHECK(r->video_id == ids[v] && r->kept == want.kept && r->strategy == want.strategy &&
                  memcmp(r->indices, ix, sizeof ix) == 0 && memcmp(r->elbo, el, sizeof el) == 0 &&
                  (!want.keep || memcmp(r->keep, keep, NT) == 0));
        }
        const it_window_rec *r;
        CHECK(it_shard_window(s, 0, WINDOWS, &r) == IT_E_NOTFOUND);
        const char *vj, *ej;
        uint32_t nw;
        CHECK(it_shard_video(s, 3, &vj, &ej, &nw) == 0 && nw == WINDOWS && strstr(vj, "v3.mp4"));
        CHECK(it_shard_video(s, VIDEOS, &vj, &ej, &nw) == IT_E_NOTFOUND);
        it_shard_close(&s);
    }
    /* iteration: the stream sequence */
    it_shard_iter *it = NULL;
    CHECK(it_shard_iter_open(&it, path) == 0);
    int type, n[7] = {0}, rc;
    while (it && (rc = it_shard_iter_next(it, &type)) == 1)
        n[type]++;
    CHECK(n[IT_REC_HEADER] == 1 && n[IT_REC_VIDEO] == VIDEOS && n[IT_REC_WINDOW] == VIDEOS * WINDOWS &&
          n[IT_REC_VIDEO_END] == VIDEOS && n[IT_REC_END] == 1);
    it_shard_iter_free(&it);

    /* an aborted writer leaves nothing */
    char other[80];
    snprintf(other, sizeof other, "%s.b", path);
    CHECK(it_shard_writer_new(&w, other, "{}", &o) == 0);
    CHECK(it_shard_write_video(w, "{\"id\":\"0000000000000001\",\"ordinal\":0}") == 0);
    it_shard_writer_abort(&w);
    snprintf(partial, sizeof partial, "%s.partial", other);
    CHECK(access(other, F_OK) != 0 && access(partial, F_OK) != 0);
    unlink(path);

    /* slim records: with and without a rate, through the codec */
    it_shard_codec *c = NULL;
    CHECK(it_shard_codec_new(&c, 1) == 0);
    for (uint32_t i = 0; c && i < 2; i++) {
        it_window_rec r;
        make_window(&r, ix, el, keep, 0x42, 0, i); /* window 1 has a rate */
        const float mean = r.elbo_mean;
        const void *full, *slim;
        size_t lf, ls;
        CHECK(it_shard_record_encode(c, &r, &full, &lf) == 0);
        r.elbo = NULL;
        CHECK(it_shard_record_encode(c, &r, &slim, &ls) == 0);
        CHECK(ls < lf / 2); /* random tokens: the map and dropped tokens were most of it */
        const it_window_rec *d = NULL;
        CHECK(it_shard_record_decode(c, slim, ls, "slim", &d) == 0);
        if (!d)
            continue;
        CHECK(d->elbo == NULL && d->elbo_mean == mean && d->kept == r.kept && d->strategy == r.strategy);
        int same = 1;
        for (int k = 0; k < NT; k++)
            same &= r.keep ? (d->keep[k] == r.keep[k] && d->indices[k] == (r.keep[k] ? ix[k] : 0))
                           : d->indices[k] == ix[k];
        CHECK(same && (r.keep != NULL) == (d->keep != NULL));
    }
    it_shard_codec_free(&c);
    /* a slim shard: written from full records, marked, refusing re-allocation */
    it_shard_write_opts so = {.zstd_level = 1, .slim = 1};
    CHECK(it_shard_writer_new(&w, path, "{\"model\":{}}", &so) == 0);
    CHECK(it_shard_write_video(w, "{\"id\":\"0000000000000042\",\"ordinal\":0}") == 0);
    for (uint32_t i = 0; i < 2; i++) {
        it_window_rec r;
        make_window(&r, ix, el, keep, 0x42, 0, i);
        CHECK(it_shard_write_window(w, &r) == 0);
    }
    CHECK(it_shard_write_video_end(w, "{\"ordinal\":0,\"id\":\"0000000000000042\",\"status\":\"ok\",\"windows\":2,"
                                      "\"frames\":61}") == 0);
    CHECK(it_shard_writer_finish(&w) == 0);
    CHECK(it_shard_verify(path) == 0);
    CHECK(it_shard_open(&s, path, 0) == 0);
    if (s) {
        const it_window_rec *r;
        CHECK(it_shard_is_slim(s) == 1 && strstr(it_shard_meta(s, "format"), "\"slim\":true"));
        CHECK(it_shard_window(s, 0, 1, &r) == 0 && r->elbo == NULL && r->keep != NULL);
        it_shard_close(&s);
    }
    it_record_reader *rr = NULL;
    it_allocation a = {IT_STRATEGY_STATIC, 0.25f, {0, 0}};
    CHECK(it_record_reader_open(&rr, path) == 0);
    CHECK(rr && it_record_reader_reallocate(rr, &a) == IT_E_UNSUPPORTED && strstr(it_error_message(), path) &&
          strstr(it_error_message(), "slim"));
    it_record_reader_free(&rr);
    /* a full writer refuses a slim record */
    CHECK(it_shard_writer_new(&w, other, "{}", &o) == 0);
    CHECK(it_shard_write_video(w, "{\"id\":\"0000000000000042\",\"ordinal\":0}") == 0);
    it_window_rec r;
    make_window(&r, ix, el, keep, 0x42, 0, 0);
    r.elbo = NULL;
    CHECK(it_shard_write_window(w, &r) == IT_E_INVALID && strstr(it_error_message(), "--slim"));
    it_shard_writer_abort(&w);
    unlink(path);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
