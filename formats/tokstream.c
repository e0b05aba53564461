/* tokstream.c: the token stream (formats/tokstream.h, infotok-stream(5)): framed, checksummed
 * records written and read sequentially through stdio.
 *
 * The reader and the writer share one set of checks: the field invariants of a window, an
 * allocation and the JSON records, and the sequence rules (one state machine). The writer runs
 * them before it writes anything, so it cannot produce a stream its own reader would refuse.
 * What this file is not: rate allocation (src/rate.c) and the meaning of the JSON keys beyond
 * the few the sequence rules need (ordinals, ids, counts). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "error_internal.h"
#include "infotok/stream.h"

#define FILE_MAGIC "ITOKSTRM"
#define FILE_HEADER_BYTES 16
#define FORMAT_VERSION 1u
#define REC_MAGIC "ITRC"
#define FRAME_BYTES 12          /* magic, type, zero, payload length */
#define CRC_BYTES 4
#define WINDOW_FIXED_BYTES 96   /* the window payload before indices[NT] */
#define ALLOC_BYTES 24
#define MAX_INDEX IT_STREAM_CODEBOOK
#define ALLOC_RATE_MIN 0.0625f  /* avg_rate bounds of an allocation (IT_RATE_MIN in rate.h) */
#define WHERE_MAX 320           /* "name: record N" prefix of every message */

/* ---- little-endian packing ------------------------------------------------------------------ */

static void put_u16(unsigned char *p, uint16_t v) { p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); }
static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put_f32(unsigned char *p, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    put_u32(p, u);
}
static void put_f64(unsigned char *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put_u64(p, u);
}
static uint16_t get_u16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const unsigned char *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }
static float get_f32(const unsigned char *p)
{
    uint32_t u = get_u32(p);
    float v;
    memcpy(&v, &u, 4);
    return v;
}
static double get_f64(const unsigned char *p)
{
    uint64_t u = get_u64(p);
    double v;
    memcpy(&v, &u, 8);
    return v;
}

/* ---- shared checks ---------------------------------------------------------------------------- */

static const char *type_name(unsigned type)
{
    switch (type) {
    case IT_REC_HEADER: return "HEADER";
    case IT_REC_VIDEO: return "VIDEO";
    case IT_REC_WINDOW: return "WINDOW";
    case IT_REC_VIDEO_END: return "VIDEO_END";
    case IT_REC_ALLOCATION: return "ALLOCATION";
    case IT_REC_END: return "END";
    default: return "unknown";
    }
}

static int is_json_type(unsigned type)
{
    return type == IT_REC_HEADER || type == IT_REC_VIDEO || type == IT_REC_VIDEO_END ||
           type == IT_REC_END;
}

static int strategy_known(unsigned s) { return s <= IT_STRATEGY_GLOBAL_ELBO; }

/* The sequence rules' state; reader and writer each keep one. A check works on a copy and the
 * caller commits it only when the whole record passed, so a refused record changes nothing. */
typedef struct seq_state {
    uint64_t records;      /* records accepted */
    int header, open, alloc, ended;
    uint32_t next_ordinal; /* the next VIDEO's ordinal; the open video's is next_ordinal - 1 */
    uint64_t open_id;      /* the open video's id */
    uint32_t next_window;  /* the next window_index in the open video */
    uint64_t videos, failed, windows;
} seq_state;

/* Rules common to every record type, before its own. */
static int seq_common(const seq_state *s, unsigned type, const char *where)
{
    if (s->ended)
        return it_error_set(IT_E_FORMAT, "%s: %s record after the END record", where, type_name(type));
    if (!s->header && type != IT_REC_HEADER)
        return it_error_set(IT_E_FORMAT, "%s: the stream starts with a %s record, expected HEADER",
                            where, type_name(type));
    if (s->header && type == IT_REC_HEADER)
        return it_error_set(IT_E_FORMAT, "%s: a second HEADER record", where);
    if (s->open && (type == IT_REC_VIDEO || type == IT_REC_ALLOCATION || type == IT_REC_END))
        return it_error_set(IT_E_FORMAT, "%s: %s record while video %" PRIu32 " is open (no VIDEO_END)",
                            where, type_name(type), s->next_ordinal - 1);
    if (!s->open && (type == IT_REC_WINDOW || type == IT_REC_VIDEO_END))
        return it_error_set(IT_E_FORMAT, "%s: %s record outside a video (no open VIDEO record)",
                            where, type_name(type));
    if (s->alloc && type != IT_REC_END)
        return it_error_set(IT_E_FORMAT, "%s: %s record after the ALLOCATION record (only END may follow it)",
                            where, type_name(type));
    return 0;
}

/* A non-negative JSON integer member, required. */
static int json_count(json_t *o, const char *key, const char *where, const char *what, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return it_error_set(IT_E_FORMAT, "%s: %s record: \"%s\" is %s", where, what, key,
                            v ? "not a non-negative integer" : "missing (a non-negative integer)");
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* "id": 16 lowercase hex digits, as it_source_id() writes it. */
static int json_id(json_t *o, const char *where, const char *what, uint64_t *out)
{
    json_t *v = json_object_get(o, "id");
    const char *s = json_string_value(v);
    int ok = s && json_string_length(v) == 16;
    for (int i = 0; ok && i < 16; i++)
        ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    if (!ok)
        return it_error_set(IT_E_FORMAT, "%s: %s record: \"id\" is %s, expected 16 lowercase hex digits",
                            where, what, v ? "malformed" : "missing");
    *out = strtoull(s, NULL, 16);
    return 0;
}

/* A JSON record: text of len bytes (the caller guarantees text[len] == '\0'). */
static int check_json(seq_state *s, unsigned type, const char *text, size_t len, const char *where)
{
    int rc = 0;
    json_t *o = NULL;
    json_error_t jerr;
    seq_state n = *s;
    const char *what = type_name(type);
    uint64_t ordinal, id, count, videos, failed, windows;

    IT_TRY(seq_common(s, type, where));
    if (memchr(text, '\0', len))
        IT_FAIL(IT_E_FORMAT, "%s: %s record: the JSON text contains a NUL byte at offset %zu",
                where, what, (size_t)((const char *)memchr(text, '\0', len) - text));
    /* jansson checks UTF-8, refuses \u0000 in strings (no JSON_ALLOW_NUL) and limits nesting. */
    o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        IT_FAIL(IT_E_FORMAT, "%s: %s record: invalid JSON at byte %d: %s", where, what,
                jerr.position, jerr.text);
    if (!json_is_object(o))
        IT_FAIL(IT_E_FORMAT, "%s: %s record: the JSON text is not an object", where, what);

    switch (type) {
    case IT_REC_HEADER:
        n.header = 1;
        break;
    case IT_REC_VIDEO:
        IT_TRY(json_count(o, "ordinal", where, what, &ordinal));
        if (ordinal != s->next_ordinal)
            IT_FAIL(IT_E_FORMAT, "%s: VIDEO record: ordinal %" PRIu64 ", expected %" PRIu32,
                    where, ordinal, s->next_ordinal);
        if (s->next_ordinal == UINT32_MAX)
            IT_FAIL(IT_E_FORMAT, "%s: VIDEO record: too many videos in one stream", where);
        IT_TRY(json_id(o, where, what, &id));
        n.open = 1;
        n.open_id = id;
        n.next_ordinal++;
        n.next_window = 0;
        n.videos++;
        break;
    case IT_REC_VIDEO_END: {
        const uint32_t open = s->next_ordinal - 1;
        IT_TRY(json_count(o, "ordinal", where, what, &ordinal));
        if (ordinal != open)
            IT_FAIL(IT_E_FORMAT, "%s: VIDEO_END record: ordinal %" PRIu64 ", but video %" PRIu32 " is open",
                    where, ordinal, open);
        IT_TRY(json_id(o, where, what, &id));
        if (id != s->open_id)
            IT_FAIL(IT_E_FORMAT, "%s: VIDEO_END record: id %016" PRIx64 ", but video %" PRIu32 " has id %016" PRIx64,
                    where, id, open, s->open_id);
        const char *status = json_string_value(json_object_get(o, "status"));
        if (!status || (strcmp(status, "ok") != 0 && strcmp(status, "error") != 0))
            IT_FAIL(IT_E_FORMAT, "%s: VIDEO_END record: \"status\" is %s, expected \"ok\" or \"error\"",
                    where, status ? "neither" : "missing or not a string");
        if (strcmp(status, "error") == 0) {
            if (!json_is_string(json_object_get(o, "error")))
                IT_FAIL(IT_E_FORMAT, "%s: VIDEO_END record: status \"error\" without an \"error\" message", where);
            n.failed++;
        }
        IT_TRY(json_count(o, "windows", where, what, &count));
        if (count != s->next_window)
            IT_FAIL(IT_E_FORMAT, "%s: VIDEO_END record: \"windows\" is %" PRIu64 ", but video %" PRIu32
                    " has %" PRIu32 " WINDOW records", where, count, open, s->next_window);
        IT_TRY(json_count(o, "frames", where, what, &count));
        n.open = 0;
        break;
    }
    case IT_REC_END:
        IT_TRY(json_count(o, "videos", where, what, &videos));
        IT_TRY(json_count(o, "failed", where, what, &failed));
        IT_TRY(json_count(o, "windows", where, what, &windows));
        if (videos != s->videos || failed != s->failed || windows != s->windows)
            IT_FAIL(IT_E_FORMAT, "%s: END record says %" PRIu64 " videos, %" PRIu64 " failed, %" PRIu64
                    " windows; the stream has %" PRIu64 ", %" PRIu64 ", %" PRIu64,
                    where, videos, failed, windows, s->videos, s->failed, s->windows);
        n.ended = 1;
        break;
    default:
        IT_FAIL(IT_E_INTERNAL, "%s: %s is not a JSON record type", where, what);
    }
    n.records++;
    *s = n;
done:
    json_decref(o);
    return rc;
}

/* Tokens of a latent grid, or 0 when a dimension is out of range or NT exceeds the limit. */
static uint64_t grid_tokens(const it_window_rec *r)
{
    if (r->lt < 1 || r->lh < 1 || r->lw < 1 || r->lt > IT_STREAM_MAX_TOKENS ||
        r->lh > IT_STREAM_MAX_TOKENS || r->lw > IT_STREAM_MAX_TOKENS)
        return 0;
    uint64_t nt = (uint64_t)r->lt * (uint64_t)r->lh * (uint64_t)r->lw;
    return nt <= IT_STREAM_MAX_TOKENS ? nt : 0;
}

static uint64_t window_payload_bytes(uint64_t nt, int strategy, uint64_t kept)
{
    uint64_t n = WINDOW_FIXED_BYTES + nt * (sizeof(uint16_t) + sizeof(float));
    if (strategy != IT_STRATEGY_NONE)
        n += (nt + 7) / 8 + kept * sizeof(uint16_t);
    return n;
}

/* The scalar fields of a window: everything that can be checked before its arrays. */
static int check_window_fields(const it_window_rec *r, const char *where)
{
    static const char *axis[3] = {"t", "h", "w"};
    const int32_t un[3] = {r->t, r->h, r->w}, pad[3] = {r->pt, r->ph, r->pw},
                  org[3] = {r->t0, r->h0, r->w0};
    if (!grid_tokens(r))
        return it_error_set(IT_E_FORMAT, "%s: window latent grid %" PRId32 "x%" PRId32 "x%" PRId32
                            " is empty or has more than %d tokens",
                            where, r->lt, r->lh, r->lw, IT_STREAM_MAX_TOKENS);
    for (int a = 0; a < 3; a++) {
        if (un[a] < 1 || pad[a] < un[a] || org[a] < 0 || (int64_t)org[a] + un[a] > pad[a])
            return it_error_set(IT_E_FORMAT, "%s: window %s=%" PRId32 " with padded %s=%" PRId32
                                " and origin %s0=%" PRId32 ": need 1 <= %s <= p%s and %s0 + %s <= p%s",
                                where, axis[a], un[a], axis[a], pad[a], axis[a], org[a], axis[a],
                                axis[a], axis[a], axis[a], axis[a]);
    }
    if (r->first_frame < 0)
        return it_error_set(IT_E_FORMAT, "%s: window first_frame %" PRId64 " is negative", where, r->first_frame);
    if (!isfinite(r->fps) || r->fps < 0)
        return it_error_set(IT_E_FORMAT, "%s: window fps %g is not a finite number >= 0", where, r->fps);
    if (!isfinite(r->elbo_mean) || r->elbo_mean < 0)
        return it_error_set(IT_E_FORMAT, "%s: window elbo_mean %g is not a finite number >= 0",
                            where, (double)r->elbo_mean);
    if (!strategy_known(r->strategy))
        return it_error_set(IT_E_FORMAT, "%s: window strategy %u is unknown", where, (unsigned)r->strategy);
    if (r->strategy == IT_STRATEGY_NONE) {
        /* Canonical form: one encoding per record, so the golden bytes mean something. */
        if (r->rate != 0.0f || signbit(r->rate) || r->kept != 0)
            return it_error_set(IT_E_FORMAT, "%s: window without a strategy has rate %g and kept %" PRIu32
                                ", expected 0 and 0", where, (double)r->rate, r->kept);
    } else {
        if (!(r->rate >= 0.0f && r->rate <= 1.0f))
            return it_error_set(IT_E_FORMAT, "%s: window rate %g is outside [0, 1]", where, (double)r->rate);
        if (r->kept > grid_tokens(r))
            return it_error_set(IT_E_FORMAT, "%s: window keeps %" PRIu32 " tokens of %" PRIu64,
                                where, r->kept, grid_tokens(r));
    }
    return 0;
}

/* The arrays of a window, once its fields passed: the same for reader and writer. */
static int check_window_arrays(const it_window_rec *r, const char *where)
{
    const size_t nt = (size_t)grid_tokens(r);
    double sum = 0;
    for (size_t i = 0; i < nt; i++) {
        if (r->indices[i] >= MAX_INDEX)
            return it_error_set(IT_E_FORMAT, "%s: window token %zu has index %u, expected < %d",
                                where, i, (unsigned)r->indices[i], MAX_INDEX);
        if (!r->elbo)
            continue; /* a slim shard's record: no map to check (shard.h) */
        if (!isfinite(r->elbo[i]) || r->elbo[i] < 0)
            return it_error_set(IT_E_FORMAT, "%s: window token %zu has ELBO %g, expected a finite number >= 0",
                                where, i, (double)r->elbo[i]);
        sum += r->elbo[i];
    }
    /* The same computation as it_elbo_window_mean (src/rate.c): the corpus statistic is built
     * from elbo_mean, so a value that disagrees with the map would skew every rate. */
    const float mean = (float)(sum / (double)nt);
    if (r->elbo && mean != r->elbo_mean)
        return it_error_set(IT_E_FORMAT, "%s: window elbo_mean %.9g differs from the mean of its ELBO map %.9g",
                            where, (double)r->elbo_mean, (double)mean);
    if (r->strategy != IT_STRATEGY_NONE) {
        uint64_t kept = 0;
        for (size_t i = 0; i < nt; i++) {
            if (r->keep[i] > 1)
                return it_error_set(IT_E_FORMAT, "%s: window keep[%zu] is %u, expected 0 or 1",
                                    where, i, (unsigned)r->keep[i]);
            kept += r->keep[i];
        }
        if (kept != r->kept)
            return it_error_set(IT_E_FORMAT, "%s: window mask keeps %" PRIu64 " tokens, but kept is %" PRIu32,
                                where, kept, r->kept);
    }
    return 0;
}

int it_window_rec_check(const it_window_rec *r, const char *where)
{
    int rc = check_window_fields(r, where);
    return rc < 0 ? rc : check_window_arrays(r, where);
}

static int seq_window(seq_state *s, const it_window_rec *r, const char *where)
{
    int rc = seq_common(s, IT_REC_WINDOW, where);
    if (rc < 0)
        return rc;
    const uint32_t open = s->next_ordinal - 1;
    if (r->video_ordinal != open)
        return it_error_set(IT_E_FORMAT, "%s: window belongs to video %" PRIu32 ", but video %" PRIu32 " is open",
                            where, r->video_ordinal, open);
    if (r->video_id != s->open_id)
        return it_error_set(IT_E_FORMAT, "%s: window video_id %016" PRIx64 " differs from video %" PRIu32
                            "'s id %016" PRIx64, where, r->video_id, open, s->open_id);
    if (r->window_index != s->next_window)
        return it_error_set(IT_E_FORMAT, "%s: window index %" PRIu32 ", expected %" PRIu32,
                            where, r->window_index, s->next_window);
    if (s->next_window == UINT32_MAX)
        return it_error_set(IT_E_FORMAT, "%s: too many windows in one video", where);
    s->next_window++;
    s->windows++;
    s->records++;
    return 0;
}

static int check_alloc(const it_alloc_rec *a, const char *where)
{
    if (!strategy_known(a->strategy) || a->strategy == IT_STRATEGY_NONE)
        return it_error_set(IT_E_FORMAT, "%s: allocation strategy %u is %s", where, (unsigned)a->strategy,
                            a->strategy == IT_STRATEGY_NONE ? "none (an allocation needs one)" : "unknown");
    if (!(a->avg_rate >= ALLOC_RATE_MIN && a->avg_rate <= 1.0f))
        return it_error_set(IT_E_FORMAT, "%s: allocation avg_rate %g is outside [0.0625, 1]",
                            where, (double)a->avg_rate);
    if (a->elbo_count == 0)
        return it_error_set(IT_E_FORMAT, "%s: allocation elbo_count is 0", where);
    if (a->elbo_sum_fixed < 0)
        return it_error_set(IT_E_FORMAT, "%s: allocation elbo_sum_fixed %" PRId64 " is negative",
                            where, a->elbo_sum_fixed);
    return 0;
}

static int seq_alloc(seq_state *s, const char *where)
{
    int rc = seq_common(s, IT_REC_ALLOCATION, where);
    if (rc < 0)
        return rc;
    s->alloc = 1;
    s->records++;
    return 0;
}

static void set_where(char *where, const char *name, uint64_t recno)
{
    snprintf(where, WHERE_MAX, "%s: record %" PRIu64, name, recno);
}

/* Grow *buf to at least need bytes (geometrically, so repeated growth stays linear). */
static int grow(unsigned char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    unsigned char *p = realloc(*buf, n);
    if (!p)
        return it_error_set(IT_E_NOMEM, "out of memory for a %zu-byte record", need);
    *buf = p;
    *cap = n;
    return 0;
}

static char *dup_str(const char *s)
{
    char *p = malloc(strlen(s) + 1);
    if (p)
        strcpy(p, s);
    return p;
}

static char *display_name(const char *name, const char *dash)
{
    return dup_str(!name ? "(stream)" : strcmp(name, "-") == 0 ? dash : name);
}

/* ---- writing ---------------------------------------------------------------------------------- */

struct it_stream_writer {
    FILE *f;
    char *name;
    seq_state seq;
    unsigned char *buf; /* frame + payload + CRC of the record being written */
    size_t cap;
    int failed;         /* an I/O error happened: everything after it fails */
    char where[WHERE_MAX];
};

static int writer_io_error(it_stream_writer *w, const char *what)
{
    w->failed = 1;
    return it_error_set(IT_E_IO, "%s: %s failed", w->name, what);
}

/* Start a record: make room for it and set the message prefix. Payload goes at buf + 12. */
static int writer_begin(it_stream_writer *w, size_t payload)
{
    if (w->failed)
        return it_error_set(IT_E_IO, "%s: an earlier write failed", w->name);
    set_where(w->where, w->name, w->seq.records + 1);
    if (payload > IT_STREAM_MAX_PAYLOAD)
        return it_error_set(IT_E_INVALID, "%s: payload of %zu bytes exceeds the limit of %u bytes",
                            w->where, payload, IT_STREAM_MAX_PAYLOAD);
    return grow(&w->buf, &w->cap, FRAME_BYTES + payload + CRC_BYTES);
}

/* Frame, checksum and write the payload already at buf + 12. */
static int writer_emit(it_stream_writer *w, unsigned type, size_t payload)
{
    unsigned char *b = w->buf;
    memcpy(b, REC_MAGIC, 4);
    put_u16(b + 4, (uint16_t)type);
    put_u16(b + 6, 0);
    put_u32(b + 8, (uint32_t)payload);
    put_u32(b + FRAME_BYTES + payload, it_crc32(0, b + 4, 8 + payload));
    if (fwrite(b, 1, FRAME_BYTES + payload + CRC_BYTES, w->f) != FRAME_BYTES + payload + CRC_BYTES)
        return writer_io_error(w, "write");
    return 0;
}

/* Checks that the reader would report as IT_E_FORMAT are the caller's mistake here. */
static int as_invalid(int rc) { return rc == IT_E_FORMAT ? IT_E_INVALID : rc; }

int it_stream_writer_new(it_stream_writer **out, FILE *f, const char *name)
{
    int rc = 0;
    unsigned char hdr[FILE_HEADER_BYTES];
    it_stream_writer *w = calloc(1, sizeof *w);
    *out = NULL;
    IT_CHECK_ALLOC(w, "a stream writer");
    w->f = f;
    w->name = display_name(name, "stdout");
    IT_CHECK_ALLOC(w->name, "a stream writer");
    memcpy(hdr, FILE_MAGIC, 8);
    put_u32(hdr + 8, FORMAT_VERSION);
    put_u32(hdr + 12, 0);
    if (fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr)
        IT_FAIL(IT_E_IO, "%s: writing the stream header failed", w->name);
    *out = w;
    w = NULL;
done:
    if (w) {
        free(w->name);
        free(w);
    }
    return rc;
}

int it_stream_write_json(it_stream_writer *w, int type, const char *json)
{
    int rc = 0;
    const size_t len = json ? strlen(json) : 0;
    IT_TRY(writer_begin(w, len));
    if (!is_json_type((unsigned)type))
        IT_FAIL(IT_E_INVALID, "%s: record type %d (%s) does not hold JSON", w->where, type,
                type_name((unsigned)type));
    if (!json)
        IT_FAIL(IT_E_INVALID, "%s: %s record without JSON text", w->where, type_name((unsigned)type));
    seq_state n = w->seq;
    rc = check_json(&n, (unsigned)type, json, len, w->where);
    if (rc < 0)
        return as_invalid(rc);
    memcpy(w->buf + FRAME_BYTES, json, len);
    IT_TRY(writer_emit(w, (unsigned)type, len));
    w->seq = n;
done:
    return rc;
}

int it_stream_write_window(it_stream_writer *w, const it_window_rec *r)
{
    int rc = 0;
    if (w->failed)
        return it_error_set(IT_E_IO, "%s: an earlier write failed", w->name);
    set_where(w->where, w->name, w->seq.records + 1);
    if ((rc = check_window_fields(r, w->where)) < 0)
        return as_invalid(rc);
    if (!r->indices || !r->elbo || (r->strategy != IT_STRATEGY_NONE && !r->keep))
        return it_error_set(IT_E_INVALID, "%s: window without its %s array", w->where,
                            !r->indices ? "indices" : !r->elbo ? "elbo" : "keep");
    if ((rc = check_window_arrays(r, w->where)) < 0)
        return as_invalid(rc);
    seq_state n = w->seq;
    if ((rc = seq_window(&n, r, w->where)) < 0)
        return as_invalid(rc);

    const size_t nt = (size_t)grid_tokens(r);
    const size_t len = (size_t)window_payload_bytes(nt, r->strategy, r->kept);
    IT_TRY(writer_begin(w, len));
    unsigned char *p = w->buf + FRAME_BYTES;
    put_u64(p, r->video_id);
    put_u32(p + 8, r->video_ordinal);
    put_u32(p + 12, r->window_index);
    put_u64(p + 16, (uint64_t)r->first_frame);
    const int32_t dims[12] = {r->t, r->h, r->w, r->pt, r->ph, r->pw,
                              r->t0, r->h0, r->w0, r->lt, r->lh, r->lw};
    for (int i = 0; i < 12; i++)
        put_u32(p + 24 + 4 * i, (uint32_t)dims[i]);
    put_f64(p + 72, r->fps);
    put_f32(p + 80, r->elbo_mean);
    p[84] = r->strategy;
    p[85] = 0;
    put_u16(p + 86, 0);
    put_f32(p + 88, r->rate);
    put_u32(p + 92, r->kept);
    p += WINDOW_FIXED_BYTES;
    for (size_t i = 0; i < nt; i++, p += 2)
        put_u16(p, r->indices[i]);
    for (size_t i = 0; i < nt; i++, p += 4)
        put_f32(p, r->elbo[i]);
    if (r->strategy != IT_STRATEGY_NONE) {
        const size_t mask_bytes = (nt + 7) / 8;
        memset(p, 0, mask_bytes);
        for (size_t i = 0; i < nt; i++)
            p[i / 8] |= (unsigned char)(r->keep[i] << (i % 8));
        p += mask_bytes;
        for (size_t i = 0; i < nt; i++)
            if (r->keep[i]) {
                put_u16(p, r->indices[i]);
                p += 2;
            }
    }
    if ((size_t)(p - (w->buf + FRAME_BYTES)) != len)
        IT_FAIL(IT_E_INTERNAL, "%s: window payload of %zu bytes, computed %zu", w->where,
                (size_t)(p - (w->buf + FRAME_BYTES)), len);
    IT_TRY(writer_emit(w, IT_REC_WINDOW, len));
    w->seq = n;
done:
    return rc;
}

int it_stream_write_alloc(it_stream_writer *w, const it_alloc_rec *a)
{
    int rc = 0;
    IT_TRY(writer_begin(w, ALLOC_BYTES));
    if ((rc = check_alloc(a, w->where)) < 0)
        return as_invalid(rc);
    seq_state n = w->seq;
    if ((rc = seq_alloc(&n, w->where)) < 0)
        return as_invalid(rc);
    unsigned char *p = w->buf + FRAME_BYTES;
    p[0] = a->strategy;
    p[1] = 0;
    put_u16(p + 2, 0);
    put_f32(p + 4, a->avg_rate);
    put_u64(p + 8, a->elbo_count);
    put_u64(p + 16, (uint64_t)a->elbo_sum_fixed);
    IT_TRY(writer_emit(w, IT_REC_ALLOCATION, ALLOC_BYTES));
    w->seq = n;
done:
    return rc;
}

int it_stream_writer_free(it_stream_writer **wp)
{
    int rc = 0;
    it_stream_writer *w = wp ? *wp : NULL;
    if (!w)
        return 0;
    if (fflush(w->f) != 0 || ferror(w->f))
        w->failed = 1;
    if (w->failed)
        rc = it_error_set(IT_E_IO, "%s: writing the token stream failed", w->name);
    free(w->buf);
    free(w->name);
    free(w);
    *wp = NULL;
    return rc;
}

/* ---- reading ---------------------------------------------------------------------------------- */

struct it_stream_reader {
    FILE *f;
    char *name;
    seq_state seq;
    unsigned char *buf; /* the current payload, plus one byte for a NUL after JSON */
    size_t cap, len;
    int type;           /* the current record's type; 0 before the first and after END */
    uint64_t recno;     /* the current (or failed) record's number, 1-based */
    int state;          /* 0 reading, 1 END returned, <0 the sticky error */
    char *message;      /* the sticky error's message */
    it_window_rec win;  /* points into the three buffers below */
    uint16_t *indices;
    float *elbo;
    uint8_t *keep;
    size_t win_cap;     /* tokens the window buffers hold */
    it_alloc_rec alloc;
    char where[WHERE_MAX];
};

/* fread exactly n bytes; *got says how many came. 0 when all came, else TRUNCATED or IO. */
static int read_exact(it_stream_reader *r, void *dst, size_t n, size_t *got)
{
    *got = fread(dst, 1, n, r->f);
    if (*got == n)
        return 0;
    if (ferror(r->f))
        return it_error_set(IT_E_IO, "%s: read error", r->where);
    return IT_E_TRUNCATED;
}

static int reader_fail(it_stream_reader *r, int rc)
{
    r->state = rc;
    free(r->message);
    r->message = dup_str(it_error_message()); /* NULL is tolerated */
    r->type = 0;
    return rc;
}

int it_stream_reader_new(it_stream_reader **out, FILE *f, const char *name)
{
    int rc = 0;
    unsigned char hdr[FILE_HEADER_BYTES];
    size_t got = 0;
    it_stream_reader *r = calloc(1, sizeof *r);
    *out = NULL;
    IT_CHECK_ALLOC(r, "a stream reader");
    r->f = f;
    r->name = display_name(name, "stdin");
    IT_CHECK_ALLOC(r->name, "a stream reader");
    snprintf(r->where, WHERE_MAX, "%s", r->name);
    rc = read_exact(r, hdr, sizeof hdr, &got);
    if (rc == IT_E_IO)
        goto done;
    /* Bytes that are there must be right whether or not the header is complete. */
    if (memcmp(hdr, FILE_MAGIC, got < 8 ? got : 8) != 0)
        IT_FAIL(IT_E_FORMAT, "%s: not an infotok token stream (no \"ITOKSTRM\" magic)", r->name);
    if (rc == IT_E_TRUNCATED)
        IT_FAIL(IT_E_TRUNCATED, "%s: %s: the stream is incomplete", r->name,
                got ? "truncated in the 16-byte file header" : "empty, no file header");
    if (get_u32(hdr + 8) != FORMAT_VERSION)
        IT_FAIL(IT_E_UNSUPPORTED, "%s: token stream version %" PRIu32 ", this build reads version %u",
                r->name, get_u32(hdr + 8), FORMAT_VERSION);
    if (get_u32(hdr + 12) != 0)
        IT_FAIL(IT_E_UNSUPPORTED, "%s: token stream flags 0x%08" PRIx32 ", version 1 defines none",
                r->name, get_u32(hdr + 12));
    *out = r;
    r = NULL;
done:
    it_stream_reader_free(&r);
    return rc;
}

static int grow_window(it_stream_reader *r, size_t nt)
{
    if (nt <= r->win_cap)
        return 0;
    uint16_t *idx = realloc(r->indices, nt * sizeof *idx);
    if (idx)
        r->indices = idx;
    float *elbo = realloc(r->elbo, nt * sizeof *elbo);
    if (elbo)
        r->elbo = elbo;
    uint8_t *keep = realloc(r->keep, nt);
    if (keep)
        r->keep = keep;
    if (!idx || !elbo || !keep)
        return it_error_set(IT_E_NOMEM, "out of memory for a window of %zu tokens", nt);
    r->win_cap = nt;
    return 0;
}

/* Decode and check a window payload into r->win. */
static int read_window(it_stream_reader *r)
{
    const unsigned char *p = r->buf;
    it_window_rec *w = &r->win;
    if (r->len < WINDOW_FIXED_BYTES)
        return it_error_set(IT_E_FORMAT, "%s: window payload is %zu bytes, shorter than its %d-byte header",
                            r->where, r->len, WINDOW_FIXED_BYTES);
    memset(w, 0, sizeof *w);
    w->video_id = get_u64(p);
    w->video_ordinal = get_u32(p + 8);
    w->window_index = get_u32(p + 12);
    w->first_frame = (int64_t)get_u64(p + 16);
    int32_t *dims[12] = {&w->t, &w->h, &w->w, &w->pt, &w->ph, &w->pw,
                         &w->t0, &w->h0, &w->w0, &w->lt, &w->lh, &w->lw};
    for (int i = 0; i < 12; i++)
        *dims[i] = (int32_t)get_u32(p + 24 + 4 * i);
    w->fps = get_f64(p + 72);
    w->elbo_mean = get_f32(p + 80);
    w->strategy = p[84];
    if (p[85] != 0 || get_u16(p + 86) != 0)
        return it_error_set(IT_E_FORMAT, "%s: window reserved bytes are not zero", r->where);
    w->rate = get_f32(p + 88);
    w->kept = get_u32(p + 92);
    int rc = check_window_fields(w, r->where);
    if (rc < 0)
        return rc;

    const size_t nt = (size_t)grid_tokens(w);
    const uint64_t want = window_payload_bytes(nt, w->strategy, w->kept);
    if (r->len != want) {
        char kept[48] = "";
        if (w->strategy != IT_STRATEGY_NONE)
            snprintf(kept, sizeof kept, " with %" PRIu32 " kept tokens", w->kept);
        return it_error_set(IT_E_FORMAT, "%s: window payload is %zu bytes, expected %" PRIu64
                            " for a %" PRId32 "x%" PRId32 "x%" PRId32 " latent%s",
                            r->where, r->len, want, w->lt, w->lh, w->lw, kept);
    }
    if ((rc = grow_window(r, nt)) < 0)
        return rc;
    w->indices = r->indices;
    w->elbo = r->elbo;
    w->keep = w->strategy != IT_STRATEGY_NONE ? r->keep : NULL; /* no mask without a strategy */
    p += WINDOW_FIXED_BYTES;
    for (size_t i = 0; i < nt; i++, p += 2)
        w->indices[i] = get_u16(p);
    for (size_t i = 0; i < nt; i++, p += 4)
        w->elbo[i] = get_f32(p);
    if (w->strategy != IT_STRATEGY_NONE) {
        const size_t mask_bytes = (nt + 7) / 8;
        for (size_t i = 0; i < nt; i++)
            w->keep[i] = (p[i / 8] >> (i % 8)) & 1;
        if (nt % 8 && (p[mask_bytes - 1] >> (nt % 8)) != 0)
            return it_error_set(IT_E_FORMAT, "%s: window mask has bits set past token %zu", r->where, nt);
        p += mask_bytes;
    }
    if ((rc = check_window_arrays(w, r->where)) < 0)
        return rc;
    if (w->strategy != IT_STRATEGY_NONE) {
        /* kept_tokens[] is redundant with indices and the mask; a copy that disagrees means
         * damage the CRC did not catch (or a broken writer), so it is refused. */
        size_t k = 0;
        for (size_t i = 0; i < nt; i++) {
            if (!w->keep[i])
                continue;
            if (get_u16(p + 2 * k) != w->indices[i])
                return it_error_set(IT_E_FORMAT, "%s: window kept_tokens[%zu] is %u, but token %zu "
                                    "(kept) has index %u", r->where, k, (unsigned)get_u16(p + 2 * k), i,
                                    (unsigned)w->indices[i]);
            k++;
        }
    }
    return seq_window(&r->seq, w, r->where);
}

static int read_alloc(it_stream_reader *r)
{
    const unsigned char *p = r->buf;
    if (r->len != ALLOC_BYTES)
        return it_error_set(IT_E_FORMAT, "%s: allocation payload is %zu bytes, expected %d",
                            r->where, r->len, ALLOC_BYTES);
    if (p[1] != 0 || get_u16(p + 2) != 0)
        return it_error_set(IT_E_FORMAT, "%s: allocation reserved bytes are not zero", r->where);
    r->alloc.strategy = p[0];
    r->alloc.avg_rate = get_f32(p + 4);
    r->alloc.elbo_count = get_u64(p + 8);
    r->alloc.elbo_sum_fixed = (int64_t)get_u64(p + 16);
    int rc = check_alloc(&r->alloc, r->where);
    if (rc < 0)
        return rc;
    return seq_alloc(&r->seq, r->where);
}

/* Read len payload bytes and the CRC into r->buf. The buffer grows with the bytes that actually
 * arrive, so a length that lies about a short stream costs no more memory than the stream. */
static int read_payload(it_stream_reader *r, size_t len)
{
    const size_t total = len + CRC_BYTES;
    size_t have = 0, got;
    while (have < total) {
        size_t chunk = total - have;
        if (have + chunk > r->cap) {
            size_t target = r->cap < 65536 ? 65536 : r->cap * 2;
            if (target > total + 1)
                target = total + 1;
            int rc = grow(&r->buf, &r->cap, target);
            if (rc < 0)
                return rc;
            if (chunk > r->cap - have)
                chunk = r->cap - have;
        }
        int rc = read_exact(r, r->buf + have, chunk, &got);
        have += got;
        if (rc == IT_E_TRUNCATED)
            return it_error_set(IT_E_TRUNCATED, "%s: truncated in the %s (%zu of %zu bytes): the stream is incomplete",
                                r->where, have < len ? "payload" : "checksum", have, total);
        if (rc < 0)
            return rc;
    }
    return grow(&r->buf, &r->cap, total + 1); /* room for the NUL after JSON */
}

int it_stream_next(it_stream_reader *r, int *type)
{
    int rc = 0;
    unsigned char frame[FRAME_BYTES];
    size_t got = 0;
    *type = 0;
    if (r->state < 0) {
        it_error_set(r->state, "%s", r->message ? r->message : "the stream failed earlier");
        return r->state;
    }
    r->type = 0;
    if (r->state == 1)
        return 0;
    r->recno = r->seq.records + 1;
    set_where(r->where, r->name, r->recno);

    rc = read_exact(r, frame, FRAME_BYTES, &got);
    if (rc == IT_E_IO)
        goto done;
    /* The magic bytes that are there decide first: garbage is damage, not a short stream. */
    if (memcmp(frame, REC_MAGIC, got < 4 ? got : 4) != 0)
        IT_FAIL(IT_E_FORMAT, "%s: no record magic \"ITRC\" (bytes %02x %02x %02x %02x): damaged or not a record boundary",
                r->where, frame[0], got > 1 ? frame[1] : 0, got > 2 ? frame[2] : 0, got > 3 ? frame[3] : 0);
    if (rc == IT_E_TRUNCATED) {
        if (got == 0)
            IT_FAIL(IT_E_TRUNCATED, "%s: end of file before the END record: the stream is incomplete",
                    r->where);
        IT_FAIL(IT_E_TRUNCATED, "%s: truncated in the record header (%zu of %d bytes): the stream is incomplete",
                r->where, got, FRAME_BYTES);
    }
    const uint32_t len = get_u32(frame + 8);
    if (len > IT_STREAM_MAX_PAYLOAD)
        IT_FAIL(IT_E_FORMAT, "%s: payload length %" PRIu32 " exceeds the limit of %u bytes",
                r->where, len, IT_STREAM_MAX_PAYLOAD);
    IT_TRY(read_payload(r, len));
    r->len = len;
    /* Checksum first: a damaged type or length is then reported as damage. */
    const uint32_t stored = get_u32(r->buf + len);
    const uint32_t crc = it_crc32(it_crc32(0, frame + 4, 8), r->buf, len);
    if (crc != stored)
        IT_FAIL(IT_E_CHECKSUM, "%s: checksum mismatch (stored 0x%08" PRIx32 ", computed 0x%08" PRIx32 ")",
                r->where, stored, crc);
    const unsigned t = get_u16(frame + 4);
    if (get_u16(frame + 6) != 0)
        IT_FAIL(IT_E_FORMAT, "%s: reserved field after the record type is %u, expected 0",
                r->where, (unsigned)get_u16(frame + 6));
    if (t < IT_REC_HEADER || t > IT_REC_END)
        IT_FAIL(IT_E_FORMAT, "%s: unknown record type %u (version 1 has no other record types)",
                r->where, t);

    if (t == IT_REC_WINDOW) {
        IT_TRY(read_window(r));
    } else if (t == IT_REC_ALLOCATION) {
        IT_TRY(read_alloc(r));
    } else {
        r->buf[len] = '\0';
        IT_TRY(check_json(&r->seq, t, (const char *)r->buf, len, r->where));
    }
    if (t == IT_REC_END) {
        /* Complete only if nothing follows; a pipe blocks here until the writer closes it. */
        int c = fgetc(r->f);
        if (c != EOF)
            IT_FAIL(IT_E_FORMAT, "%s: data after the END record", r->where);
        if (ferror(r->f))
            IT_FAIL(IT_E_IO, "%s: read error after the END record", r->where);
        r->state = 1;
    }
    r->type = (int)t;
    *type = (int)t;
    return 1;
done:
    return reader_fail(r, rc);
}

const char *it_stream_json(const it_stream_reader *r)
{
    return is_json_type((unsigned)r->type) ? (const char *)r->buf : NULL;
}

const it_window_rec *it_stream_window(const it_stream_reader *r)
{
    return r->type == IT_REC_WINDOW ? &r->win : NULL;
}

const it_alloc_rec *it_stream_alloc(const it_stream_reader *r)
{
    return r->type == IT_REC_ALLOCATION ? &r->alloc : NULL;
}

uint64_t it_stream_record_number(const it_stream_reader *r)
{
    return r->recno; /* the record just returned, or the one that failed; 0 before the first */
}

void it_stream_reader_free(it_stream_reader **rp)
{
    it_stream_reader *r = rp ? *rp : NULL;
    if (!r)
        return;
    free(r->buf);
    free(r->name);
    free(r->message);
    free(r->indices);
    free(r->elbo);
    free(r->keep);
    free(r);
    *rp = NULL;
}
