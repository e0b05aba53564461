/* records.c: one reader over token streams and token shards (records.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "infotok/records.h"
#include "infotok/shard.h"
#include "infotok/core.h"
#include "infotok/rate.h"
#include "formats/shard_internal.h"

struct it_record_reader {
    int kind;
    char *name;
    FILE *f;                    /* stream: the open file (not stdin's) */
    it_stream_reader *stream;
    it_shard_iter *shard;
    /* it_record_reader_reallocate() */
    int realloc;
    it_allocation alloc;
    it_alloc_rec alloc_rec;     /* the ALLOCATION record emitted before END */
    int pending_end;            /* END was read while the ALLOCATION record is being returned */
    int last_type;              /* of the record returned last */
    char *header;               /* the HEADER with the new "rate" */
    it_window_rec win;
    uint8_t *keep;
    size_t keep_cap;
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

static int slim_refusal(const it_record_reader *r);

int it_record_reader_reallocate(it_record_reader *r, const it_allocation *a)
{
    if (r->shard && shard_iter_slim(r->shard))
        return slim_refusal(r);
    r->realloc = 1;
    r->alloc = *a;
    r->alloc_rec = it_allocation_record(a);
    return 0;
}

static int slim_refusal(const it_record_reader *r)
{
    return it_error_set(IT_E_UNSUPPORTED, "%s: a slim shard (it-pack --slim) keeps no ELBO maps, so it cannot be "
                        "re-allocated (--avg-rate, --strategy, --full-rate): re-allocate the full shard it was made "
                        "from, or use it at its stored rates", r->name);
}

static int source_next(it_record_reader *r, int *type)
{
    return r->stream ? it_stream_next(r->stream, type) : it_shard_iter_next(r->shard, type);
}

static const char *source_json(const it_record_reader *r)
{
    return r->stream ? it_stream_json(r->stream) : it_shard_iter_json(r->shard);
}

static const it_window_rec *source_window(const it_record_reader *r)
{
    return r->stream ? it_stream_window(r->stream) : it_shard_iter_window(r->shard);
}

/* The HEADER as it reads after the re-allocation. */
static int rewrite_header(it_record_reader *r)
{
    it_stream_header h;
    int rc = it_stream_header_parse(source_json(r), r->name, &h);
    if (rc < 0)
        return rc;
    h.strategy = r->alloc.strategy;
    h.avg_rate = r->alloc.strategy == IT_STRATEGY_NONE ? 0 : r->alloc.avg_rate;
    free(r->header);
    r->header = NULL;
    rc = it_stream_header_format(&h, &r->header);
    it_stream_header_clear(&h);
    return rc;
}

static int reallocate_window(it_record_reader *r)
{
    r->win = *source_window(r);
    if (!r->win.elbo)
        return slim_refusal(r);
    const size_t nt = (size_t)r->win.lt * r->win.lh * r->win.lw;
    if (nt > r->keep_cap) {
        uint8_t *k = realloc(r->keep, nt);
        if (!k)
            return it_error_set(IT_E_NOMEM, "%s: out of memory", r->name);
        r->keep = k;
        r->keep_cap = nt;
    }
    r->win.keep = NULL;
    return it_allocation_apply(&r->alloc, &r->win, r->keep);
}

int it_record_next(it_record_reader *r, int *type)
{
    if (!r->realloc)
        return source_next(r, type);
    if (r->pending_end) {
        r->pending_end = 0;
        *type = IT_REC_END;
        return 1;
    }
    int rc;
    while ((rc = source_next(r, type)) == 1 && *type == IT_REC_ALLOCATION)
        ; /* the inputs' own allocation no longer holds */
    if (rc != 1)
        return rc;
    r->last_type = *type;
    if (*type == IT_REC_HEADER)
        rc = rewrite_header(r);
    else if (*type == IT_REC_WINDOW)
        rc = reallocate_window(r);
    else if (*type == IT_REC_END && r->alloc.strategy == IT_STRATEGY_GLOBAL_ELBO && r->alloc.stat.count > 0) {
        /* (no windows at all: there is no statistic to record) */
        r->pending_end = 1;
        *type = IT_REC_ALLOCATION;
    }
    return rc < 0 ? rc : 1;
}

const char *it_record_json(const it_record_reader *r)
{
    return r->realloc && r->last_type == IT_REC_HEADER ? r->header : source_json(r);
}

const it_window_rec *it_record_window(const it_record_reader *r)
{
    return r->realloc ? &r->win : source_window(r);
}

const it_alloc_rec *it_record_alloc(const it_record_reader *r)
{
    if (r->realloc)
        return &r->alloc_rec;
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
    free(r->header);
    free(r->keep);
    free(r);
    *rp = NULL;
}
