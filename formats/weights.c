/* weights.c: the it_weights object both readers fill in: lookup by name, metadata, the
 * whole-file check against a config's tensor table, and the "every tensor used" bookkeeping.
 * Parsing lives in safetensors.c and torch_pt.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error_internal.h"
#include "formats/weights_internal.h"

int it_weights_alloc(it_weights **out, const char *path)
{
    int rc = 0;
    it_weights *w = calloc(1, sizeof *w);
    IT_CHECK_ALLOC(w, "a weights object");
    w->path = strdup(path ? path : "(memory)");
    if (!w->path) {
        free(w);
        w = NULL;
        IT_FAIL(IT_E_NOMEM, "out of memory allocating a weights object");
    }
    *out = w;
done:
    return rc;
}

int it_weights_own(it_weights *w, void *block)
{
    if (w->nblocks == w->cap_blocks) {
        size_t cap = w->cap_blocks ? 2 * w->cap_blocks : 16;
        void **b = realloc(w->blocks, cap * sizeof *b);
        if (!b) {
            free(block);
            return it_error_set(IT_E_NOMEM, "out of memory");
        }
        w->blocks = b;
        w->cap_blocks = cap;
    }
    w->blocks[w->nblocks++] = block;
    return 0;
}

int it_weights_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > IT_WEIGHTS_MAX_NAME)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '.' || c == ':' || c == '/' || c == '-';
        if (!ok)
            return 0;
    }
    return !(len == 12 && memcmp(name, "__metadata__", 12) == 0);
}

/* qsort has no context argument in C11; the array being sorted is reached through this. */
static _Thread_local const it_tensor_view *sort_views;

static int cmp_index(const void *a, const void *b)
{
    return strcmp(sort_views[*(const size_t *)a].name, sort_views[*(const size_t *)b].name);
}

int it_weights_finalize(it_weights *w)
{
    int rc = 0;
    w->by_name = malloc((w->count ? w->count : 1) * sizeof *w->by_name);
    w->used = calloc(w->count ? w->count : 1, 1);
    IT_CHECK_ALLOC(w->by_name && w->used, "the tensor index");
    for (size_t i = 0; i < w->count; i++)
        w->by_name[i] = i;
    sort_views = w->tensors;
    qsort(w->by_name, w->count, sizeof *w->by_name, cmp_index);
    sort_views = NULL;
    for (size_t i = 1; i < w->count; i++)
        if (strcmp(w->tensors[w->by_name[i - 1]].name, w->tensors[w->by_name[i]].name) == 0)
            IT_FAIL(IT_E_FORMAT, "%s: tensor '%s' appears twice", w->path,
                    w->tensors[w->by_name[i]].name);
done:
    return rc;
}

void it_weights_close(it_weights **pw)
{
    it_weights *w = pw ? *pw : NULL;
    if (!w)
        return;
    for (size_t i = 0; i < w->count; i++)
        free((char *)w->tensors[i].name);
    free(w->tensors);
    free(w->by_name);
    free(w->used);
    for (size_t i = 0; i < w->meta_count; i++) {
        free(w->meta_keys[i]);
        free(w->meta_values[i]);
    }
    free(w->meta_keys);
    free(w->meta_values);
    if (w->map)
        munmap(w->map, w->map_size);
    for (size_t i = 0; i < w->nblocks; i++)
        free(w->blocks[i]);
    free(w->blocks);
    free(w->path);
    free(w);
    *pw = NULL;
}

const char *it_weights_path(const it_weights *w) { return w->path; }
int it_weights_is_pt(const it_weights *w) { return w->is_pt; }
size_t it_weights_count(const it_weights *w) { return w->count; }

const it_tensor_view *it_weights_tensor(const it_weights *w, size_t i)
{
    return i < w->count ? &w->tensors[i] : NULL;
}

static long find_index(const it_weights *w, const char *name)
{
    size_t lo = 0, hi = w->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(w->tensors[w->by_name[mid]].name, name);
        if (c == 0)
            return (long)w->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const it_tensor_view *it_weights_find(const it_weights *w, const char *name)
{
    long i = find_index(w, name);
    return i < 0 ? NULL : &w->tensors[i];
}

const char *it_weights_metadata(const it_weights *w, const char *key)
{
    for (size_t i = 0; i < w->meta_count; i++)
        if (strcmp(w->meta_keys[i], key) == 0)
            return w->meta_values[i];
    return NULL;
}

size_t it_weights_metadata_count(const it_weights *w) { return w->meta_count; }

int it_weights_metadata_at(const it_weights *w, size_t i, const char **key, const char **value)
{
    if (i >= w->meta_count)
        return it_error_set(IT_E_INVALID, "metadata index %zu out of range", i);
    *key = w->meta_keys[i];
    *value = w->meta_values[i];
    return 0;
}

int it_weights_config(const it_weights *w, it_config *cfg)
{
    const char *fmt = it_weights_metadata(w, "format");
    const char *ver = it_weights_metadata(w, "format_version");
    const char *json = it_weights_metadata(w, "config");
    if (w->is_pt)
        return it_error_set(IT_E_NOTFOUND, "%s: a PyTorch checkpoint carries no config", w->path);
    if (!fmt || strcmp(fmt, "infotok-weights") != 0)
        return it_error_set(IT_E_NOTFOUND, "%s: not an infotok weight file (metadata \"format\" is %s%s%s)",
                            w->path, fmt ? "\"" : "", fmt ? fmt : "absent", fmt ? "\"" : "");
    if (!ver || strcmp(ver, "1") != 0)
        return it_error_set(IT_E_UNSUPPORTED, "%s: format_version %s is not supported (this build reads 1)",
                            w->path, ver ? ver : "(absent)");
    if (!json)
        return it_error_set(IT_E_NOTFOUND, "%s: metadata has no \"config\"", w->path);
    char what[1100];
    snprintf(what, sizeof what, "%s: config", w->path);
    return it_config_parse(cfg, json, strlen(json), what);
}

void it_shape_format(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t n = 0;
    if (size == 0)
        return;
    buf[0] = '\0';
    n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

static int same_shape(const it_tensor_view *t, int ndim, const int64_t *shape)
{
    if (t->ndim != ndim)
        return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i])
            return 0;
    return 1;
}

static int shape_error(const it_weights *w, const it_tensor_view *t, int ndim, const int64_t *shape)
{
    char got[160], want[160];
    it_shape_format(got, sizeof got, t->ndim, t->shape);
    it_shape_format(want, sizeof want, ndim, shape);
    return it_error_set(IT_E_SHAPE, "%s: tensor '%s' has shape %s, expected %s", w->path, t->name,
                        got, want);
}

/* The FSQ buffers are functions of the levels (spec §3.6); a file that disagrees was made for
 * another quantiser, and silently using our constants instead would hide that. */
static int check_const(const it_weights *w, const it_tensor_view *t, const it_config *cfg)
{
    int rc = 0;
    int n = cfg->embedding_dim;
    int64_t basis[IT_CONFIG_MAX_FSQ];
    int64_t *ints = NULL;
    float *codes = NULL;
    basis[0] = 1;
    for (int c = 1; c < n; c++)
        basis[c] = basis[c - 1] * cfg->levels[c - 1];

    if (strcmp(t->name, "quantizer._levels") == 0 || strcmp(t->name, "quantizer._basis") == 0) {
        int is_levels = t->name[11] == 'l';
        if (it_dtype_is_float(t->dtype))
            IT_FAIL(IT_E_SHAPE, "%s: tensor '%s' has dtype %s, expected I32 or I64", w->path,
                    t->name, it_dtype_name(t->dtype));
        ints = malloc((size_t)n * sizeof *ints);
        IT_CHECK_ALLOC(ints, "a buffer check");
        IT_TRY(it_tensor_to_i64(t, ints));
        for (int c = 0; c < n; c++) {
            int64_t want = is_levels ? cfg->levels[c] : basis[c];
            if (ints[c] != want)
                IT_FAIL(IT_E_FORMAT, "%s: tensor '%s' holds %lld at [%d], expected %lld (it is rebuilt from the config)",
                        w->path, t->name, (long long)ints[c], c, (long long)want);
        }
    } else if (strcmp(t->name, "quantizer.implicit_codebook") == 0) {
        if (!it_dtype_is_float(t->dtype))
            IT_FAIL(IT_E_SHAPE, "%s: tensor '%s' has dtype %s, expected a float type", w->path,
                    t->name, it_dtype_name(t->dtype));
        codes = malloc((size_t)t->numel * sizeof *codes);
        IT_CHECK_ALLOC(codes, "a codebook check");
        IT_TRY(it_tensor_to_f32(t, codes));
        int64_t size = t->shape[0];
        for (int64_t i = 0; i < size; i++)
            for (int c = 0; c < n; c++) {
                int half = cfg->levels[c] / 2;
                int digit = (int)((i / basis[c]) % cfg->levels[c]);
                float want = (float)(digit - half) / (float)half; /* exact in bf16 */
                if (codes[i * n + c] != want)
                    IT_FAIL(IT_E_FORMAT, "%s: tensor '%s' holds %g at [%lld,%d], expected %g (it is rebuilt from the config)",
                            w->path, t->name, (double)codes[i * n + c], (long long)i, c, (double)want);
            }
    }
done:
    free(ints);
    free(codes);
    return rc;
}

int it_weights_check(const it_weights *w, const it_tensor_table *table)
{
    int rc = 0;
    size_t missing = 0;
    const char *first_missing = NULL;

    /* Extra tensors first: a file for another model shows up as both missing and extra, and the
     * extra name is the more telling of the two. */
    for (size_t i = 0; i < w->count; i++) {
        const it_tensor_view *t = &w->tensors[i];
        if (!it_tensor_table_find(table, t->name))
            IT_FAIL(IT_E_FORMAT, "%s: unexpected tensor '%s' (not part of the model)", w->path, t->name);
    }
    for (size_t i = 0; i < table->count; i++) {
        const it_tensor_spec *s = &table->specs[i];
        const it_tensor_view *t = it_weights_find(w, s->name);
        if (!t) {
            if (s->kind == IT_TENSOR_PARAM && missing++ == 0)
                first_missing = s->name;
            continue;
        }
        if (!same_shape(t, s->ndim, s->shape))
            IT_TRY(shape_error(w, t, s->ndim, s->shape));
        if (s->kind == IT_TENSOR_PARAM || s->kind == IT_TENSOR_STAT) {
            if (!it_dtype_is_float(t->dtype))
                IT_FAIL(IT_E_SHAPE, "%s: tensor '%s' has dtype %s, expected a float type", w->path,
                        t->name, it_dtype_name(t->dtype));
        } else {
            IT_TRY(check_const(w, t, &table->config));
        }
    }
    if (missing == 1)
        IT_FAIL(IT_E_NOTFOUND, "%s: tensor '%s' is missing", w->path, first_missing);
    if (missing > 1)
        IT_FAIL(IT_E_NOTFOUND, "%s: tensor '%s' is missing (and %zu more)", w->path, first_missing,
                missing - 1);
done:
    return rc;
}

int it_weights_require(it_weights *w, const char *name, int ndim, const int64_t *shape,
                       const it_tensor_view **out)
{
    long i = find_index(w, name);
    if (i < 0)
        return it_error_set(IT_E_NOTFOUND, "%s: tensor '%s' is missing", w->path, name);
    const it_tensor_view *t = &w->tensors[i];
    if (!same_shape(t, ndim, shape))
        return shape_error(w, t, ndim, shape);
    w->used[i] = 1;
    *out = t;
    return 0;
}

int it_weights_check_all_used(const it_weights *w, const it_tensor_table *table)
{
    for (size_t i = 0; i < w->count; i++) {
        if (w->used[i])
            continue;
        const it_tensor_spec *s = table ? it_tensor_table_find(table, w->tensors[i].name) : NULL;
        if (s && s->kind != IT_TENSOR_PARAM)
            continue;
        return it_error_set(IT_E_FORMAT, "%s: tensor '%s' was never used by the network", w->path,
                            w->tensors[i].name);
    }
    return 0;
}

int it_weights_open_any(it_weights **out, const char *path)
{
    unsigned char magic[9] = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return it_error_set(IT_E_IO, "%s: %s", path, strerror(errno));
    ssize_t n = read(fd, magic, sizeof magic);
    int err = errno;
    close(fd);
    if (n < 0)
        return it_error_set(IT_E_IO, "%s: %s", path, strerror(err));
    /* A native file starts with its header length and then '{'; "PK\3\4" read as a length is
     * 67 MB, so the '{' decides. */
    if (n == 9 && memcmp(magic, "PK\x03\x04", 4) == 0 && !(magic[4] == 0 && magic[5] == 0 &&
                                                          magic[6] == 0 && magic[7] == 0 && magic[8] == '{'))
        return it_weights_open_pt(out, path);
    /* The legacy torch.save format opens with the pickled magic number 0x1950a86a20f9469cfc6c
     * (PROTO 2, LONG1 of 10 bytes); as a header length that would exceed the format's limit. */
    if (n >= 4 && memcmp(magic, "\x80\x02\x8a\x0a", 4) == 0)
        return it_error_set(IT_E_UNSUPPORTED,
                            "%s: the legacy torch.save format (before PyTorch 1.6) is not supported; re-save it with a current PyTorch",
                            path);
    return it_weights_open(out, path);
}
