/* safetensors.c: the native weight format, which is the safetensors layout:
 *   u64 N (little-endian) | N bytes of JSON header | data section
 * The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
 * relative to the data section) plus "__metadata__", a string-to-string object. As in the
 * reference implementation, the tensors must tile the data section exactly: no gaps, no
 * overlaps, nothing after the last one, so no bytes of the file go unchecked.
 * The reader mmaps the file; the writer writes a temporary file and renames it. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error_internal.h"
#include "formats/weights_internal.h"
#include "kernels/it_kernels.h"

/* ---- reading ------------------------------------------------------------------------------ */

typedef struct span { uint64_t begin, end; size_t index; } span;

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

static int read_u64_array(const it_weights *w, const char *name, const char *field, json_t *arr,
                          int max_len, int *len, uint64_t *out)
{
    size_t n;
    json_t *v;
    if (!json_is_array(arr))
        return it_error_set(IT_E_FORMAT, "%s: tensor '%s': \"%s\" is not an array", w->path, name, field);
    n = json_array_size(arr);
    if (n > (size_t)max_len)
        return it_error_set(IT_E_UNSUPPORTED, "%s: tensor '%s': \"%s\" has %zu entries, at most %d are supported",
                            w->path, name, field, n, max_len);
    size_t i;
    json_array_foreach(arr, i, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return it_error_set(IT_E_FORMAT, "%s: tensor '%s': \"%s\"[%zu] is not a non-negative integer",
                                w->path, name, field, i);
        out[i] = (uint64_t)json_integer_value(v);
    }
    *len = (int)n;
    return 0;
}

static int parse_tensor(it_weights *w, const char *name, json_t *obj, it_tensor_view *t,
                        span *sp, uint64_t data_len)
{
    int rc = 0;
    const char *key;
    json_t *v, *jdtype = NULL, *jshape = NULL, *joffs = NULL;
    uint64_t dims[IT_MAX_DIMS], offs[2];
    int ndim = 0, noffs = 0;

    if (!json_is_object(obj))
        IT_FAIL(IT_E_FORMAT, "%s: tensor '%s' is not described by a JSON object", w->path, name);
    json_object_foreach(obj, key, v) {
        if (strcmp(key, "dtype") == 0)
            jdtype = v;
        else if (strcmp(key, "shape") == 0)
            jshape = v;
        else if (strcmp(key, "data_offsets") == 0)
            joffs = v;
        else
            IT_FAIL(IT_E_FORMAT, "%s: tensor '%s' has an unknown field \"%.64s\"", w->path, name, key);
    }
    if (!jdtype || !jshape || !joffs)
        IT_FAIL(IT_E_FORMAT, "%s: tensor '%s' lacks \"%s\"", w->path, name,
                !jdtype ? "dtype" : !jshape ? "shape" : "data_offsets");
    if (!json_is_string(jdtype))
        IT_FAIL(IT_E_FORMAT, "%s: tensor '%s': \"dtype\" is not a string", w->path, name);
    if (it_dtype_from_name(json_string_value(jdtype), &t->dtype) < 0)
        IT_FAIL(IT_E_UNSUPPORTED, "%s: tensor '%s' has dtype \"%.32s\"; supported: F32, BF16, F16, I32, I64, U8",
                w->path, name, json_string_value(jdtype));
    IT_TRY(read_u64_array(w, name, "shape", jshape, IT_MAX_DIMS, &ndim, dims));
    IT_TRY(read_u64_array(w, name, "data_offsets", joffs, 2, &noffs, offs));
    if (noffs != 2)
        IT_FAIL(IT_E_FORMAT, "%s: tensor '%s': \"data_offsets\" must hold [begin, end]", w->path, name);

    /* The element count is bounded by the data size before each multiplication, so nothing
     * overflows; a zero dimension makes an empty tensor whatever the others are. */
    uint64_t numel = 1;
    int zero = 0, too_big = 0;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = (int64_t)dims[i];
        zero |= dims[i] == 0;
    }
    for (int i = 0; i < ndim && !zero; i++) {
        if (numel > data_len / dims[i]) {
            too_big = 1;
            break;
        }
        numel *= dims[i];
    }
    if (zero)
        numel = 0;
    uint64_t esize = it_dtype_size(t->dtype);
    too_big |= numel > UINT64_MAX / esize;
    if (offs[0] > offs[1] || offs[1] > data_len)
        IT_FAIL(IT_E_FORMAT, "%s: tensor '%s' has data_offsets [%llu, %llu] outside the data section (%llu bytes)",
                w->path, name, (unsigned long long)offs[0], (unsigned long long)offs[1],
                (unsigned long long)data_len);
    if (too_big || offs[1] - offs[0] != numel * esize) {
        char shp[160], need[64];
        it_shape_format(shp, sizeof shp, ndim, t->shape);
        if (too_big)
            snprintf(need, sizeof need, "more than the whole data section");
        else
            snprintf(need, sizeof need, "%llu", (unsigned long long)(numel * esize));
        IT_FAIL(IT_E_FORMAT, "%s: tensor '%s' spans %llu bytes, but shape %s of %s needs %s",
                w->path, name, (unsigned long long)(offs[1] - offs[0]), shp,
                it_dtype_name(t->dtype), need);
    }
    t->ndim = ndim;
    t->numel = (int64_t)numel;
    t->nbytes = (size_t)(numel * esize);
    sp->begin = offs[0];
    sp->end = offs[1];
done:
    return rc;
}

static int parse_metadata(it_weights *w, json_t *obj)
{
    int rc = 0;
    const char *key;
    json_t *v;
    if (!json_is_object(obj))
        IT_FAIL(IT_E_FORMAT, "%s: \"__metadata__\" is not a JSON object", w->path);
    size_t n = json_object_size(obj);
    w->meta_keys = calloc(n ? n : 1, sizeof *w->meta_keys);
    w->meta_values = calloc(n ? n : 1, sizeof *w->meta_values);
    IT_CHECK_ALLOC(w->meta_keys && w->meta_values, "metadata");
    json_object_foreach(obj, key, v) {
        if (!json_is_string(v))
            IT_FAIL(IT_E_FORMAT, "%s: metadata \"%.64s\" is not a string", w->path, key);
        char *k = strdup(key), *s = strdup(json_string_value(v));
        if (!k || !s) {
            free(k);
            free(s);
            IT_FAIL(IT_E_NOMEM, "out of memory reading metadata");
        }
        w->meta_keys[w->meta_count] = k;
        w->meta_values[w->meta_count] = s;
        w->meta_count++;
    }
done:
    return rc;
}

int it_safetensors_parse(it_weights *w, const unsigned char *data, size_t size)
{
    int rc = 0;
    json_t *root = NULL;
    span *spans = NULL;
    json_error_t jerr;

    if (size < 8)
        IT_FAIL(IT_E_TRUNCATED, "%s: file is %zu bytes, too short for a weight file header", w->path, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | data[i];
    if (n > IT_WEIGHTS_MAX_HEADER)
        IT_FAIL(IT_E_FORMAT, "%s: header length %llu exceeds the limit of %llu bytes (not a weight file?)",
                w->path, (unsigned long long)n, (unsigned long long)IT_WEIGHTS_MAX_HEADER);
    if (n > size - 8)
        IT_FAIL(IT_E_TRUNCATED, "%s: header length %llu runs past the end of the file (%zu bytes)",
                w->path, (unsigned long long)n, size);
    if (n < 2 || data[8] != '{')
        IT_FAIL(IT_E_FORMAT, "%s: header is not a JSON object (not a weight file?)", w->path);
    root = json_loadb((const char *)data + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        IT_FAIL(IT_E_FORMAT, "%s: header is not valid JSON: %s (at byte %d of the header)", w->path,
                jerr.text, jerr.position);
    if (!json_is_object(root))
        IT_FAIL(IT_E_FORMAT, "%s: header is not a JSON object", w->path);

    const unsigned char *base = data + 8 + n;
    uint64_t data_len = size - 8 - n;
    size_t cap = json_object_size(root);
    if (cap > IT_WEIGHTS_MAX_TENSORS)
        IT_FAIL(IT_E_UNSUPPORTED, "%s: header lists %zu tensors, more than the limit of %d", w->path,
                cap, IT_WEIGHTS_MAX_TENSORS);
    w->tensors = calloc(cap ? cap : 1, sizeof *w->tensors);
    spans = calloc(cap ? cap : 1, sizeof *spans);
    IT_CHECK_ALLOC(w->tensors && spans, "the tensor list");

    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            IT_TRY(parse_metadata(w, v));
            continue;
        }
        if (!it_weights_name_ok(key, strlen(key)))
            IT_FAIL(IT_E_FORMAT, "%s: tensor name \"%.80s\" is not allowed (1-255 characters of A-Z a-z 0-9 _ . : / -)",
                    w->path, key);
        it_tensor_view *t = &w->tensors[w->count];
        IT_TRY(parse_tensor(w, key, v, t, &spans[w->count], data_len));
        t->name = strdup(key);
        IT_CHECK_ALLOC(t->name, "a tensor name");
        t->data = base + spans[w->count].begin;
        spans[w->count].index = w->count;
        w->count++;
    }

    /* Tile check: sorted by begin, each tensor starts where the previous ended. */
    qsort(spans, w->count, sizeof *spans, cmp_span);
    uint64_t pos = 0;
    for (size_t i = 0; i < w->count; i++) {
        const char *name = w->tensors[spans[i].index].name;
        if (spans[i].begin < pos)
            IT_FAIL(IT_E_FORMAT, "%s: tensor '%s' (bytes %llu-%llu) overlaps tensor '%s'", w->path, name,
                    (unsigned long long)spans[i].begin, (unsigned long long)spans[i].end,
                    w->tensors[spans[i - 1].index].name);
        if (spans[i].begin > pos)
            IT_FAIL(IT_E_FORMAT, "%s: %llu unused bytes before tensor '%s' in the data section", w->path,
                    (unsigned long long)(spans[i].begin - pos), name);
        pos = spans[i].end;
    }
    if (pos != data_len)
        IT_FAIL(IT_E_FORMAT, "%s: %llu bytes after the last tensor in the data section (tensors end at %llu of %llu)",
                w->path, (unsigned long long)(data_len - pos), (unsigned long long)pos,
                (unsigned long long)data_len);
    IT_TRY(it_weights_finalize(w));
done:
    json_decref(root);
    free(spans);
    return rc;
}

int it_weights_open_safetensors_memory(it_weights **out, const void *data, size_t size,
                                       const char *name)
{
    int rc = 0;
    it_weights *w = NULL;
    IT_TRY(it_weights_alloc(&w, name));
    IT_TRY(it_safetensors_parse(w, data, size));
    *out = w;
    w = NULL;
done:
    it_weights_close(&w);
    return rc;
}

int it_weights_open(it_weights **out, const char *path)
{
    int rc = 0;
    it_weights *w = NULL;
    int fd = -1;
    struct stat st;

    IT_TRY(it_weights_alloc(&w, path));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        IT_FAIL(IT_E_IO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0)
        IT_FAIL(IT_E_IO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        IT_FAIL(IT_E_IO, "%s: not a regular file", path);
    if (st.st_size < 8)
        IT_FAIL(IT_E_TRUNCATED, "%s: file is %lld bytes, too short for a weight file header", path,
                (long long)st.st_size);
    w->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (w->map == MAP_FAILED) {
        w->map = NULL;
        IT_FAIL(IT_E_IO, "%s: mmap: %s", path, strerror(errno));
    }
    w->map_size = (size_t)st.st_size;
    IT_TRY(it_safetensors_parse(w, w->map, w->map_size));
    *out = w;
    w = NULL;
done:
    if (fd >= 0)
        close(fd);
    it_weights_close(&w);
    return rc;
}

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct wentry {
    char *name;
    it_dtype src, out;
    int ndim;
    int64_t shape[IT_MAX_DIMS];
    int64_t numel;
    const void *data;
    uint64_t begin;
} wentry;

struct it_weights_writer {
    char *path;
    wentry *e;
    size_t n, cap;
    char **mkeys, **mvalues;
    size_t mn, mcap;
};

int it_weights_writer_new(it_weights_writer **out, const char *path)
{
    it_weights_writer *wr = calloc(1, sizeof *wr);
    if (!wr || !(wr->path = strdup(path))) {
        free(wr);
        return it_error_set(IT_E_NOMEM, "out of memory creating a weights writer");
    }
    *out = wr;
    return 0;
}

void it_weights_writer_free(it_weights_writer **pwr)
{
    it_weights_writer *wr = pwr ? *pwr : NULL;
    if (!wr)
        return;
    for (size_t i = 0; i < wr->n; i++)
        free(wr->e[i].name);
    free(wr->e);
    for (size_t i = 0; i < wr->mn; i++) {
        free(wr->mkeys[i]);
        free(wr->mvalues[i]);
    }
    free(wr->mkeys);
    free(wr->mvalues);
    free(wr->path);
    free(wr);
    *pwr = NULL;
}

int it_weights_writer_set_metadata(it_weights_writer *wr, const char *key, const char *value)
{
    if (!key[0] || strcmp(key, "format") == 0 || strcmp(key, "format_version") == 0)
        return it_error_set(IT_E_INVALID, "%s: metadata key \"%s\" is reserved", wr->path, key);
    char *v = strdup(value);
    if (!v)
        return it_error_set(IT_E_NOMEM, "out of memory");
    for (size_t i = 0; i < wr->mn; i++)
        if (strcmp(wr->mkeys[i], key) == 0) {
            free(wr->mvalues[i]);
            wr->mvalues[i] = v;
            return 0;
        }
    if (wr->mn == wr->mcap) {
        size_t cap = wr->mcap ? 2 * wr->mcap : 8;
        char **k = realloc(wr->mkeys, cap * sizeof *k);
        if (k)
            wr->mkeys = k;
        char **vv = k ? realloc(wr->mvalues, cap * sizeof *vv) : NULL;
        if (!k || !vv) {
            free(v);
            return it_error_set(IT_E_NOMEM, "out of memory");
        }
        wr->mvalues = vv;
        wr->mcap = cap;
    }
    wr->mkeys[wr->mn] = strdup(key);
    if (!wr->mkeys[wr->mn]) {
        free(v);
        return it_error_set(IT_E_NOMEM, "out of memory");
    }
    wr->mvalues[wr->mn++] = v;
    return 0;
}

int it_weights_writer_set_config(it_weights_writer *wr, const it_config *cfg)
{
    char *json = NULL;
    int rc = it_config_validate(cfg, wr->path);
    if (rc < 0)
        return rc;
    if ((rc = it_config_to_json(cfg, &json)) < 0)
        return rc;
    rc = it_weights_writer_set_metadata(wr, "config", json);
    free(json);
    return rc;
}

static int add_entry(it_weights_writer *wr, const char *name, it_dtype src, it_dtype out, int ndim,
                     const int64_t *shape, const void *data)
{
    if (!it_weights_name_ok(name, strlen(name)))
        return it_error_set(IT_E_INVALID, "%s: tensor name \"%.80s\" is not allowed", wr->path, name);
    if ((unsigned)src >= IT_DTYPE_COUNT || (unsigned)out >= IT_DTYPE_COUNT)
        return it_error_set(IT_E_INVALID, "%s: tensor '%s': invalid dtype", wr->path, name);
    if (src != out && !(it_dtype_is_float(src) && (out == IT_DTYPE_F32 || out == IT_DTYPE_BF16)))
        return it_error_set(IT_E_UNSUPPORTED, "%s: tensor '%s': cannot store %s as %s", wr->path, name,
                            it_dtype_name(src), it_dtype_name(out));
    if (ndim < 0 || ndim > IT_MAX_DIMS)
        return it_error_set(IT_E_INVALID, "%s: tensor '%s': %d dimensions", wr->path, name, ndim);
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] && numel > ((int64_t)1 << 56) / shape[i]))
            return it_error_set(IT_E_INVALID, "%s: tensor '%s': invalid shape", wr->path, name);
        numel *= shape[i];
    }
    if (numel && !data)
        return it_error_set(IT_E_INVALID, "%s: tensor '%s': no data", wr->path, name);
    if (wr->n == wr->cap) {
        size_t cap = wr->cap ? 2 * wr->cap : 64;
        wentry *e = realloc(wr->e, cap * sizeof *e);
        if (!e)
            return it_error_set(IT_E_NOMEM, "out of memory");
        wr->e = e;
        wr->cap = cap;
    }
    wentry *e = &wr->e[wr->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name)))
        return it_error_set(IT_E_NOMEM, "out of memory");
    e->src = src;
    e->out = out;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        e->shape[i] = shape[i];
    e->numel = numel;
    e->data = data;
    wr->n++;
    return 0;
}

int it_weights_writer_add(it_weights_writer *wr, const char *name, it_dtype dtype, int ndim,
                          const int64_t *shape, const void *data)
{
    return add_entry(wr, name, dtype, dtype, ndim, shape, data);
}

int it_weights_writer_add_view(it_weights_writer *wr, const it_tensor_view *t, it_dtype out_dtype)
{
    return add_entry(wr, t->name, t->dtype, out_dtype, t->ndim, t->shape, t->data);
}

/* Larger elements first, so that every tensor starts aligned to its element size without any
 * padding between tensors (the format forbids gaps). Ties keep the order of addition. */
static int cmp_align(const void *a, const void *b)
{
    const wentry *x = *(const wentry *const *)a, *y = *(const wentry *const *)b;
    size_t sx = it_dtype_size(x->out), sy = it_dtype_size(y->out);
    if (sx != sy)
        return sx > sy ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const wentry *const *)a)->name, (*(const wentry *const *)b)->name);
}

static int write_all(FILE *f, const void *p, size_t n)
{
    return n == 0 || fwrite(p, 1, n, f) == n ? 0 : -1;
}

/* Write one tensor's data, converting in blocks through a small buffer. */
static int write_data(FILE *f, const wentry *e)
{
    size_t ssize = it_dtype_size(e->src), osize = it_dtype_size(e->out);
    const unsigned char *src = e->data;
    if (e->src == e->out)
        return write_all(f, src, (size_t)e->numel * ssize);
    enum { BLOCK = 16384 };
    unsigned char buf[BLOCK * 4];
    for (int64_t i = 0; i < e->numel; i += BLOCK) {
        int64_t m = e->numel - i < BLOCK ? e->numel - i : BLOCK;
        for (int64_t j = 0; j < m; j++) {
            const unsigned char *p = src + (size_t)(i + j) * ssize;
            float v;
            uint16_t h;
            if (e->src == IT_DTYPE_F32) {
                memcpy(&v, p, 4);
            } else {
                memcpy(&h, p, 2);
                v = e->src == IT_DTYPE_BF16 ? it_bf16_to_f32(h) : it_f16_to_f32(h);
            }
            if (e->out == IT_DTYPE_F32) {
                memcpy(buf + 4 * j, &v, 4);
            } else {
                h = it_bf16_from_f32(v);
                memcpy(buf + 2 * j, &h, 2);
            }
        }
        if (write_all(f, buf, (size_t)m * osize) < 0)
            return -1;
    }
    return 0;
}

int it_weights_writer_finish(it_weights_writer **pwr)
{
    int rc = 0;
    it_weights_writer *wr = *pwr;
    json_t *root = NULL, *meta = NULL;
    char *hdr = NULL, *tmp = NULL;
    wentry **order = NULL;
    FILE *f = NULL;
    int fd = -1;

    order = malloc((wr->n ? wr->n : 1) * sizeof *order);
    IT_CHECK_ALLOC(order, "the tensor order");
    for (size_t i = 0; i < wr->n; i++)
        order[i] = &wr->e[i];
    qsort(order, wr->n, sizeof *order, cmp_name);
    for (size_t i = 1; i < wr->n; i++)
        if (strcmp(order[i - 1]->name, order[i]->name) == 0)
            IT_FAIL(IT_E_INVALID, "%s: tensor '%s' was added twice", wr->path, order[i]->name);
    for (size_t i = 0; i < wr->n; i++)
        order[i] = &wr->e[i];
    qsort(order, wr->n, sizeof *order, cmp_align);

    root = json_object();
    meta = json_object();
    IT_CHECK_ALLOC(root && meta, "the header");
    int bad = json_object_set_new(meta, "format", json_string("infotok-weights"));
    bad |= json_object_set_new(meta, "format_version", json_string("1"));
    for (size_t i = 0; i < wr->mn; i++)
        bad |= json_object_set_new(meta, wr->mkeys[i], json_string(wr->mvalues[i]));
    if (bad)
        IT_FAIL(IT_E_INVALID, "%s: metadata is not valid UTF-8", wr->path);
    bad = json_object_set(root, "__metadata__", meta);
    uint64_t pos = 0;
    for (size_t i = 0; i < wr->n; i++) {
        wentry *e = order[i];
        uint64_t nbytes = (uint64_t)e->numel * it_dtype_size(e->out);
        json_t *shape = json_array(), *t = json_object();
        if (!shape || !t) {
            json_decref(shape);
            json_decref(t);
            IT_FAIL(IT_E_NOMEM, "out of memory building the header");
        }
        for (int d = 0; d < e->ndim; d++)
            bad |= json_array_append_new(shape, json_integer(e->shape[d]));
        bad |= json_object_set_new(t, "dtype", json_string(it_dtype_name(e->out)));
        bad |= json_object_set_new(t, "shape", shape);
        bad |= json_object_set_new(t, "data_offsets",
                                   json_pack("[II]", (json_int_t)pos, (json_int_t)(pos + nbytes)));
        bad |= json_object_set_new(root, e->name, t);
        e->begin = pos;
        pos += nbytes;
    }
    if (bad)
        IT_FAIL(IT_E_NOMEM, "out of memory building the header");
    hdr = json_dumps(root, JSON_COMPACT);
    IT_CHECK_ALLOC(hdr, "the header");
    size_t hlen = strlen(hdr);
    /* Pad with spaces (valid JSON whitespace) so that the data section starts 64-byte aligned
     * in the file, and so in an mmap. */
    size_t padded = (8 + hlen + 63) / 64 * 64 - 8;
    if (padded > IT_WEIGHTS_MAX_HEADER)
        IT_FAIL(IT_E_INVALID, "%s: header of %zu bytes exceeds the format's limit", wr->path, padded);

    size_t tlen = strlen(wr->path) + 16;
    tmp = malloc(tlen);
    IT_CHECK_ALLOC(tmp, "a file name");
    snprintf(tmp, tlen, "%s.tmp.XXXXXX", wr->path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        tmp = NULL;
        IT_FAIL(IT_E_IO, "%s: cannot create a temporary file beside it: %s", wr->path, strerror(errno));
    }
    if (fchmod(fd, 0644) < 0)
        IT_FAIL(IT_E_IO, "%s: %s", tmp, strerror(errno));
    f = fdopen(fd, "wb");
    if (!f)
        IT_FAIL(IT_E_IO, "%s: %s", tmp, strerror(errno));
    fd = -1;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int werr = write_all(f, len8, 8) | write_all(f, hdr, hlen);
    for (size_t i = hlen; i < padded && !werr; i++)
        werr = fputc(' ', f) == EOF;
    for (size_t i = 0; i < wr->n && !werr; i++)
        werr = write_data(f, order[i]);
    if (werr || fflush(f) != 0 || fsync(fileno(f)) != 0)
        IT_FAIL(IT_E_IO, "%s: write failed: %s", tmp, strerror(errno));
    int cerr = fclose(f);
    f = NULL;
    if (cerr != 0)
        IT_FAIL(IT_E_IO, "%s: write failed: %s", tmp, strerror(errno));
    if (rename(tmp, wr->path) != 0)
        IT_FAIL(IT_E_IO, "%s: cannot rename %s into place: %s", wr->path, tmp, strerror(errno));
    free(tmp);
    tmp = NULL;
done:
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(hdr);
    free(order);
    json_decref(meta);
    json_decref(root);
    it_weights_writer_free(pwr);
    return rc;
}
