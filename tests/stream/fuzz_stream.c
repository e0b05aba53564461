/* fuzz_stream.c: a libFuzzer target for the token stream reader (formats/tokstream.c).
 * Each input is read twice through fmemopen: as it is, and with every record's CRC recomputed
 * (random mutations almost never keep a CRC valid, so without the second pass the field checks
 * behind it would rarely be reached). Whatever the reader accepts is used the way a tool would
 * (every array element touched, so ASan sees a buffer that is too short), checked against the
 * format's invariants, and written again with the library's writer, which must accept it and
 * reproduce the input byte for byte: the encoding is canonical, so a reader that accepted
 * anything the writer would not write (or would write differently) is a bug.
 * Built by tests/stream/fuzz.sh (make fuzz-stream), never by make check. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infotok/stream.h"
#include "infotok/core.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_stream: %s (%s)\n", what, it_error_message());
    abort();
}

/* A tool's use of a window: every element, with the invariants the reader promises. */
static void use_window(const it_window_rec *w)
{
    const size_t nt = (size_t)w->lt * (size_t)w->lh * (size_t)w->lw;
    size_t kept = 0;
    double sum = 0;
    if (w->lt < 1 || w->lh < 1 || w->lw < 1 || nt > IT_STREAM_MAX_TOKENS)
        fail("window grid out of range");
    for (size_t i = 0; i < nt; i++) {
        if (w->indices[i] >= 64000 || !isfinite(w->elbo[i]) || w->elbo[i] < 0)
            fail("window token out of range");
        sum += w->elbo[i];
        if (w->strategy)
            kept += w->keep[i];
    }
    if ((float)(sum / (double)nt) != w->elbo_mean)
        fail("elbo_mean differs from its map");
    if (w->strategy ? kept != w->kept : (w->keep != NULL || w->kept != 0))
        fail("mask and kept disagree");
}

/* Read data; rewrite what was accepted; compare. */
static void run(const uint8_t *data, size_t size)
{
    FILE *in = size ? fmemopen((void *)data, size, "rb") : fopen("/dev/null", "rb");
    char *out = NULL;
    size_t outn = 0;
    FILE *of = open_memstream(&out, &outn);
    it_stream_reader *r = NULL;
    it_stream_writer *w = NULL;
    int rc, type;
    size_t complete = 0; /* input bytes up to the end of the last accepted record */
    if (!in || !of)
        abort();
    if (it_stream_reader_new(&r, in, "fuzz") == 0) {
        if (it_stream_writer_new(&w, of, "rewrite") != 0)
            fail("writer_new");
        complete = 16;
        while ((rc = it_stream_next(r, &type)) > 0) {
            if (type == IT_REC_WINDOW) {
                const it_window_rec *win = it_stream_window(r);
                if (!win || it_stream_json(r) || it_stream_alloc(r))
                    fail("accessors disagree with the type");
                use_window(win);
                if (it_stream_write_window(w, win) != 0)
                    fail("writer refuses a window the reader accepted");
                complete += 16 + 96 + (size_t)win->lt * win->lh * win->lw * 6 +
                            (win->strategy ? ((size_t)win->lt * win->lh * win->lw + 7) / 8 + 2 * (size_t)win->kept : 0);
            } else if (type == IT_REC_ALLOCATION) {
                const it_alloc_rec *a = it_stream_alloc(r);
                if (!a || it_stream_window(r))
                    fail("accessors disagree with the type");
                if (it_stream_write_alloc(w, a) != 0)
                    fail("writer refuses an allocation the reader accepted");
                complete += 16 + 24;
            } else {
                const char *j = it_stream_json(r);
                if (!j || it_stream_window(r))
                    fail("accessors disagree with the type");
                if (it_stream_write_json(w, type, j) != 0)
                    fail("writer refuses a JSON record the reader accepted");
                complete += 16 + strlen(j);
            }
        }
        if (rc == 0 && complete != size)
            fail("a complete stream with bytes the records do not account for");
        if (rc < 0 && it_stream_next(r, &type) != rc)
            fail("the error is not sticky");
        if (it_stream_writer_free(&w) != 0)
            fail("writer_free");
    }
    it_stream_reader_free(&r);
    fclose(in);
    fclose(of);
    /* What was accepted, written again, is the input's accepted prefix byte for byte. */
    if (complete && (outn != complete || memcmp(out, data, complete) != 0))
        fail("rewritten records differ from the input");
    free(out);
}

/* Recompute the CRC of every record whose frame fits, walking by the length fields. */
static void fix_crcs(uint8_t *d, size_t n)
{
    size_t o = 16;
    while (o + 12 <= n) {
        uint32_t len = (uint32_t)d[o + 8] | (uint32_t)d[o + 9] << 8 | (uint32_t)d[o + 10] << 16 |
                       (uint32_t)d[o + 11] << 24;
        if (len > n - o - 12 || n - o - 12 - len < 4)
            return;
        uint32_t c = it_crc32(0, d + o + 4, 8 + (size_t)len);
        for (int i = 0; i < 4; i++)
            d[o + 12 + len + i] = (uint8_t)(c >> (8 * i));
        o += 16 + (size_t)len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    fix_crcs(copy, size);
    if (size && memcmp(copy, data, size) != 0)
        run(copy, size);
    free(copy);
    return 0;
}
