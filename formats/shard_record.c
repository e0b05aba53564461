/* shard_record.c: one window record as a shard value (infotok-shard(5)): a 16-byte frame
 * (magic, version, flags, body length, CRC-32 of the body) and the body as one zstd frame.
 * A slim record (flag 2, it-pack --slim) has no ELBO map and stores only the kept tokens.
 *
 * The body stores arrays as byte planes (all low bytes, then all high bytes, ...): FSQ indices
 * and ELBO floats vary most in their low bytes, so planes give zstd long runs of similar
 * bytes; measured against plain little-endian arrays in formats/SHARD-LAYOUT.md. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "error_internal.h"
#include "infotok/shard.h"

#define VAL_MAGIC "ITSW"
#define VAL_VERSION 1
#define VAL_HEAD 16
#define BODY_FIXED 100
#define FLAG_RATE 1u /* the window has a rate: mask present */
#define FLAG_SLIM 2u /* no ELBO map; tokens: only the kept ones (all of them without a rate) */

struct it_shard_codec {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    int level;
    unsigned char *body, *val;  /* scratch: uncompressed body, encoded value */
    size_t body_cap, val_cap;
    it_window_rec rec;          /* decoded record, pointing into the arrays below */
    uint16_t *indices;
    float *elbo;
    uint8_t *keep;
    size_t tok_cap;
};

static void put32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void put64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const unsigned char *p) { return get32(p) | (uint64_t)get32(p + 4) << 32; }
static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static int grow(unsigned char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    unsigned char *p = realloc(*buf, need);
    if (!p)
        return it_error_set(IT_E_NOMEM, "out of memory for a %zu-byte shard record", need);
    *buf = p;
    *cap = need;
    return 0;
}

int it_shard_codec_new(it_shard_codec **out, int level)
{
    *out = NULL;
    it_shard_codec *c = calloc(1, sizeof *c);
    if (!c || !(c->cctx = ZSTD_createCCtx()) || !(c->dctx = ZSTD_createDCtx())) {
        it_shard_codec_free(&c);
        return it_error_set(IT_E_NOMEM, "out of memory for the zstd contexts");
    }
    c->level = level ? level : IT_SHARD_DEFAULT_LEVEL;
    if (c->level < ZSTD_minCLevel() || c->level > ZSTD_maxCLevel()) {
        int bad = c->level;
        it_shard_codec_free(&c);
        return it_error_set(IT_E_INVALID, "zstd level %d is outside [%d, %d]", bad, ZSTD_minCLevel(),
                            ZSTD_maxCLevel());
    }
    *out = c;
    return 0;
}

void it_shard_codec_free(it_shard_codec **cp)
{
    it_shard_codec *c = *cp;
    if (!c)
        return;
    ZSTD_freeCCtx(c->cctx);
    ZSTD_freeDCtx(c->dctx);
    free(c->body);
    free(c->val);
    free(c->indices);
    free(c->elbo);
    free(c->keep);
    free(c);
    *cp = NULL;
}

static size_t body_bytes(size_t nt, int has_rate)
{
    return BODY_FIXED + nt * 2 + nt * 4 + (has_rate ? (nt + 7) / 8 : 0);
}

/* A slim body: the stored (kept) tokens as two planes, then the mask. */
static size_t slim_body_bytes(size_t nt, int has_rate, size_t kept)
{
    return BODY_FIXED + (has_rate ? kept : nt) * 2 + (has_rate ? (nt + 7) / 8 : 0);
}

static void put_fixed(unsigned char *p, const it_window_rec *r, uint32_t nt)
{
    put64(p, r->video_id);
    put32(p + 8, r->video_ordinal);
    put32(p + 12, r->window_index);
    put64(p + 16, (uint64_t)r->first_frame);
    const int32_t geo[12] = {r->t, r->h, r->w, r->pt, r->ph, r->pw, r->t0, r->h0, r->w0, r->lt, r->lh, r->lw};
    for (int i = 0; i < 12; i++)
        put32(p + 24 + 4 * i, (uint32_t)geo[i]);
    uint64_t fps;
    memcpy(&fps, &r->fps, 8);
    put64(p + 72, fps);
    put32(p + 80, f32_bits(r->elbo_mean));
    p[84] = r->strategy;
    p[85] = p[86] = p[87] = 0;
    put32(p + 88, f32_bits(r->rate));
    put32(p + 92, r->kept);
    put32(p + 96, nt);
}

int it_shard_record_encode(it_shard_codec *c, const it_window_rec *r, const void **val, size_t *len)
{
    int rc = it_window_rec_check(r, "shard record");
    if (rc < 0)
        return rc;
    const size_t nt = (size_t)r->lt * (size_t)r->lh * (size_t)r->lw;
    const int has_rate = r->strategy != IT_STRATEGY_NONE, slim = r->elbo == NULL;
    const size_t nb = slim ? slim_body_bytes(nt, has_rate, r->kept) : body_bytes(nt, has_rate);
    if ((rc = grow(&c->body, &c->body_cap, nb)) < 0 ||
        (rc = grow(&c->val, &c->val_cap, VAL_HEAD + ZSTD_compressBound(nb))) < 0)
        return rc;
    unsigned char *p = c->body;
    put_fixed(p, r, (uint32_t)nt);
    unsigned char *tok = p + BODY_FIXED, *el = tok + 2 * nt, *mask = el + 4 * nt;
    if (slim) {
        const size_t ns = has_rate ? r->kept : nt;
        mask = tok + 2 * ns;
        for (size_t i = 0, k = 0; i < nt; i++)
            if (!has_rate || r->keep[i]) {
                tok[k] = (unsigned char)r->indices[i];
                tok[ns + k] = (unsigned char)(r->indices[i] >> 8);
                k++;
            }
    }
    for (size_t i = 0; i < nt && !slim; i++) {
        tok[i] = (unsigned char)r->indices[i];
        tok[nt + i] = (unsigned char)(r->indices[i] >> 8);
        const uint32_t b = f32_bits(r->elbo[i]);
        for (int k = 0; k < 4; k++)
            el[k * nt + i] = (unsigned char)(b >> (8 * k));
    }
    if (has_rate) {
        memset(mask, 0, (nt + 7) / 8);
        for (size_t i = 0; i < nt; i++)
            mask[i >> 3] |= (unsigned char)(r->keep[i] << (i & 7));
    }
    const size_t z = ZSTD_compressCCtx(c->cctx, c->val + VAL_HEAD, c->val_cap - VAL_HEAD, p, nb, c->level);
    if (ZSTD_isError(z))
        return it_error_set(IT_E_INTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(z));
    memcpy(c->val, VAL_MAGIC, 4);
    c->val[4] = VAL_VERSION;
    c->val[5] = (has_rate ? FLAG_RATE : 0) | (slim ? FLAG_SLIM : 0);
    c->val[6] = c->val[7] = 0;
    put32(c->val + 8, (uint32_t)nb);
    put32(c->val + 12, it_crc32(0, p, nb));
    *val = c->val;
    *len = VAL_HEAD + z;
    return 0;
}

static int grow_tokens(it_shard_codec *c, size_t nt)
{
    if (nt <= c->tok_cap)
        return 0;
    uint16_t *ix = realloc(c->indices, nt * sizeof *ix);
    if (ix)
        c->indices = ix;
    float *el = realloc(c->elbo, nt * sizeof *el);
    if (el)
        c->elbo = el;
    uint8_t *kp = realloc(c->keep, nt);
    if (kp)
        c->keep = kp;
    if (!ix || !el || !kp)
        return it_error_set(IT_E_NOMEM, "out of memory for a %zu-token window", nt);
    c->tok_cap = nt;
    return 0;
}

int it_shard_record_decode(it_shard_codec *c, const void *val, size_t len, const char *where,
                           const it_window_rec **out)
{
    const unsigned char *v = val;
    *out = NULL;
    if (len < VAL_HEAD || memcmp(v, VAL_MAGIC, 4) != 0)
        return it_error_set(IT_E_FORMAT, "%s: not a window record (%zu bytes, bad magic)", where, len);
    if (v[4] != VAL_VERSION || (v[5] & ~(FLAG_RATE | FLAG_SLIM)) || v[6] || v[7])
        return it_error_set(IT_E_UNSUPPORTED, "%s: record version %u flags %u is not supported",
                            where, (unsigned)v[4], (unsigned)v[5]);
    const int has_rate = v[5] & FLAG_RATE, slim = (v[5] & FLAG_SLIM) != 0;
    const size_t nb = get32(v + 8);
    if (nb < BODY_FIXED || nb > IT_STREAM_MAX_PAYLOAD)
        return it_error_set(IT_E_FORMAT, "%s: record body of %zu bytes is out of range", where, nb);
    const unsigned long long fcs = ZSTD_getFrameContentSize(v + VAL_HEAD, len - VAL_HEAD);
    if (fcs != nb)
        return it_error_set(IT_E_FORMAT, "%s: compressed body declares %llu bytes, the record %zu",
                            where, fcs, nb);
    int rc = grow(&c->body, &c->body_cap, nb);
    if (rc < 0)
        return rc;
    const size_t got = ZSTD_decompressDCtx(c->dctx, c->body, nb, v + VAL_HEAD, len - VAL_HEAD);
    if (ZSTD_isError(got) || got != nb)
        return it_error_set(IT_E_FORMAT, "%s: compressed body is damaged (%s)", where,
                            ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short");
    if (it_crc32(0, c->body, nb) != get32(v + 12))
        return it_error_set(IT_E_CHECKSUM, "%s: record CRC-32 mismatch (the record is damaged)", where);
    const unsigned char *p = c->body;
    it_window_rec *r = &c->rec;
    memset(r, 0, sizeof *r);
    r->video_id = get64(p);
    r->video_ordinal = get32(p + 8);
    r->window_index = get32(p + 12);
    r->first_frame = (int64_t)get64(p + 16);
    int32_t *geo[12] = {&r->t, &r->h, &r->w, &r->pt, &r->ph, &r->pw, &r->t0, &r->h0, &r->w0, &r->lt, &r->lh, &r->lw};
    for (int i = 0; i < 12; i++)
        *geo[i] = (int32_t)get32(p + 24 + 4 * i);
    const uint64_t fps = get64(p + 72);
    memcpy(&r->fps, &fps, 8);
    r->elbo_mean = bits_f32(get32(p + 80));
    r->strategy = p[84];
    r->rate = bits_f32(get32(p + 88));
    r->kept = get32(p + 92);
    const uint64_t nt = get32(p + 96);
    if (nt == 0 || nt > IT_STREAM_MAX_TOKENS || r->lt <= 0 || r->lh <= 0 || r->lw <= 0 ||
        (uint64_t)r->lt * (uint64_t)r->lh * (uint64_t)r->lw != nt)
        return it_error_set(IT_E_FORMAT, "%s: token count %" PRIu64 " does not match the latent grid", where, nt);
    if ((has_rate != 0) != (r->strategy != IT_STRATEGY_NONE) || (has_rate && r->kept > nt) ||
        nb != (slim ? slim_body_bytes(nt, has_rate, r->kept) : body_bytes(nt, has_rate)))
        return it_error_set(IT_E_FORMAT, "%s: record body of %zu bytes does not fit %" PRIu64 " tokens",
                            where, nb, nt);
    if ((rc = grow_tokens(c, nt)) < 0)
        return rc;
    const unsigned char *tok = p + BODY_FIXED, *el = tok + 2 * nt, *mask = el + 4 * nt;
    if (slim) {
        /* dropped positions read as index 0: the decoder never looks at them */
        const size_t ns = has_rate ? r->kept : nt;
        size_t k = 0;
        mask = tok + 2 * ns;
        for (size_t i = 0; i < nt; i++) {
            c->keep[i] = has_rate ? (mask[i >> 3] >> (i & 7)) & 1 : 0;
            if (has_rate && !c->keep[i]) {
                c->indices[i] = 0;
                continue;
            }
            if (k == ns) /* the mask keeps more tokens than the record stores */
                return it_error_set(IT_E_FORMAT, "%s: the mask keeps more than kept=%" PRIu32 " tokens", where,
                                    r->kept);
            c->indices[i] = (uint16_t)(tok[k] | tok[ns + k] << 8);
            k++;
        }
    }
    for (size_t i = 0; i < nt && !slim; i++) {
        c->indices[i] = (uint16_t)(tok[i] | tok[nt + i] << 8);
        uint32_t b = 0;
        for (int k = 0; k < 4; k++)
            b |= (uint32_t)el[k * nt + i] << (8 * k);
        c->elbo[i] = bits_f32(b);
        c->keep[i] = has_rate ? (mask[i >> 3] >> (i & 7)) & 1 : 0;
    }
    r->indices = c->indices;
    r->elbo = slim ? NULL : c->elbo;
    r->keep = has_rate ? c->keep : NULL;
    if ((rc = it_window_rec_check(r, where)) < 0)
        return rc;
    *out = r;
    return 0;
}
