/* records.h: read token records from a token stream (infotok-stream(5)) or a token shard
 * (infotok-shard(5)) through one API, so that the tools that consume tokens (it-pack,
 * it-decode, it-stats) take either.
 *
 * The contract is it_stream_next()'s: a shard is presented as the stream that would have
 * produced it: HEADER, then per video VIDEO, its WINDOWs in order, VIDEO_END; ALLOCATION
 * when one was applied to the whole shard; END last. A shard that is incomplete or damaged
 * is an error naming the file, never silently short.
 *
 * "-" is standard input and is always read as a stream (a shard needs a file to map). */
#ifndef IT_FORMATS_RECORDS_H
#define IT_FORMATS_RECORDS_H

#include <stdint.h>

#include "infotok/stream.h"

/* Exported from libinfotok.so: the public API (the library builds with hidden visibility). */
#pragma GCC visibility push(default)

#ifdef __cplusplus
extern "C" {
#endif

typedef struct it_record_reader it_record_reader;

enum it_record_kind { IT_RECORDS_STREAM = 1, IT_RECORDS_SHARD = 2 };

/* Opens path ("-": stdin), telling a stream from a shard by its first bytes. */
int it_record_reader_open(it_record_reader **out, const char *path);
int it_record_reader_kind(const it_record_reader *r);
const char *it_record_reader_name(const it_record_reader *r);

/* 1 with *type set, 0 after END, <0 on error (sticky, message set). */
int it_record_next(it_record_reader *r, int *type);
const char *it_record_json(const it_record_reader *r);
const it_window_rec *it_record_window(const it_record_reader *r);
const it_alloc_rec *it_record_alloc(const it_record_reader *r);

/* Re-allocate while reading (call before the first it_record_next()): every WINDOW returned
 * afterwards carries a's rates and masks (it_allocation_apply(), src/rate.h), the HEADER's
 * "rate" says a, the inputs' own ALLOCATION records are dropped and, for global_elbo, an
 * ALLOCATION record with a's statistic comes just before END. *a is copied. */
struct it_allocation;
int it_record_reader_reallocate(it_record_reader *r, const struct it_allocation *a);

void it_record_reader_free(it_record_reader **r);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop
#endif
