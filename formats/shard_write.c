/* shard_write.c: writing a token shard (shard.h, infotok-shard(5)).
 *
 * One process writes one shard: LMDB with MDB_NOLOCK (nobody else opens a partial file) and
 * MDB_NOSYNC (a partial file is worthless after a crash anyway; durability comes from the
 * fsync of the finished copy). Keys are fixed-width big-endian and arrive in increasing order,
 * so every put is an MDB_APPEND. Puts are kept until their transaction commits so that a full
 * map can be grown and the batch replayed. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>

#include "error_internal.h"
#include "infotok/shard.h"
#include "formats/shard_internal.h"
#include "infotok/rate.h"

typedef struct pending {
    MDB_dbi dbi;
    size_t klen, vlen;
    unsigned char *kv; /* key then value */
} pending;

typedef struct id_entry { uint64_t id; uint32_t ordinal; } id_entry;

struct it_shard_writer {
    char *path, *partial;
    MDB_env *env;
    MDB_dbi dbi[SHARD_NDBI];
    size_t mapsize;
    it_shard_codec *codec;
    unsigned batch;
    pending *pend;
    size_t npend, cap_pend;
    char *header, *provenance;
    int slim;
    /* the open video */
    int open;
    char *video_json;
    uint64_t video_id;
    uint32_t ordinal, next_window;
    /* totals */
    id_entry *ids;
    size_t nids, cap_ids;
    uint64_t windows, tokens, kept, failed, frames, bytes, raw_bytes;
    it_elbo_stat elbo;
    int has_alloc;
    it_alloc_rec alloc;
};

static int lmdb_error(const it_shard_writer *w, int err, const char *what)
{
    return it_error_set(err == MDB_MAP_FULL ? IT_E_NOMEM : IT_E_IO, "%s: %s: %s", w->partial, what,
                        mdb_strerror(err));
}

static void drop_pending(it_shard_writer *w)
{
    for (size_t i = 0; i < w->npend; i++)
        free(w->pend[i].kv);
    w->npend = 0;
}

/* Applies the pending puts in one transaction; a full map is doubled and the batch replayed. */
static int commit_pending(it_shard_writer *w)
{
    for (;;) {
        MDB_txn *txn = NULL;
        int err = mdb_txn_begin(w->env, NULL, 0, &txn);
        if (err)
            return lmdb_error(w, err, "cannot begin a transaction");
        for (size_t i = 0; i < w->npend && !err; i++) {
            pending *p = &w->pend[i];
            MDB_val k = {p->klen, p->kv}, v = {p->vlen, p->kv + p->klen};
            /* meta keys are few and unordered; everything else is appended in key order */
            err = mdb_put(txn, p->dbi, &k, &v, p->dbi == w->dbi[SHARD_DBI_META] ? 0 : MDB_APPEND);
        }
        if (!err)
            err = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        if (!err) {
            drop_pending(w);
            return 0;
        }
        if (err != MDB_MAP_FULL)
            return lmdb_error(w, err, "cannot write");
        if (w->mapsize > ((size_t)1 << 44))
            return lmdb_error(w, err, "the shard outgrew 16 TiB");
        w->mapsize *= 2;
        if ((err = mdb_env_set_mapsize(w->env, w->mapsize)))
            return lmdb_error(w, err, "cannot grow the map");
    }
}

static int put(it_shard_writer *w, int which, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (w->npend == w->cap_pend) {
        size_t cap = w->cap_pend ? 2 * w->cap_pend : 64;
        pending *p = realloc(w->pend, cap * sizeof *p);
        if (!p)
            return it_error_set(IT_E_NOMEM, "%s: out of memory", w->partial);
        w->pend = p;
        w->cap_pend = cap;
    }
    pending *p = &w->pend[w->npend];
    if (!(p->kv = malloc(klen + vlen + 1)))
        return it_error_set(IT_E_NOMEM, "%s: out of memory for a %zu-byte record", w->partial, vlen);
    memcpy(p->kv, key, klen);
    if (vlen)
        memcpy(p->kv + klen, val, vlen);
    p->dbi = w->dbi[which];
    p->klen = klen;
    p->vlen = vlen;
    w->npend++;
    return w->npend >= w->batch ? commit_pending(w) : 0;
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

int it_shard_writer_new(it_shard_writer **out, const char *path, const char *header_json,
                        const it_shard_write_opts *opts)
{
    int rc = 0;
    *out = NULL;
    it_shard_writer *w = calloc(1, sizeof *w);
    IT_CHECK_ALLOC(w, "a shard writer");
    w->batch = opts && opts->batch ? opts->batch : 256;
    w->slim = opts && opts->slim;
    w->mapsize = opts && opts->map_size ? opts->map_size : (size_t)64 << 20;
    w->path = dupstr(path);
    w->header = dupstr(header_json);
    w->provenance = dupstr(opts && opts->provenance_json ? opts->provenance_json : "{}");
    IT_CHECK_ALLOC(w->path && w->header && w->provenance, "a shard writer");
    IT_CHECK_ALLOC(w->partial = shard_path_with(path, IT_SHARD_PARTIAL_SUFFIX), "a file name");
    IT_TRY(it_shard_codec_new(&w->codec, opts ? opts->zstd_level : 0));
    if (unlink(w->partial) != 0 && errno != ENOENT)
        IT_FAIL(IT_E_IO, "%s: cannot remove the old partial file: %s", w->partial, strerror(errno));
    int err = mdb_env_create(&w->env);
    if (!err)
        err = mdb_env_set_maxdbs(w->env, SHARD_NDBI);
    if (!err)
        err = mdb_env_set_mapsize(w->env, w->mapsize);
    if (!err)
        err = mdb_env_open(w->env, w->partial, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC | MDB_NOMETASYNC, 0644);
    if (err)
        IT_FAIL(IT_E_IO, "%s: cannot create: %s", w->partial, mdb_strerror(err));
    MDB_txn *txn = NULL;
    if ((err = mdb_txn_begin(w->env, NULL, 0, &txn)))
        IT_FAIL(IT_E_IO, "%s: cannot begin a transaction: %s", w->partial, mdb_strerror(err));
    for (int i = 0; i < SHARD_NDBI && !err; i++)
        err = mdb_dbi_open(txn, shard_dbi_names[i], MDB_CREATE, &w->dbi[i]);
    err = err ? (mdb_txn_abort(txn), err) : mdb_txn_commit(txn);
    if (err)
        IT_FAIL(IT_E_IO, "%s: cannot create the tables: %s", w->partial, mdb_strerror(err));
    char fmt[96];
    if (w->slim)
        snprintf(fmt, sizeof fmt, "{\"format\":\"infotok-shard\",\"version\":%d,\"slim\":true}",
                 IT_SHARD_VERSION_SLIM);
    else
        snprintf(fmt, sizeof fmt, "{\"format\":\"infotok-shard\",\"version\":%d}", IT_SHARD_VERSION);
    IT_TRY(put(w, SHARD_DBI_META, "format", 6, fmt, strlen(fmt) + 1));
    IT_TRY(put(w, SHARD_DBI_META, "header", 6, w->header, strlen(w->header) + 1));
    IT_TRY(put(w, SHARD_DBI_META, "provenance", 10, w->provenance, strlen(w->provenance) + 1));
    *out = w;
    return 0;
done:
    it_shard_writer_abort(&w);
    return rc;
}

static uint64_t json_id_of(const char *json)
{
    json_error_t e;
    json_t *o = json_loads(json, 0, &e);
    const char *id = o ? json_string_value(json_object_get(o, "id")) : NULL;
    uint64_t v = 0;
    char *end = NULL;
    if (id && strlen(id) == 16)
        v = strtoull(id, &end, 16);
    if (!end || *end)
        v = 0;
    json_decref(o);
    return v;
}

int it_shard_write_video(it_shard_writer *w, const char *video_json)
{
    if (w->open || w->has_alloc)
        return it_error_set(IT_E_INVALID, "%s: VIDEO while a video is open or after the allocation", w->partial);
    if (!(w->video_json = dupstr(video_json)))
        return it_error_set(IT_E_NOMEM, "%s: out of memory", w->partial);
    w->video_id = json_id_of(video_json);
    w->open = 1;
    w->next_window = 0;
    return 0;
}

int it_shard_write_window(it_shard_writer *w, const it_window_rec *rec)
{
    if (!w->open || rec->video_ordinal != w->ordinal || rec->window_index != w->next_window ||
        rec->video_id != w->video_id)
        return it_error_set(IT_E_INVALID, "%s: window %" PRIu32 " of video %" PRIu32
                            " does not follow the open video %" PRIu32 " window %" PRIu32,
                            w->partial, rec->window_index, rec->video_ordinal, w->ordinal, w->next_window);
    if (!w->slim && !rec->elbo)
        return it_error_set(IT_E_INVALID, "%s: window %" PRIu32 " of video %" PRIu32 " has no ELBO map (it comes from "
                            "a slim shard): it can only go into a slim shard (--slim)", w->partial, rec->window_index,
                            rec->video_ordinal);
    it_window_rec slim = *rec;
    if (w->slim)
        slim.elbo = NULL;
    const void *val;
    size_t len;
    int rc = it_shard_record_encode(w->codec, &slim, &val, &len);
    if (rc < 0)
        return rc;
    unsigned char key[8];
    shard_put_be32(key, w->ordinal);
    shard_put_be32(key + 4, w->next_window);
    if ((rc = put(w, SHARD_DBI_WINDOW, key, 8, val, len)) < 0)
        return rc;
    const uint64_t nt = (uint64_t)rec->lt * rec->lh * rec->lw;
    w->next_window++;
    w->windows++;
    w->tokens += nt;
    w->kept += rec->strategy == IT_STRATEGY_NONE ? nt : rec->kept;
    w->bytes += len;
    w->raw_bytes += nt * 2;
    it_elbo_stat_add(&w->elbo, rec->elbo_mean);
    return 0;
}

int it_shard_write_video_end(it_shard_writer *w, const char *end_json)
{
    if (!w->open)
        return it_error_set(IT_E_INVALID, "%s: VIDEO_END without a video", w->partial);
    json_error_t e;
    json_t *o = json_loads(end_json, 0, &e);
    const char *status = o ? json_string_value(json_object_get(o, "status")) : NULL;
    json_int_t frames = o ? json_integer_value(json_object_get(o, "frames")) : 0;
    if (status && strcmp(status, "ok") != 0)
        w->failed++;
    if (frames > 0)
        w->frames += (uint64_t)frames;
    json_decref(o);
    /* value: u32 windows, u32 length of the VIDEO JSON (with its NUL), VIDEO JSON, VIDEO_END JSON */
    const size_t lv = strlen(w->video_json) + 1, le = strlen(end_json) + 1;
    unsigned char *val = malloc(8 + lv + le);
    if (!val)
        return it_error_set(IT_E_NOMEM, "%s: out of memory", w->partial);
    shard_put_le32(val, w->next_window);
    shard_put_le32(val + 4, (uint32_t)lv);
    memcpy(val + 8, w->video_json, lv);
    memcpy(val + 8 + lv, end_json, le);
    unsigned char key[4];
    shard_put_be32(key, w->ordinal);
    int rc = put(w, SHARD_DBI_VIDEO, key, 4, val, 8 + lv + le);
    free(val);
    if (rc < 0)
        return rc;
    if (w->nids == w->cap_ids) {
        size_t cap = w->cap_ids ? 2 * w->cap_ids : 64;
        id_entry *p = realloc(w->ids, cap * sizeof *p);
        if (!p)
            return it_error_set(IT_E_NOMEM, "%s: out of memory", w->partial);
        w->ids = p;
        w->cap_ids = cap;
    }
    w->ids[w->nids++] = (id_entry){w->video_id, w->ordinal};
    free(w->video_json);
    w->video_json = NULL;
    w->open = 0;
    w->ordinal++;
    return 0;
}

int it_shard_write_alloc(it_shard_writer *w, const it_alloc_rec *a)
{
    if (w->open || w->has_alloc)
        return it_error_set(IT_E_INVALID, "%s: ALLOCATION inside a video or twice", w->partial);
    w->alloc = *a;
    w->has_alloc = 1;
    return 0;
}

uint64_t it_shard_writer_bytes(const it_shard_writer *w) { return w->bytes; }
uint32_t it_shard_writer_videos(const it_shard_writer *w) { return w->ordinal; }

static int cmp_id(const void *a, const void *b)
{
    const id_entry *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return x->ordinal < y->ordinal ? -1 : x->ordinal > y->ordinal;
}

static char *stats_json(const it_shard_writer *w)
{
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:s}}",
                          "videos", (json_int_t)w->ordinal, "failed", (json_int_t)w->failed,
                          "windows", (json_int_t)w->windows, "frames", (json_int_t)w->frames,
                          "tokens", (json_int_t)w->tokens, "kept", (json_int_t)w->kept,
                          "record_bytes", (json_int_t)w->bytes, "raw_token_bytes", (json_int_t)w->raw_bytes,
                          "elbo", "count", (json_int_t)w->elbo.count, "sum_fixed", "");
    if (!o)
        return NULL;
    /* the fixed-point sum is a signed 64-bit integer; as a string it survives any JSON reader */
    char sum[32];
    snprintf(sum, sizeof sum, "%" PRId64, w->elbo.sum_fixed);
    json_object_set_new(json_object_get(o, "elbo"), "sum_fixed", json_string(sum));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* The compacting copy plus the trailer, fsynced, renamed into place. */
static int write_final(it_shard_writer *w)
{
    int rc = 0, fd = -1;
    char *tmp = shard_path_with(w->path, ".tmp");
    IT_CHECK_ALLOC(tmp, "a file name");
    fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        IT_FAIL(IT_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
    int err = mdb_env_copyfd2(w->env, fd, MDB_CP_COMPACT);
    if (err)
        IT_FAIL(IT_E_IO, "%s: compacting copy failed: %s", tmp, mdb_strerror(err));
    IT_TRY(shard_append_trailer(fd, tmp));
    if (fsync(fd) != 0)
        IT_FAIL(IT_E_IO, "%s: fsync: %s", tmp, strerror(errno));
    if (close(fd) != 0) {
        fd = -1;
        IT_FAIL(IT_E_IO, "%s: close: %s", tmp, strerror(errno));
    }
    fd = -1;
    if (rename(tmp, w->path) != 0)
        IT_FAIL(IT_E_IO, "%s: cannot rename to %s: %s", tmp, w->path, strerror(errno));
    shard_fsync_dir(w->path);
done:
    if (fd >= 0)
        close(fd);
    if (rc < 0 && tmp)
        unlink(tmp);
    free(tmp);
    return rc;
}

int it_shard_writer_finish(it_shard_writer **wp)
{
    it_shard_writer *w = *wp;
    int rc = 0;
    char *stats = NULL, *alloc = NULL, *complete = NULL;
    if (w->open)
        IT_FAIL(IT_E_INVALID, "%s: finished with video %" PRIu32 " still open", w->partial, w->ordinal);
    if (w->nids)
        qsort(w->ids, w->nids, sizeof *w->ids, cmp_id);
    for (size_t i = 0; i < w->nids; i++) {
        unsigned char key[12];
        shard_put_be64(key, w->ids[i].id);
        shard_put_be32(key + 8, w->ids[i].ordinal);
        IT_TRY(put(w, SHARD_DBI_ID, key, 12, "", 0));
    }
    IT_CHECK_ALLOC(stats = stats_json(w), "the shard stats");
    IT_TRY(put(w, SHARD_DBI_META, "stats", 5, stats, strlen(stats) + 1));
    if (w->has_alloc) {
        IT_CHECK_ALLOC(alloc = shard_alloc_json(&w->alloc), "the allocation");
        IT_TRY(put(w, SHARD_DBI_META, "alloc", 5, alloc, strlen(alloc) + 1));
    }
    IT_TRY(commit_pending(w));
    /* the completion marker, in a transaction of its own after everything else */
    json_t *c = json_pack("{s:I, s:I}", "videos", (json_int_t)w->ordinal, "windows", (json_int_t)w->windows);
    complete = c ? json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(c);
    IT_CHECK_ALLOC(complete, "the completion marker");
    IT_TRY(put(w, SHARD_DBI_META, "complete", 8, complete, strlen(complete) + 1));
    IT_TRY(commit_pending(w));
    IT_TRY(write_final(w));
done:
    free(stats);
    free(alloc);
    free(complete);
    it_shard_writer_abort(wp);
    return rc;
}

void it_shard_writer_abort(it_shard_writer **wp)
{
    it_shard_writer *w = *wp;
    if (!w)
        return;
    drop_pending(w);
    free(w->pend);
    if (w->env)
        mdb_env_close(w->env);
    if (w->partial)
        unlink(w->partial);
    it_shard_codec_free(&w->codec);
    free(w->path);
    free(w->partial);
    free(w->header);
    free(w->provenance);
    free(w->video_json);
    free(w->ids);
    free(w);
    *wp = NULL;
}
