/* shard_internal.h: what the shard writer and reader share (formats/shard_common.c). */
#ifndef IT_FORMATS_SHARD_INTERNAL_H
#define IT_FORMATS_SHARD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "infotok/stream.h"

enum { SHARD_DBI_META, SHARD_DBI_VIDEO, SHARD_DBI_WINDOW, SHARD_DBI_ID, SHARD_NDBI };
extern const char *const shard_dbi_names[SHARD_NDBI];

#define SHARD_TRAILER_MAGIC "ITSHARD1"
#define SHARD_TRAILER_BYTES 32

void shard_put_be32(unsigned char *p, uint32_t v);
void shard_put_be64(unsigned char *p, uint64_t v);
void shard_put_le32(unsigned char *p, uint32_t v);
uint32_t shard_get_be32(const unsigned char *p);
uint64_t shard_get_be64(const unsigned char *p);
uint32_t shard_get_le32(const unsigned char *p);

/* 1 when the iterated shard is slim (records.c refuses to re-allocate it). */
struct it_shard_iter;
int shard_iter_slim(const struct it_shard_iter *it);

/* path + suffix, malloc'd. */
char *shard_path_with(const char *path, const char *suffix);
/* Appends the trailer (magic, data length, CRC-32 of the data) to the file open on fd. */
int shard_append_trailer(int fd, const char *name);
/* Checks the trailer of an open file of `size` bytes; with check_crc also the data's CRC-32.
 * *data_len: the bytes before the trailer (the LMDB file). */
int shard_check_trailer(int fd, const char *name, uint64_t size, int check_crc, uint64_t *data_len);
void shard_fsync_dir(const char *path);
/* {"strategy":"global_elbo","avg_rate":R,"elbo":{"count":N,"sum_fixed":"S"}} and back. */
char *shard_alloc_json(const it_alloc_rec *a);
int shard_alloc_parse(const char *json, const char *where, it_alloc_rec *a);

#endif
