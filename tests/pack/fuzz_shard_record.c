/* fuzz_shard_record.c: a libFuzzer target for the shard record decoder
 * (formats/shard_record.c), the part of a shard reader that parses bytes from the file.
 * Each input is decoded twice: as a value, and as a body wrapped in a valid frame (zstd and
 * CRC-32 made here; random mutations almost never keep a CRC valid, so without the second
 * pass the body checks would rarely be reached). Whatever is accepted is used like a tool
 * would (every element touched) and encoded again, which must decode to the same record.
 * Built by tests/pack/fuzz.sh (make fuzz-shard), never by make check.
 * `fuzz_shard_record --seeds DIR` writes seed values made by the encoder. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "infotok/shard.h"
#include "infotok/core.h"

static it_shard_codec *dec, *enc, *dec2;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_shard_record: %s (%s)\n", what, it_error_message());
    abort();
}

static void check_roundtrip(const it_window_rec *r)
{
    const size_t nt = (size_t)r->lt * r->lh * r->lw;
    unsigned sum = 0;
    for (size_t i = 0; i < nt; i++)
        sum += r->indices[i] + (r->keep ? r->keep[i] : 0) + (r->elbo[i] > 1.0f);
    it_window_rec copy = *r;
    const void *val;
    size_t len;
    if (it_shard_record_encode(enc, &copy, &val, &len) < 0)
        fail("the encoder refused a record the decoder accepted");
    const it_window_rec *back;
    if (it_shard_record_decode(dec2, val, len, "re-encoded", &back) < 0)
        fail("a re-encoded record does not decode");
    if (back->kept != r->kept || back->strategy != r->strategy || back->elbo_mean != r->elbo_mean ||
        memcmp(back->indices, r->indices, nt * 2) != 0 || memcmp(back->elbo, r->elbo, nt * 4) != 0 ||
        (r->keep && memcmp(back->keep, r->keep, nt) != 0))
        fail("a re-encoded record decodes differently");
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dec && (it_shard_codec_new(&dec, 1) < 0 || it_shard_codec_new(&enc, 1) < 0 ||
                 it_shard_codec_new(&dec2, 1) < 0))
        fail("no codec");
    const it_window_rec *r;
    if (it_shard_record_decode(dec, data, size, "input", &r) == 0)
        check_roundtrip(r);
    /* the input as a body behind a valid frame; the first byte picks the flags */
    if (size < 1)
        return 0;
    const size_t nb = size - 1;
    size_t cap = 16 + ZSTD_compressBound(nb);
    unsigned char *val = malloc(cap);
    if (!val)
        return 0;
    size_t z = ZSTD_compress(val + 16, cap - 16, data + 1, nb, 1);
    if (!ZSTD_isError(z)) {
        memcpy(val, "ITSW", 4);
        val[4] = 1;
        val[5] = data[0] & 1;
        val[6] = val[7] = 0;
        uint32_t crc = it_crc32(0, data + 1, nb);
        for (int i = 0; i < 4; i++) {
            val[8 + i] = (unsigned char)(nb >> (8 * i));
            val[12 + i] = (unsigned char)(crc >> (8 * i));
        }
        if (it_shard_record_decode(dec, val, 16 + z, "framed input", &r) == 0)
            check_roundtrip(r);
    }
    free(val);
    return 0;
}

#ifdef FUZZ_SEEDS
/* Seeds: valid records of a few shapes, with and without a rate. */
int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "--seeds") != 0)
        return 2;
    it_shard_codec *c;
    if (it_shard_codec_new(&c, 1) < 0)
        return 1;
    const int shapes[3][3] = {{1, 1, 1}, {2, 3, 4}, {9, 6, 6}};
    for (int s = 0; s < 3; s++)
        for (int rated = 0; rated < 2; rated++) {
            const int lt = shapes[s][0], lh = shapes[s][1], lw = shapes[s][2];
            const size_t nt = (size_t)lt * lh * lw;
            uint16_t *ix = malloc(nt * 2);
            float *el = malloc(nt * 4);
            uint8_t *kp = malloc(nt);
            double sum = 0;
            uint32_t kept = 0;
            for (size_t i = 0; i < nt; i++) {
                ix[i] = (uint16_t)((i * 7919u) % 64000u);
                el[i] = (float)((i * 37u) % 101u) / 50.0f;
                kp[i] = (uint8_t)(i % 3 == 0);
                kept += kp[i];
                sum += el[i];
            }
            it_window_rec r = {.video_id = 0x1234, .t = 4 * (lt - 1) + 1, .h = 8 * lh, .w = 8 * lw,
                               .pt = 4 * (lt - 1) + 1, .ph = 8 * lh, .pw = 8 * lw, .lt = lt, .lh = lh,
                               .lw = lw, .fps = 25, .elbo_mean = (float)(sum / (double)nt),
                               .strategy = rated ? 1 : 0, .rate = rated ? 0.5f : 0.0f,
                               .kept = rated ? kept : 0, .indices = ix, .elbo = el, .keep = rated ? kp : NULL};
            const void *val;
            size_t len;
            if (it_shard_record_encode(c, &r, &val, &len) < 0) {
                fprintf(stderr, "seed: %s\n", it_error_message());
                return 1;
            }
            char path[4096];
            snprintf(path, sizeof path, "%s/seed-%d-%d", argv[2], s, rated);
            FILE *f = fopen(path, "wb");
            if (!f || fwrite(val, 1, len, f) != len || fclose(f) != 0)
                return 1;
            free(ix);
            free(el);
            free(kp);
        }
    it_shard_codec_free(&c);
    return 0;
}
#endif
