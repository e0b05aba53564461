/* shard_read.c: reading token shards (shard.h): random access, verification, and iteration as
 * the stream that made the shard.
 *
 * Opened read-only with MDB_NOLOCK (no lock file next to read-only data, many processes may
 * read) and MDB_NORDAHEAD (random reads of small records; readahead would fill the page cache
 * with neighbours nobody asked for). One read transaction lives as long as the handle; a
 * finished shard never changes, so it sees everything. */
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

#define META_KEYS 6
static const char *const meta_keys[META_KEYS] = {"format", "header", "provenance", "stats", "complete", "alloc"};

struct it_shard {
    char *name;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi[SHARD_NDBI];
    char *meta[META_KEYS];
    uint32_t videos;
    uint64_t windows;
    int has_alloc, slim;
    it_alloc_rec alloc;
    it_shard_codec *codec;
};

static int lmdb_fail(const it_shard *s, int err, const char *what)
{
    return it_error_set(err == MDB_CORRUPTED || err == MDB_PAGE_NOTFOUND || err == MDB_INVALID ? IT_E_FORMAT : IT_E_IO,
                        "%s: %s: %s", s->name, what, mdb_strerror(err));
}

/* A JSON entry of the meta table: NUL-terminated text, copied out. */
static int read_meta(it_shard *s, const char *key, char **out)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int err = mdb_get(s->txn, s->dbi[SHARD_DBI_META], &k, &v);
    if (err == MDB_NOTFOUND)
        return 0;
    if (err)
        return lmdb_fail(s, err, "cannot read the meta table");
    const char *p = v.mv_data;
    if (v.mv_size == 0 || p[v.mv_size - 1] != '\0' || memchr(p, '\0', v.mv_size) != p + v.mv_size - 1)
        return it_error_set(IT_E_FORMAT, "%s: meta entry \"%s\" is not a NUL-terminated text", s->name, key);
    json_error_t e;
    json_t *o = json_loads(p, 0, &e);
    int ok = o && json_is_object(o);
    json_decref(o);
    if (!ok)
        return it_error_set(IT_E_FORMAT, "%s: meta entry \"%s\" is not a JSON object", s->name, key);
    if (!(*out = strdup(p)))
        return it_error_set(IT_E_NOMEM, "%s: out of memory", s->name);
    return 0;
}

static int check_format(it_shard *s)
{
    const char *fmt = s->meta[0];
    if (!fmt)
        return it_error_set(IT_E_FORMAT, "%s: not a token shard (no format entry)", s->name);
    json_error_t e;
    json_t *o = json_loads(fmt, 0, &e);
    const char *name = json_string_value(json_object_get(o, "format"));
    json_int_t version = json_integer_value(json_object_get(o, "version"));
    json_t *slim = json_object_get(o, "slim");
    int rc = 0;
    if (!name || strcmp(name, "infotok-shard") != 0)
        rc = it_error_set(IT_E_FORMAT, "%s: not a token shard (format entry %s)", s->name, fmt);
    else if (version != IT_SHARD_VERSION && version != IT_SHARD_VERSION_SLIM)
        rc = it_error_set(IT_E_UNSUPPORTED, "%s: shard version %lld is not supported (this build reads %d and %d)",
                          s->name, (long long)version, IT_SHARD_VERSION, IT_SHARD_VERSION_SLIM);
    else if ((version == IT_SHARD_VERSION_SLIM) != json_is_true(slim) || (slim && !json_is_boolean(slim)))
        rc = it_error_set(IT_E_FORMAT, "%s: format entry %s: version 2 and \"slim\":true go together", s->name, fmt);
    s->slim = version == IT_SHARD_VERSION_SLIM;
    json_decref(o);
    if (rc < 0)
        return rc;
    if (!s->meta[4])
        return it_error_set(IT_E_TRUNCATED, "%s: no completion marker: the shard was never finished", s->name);
    if (!s->meta[1] || !s->meta[3])
        return it_error_set(IT_E_FORMAT, "%s: the header or stats entry is missing", s->name);
    o = json_loads(s->meta[4], 0, &e);
    json_int_t videos = -1, windows = -1;
    if (json_unpack(o, "{s:I, s:I}", "videos", &videos, "windows", &windows) != 0 || videos < 0 ||
        videos > UINT32_MAX || windows < 0)
        rc = it_error_set(IT_E_FORMAT, "%s: malformed completion marker %s", s->name, s->meta[4]);
    json_decref(o);
    s->videos = (uint32_t)videos;
    s->windows = (uint64_t)windows;
    if (rc == 0 && s->meta[5]) {
        rc = shard_alloc_parse(s->meta[5], s->name, &s->alloc);
        s->has_alloc = rc == 0;
    }
    return rc;
}

int it_shard_open(it_shard **out, const char *path, unsigned flags)
{
    int rc = 0, fd = -1;
    *out = NULL;
    it_shard *s = calloc(1, sizeof *s);
    IT_CHECK_ALLOC(s, "a shard handle");
    IT_CHECK_ALLOC(s->name = strdup(path), "a shard handle");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        IT_FAIL(errno == ENOENT ? IT_E_NOTFOUND : IT_E_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        IT_FAIL(IT_E_IO, "%s: not a regular file", path);
    uint64_t data_len;
    IT_TRY(shard_check_trailer(fd, path, (uint64_t)st.st_size, flags & IT_SHARD_CHECK_FILE, &data_len));
    close(fd);
    fd = -1;
    int err = mdb_env_create(&s->env);
    if (!err)
        err = mdb_env_set_maxdbs(s->env, SHARD_NDBI);
    if (!err)
        err = mdb_env_open(s->env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK | MDB_NORDAHEAD | MDB_NOTLS, 0);
    if (err)
        IT_FAIL(err == MDB_INVALID || err == MDB_VERSION_MISMATCH ? IT_E_FORMAT : IT_E_IO,
                "%s: cannot open as a shard: %s", path, mdb_strerror(err));
    if ((err = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->txn)))
        IT_FAIL(IT_E_IO, "%s: cannot begin a read transaction: %s", path, mdb_strerror(err));
    for (int i = 0; i < SHARD_NDBI; i++)
        if ((err = mdb_dbi_open(s->txn, shard_dbi_names[i], 0, &s->dbi[i])))
            IT_FAIL(IT_E_FORMAT, "%s: no \"%s\" table: %s", path, shard_dbi_names[i], mdb_strerror(err));
    for (int i = 0; i < META_KEYS; i++)
        IT_TRY(read_meta(s, meta_keys[i], &s->meta[i]));
    IT_TRY(check_format(s));
    IT_TRY(it_shard_codec_new(&s->codec, 0));
    *out = s;
    return 0;
done:
    if (fd >= 0)
        close(fd);
    it_shard_close(&s);
    return rc;
}

void it_shard_close(it_shard **sp)
{
    it_shard *s = *sp;
    if (!s)
        return;
    if (s->txn)
        mdb_txn_abort(s->txn);
    if (s->env)
        mdb_env_close(s->env);
    for (int i = 0; i < META_KEYS; i++)
        free(s->meta[i]);
    it_shard_codec_free(&s->codec);
    free(s->name);
    free(s);
    *sp = NULL;
}

const char *it_shard_name(const it_shard *s) { return s->name; }
int it_shard_is_slim(const it_shard *s) { return s->slim; }

const char *it_shard_meta(const it_shard *s, const char *key)
{
    for (int i = 0; i < META_KEYS; i++)
        if (strcmp(key, meta_keys[i]) == 0)
            return s->meta[i];
    return NULL;
}

int it_shard_alloc(const it_shard *s, it_alloc_rec *a)
{
    if (s->has_alloc)
        *a = s->alloc;
    return s->has_alloc;
}

uint32_t it_shard_video_count(const it_shard *s) { return s->videos; }

int it_shard_video(it_shard *s, uint32_t ordinal, const char **video_json, const char **end_json,
                   uint32_t *windows)
{
    if (ordinal >= s->videos)
        return it_error_set(IT_E_NOTFOUND, "%s: no video %" PRIu32 " (the shard has %" PRIu32 ")", s->name,
                            ordinal, s->videos);
    unsigned char key[4];
    shard_put_be32(key, ordinal);
    MDB_val k = {4, key}, v;
    int err = mdb_get(s->txn, s->dbi[SHARD_DBI_VIDEO], &k, &v);
    if (err)
        return err == MDB_NOTFOUND ? it_error_set(IT_E_FORMAT, "%s: video %" PRIu32 " is missing", s->name, ordinal)
                                   : lmdb_fail(s, err, "cannot read a video entry");
    const char *p = v.mv_data;
    const size_t n = v.mv_size;
    uint32_t lv = n >= 8 ? shard_get_le32(v.mv_data + 4) : 0;
    if (n < 10 || lv < 1 || lv > n - 9 || p[8 + lv - 1] != '\0' || p[n - 1] != '\0' ||
        strlen(p + 8) != lv - 1 || strlen(p + 8 + lv) != n - 8 - lv - 1)
        return it_error_set(IT_E_FORMAT, "%s: video %" PRIu32 "'s entry is malformed", s->name, ordinal);
    *windows = shard_get_le32(v.mv_data);
    *video_json = p + 8;
    *end_json = p + 8 + lv;
    return 0;
}

int it_shard_find(it_shard *s, uint64_t id, uint32_t *out, int max)
{
    MDB_cursor *cur;
    int err = mdb_cursor_open(s->txn, s->dbi[SHARD_DBI_ID], &cur);
    if (err)
        return lmdb_fail(s, err, "cannot read the id index");
    unsigned char key[12];
    shard_put_be64(key, id);
    shard_put_be32(key + 8, 0);
    MDB_val k = {12, key}, v;
    int n = 0;
    for (err = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); !err; err = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 12 || shard_get_be64(k.mv_data) != id)
            break;
        if (n < max)
            out[n] = shard_get_be32((const unsigned char *)k.mv_data + 8);
        n++;
    }
    mdb_cursor_close(cur);
    if (err && err != MDB_NOTFOUND)
        return lmdb_fail(s, err, "cannot read the id index");
    return n;
}

int it_shard_window(it_shard *s, uint32_t ordinal, uint32_t index, const it_window_rec **rec)
{
    unsigned char key[8];
    shard_put_be32(key, ordinal);
    shard_put_be32(key + 4, index);
    MDB_val k = {8, key}, v;
    int err = mdb_get(s->txn, s->dbi[SHARD_DBI_WINDOW], &k, &v);
    if (err == MDB_NOTFOUND)
        return it_error_set(IT_E_NOTFOUND, "%s: no window %" PRIu32 " in video %" PRIu32, s->name, index, ordinal);
    if (err)
        return lmdb_fail(s, err, "cannot read a window");
    char where[512];
    snprintf(where, sizeof where, "%s: video %" PRIu32 " window %" PRIu32, s->name, ordinal, index);
    int rc = it_shard_record_decode(s->codec, v.mv_data, v.mv_size, where, rec);
    if (rc < 0)
        return rc;
    if (((*rec)->elbo == NULL) != (s->slim != 0))
        return it_error_set(IT_E_FORMAT, "%s: a %s record in a %s shard", where, (*rec)->elbo ? "full" : "slim",
                            s->slim ? "slim" : "full");
    if ((*rec)->video_ordinal != ordinal || (*rec)->window_index != index)
        return it_error_set(IT_E_FORMAT, "%s: the record says video %" PRIu32 " window %" PRIu32, where,
                            (*rec)->video_ordinal, (*rec)->window_index);
    return 0;
}

int it_shard_elbo_stat(const it_shard *s, uint64_t *count, int64_t *sum_fixed)
{
    json_error_t e;
    json_t *o = json_loads(s->meta[3], 0, &e);
    json_int_t c = -1;
    const char *sum = NULL;
    int rc = 0;
    char *end = NULL;
    if (json_unpack(o, "{s:{s:I, s:s}}", "elbo", "count", &c, "sum_fixed", &sum) != 0 || c < 0)
        rc = it_error_set(IT_E_FORMAT, "%s: the stats entry has no ELBO sum", s->name);
    else {
        errno = 0;
        long long v = strtoll(sum, &end, 10);
        if (errno || end == sum || *end)
            rc = it_error_set(IT_E_FORMAT, "%s: the ELBO sum \"%s\" is not an integer", s->name, sum);
        *count = (uint64_t)c;
        *sum_fixed = v;
    }
    json_decref(o);
    return rc;
}

/* ---- iteration as a stream ------------------------------------------------------------------- */

enum { IT_HEADER, IT_VIDEO, IT_WINDOW, IT_END_VIDEO, IT_ALLOC, IT_END, IT_DONE };

struct it_shard_iter {
    it_shard *s;
    int state;
    uint32_t video, windows, window;
    const char *video_json, *end_json;
    const it_window_rec *rec;
    char *end_record;
    uint64_t failed, total_windows;
    int last; /* the type last returned */
};

int it_shard_iter_open(it_shard_iter **out, const char *path)
{
    *out = NULL;
    it_shard_iter *it = calloc(1, sizeof *it);
    if (!it)
        return it_error_set(IT_E_NOMEM, "%s: out of memory", path);
    int rc = it_shard_open(&it->s, path, IT_SHARD_CHECK_FILE);
    if (rc < 0) {
        free(it);
        return rc;
    }
    *out = it;
    return 0;
}

static int end_status_failed(const char *end_json)
{
    json_error_t e;
    json_t *o = json_loads(end_json, 0, &e);
    const char *st = json_string_value(json_object_get(o, "status"));
    int failed = st && strcmp(st, "ok") != 0;
    json_decref(o);
    return failed;
}

static int iter_step(it_shard_iter *it, int *type);

int it_shard_iter_next(it_shard_iter *it, int *type)
{
    int rc = iter_step(it, type);
    it->last = rc == 1 ? *type : 0;
    return rc;
}

static int iter_step(it_shard_iter *it, int *type)
{
    int rc;
    for (;;) {
        switch (it->state) {
        case IT_HEADER:
            it->state = IT_VIDEO;
            *type = IT_REC_HEADER;
            return 1;
        case IT_VIDEO:
            if (it->video >= it->s->videos) {
                it->state = it->s->has_alloc ? IT_ALLOC : IT_END;
                continue;
            }
            if ((rc = it_shard_video(it->s, it->video, &it->video_json, &it->end_json, &it->windows)) < 0)
                return rc;
            it->window = 0;
            it->state = IT_WINDOW;
            *type = IT_REC_VIDEO;
            return 1;
        case IT_WINDOW:
            if (it->window >= it->windows) {
                it->state = IT_END_VIDEO;
                continue;
            }
            if ((rc = it_shard_window(it->s, it->video, it->window, &it->rec)) < 0)
                return rc;
            it->window++;
            it->total_windows++;
            *type = IT_REC_WINDOW;
            return 1;
        case IT_END_VIDEO:
            it->failed += end_status_failed(it->end_json);
            it->video++;
            it->state = IT_VIDEO;
            *type = IT_REC_VIDEO_END;
            return 1;
        case IT_ALLOC:
            it->state = IT_END;
            *type = IT_REC_ALLOCATION;
            return 1;
        case IT_END: {
            if (it->total_windows != it->s->windows)
                return it_error_set(IT_E_FORMAT, "%s: %" PRIu64 " windows, the completion marker says %" PRIu64,
                                    it->s->name, it->total_windows, it->s->windows);
            json_t *o = json_pack("{s:i, s:i, s:I}", "videos", (int)it->s->videos, "failed", (int)it->failed,
                                  "windows", (json_int_t)it->total_windows);
            free(it->end_record);
            it->end_record = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            json_decref(o);
            if (!it->end_record)
                return it_error_set(IT_E_NOMEM, "%s: out of memory", it->s->name);
            it->state = IT_DONE;
            *type = IT_REC_END;
            return 1;
        }
        default:
            return 0;
        }
    }
}

const char *it_shard_iter_json(const it_shard_iter *it)
{
    switch (it->last) {
    case IT_REC_HEADER: return it->s->meta[1];
    case IT_REC_VIDEO: return it->video_json;
    case IT_REC_VIDEO_END: return it->end_json;
    case IT_REC_END: return it->end_record;
    default: return NULL;
    }
}

const it_window_rec *it_shard_iter_window(const it_shard_iter *it) { return it->rec; }
int shard_iter_slim(const it_shard_iter *it) { return it->s->slim; }
const it_alloc_rec *it_shard_iter_alloc(const it_shard_iter *it) { return it->s->has_alloc ? &it->s->alloc : NULL; }

void it_shard_iter_free(it_shard_iter **itp)
{
    it_shard_iter *it = *itp;
    if (!it)
        return;
    it_shard_close(&it->s);
    free(it->end_record);
    free(it);
    *itp = NULL;
}

/* ---- verification ---------------------------------------------------------------------------- */

int it_shard_verify(const char *path)
{
    it_shard *s = NULL;
    int rc = it_shard_open(&s, path, IT_SHARD_CHECK_FILE);
    if (rc < 0)
        return rc;
    uint64_t windows = 0, entries = 0;
    for (uint32_t v = 0; v < s->videos; v++) {
        const char *vj, *ej;
        uint32_t nw;
        IT_TRY(it_shard_video(s, v, &vj, &ej, &nw));
        for (uint32_t i = 0; i < nw; i++) {
            const it_window_rec *rec;
            IT_TRY(it_shard_window(s, v, i, &rec));
            if (i == 0 && it_shard_find(s, rec->video_id, &(uint32_t){0}, 1) < 1)
                IT_FAIL(IT_E_FORMAT, "%s: video %" PRIu32 " is missing from the id index", path, v);
        }
        windows += nw;
    }
    /* nothing beyond what the entries announce */
    MDB_stat st;
    int err = mdb_stat(s->txn, s->dbi[SHARD_DBI_WINDOW], &st);
    if (err)
        IT_FAIL(IT_E_FORMAT, "%s: cannot read the window table: %s", path, mdb_strerror(err));
    entries = st.ms_entries;
    if (windows != s->windows || entries != windows)
        IT_FAIL(IT_E_FORMAT, "%s: %" PRIu64 " window records, the videos list %" PRIu64 " and the marker %" PRIu64,
                path, entries, windows, s->windows);
    if ((err = mdb_stat(s->txn, s->dbi[SHARD_DBI_VIDEO], &st)) || st.ms_entries != s->videos)
        IT_FAIL(IT_E_FORMAT, "%s: the video table has %zu entries, the marker says %" PRIu32, path,
                err ? (size_t)0 : st.ms_entries, s->videos);
    if ((err = mdb_stat(s->txn, s->dbi[SHARD_DBI_ID], &st)) || st.ms_entries != s->videos)
        IT_FAIL(IT_E_FORMAT, "%s: the id index has %zu entries, the marker says %" PRIu32, path,
                err ? (size_t)0 : st.ms_entries, s->videos);
done:
    it_shard_close(&s);
    return rc;
}
