/* shard.h: token shards (infotok-shard(5)): window records in one LMDB file, zstd-compressed
 * and checksummed, with the run's header, provenance, stats and a completion marker. Written
 * by it-pack; read at random by trainers. This header is the API.
 *
 * Caveats first:
 *  - A shard is written under NAME.partial and renamed to NAME only once complete (compacting
 *    copy, stats, completion marker, file trailer with the whole file's CRC-32, fsync). A file
 *    without the trailer is incomplete, never a short shard.
 *  - LMDB itself trusts its pages: a flipped bit in a B-tree page can crash it. So opening
 *    checks the trailer and the file length (cheap) and, with IT_SHARD_CHECK_FILE, the CRC-32
 *    of the whole file before LMDB sees it. Every record also carries its own CRC-32, checked
 *    on every read.
 *  - Records are the token stream's window records, losslessly: full-rate indices, the ELBO
 *    map, and the rate, mask and kept count when a rate was applied. Iterating a shard gives
 *    back the stream that made it (records.h). */
#ifndef IT_FORMATS_SHARD_H
#define IT_FORMATS_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "infotok/stream.h"

/* Exported from libinfotok.so: the public API (the library builds with hidden visibility). */
#pragma GCC visibility push(default)

#ifdef __cplusplus
extern "C" {
#endif

#define IT_SHARD_VERSION 1
/* Slim shards (it-pack --slim) are version 2 with "slim":true in their format entry, so that
 * readers from before slim shards refuse them instead of misreading them; full shards are
 * still written as version 1. A slim shard's window records have no ELBO map (elbo == NULL)
 * and store only the kept tokens (the indices at dropped positions read as 0): they decode
 * at their stored rates but cannot be re-allocated. */
#define IT_SHARD_VERSION_SLIM 2
#define IT_SHARD_SUFFIX ".itshard"
#define IT_SHARD_PARTIAL_SUFFIX ".partial"

/* ---- window record values (formats/shard_record.c) ------------------------------------------ */

typedef struct it_shard_codec it_shard_codec; /* zstd contexts and scratch; one per thread */
int it_shard_codec_new(it_shard_codec **out, int zstd_level);
void it_shard_codec_free(it_shard_codec **c);
/* Encodes rec into a value (owned by the codec, valid until its next call). A record with
 * elbo == NULL is encoded slim (no map, only the kept tokens). */
int it_shard_record_encode(it_shard_codec *c, const it_window_rec *rec, const void **val, size_t *len);
/* Decodes and checks a value (CRC-32, sizes, every window invariant). *out points into the
 * codec's buffers, valid until its next call. where names the record in messages. */
int it_shard_record_decode(it_shard_codec *c, const void *val, size_t len, const char *where,
                           const it_window_rec **out);

/* ---- writing (formats/shard_write.c) -------------------------------------------------------- */

typedef struct it_shard_writer it_shard_writer;
typedef struct it_shard_write_opts {
    int zstd_level;        /* 0: the default (IT_SHARD_DEFAULT_LEVEL) */
    unsigned batch;        /* records per transaction; 0: 256 */
    const char *provenance_json; /* object: tool, versions, command line, inputs */
    size_t map_size;       /* the first LMDB map size; 0: 64 MiB. It doubles when full. */
    int slim;              /* 1: a slim shard: ELBO maps dropped, only kept tokens stored */
} it_shard_write_opts;
#define IT_SHARD_DEFAULT_LEVEL 9

/* Creates path + ".partial" (an old partial is replaced). header_json: the token stream's
 * HEADER record. */
int it_shard_writer_new(it_shard_writer **out, const char *path, const char *header_json,
                        const it_shard_write_opts *opts);
/* The stream's record sequence, as in tokstream.h; video ordinals are the shard's own
 * (0, 1, ... in each shard): the caller renumbers. */
int it_shard_write_video(it_shard_writer *w, const char *video_json);
/* A slim writer drops rec's ELBO map; a full one refuses a record without one (IT_E_INVALID). */
int it_shard_write_window(it_shard_writer *w, const it_window_rec *rec);
int it_shard_write_video_end(it_shard_writer *w, const char *end_json);
int it_shard_write_alloc(it_shard_writer *w, const it_alloc_rec *a);
/* Compressed bytes written so far (for --shard-size). */
uint64_t it_shard_writer_bytes(const it_shard_writer *w);
uint32_t it_shard_writer_videos(const it_shard_writer *w);
/* Stats, completion marker, compacting copy, trailer, fsync, rename to path. Frees w. */
int it_shard_writer_finish(it_shard_writer **w);
/* Drops everything: the partial file is removed. */
void it_shard_writer_abort(it_shard_writer **w);

/* ---- reading (formats/shard_read.c) --------------------------------------------------------- */

enum { IT_SHARD_CHECK_FILE = 1 };

typedef struct it_shard it_shard;
/* Read-only, no lock, no readahead. Checks the trailer, length, format and completion
 * marker; with IT_SHARD_CHECK_FILE also the whole file's CRC-32. */
int it_shard_open(it_shard **out, const char *path, unsigned flags);
void it_shard_close(it_shard **s);
const char *it_shard_name(const it_shard *s);
/* 1 for a slim shard (IT_SHARD_VERSION_SLIM): no ELBO maps, not re-allocatable. */
int it_shard_is_slim(const it_shard *s);
/* Meta entries as NUL-terminated JSON: "format", "header", "provenance", "stats", "complete";
 * NULL if absent. Valid while the shard is open. */
const char *it_shard_meta(const it_shard *s, const char *key);
/* The allocation applied to the whole shard, if any (1 and *a set; 0: none). */
int it_shard_alloc(const it_shard *s, it_alloc_rec *a);
uint32_t it_shard_video_count(const it_shard *s);
/* A video by the shard's ordinal: its VIDEO and VIDEO_END JSON (valid while open) and its
 * window count. */
int it_shard_video(it_shard *s, uint32_t ordinal, const char **video_json, const char **end_json,
                   uint32_t *windows);
/* Ordinals of the videos with this id (a corpus may list a file twice): up to max of them in
 * out, the count returned (0: not in this shard). */
int it_shard_find(it_shard *s, uint64_t video_id, uint32_t *out, int max);
/* One window; *rec valid until the next call on s. */
int it_shard_window(it_shard *s, uint32_t ordinal, uint32_t index, const it_window_rec **rec);
/* Sum of the window ELBO means, from the stats (for global_elbo across shards). */
int it_shard_elbo_stat(const it_shard *s, uint64_t *count, int64_t *sum_fixed);
/* Everything: trailer CRC, every record decoded and checked, the indexes and stats
 * consistent. 0 or the first problem (message names the shard). */
int it_shard_verify(const char *path);

/* The shard as the stream that made it (used through records.h). */
typedef struct it_shard_iter it_shard_iter;
int it_shard_iter_open(it_shard_iter **out, const char *path);
int it_shard_iter_next(it_shard_iter *it, int *type);
const char *it_shard_iter_json(const it_shard_iter *it);
const it_window_rec *it_shard_iter_window(const it_shard_iter *it);
const it_alloc_rec *it_shard_iter_alloc(const it_shard_iter *it);
void it_shard_iter_free(it_shard_iter **it);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop
#endif
