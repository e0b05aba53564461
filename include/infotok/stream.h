/* tokstream.h: the token stream between the tools (it-encode -> it-pack / it-decode /
 * it-stats): a versioned sequence of framed, checksummed records. Specified in
 * infotok-stream(5); this header is the API.
 *
 * Caveats first:
 *  - The reader treats the stream as hostile: every length and count is checked, every
 *    record's CRC-32 is verified, and a stream that ends without its END record is reported
 *    as truncated (IT_E_TRUNCATED), never taken as complete.
 *  - Records are little-endian. Reading is sequential (pipes work); nothing seeks.
 *  - A window record carries the full-rate FSQ indices and the per-token ELBO map, so any
 *    rate can be allocated later, bit-identically; the rate, keep-mask and kept tokens are
 *    present only when a rate was applied.
 *
 * Stream layout: 16-byte file header ("ITOKSTRM", u32 version = 1, u32 flags = 0), then
 * records: u32 magic "ITRC", u16 type, u16 zero, u32 payload length, payload, u32 CRC-32
 * (IEEE, as zlib's crc32) of the 8 bytes type..length followed by the payload. */
#ifndef IT_FORMATS_TOKSTREAM_H
#define IT_FORMATS_TOKSTREAM_H

#include <stdint.h>
#include <stdio.h>

#include "infotok/core.h"

/* Exported from libinfotok.so: the public API (the library builds with hidden visibility). */
#pragma GCC visibility push(default)

#ifdef __cplusplus
extern "C" {
#endif

enum it_rec_type {
    IT_REC_HEADER = 1,     /* JSON: model (config, hash), tool, command line, window options */
    IT_REC_VIDEO = 2,      /* JSON: one video begins: its manifest line plus "ordinal" */
    IT_REC_WINDOW = 3,     /* binary: it_window_rec */
    IT_REC_VIDEO_END = 4,  /* JSON: "ordinal", "id", "status" ok|error, "error", "windows", "frames" */
    IT_REC_ALLOCATION = 5, /* binary: a rate allocation for the whole stream (it_alloc_rec) */
    IT_REC_END = 6         /* JSON: "videos", "failed", "windows"; the completion marker, last */
};

enum it_strategy { IT_STRATEGY_NONE = 0, IT_STRATEGY_STATIC = 1, IT_STRATEGY_ELBO = 2,
                   IT_STRATEGY_GLOBAL_ELBO = 3 };
/* "static", "elbo", "global_elbo" -> enum it_strategy; IT_E_INVALID otherwise. */
int it_strategy_parse(const char *name, int *strategy);
const char *it_strategy_name(int strategy); /* "none" for IT_STRATEGY_NONE */

/* Limits a reader enforces (a window of 49 latent frames at 96x96 tokens is the model's max). */
#define IT_STREAM_MAX_PAYLOAD (256u << 20)
#define IT_STREAM_MAX_TOKENS (49 * 96 * 96)
/* The FSQ codebook size: every index is below it. */
#define IT_STREAM_CODEBOOK 64000

/* One window. Dimension letters: NT = lt * lh * lw tokens, raster order (t, h, w). */
typedef struct it_window_rec {
    uint64_t video_id;       /* the manifest id as a number (16 hex digits) */
    uint32_t video_ordinal;  /* which VIDEO record this window belongs to (0, 1, ...) */
    uint32_t window_index;   /* window number within the video */
    int64_t first_frame;     /* source frame index of the first unpadded frame */
    int32_t t, h, w;         /* unpadded window: frames, rows, columns */
    int32_t pt, ph, pw;      /* padded */
    int32_t t0, h0, w0;      /* padding before (the crop origin) */
    int32_t lt, lh, lw;      /* latent grid */
    double fps;              /* source frame rate (0 if unknown) */
    float elbo_mean;         /* mean of elbo[] (sum in double in raster order, rounded to
                                float: it_elbo_window_mean); checked exactly */
    uint8_t strategy;        /* enum it_strategy; IT_STRATEGY_NONE: no rate applied */
    float rate;              /* the window's rate when strategy != NONE */
    uint32_t kept;           /* tokens kept when strategy != NONE */
    uint16_t *indices;       /* [NT] full-rate FSQ indices (< 64000) */
    float *elbo;             /* [NT] per-token ELBO map (chunk_loss) */
    uint8_t *keep;           /* [NT] 1 kept / 0 dropped, when strategy != NONE (else NULL) */
} it_window_rec;

/* Whole-stream allocation (written after the windows when the rate depends on the corpus). */
typedef struct it_alloc_rec {
    uint8_t strategy;
    float avg_rate;
    uint64_t elbo_count;     /* windows in the corpus statistic */
    int64_t elbo_sum_fixed;  /* sum of window elbo_mean values in units of 2^-32 (exact, order-free) */
} it_alloc_rec;

/* ---- writing ----------------------------------------------------------------------------- */
typedef struct it_stream_writer it_stream_writer;
/* Writes the file header at once. f stays the caller's (not closed). */
int it_stream_writer_new(it_stream_writer **out, FILE *f, const char *name);
/* A record the reader would refuse (bad field, sequence rule) is refused with IT_E_INVALID
 * and nothing is written; the writer stays usable. */
int it_stream_write_json(it_stream_writer *w, int type, const char *json);
int it_stream_write_window(it_stream_writer *w, const it_window_rec *rec);
int it_stream_write_alloc(it_stream_writer *w, const it_alloc_rec *rec);
/* Flushes; IT_E_IO (naming the stream) if anything failed on the way. */
int it_stream_writer_free(it_stream_writer **w);

/* ---- reading ----------------------------------------------------------------------------- */
typedef struct it_stream_reader it_stream_reader;
/* Reads and checks the file header (IT_E_UNSUPPORTED for a version other than 1 or nonzero
 * flags). name is used in messages ("-" shows as "stdin"). */
int it_stream_reader_new(it_stream_reader **out, FILE *f, const char *name);
/* Next record: 1 with *type set, 0 after the END record, <0 on error (IT_E_TRUNCATED at an
 * early end of file, IT_E_CHECKSUM, IT_E_FORMAT, naming the stream and the record number).
 * After a JSON record, it_stream_json() returns its text (NUL-terminated, valid until the
 * next call); after a window, it_stream_window() its contents (buffers owned by the reader,
 * valid until the next call); after an allocation, it_stream_alloc(). The END record is
 * returned (1, IT_REC_END) only once the reader has seen end of file right after it: bytes
 * after END are an error. Calls after END return 0. An error is sticky: later calls return
 * it again with the same message. */
int it_stream_next(it_stream_reader *r, int *type);
const char *it_stream_json(const it_stream_reader *r);
const it_window_rec *it_stream_window(const it_stream_reader *r);
const it_alloc_rec *it_stream_alloc(const it_stream_reader *r);
uint64_t it_stream_record_number(const it_stream_reader *r); /* 1-based, for messages */
void it_stream_reader_free(it_stream_reader **r);

/* ---- shared checks ------------------------------------------------------------------------- */
/* The invariants every window record satisfies (fields, array values, elbo_mean equal to the
 * mean of the map, mask count), as the stream reader checks them; other containers of window
 * records (token shards) use the same. IT_E_FORMAT with `where` prefixed to the message. */
int it_window_rec_check(const it_window_rec *r, const char *where);

/* ---- the HEADER record, typed (formats/stream_header.c) ------------------------------------ */
/* Everything the tools read from or write into a HEADER, so that no tool parses its JSON.
 * Parsing is strict about what decoding needs (model hash, window) and tolerant of keys it
 * does not know; formatting writes the keys of infotok-stream(5) in a fixed order. */

typedef struct it_stream_header {
    char model_hash[17];     /* 16 lowercase hex digits */
    int64_t model_params;
    char *model_config;      /* the model config, a JSON object's text (infotok-weights(5)) */
    char *tool, *version;    /* the writing tool and its infotok version (NULL when absent) */
    char *command;           /* the command line, a JSON array's text (NULL when absent) */
    int temporal, overlap;   /* window: frames per window, frames shared by consecutive ones */
    int short_side;          /* resize: 0 when the frames were not resized */
    int crop_w, crop_h;      /* resize: 0 when not cropped */
    int strategy;            /* the rate applied when the stream was written (IT_STRATEGY_NONE:
                                full rate, records unmasked or masks of another origin) */
    float avg_rate;          /* with strategy */
    int precision;           /* enum it_precision of the network that made the tokens (fp32 when
                                the key is absent: streams written before precisions existed) */
} it_stream_header;

/* Parse a HEADER's JSON. IT_E_FORMAT naming `where` and the key when a key decoding needs is
 * missing or malformed. The strings are owned by h: it_stream_header_clear() frees them. */
int it_stream_header_parse(const char *json, const char *where, it_stream_header *h);
/* The JSON text of h (malloc'ed). */
int it_stream_header_format(const it_stream_header *h, char **json);
void it_stream_header_clear(it_stream_header *h);
/* Records made under a and b can be decoded, packed or compared together: the same model
 * (hash), windows, resize and precision. 0, or IT_E_INVALID saying what differs, with the two
 * names (a_name, b_name) in the message. */
int it_stream_header_compatible(const it_stream_header *a, const char *a_name, const it_stream_header *b,
                                const char *b_name);

/* ---- video ids -------------------------------------------------------------------------- */
/* A video id as the manifests write it: exactly 16 lowercase hex digits -> its number.
 * IT_E_FORMAT otherwise (message: "video id \"...\" is not 16 lowercase hex digits"). */
int it_video_id_parse(const char *hex, uint64_t *id);
/* The "id" of a VIDEO (or VIDEO_END, or manifest) JSON object's text; IT_E_FORMAT, naming
 * where, when it is missing or malformed. */
int it_video_json_id(const char *json, const char *where, uint64_t *id);
/* id -> 16 lowercase hex digits and a NUL */
void it_video_id_format(uint64_t id, char hex[17]);
/* A VIDEO_END's JSON: *ok 1 for "status":"ok", 0 for "error"; *frames its frame count; its
 * "error" message copied into error (error_size bytes, may be 0). IT_E_FORMAT naming where
 * when the status or frames are missing or malformed. */
int it_video_end_parse(const char *json, const char *where, int *ok, int64_t *frames, char *error,
                       size_t error_size);

/* ---- CRC-32 (formats/crc32.c), shared by the formats ------------------------------------- */
/* IEEE 802.3 / zlib crc32(): start with crc = 0; chain by passing the previous result. */
uint32_t it_crc32(uint32_t crc, const void *p, size_t n);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop
#endif
