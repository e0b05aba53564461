/* stream_header.c: the token stream's HEADER record as a struct (formats/tokstream.h), and
 * video ids: the one place that turns their JSON into numbers and back. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "error_internal.h"
#include "infotok/stream.h"

int it_strategy_parse(const char *name, int *strategy)
{
    if (strcmp(name, "static") == 0)
        *strategy = IT_STRATEGY_STATIC;
    else if (strcmp(name, "elbo") == 0)
        *strategy = IT_STRATEGY_ELBO;
    else if (strcmp(name, "global_elbo") == 0)
        *strategy = IT_STRATEGY_GLOBAL_ELBO;
    else
        return it_error_set(IT_E_INVALID, "unknown strategy '%s': expected static, elbo or global_elbo", name);
    return 0;
}

const char *it_strategy_name(int strategy)
{
    switch (strategy) {
    case IT_STRATEGY_STATIC: return "static";
    case IT_STRATEGY_ELBO: return "elbo";
    case IT_STRATEGY_GLOBAL_ELBO: return "global_elbo";
    default: return "none";
    }
}

int it_video_id_parse(const char *hex, uint64_t *id)
{
    int ok = hex && strlen(hex) == 16;
    for (int i = 0; ok && i < 16; i++)
        ok = (hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f');
    if (!ok)
        return it_error_set(IT_E_FORMAT, "video id \"%.40s\" is not 16 lowercase hex digits", hex ? hex : "");
    *id = strtoull(hex, NULL, 16);
    return 0;
}

void it_video_id_format(uint64_t id, char hex[17])
{
    snprintf(hex, 17, "%016" PRIx64, id);
}

int it_video_json_id(const char *json, const char *where, uint64_t *id)
{
    json_error_t e;
    json_t *o = json_loads(json, 0, &e);
    json_t *v = json_object_get(o, "id");
    int rc = 0;
    if (!json_is_string(v))
        rc = it_error_set(IT_E_FORMAT, "%s: no video \"id\"", where);
    else if ((rc = it_video_id_parse(json_string_value(v), id)) < 0)
        rc = it_error_set(rc, "%s: %s", where, it_error_message());
    json_decref(o);
    return rc;
}

int it_video_end_parse(const char *json, const char *where, int *ok, int64_t *frames, char *error,
                       size_t error_size)
{
    json_error_t e;
    json_t *o = json_loads(json, 0, &e);
    const char *st = json_string_value(json_object_get(o, "status"));
    json_t *fr = json_object_get(o, "frames");
    int rc = 0;
    if (!st || (strcmp(st, "ok") != 0 && strcmp(st, "error") != 0) || !json_is_integer(fr) ||
        json_integer_value(fr) < 0) {
        rc = it_error_set(IT_E_FORMAT, "%s: VIDEO_END has no valid status or frames", where);
    } else {
        *ok = strcmp(st, "ok") == 0;
        *frames = (int64_t)json_integer_value(fr);
        const char *msg = json_string_value(json_object_get(o, "error"));
        if (error_size)
            snprintf(error, error_size, "%s", msg ? msg : (*ok ? "" : "(no message)"));
    }
    json_decref(o);
    return rc;
}

static char *dump(json_t *v)
{
    return v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10)) : NULL;
}

void it_stream_header_clear(it_stream_header *h)
{
    free(h->model_config);
    free(h->tool);
    free(h->version);
    free(h->command);
    memset(h, 0, sizeof *h);
}

/* A required integer in [lo, hi] at o[key] (o may be NULL). */
static int get_int(json_t *o, const char *key, long lo, long hi, int *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return -1;
    *out = (int)json_integer_value(v);
    return 0;
}

int it_stream_header_parse(const char *json, const char *where, it_stream_header *h)
{
    int rc = 0;
    json_error_t e;
    memset(h, 0, sizeof *h);
    json_t *o = json_loads(json, 0, &e);
    if (!json_is_object(o))
        IT_FAIL(IT_E_FORMAT, "%s: HEADER is not a JSON object", where);
    json_t *model = json_object_get(o, "model"), *window = json_object_get(o, "window");
    const char *hash = json_string_value(json_object_get(model, "hash"));
    uint64_t unused;
    if (!hash || strlen(hash) != 16 || it_video_id_parse(hash, &unused) < 0)
        IT_FAIL(IT_E_FORMAT, "%s: HEADER: model.hash is missing or not 16 lowercase hex digits", where);
    memcpy(h->model_hash, hash, 17);
    json_t *params = json_object_get(model, "params");
    h->model_params = json_is_integer(params) ? (int64_t)json_integer_value(params) : 0;
    if (json_is_object(json_object_get(model, "config")) && !(h->model_config = dump(json_object_get(model, "config"))))
        IT_FAIL(IT_E_NOMEM, "%s: out of memory", where);
    /* 49 latent frames is the largest window any model takes (tokstream.h) */
    if (get_int(window, "temporal", 1, 193, &h->temporal) < 0 || get_int(window, "overlap", 0, 192, &h->overlap) < 0 ||
        h->overlap >= h->temporal)
        IT_FAIL(IT_E_FORMAT, "%s: HEADER: window.temporal/overlap missing or out of range", where);
    json_t *resize = json_object_get(o, "resize");
    if (json_is_object(resize)) {
        json_t *crop = json_object_get(resize, "crop");
        if (get_int(resize, "short_side", 0, 65536, &h->short_side) < 0)
            IT_FAIL(IT_E_FORMAT, "%s: HEADER: resize.short_side is not an integer in [0, 65536]", where);
        if (json_is_array(crop) && (json_array_size(crop) != 2 || !json_is_integer(json_array_get(crop, 0)) ||
                                    !json_is_integer(json_array_get(crop, 1))))
            IT_FAIL(IT_E_FORMAT, "%s: HEADER: resize.crop is not [w, h]", where);
        if (json_is_array(crop)) {
            json_int_t cw = json_integer_value(json_array_get(crop, 0)), ch = json_integer_value(json_array_get(crop, 1));
            if (cw < 1 || ch < 1 || cw > 65536 || ch > 65536)
                IT_FAIL(IT_E_FORMAT, "%s: HEADER: resize.crop is out of range", where);
            h->crop_w = (int)cw;
            h->crop_h = (int)ch;
        }
    } else if (resize && !json_is_null(resize)) {
        IT_FAIL(IT_E_FORMAT, "%s: HEADER: resize is neither an object nor null", where);
    }
    json_t *rate = json_object_get(o, "rate");
    if (json_is_object(rate)) {
        const char *st = json_string_value(json_object_get(rate, "strategy"));
        json_t *ar = json_object_get(rate, "avg_rate");
        double r = json_number_value(ar);
        if (!st || !strcmp(st, "none") || it_strategy_parse(st, &h->strategy) < 0 || !json_is_number(ar) ||
            !(r > 0 && r <= 1))
            IT_FAIL(IT_E_FORMAT, "%s: HEADER: rate is not {strategy, avg_rate in (0, 1]}", where);
        h->avg_rate = (float)r;
    } else if (rate && !json_is_null(rate)) {
        IT_FAIL(IT_E_FORMAT, "%s: HEADER: rate is neither an object nor null", where);
    }
    json_t *prec = json_object_get(o, "precision");
    if (prec && (!json_is_string(prec) || it_precision_parse(json_string_value(prec), &h->precision) < 0))
        IT_FAIL(IT_E_FORMAT, "%s: HEADER: precision is not \"fp32\" or \"bf16\"", where);
    const char *tool = json_string_value(json_object_get(o, "tool"));
    const char *version = json_string_value(json_object_get(o, "version"));
    json_t *cmd = json_object_get(o, "command");
    if ((tool && !(h->tool = strdup(tool))) || (version && !(h->version = strdup(version))) ||
        (json_is_array(cmd) && !(h->command = dump(cmd))))
        IT_FAIL(IT_E_NOMEM, "%s: out of memory", where);
done:
    json_decref(o);
    if (rc < 0)
        it_stream_header_clear(h);
    return rc;
}

/* Text of a JSON value stored in the header, or json null. */
static json_t *load_or_null(const char *text)
{
    json_error_t e;
    json_t *v = text ? json_loads(text, JSON_DECODE_ANY, &e) : NULL;
    return v ? v : json_null();
}

int it_stream_header_format(const it_stream_header *h, char **json)
{
    *json = NULL;
    json_t *resize = json_null();
    if (h->short_side > 0 || h->crop_w > 0)
        resize = json_pack("{s:i, s:o}", "short_side", h->short_side, "crop",
                           h->crop_w > 0 ? json_pack("[i,i]", h->crop_w, h->crop_h) : json_null());
    json_t *rate = h->strategy == IT_STRATEGY_NONE
                       ? json_null()
                       : json_pack("{s:s, s:f}", "strategy", it_strategy_name(h->strategy), "avg_rate",
                                   (double)h->avg_rate);
    json_t *o = json_pack("{s:{s:o, s:s, s:I}, s:o, s:o, s:o, s:{s:i, s:i}, s:o, s:o, s:s}", "model", "config",
                          load_or_null(h->model_config), "hash", h->model_hash, "params", (json_int_t)h->model_params,
                          "tool", h->tool ? json_string(h->tool) : json_null(), "version",
                          h->version ? json_string(h->version) : json_null(), "command", load_or_null(h->command),
                          "window", "temporal", h->temporal, "overlap", h->overlap, "resize", resize, "rate", rate,
                          "precision", it_precision_name(h->precision));
    *json = dump(o);
    json_decref(o);
    return *json ? 0 : it_error_set(IT_E_NOMEM, "out of memory formatting a stream header");
}

int it_stream_header_compatible(const it_stream_header *a, const char *a_name, const it_stream_header *b,
                                const char *b_name)
{
    if (strcmp(a->model_hash, b->model_hash) != 0)
        return it_error_set(IT_E_INVALID, "%s was made by the model with hash %s, %s by %s", b_name, b->model_hash,
                            a_name, a->model_hash);
    if (a->temporal != b->temporal || a->overlap != b->overlap)
        return it_error_set(IT_E_INVALID, "%s has windows of %d frames overlapping by %d, %s of %d by %d", b_name,
                            b->temporal, b->overlap, a_name, a->temporal, a->overlap);
    if (a->short_side != b->short_side || a->crop_w != b->crop_w || a->crop_h != b->crop_h)
        return it_error_set(IT_E_INVALID, "%s and %s resized or cropped their frames differently", b_name, a_name);
    if (a->precision != b->precision)
        return it_error_set(IT_E_INVALID, "%s was made in %s, %s in %s: tokens of two precisions do not mix", b_name,
                            it_precision_name(b->precision), a_name, it_precision_name(a->precision));
    return 0;
}
