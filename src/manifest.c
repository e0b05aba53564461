/* manifest.c: manifest lines (JSON, through jansson) and stable source ids. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <jansson.h>

#include "error_internal.h"
#include "infotok/stream.h"

void it_source_id(const it_source *src, char id[17])
{
    uint64_t h = IT_FNV1A64_INIT;
    const char *parts[2] = {src->path, src->member ? src->member : ""};
    /* each part with its NUL: "a"+"bc" differs from "ab"+"c" */
    for (int k = 0; k < 2; k++)
        h = it_fnv1a64(h, parts[k], strlen(parts[k]) + 1);
    snprintf(id, 17, "%016llx", (unsigned long long)h);
}

int it_source_content_id(const it_source *src, char id[17])
{
    enum { CHUNK = 1 << 16 };
    uint64_t h = IT_FNV1A64_INIT;
    int rc = 0;
    unsigned char *buf = malloc(CHUNK);
    if (!buf)
        return it_error_set(IT_E_NOMEM, "out of memory");
    if (!src->member) {
        FILE *f = fopen(src->path, "rb");
        if (!f) {
            rc = it_error_set(errno == ENOENT ? IT_E_NOTFOUND : IT_E_IO, "%s: %s", src->path, strerror(errno));
        } else {
            size_t n;
            while ((n = fread(buf, 1, CHUNK, f)) > 0)
                h = it_fnv1a64(h, buf, n);
            if (ferror(f))
                rc = it_error_set(IT_E_IO, "%s: read error", src->path);
            fclose(f);
        }
    } else {
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        int found = 0;
        if (!a) {
            free(buf);
            return it_error_set(IT_E_NOMEM, "out of memory");
        }
        archive_read_support_format_tar(a);
        archive_read_support_format_zip(a);
        archive_read_support_filter_all(a);
        if (archive_read_open_filename(a, src->path, CHUNK) != ARCHIVE_OK) {
            rc = it_error_set(IT_E_IO, "%s: %s", src->path, archive_error_string(a));
        } else {
            while (!found && archive_read_next_header(a, &e) == ARCHIVE_OK)
                found = strcmp(archive_entry_pathname(e), src->member) == 0;
            la_ssize_t n;
            while (found && (n = archive_read_data(a, buf, CHUNK)) > 0)
                h = it_fnv1a64(h, buf, (size_t)n);
            if (!found)
                rc = it_error_set(IT_E_NOTFOUND, "%s: no member %s", src->path, src->member);
            else if (n < 0)
                rc = it_error_set(IT_E_IO, "%s: member %s: %s", src->path, src->member, archive_error_string(a));
        }
        archive_read_free(a);
    }
    free(buf);
    if (rc == 0)
        snprintf(id, 17, "%016llx", (unsigned long long)h);
    return rc;
}

/* Unknown values are JSON null rather than sentinels. */
static json_t *int_or_null(int64_t v, int known) { return known ? json_integer(v) : json_null(); }
static json_t *real_or_null(double v, int known) { return known ? json_real(v) : json_null(); }

int it_manifest_format(const it_manifest_entry *e, char **line)
{
    int rc = 0;
    json_t *o = json_object();
    IT_CHECK_ALLOC(o, "a manifest line");
    const it_probe_info *in = &e->info;
    int bad = 0;
    bad |= json_object_set_new(o, "id", json_string(e->id));
    bad |= json_object_set_new(o, "path", json_string(e->path));
    if (e->member)
        bad |= json_object_set_new(o, "member", json_string(e->member));
    bad |= json_object_set_new(o, "size", int_or_null(in->size, in->size >= 0));
    if (e->ok) {
        bad |= json_object_set_new(o, "container", json_string(in->container));
        bad |= json_object_set_new(o, "codec", json_string(in->codec));
        bad |= json_object_set_new(o, "width", json_integer(in->width));
        bad |= json_object_set_new(o, "height", json_integer(in->height));
        bad |= json_object_set_new(o, "rotation", json_integer(in->rotation));
        bad |= json_object_set_new(o, "pix_fmt", json_string(in->pix_fmt));
        bad |= json_object_set_new(o, "fps", real_or_null(in->fps, in->fps > 0));
        bad |= json_object_set_new(o, "duration", real_or_null(in->duration, in->duration >= 0));
        bad |= json_object_set_new(o, "frames", int_or_null(in->frames, in->frames >= 0));
        bad |= json_object_set_new(o, "frames_exact", json_boolean(in->frames_exact));
        bad |= json_object_set_new(o, "audio", json_boolean(in->has_audio));
        bad |= json_object_set_new(o, "bit_rate", int_or_null(in->bit_rate, in->bit_rate > 0));
        bad |= json_object_set_new(o, "status", json_string("ok"));
    } else {
        bad |= json_object_set_new(o, "status", json_string("error"));
        bad |= json_object_set_new(o, "error", json_string(e->error ? e->error : "unknown error"));
    }
    /* json_string returns NULL on invalid UTF-8 (a path is bytes): set_new then fails. */
    if (bad)
        IT_FAIL(IT_E_INVALID, "%s: cannot write as JSON (is the path valid UTF-8?)", e->path);
    *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    IT_CHECK_ALLOC(*line, "a manifest line");
done:
    json_decref(o);
    return rc;
}

void it_manifest_entry_clear(it_manifest_entry *e)
{
    free(e->path);
    free(e->member);
    free(e->error);
    memset(e, 0, sizeof *e);
}

static int get_string(json_t *o, const char *key, int required, char **out, const char *where)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = NULL;
        return required ? it_error_set(IT_E_FORMAT, "%s: missing \"%s\"", where, key) : 0;
    }
    if (!json_is_string(v))
        return it_error_set(IT_E_FORMAT, "%s: \"%s\" is not a string", where, key);
    *out = strdup(json_string_value(v));
    return *out ? 0 : it_error_set(IT_E_NOMEM, "out of memory reading %s", where);
}

static void get_fixed(json_t *o, const char *key, char *buf, size_t size)
{
    json_t *v = json_object_get(o, key);
    snprintf(buf, size, "%s", json_is_string(v) ? json_string_value(v) : "");
}

static int get_number(json_t *o, const char *key, double *out, double unknown, const char *where)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = unknown;
        return 0;
    }
    if (!json_is_number(v))
        return it_error_set(IT_E_FORMAT, "%s: \"%s\" is not a number", where, key);
    *out = json_number_value(v);
    return 0;
}

int it_manifest_parse(const char *line, size_t len, const char *where, it_manifest_entry *e)
{
    int rc = 0;
    json_error_t jerr;
    memset(e, 0, sizeof *e);
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        IT_FAIL(IT_E_FORMAT, "%s: not JSON: %s (column %d)", where, jerr.text, jerr.column);
    if (!json_is_object(o))
        IT_FAIL(IT_E_FORMAT, "%s: not a JSON object", where);
    IT_TRY(get_string(o, "path", 1, &e->path, where));
    IT_TRY(get_string(o, "member", 0, &e->member, where));
    it_source src = {e->path, e->member};
    char *given = NULL;
    uint64_t idv;
    IT_TRY(get_string(o, "id", 0, &given, where));
    if (given && it_video_id_parse(given, &idv) < 0) {
        free(given);
        IT_FAIL(IT_E_FORMAT, "%s: \"id\" is not 16 lowercase hex digits", where);
    }
    if (given)
        snprintf(e->id, sizeof e->id, "%s", given);
    else
        it_source_id(&src, e->id);
    free(given);
    char *status = NULL;
    IT_TRY(get_string(o, "status", 0, &status, where));
    e->ok = !status || strcmp(status, "ok") == 0;
    free(status);
    if (!e->ok)
        IT_TRY(get_string(o, "error", 0, &e->error, where));
    it_probe_info *in = &e->info;
    double d;
    get_fixed(o, "container", in->container, sizeof in->container);
    get_fixed(o, "codec", in->codec, sizeof in->codec);
    get_fixed(o, "pix_fmt", in->pix_fmt, sizeof in->pix_fmt);
    IT_TRY(get_number(o, "width", &d, 0, where));
    in->width = d > 0 && d < 1e6 ? (int)d : 0;
    IT_TRY(get_number(o, "height", &d, 0, where));
    in->height = d > 0 && d < 1e6 ? (int)d : 0;
    IT_TRY(get_number(o, "rotation", &d, 0, where));
    in->rotation = (int)d;
    IT_TRY(get_number(o, "fps", &in->fps, 0, where));
    IT_TRY(get_number(o, "duration", &in->duration, -1, where));
    IT_TRY(get_number(o, "frames", &d, -1, where));
    in->frames = d >= 0 && d < 9e15 ? (int64_t)d : -1;
    IT_TRY(get_number(o, "size", &d, -1, where));
    in->size = d >= 0 && d < 9e18 ? (int64_t)d : -1;
    IT_TRY(get_number(o, "bit_rate", &d, -1, where));
    in->bit_rate = d > 0 && d < 9e18 ? (int64_t)d : -1;
    in->frames_exact = json_is_true(json_object_get(o, "frames_exact"));
    in->has_audio = json_is_true(json_object_get(o, "audio"));
done:
    json_decref(o);
    if (rc < 0)
        it_manifest_entry_clear(e);
    return rc;
}
