/* records.c: one reader over token streams and token shards (records.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/records.h"
#include "formats/shard.h"
#include "infotok.h"

struct it_record_reader {
    int kind;
    char *name;
    FILE *f;                    /* stream: the open file (not stdin's) */
    it_stream_reader *stream;
    it_shard_iter *shard;
};

static int is_shard_file(const char *path, int *is_shard)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return it_error_set(errno == ENOENT ? IT_E_NOTFOUND : IT_E_IO, "%s: %s", path, strerror(errno));
    unsigned char head[8];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    /* A stream starts with its magic; anything else that opens is tried as a shard, whose
     * own checks then say what is wrong with it. */
    *is_shard = !(n == sizeof head && memcmp(head, "ITOKSTRM", 8) == 0) && n > 0;
    return 0;
}

int it_record_reader_open(it_record_reader **out, const char *path)
{
    *out = NULL;
    it_record_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(strcmp(path, "-") == 0 ? "stdin" : path))) {
        free(r);
        return it_error_set(IT_E_NOMEM, "%s: out of memory", path);
    }
    int shard = 0, rc = 0;
    if (strcmp(path, "-") != 0 && (rc = is_shard_file(path, &shard)) < 0)
        goto fail;
    if (shard) {
        r->kind = IT_RECORDS_SHARD;
        rc = it_shard_iter_open(&r->shard, path);
    } else {
        r->kind = IT_RECORDS_STREAM;
        FILE *f = stdin;
        if (strcmp(path, "-") != 0 && !(f = r->f = fopen(path, "rb"))) {
            rc = it_error_set(IT_E_IO, "%s: %s", path, strerror(errno));
            goto fail;
        }
        rc = it_stream_reader_new(&r->stream, f, path);
    }
    if (rc < 0)
        goto fail;
    *out = r;
    return 0;
fail:
    it_record_reader_free(&r);
    return rc;
}

int it_record_reader_kind(const it_record_reader *r) { return r->kind; }
const char *it_record_reader_name(const it_record_reader *r) { return r->name; }

int it_record_next(it_record_reader *r, int *type)
{
    return r->stream ? it_stream_next(r->stream, type) : it_shard_iter_next(r->shard, type);
}

const char *it_record_json(const it_record_reader *r)
{
    return r->stream ? it_stream_json(r->stream) : it_shard_iter_json(r->shard);
}

const it_window_rec *it_record_window(const it_record_reader *r)
{
    return r->stream ? it_stream_window(r->stream) : it_shard_iter_window(r->shard);
}

const it_alloc_rec *it_record_alloc(const it_record_reader *r)
{
    return r->stream ? it_stream_alloc(r->stream) : it_shard_iter_alloc(r->shard);
}

void it_record_reader_free(it_record_reader **rp)
{
    it_record_reader *r = *rp;
    if (!r)
        return;
    it_stream_reader_free(&r->stream);
    it_shard_iter_free(&r->shard);
    if (r->f)
        fclose(r->f);
    free(r->name);
    free(r);
    *rp = NULL;
}
