/* torch_pt.c: the official PyTorch checkpoint (torch.save's zip format, PyTorch >= 1.6):
 *   <prefix>/data.pkl      the pickled object; tensors refer to storages by persistent id
 *   <prefix>/data/<key>    one raw little-endian storage per key
 *   <prefix>/byteorder     "little" (PyTorch >= 2.1; absent means little)
 *   <prefix>/version       the serialization version
 * The archive is read twice through libarchive: once for the small entries, and, once the
 * pickle has said which storages the network needs, once more for those storages only (EMA
 * copies and optimizer state are skipped, never loaded). Only ckpt["model"] (or the flat dict)
 * entries named "network.*" are kept, with the prefix stripped, as the official loader does. */
#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "formats/pickle_internal.h"
#include "formats/weights_internal.h"

#define MAX_ENTRIES 1000000
#define MAX_ENTRY_NAME 1024

typedef struct zsrc { const char *path; const void *mem; size_t size; const char *what; } zsrc;

static int zopen(const zsrc *src, struct archive **out)
{
    int rc = 0;
    struct archive *a = archive_read_new();
    IT_CHECK_ALLOC(a, "an archive reader");
    /* The seekable reader trusts the central directory, as PyTorch and Python's zipfile do. */
    archive_read_support_format_zip_seekable(a);
    int r = src->mem ? archive_read_open_memory(a, src->mem, src->size)
                     : archive_read_open_filename(a, src->path, 1 << 16);
    if (r != ARCHIVE_OK)
        IT_FAIL(IT_E_FORMAT, "%s: not a readable zip archive: %s", src->what,
                archive_error_string(a) ? archive_error_string(a) : "unknown error");
    *out = a;
    a = NULL;
done:
    if (a)
        archive_read_free(a);
    return rc;
}

/* Read the current entry whole, refusing more than max bytes. Memory grows with the data
 * actually read, never with a size the archive claims. A CRC mismatch surfaces here, as a
 * warning from libarchive at the end of the entry, and is an error. */
static int read_entry(struct archive *a, const char *what, const char *name, size_t max,
                      unsigned char **out, size_t *len)
{
    int rc = 0;
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 65536) {
            size_t ncap = cap ? 2 * cap : 65536;
            if (ncap > max + 65536)
                ncap = max + 65536;
            if (ncap <= cap)
                IT_FAIL(IT_E_FORMAT, "%s: member '%s' is larger than %zu bytes", what, name, max);
            unsigned char *b = realloc(buf, ncap);
            IT_CHECK_ALLOC(b, "an archive member");
            buf = b;
            cap = ncap;
        }
        la_ssize_t r = archive_read_data(a, buf + n, cap - n);
        if (r < 0)
            IT_FAIL(IT_E_FORMAT, "%s: member '%s' is corrupt: %s", what, name,
                    archive_error_string(a) ? archive_error_string(a) : "read error");
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max)
            IT_FAIL(IT_E_FORMAT, "%s: member '%s' is larger than %zu bytes", what, name, max);
    }
    *out = buf;
    *len = n;
    buf = NULL;
done:
    free(buf);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A network tensor found in the pickle, before its storage is loaded. */
typedef struct ptensor {
    char *name;        /* without "network." */
    const pk_tensor *t;
    size_t slot;       /* index in the needed-storage list */
} ptensor;

typedef struct needed {
    const char *key;
    pk_dtype dtype;
    int64_t numel;
    unsigned char *data;
    size_t len;
    int loaded;
} needed;

static int cmp_ptensor_key(const void *a, const void *b)
{
    const ptensor *x = *(ptensor *const *)a, *y = *(ptensor *const *)b;
    return strcmp(x->t->storage->u.storage.key, y->t->storage->u.storage.key);
}

static int cmp_needed_key(const void *a, const void *b)
{
    return strcmp(((const needed *)a)->key, ((const needed *)b)->key);
}

static int is_contiguous(const pk_tensor *t)
{
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->size[d] != 1 && t->stride[d] != expect)
            return 0;
        expect *= t->size[d];
    }
    return 1;
}

/* Copy a strided view into a packed row-major buffer, converting float64 to float32. */
static void gather(const pk_tensor *t, const unsigned char *src, size_t esize, int to_f32,
                   unsigned char *dst, int64_t numel)
{
    int64_t idx[PK_MAX_DIMS] = {0};
    size_t osize = to_f32 ? 4 : esize;
    for (int64_t i = 0; i < numel; i++) {
        int64_t off = t->offset;
        for (int d = 0; d < t->ndim; d++)
            off += idx[d] * t->stride[d];
        const unsigned char *p = src + (size_t)off * esize;
        if (to_f32) {
            double v;
            memcpy(&v, p, 8);
            /* Converting an out-of-range double to float is undefined in C: saturate. */
            float f = v > 3.4028234663852886e38 ? (float)__builtin_inf()
                    : v < -3.4028234663852886e38 ? -(float)__builtin_inf() : (float)v;
            memcpy(dst + (size_t)i * osize, &f, 4);
        } else {
            memcpy(dst + (size_t)i * osize, p, esize);
        }
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->size[d])
                break;
            idx[d] = 0;
        }
    }
}

static int map_dtype(pk_dtype p, it_dtype *d)
{
    switch (p) {
    case PK_F32: *d = IT_DTYPE_F32; return 0;
    case PK_BF16: *d = IT_DTYPE_BF16; return 0;
    case PK_F16: *d = IT_DTYPE_F16; return 0;
    case PK_I32: *d = IT_DTYPE_I32; return 0;
    case PK_I64: *d = IT_DTYPE_I64; return 0;
    case PK_F64: *d = IT_DTYPE_F32; return 0; /* converted on load */
    case PK_U8: *d = IT_DTYPE_U8; return 0;
    default: return -1;
    }
}

static int open_pt(it_weights **out, const zsrc *src)
{
    int rc = 0;
    it_weights *w = NULL;
    struct archive *a = NULL;
    struct archive_entry *e;
    pk_vm *vm = NULL;
    pk_obj *root = NULL;
    unsigned char *pkl = NULL, *small = NULL;
    size_t pkl_len = 0;
    char *prefix = NULL, **names = NULL;
    size_t nnames = 0, cap_names = 0;
    ptensor *pts = NULL, **order = NULL;
    needed *need = NULL;
    size_t npts = 0, nneed = 0;
    char what[1100];
    char byteorder[17] = "", version[17] = "";
    char byteorder_prefix[MAX_ENTRY_NAME + 1] = "", version_prefix[MAX_ENTRY_NAME + 1] = "";

    IT_TRY(it_weights_alloc(&w, src->what));
    w->is_pt = 1;

    /* Pass 1: list the members, read data.pkl, byteorder and version. */
    IT_TRY(zopen(src, &a));
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (!name || !name[0] || strlen(name) > MAX_ENTRY_NAME)
            IT_FAIL(IT_E_FORMAT, "%s: archive member with an empty or overlong name", src->what);
        if (nnames >= MAX_ENTRIES)
            IT_FAIL(IT_E_UNSUPPORTED, "%s: more than %d archive members", src->what, MAX_ENTRIES);
        if (nnames == cap_names) {
            size_t c = cap_names ? 2 * cap_names : 64;
            char **nn = realloc(names, c * sizeof *nn);
            IT_CHECK_ALLOC(nn, "the member list");
            names = nn;
            cap_names = c;
        }
        IT_CHECK_ALLOC(names[nnames] = strdup(name), "a member name");
        nnames++;
        const char *slash = strchr(name, '/');
        if (!slash || strchr(slash + 1, '/'))
            continue; /* data/<key> and anything deeper is for pass 2 */
        const char *leaf = slash + 1;
        size_t plen = (size_t)(slash - name);
        if (strcmp(leaf, "data.pkl") == 0) {
            if (prefix)
                IT_FAIL(IT_E_FORMAT, "%s: more than one data.pkl ('%s/data.pkl' and '%s')", src->what, prefix, name);
            IT_CHECK_ALLOC(prefix = strndup(name, plen), "a member name");
            snprintf(what, sizeof what, "%s: %s", src->what, name);
            IT_TRY(read_entry(a, src->what, name, PK_MAX_INPUT, &pkl, &pkl_len));
        } else if (strcmp(leaf, "byteorder") == 0 || strcmp(leaf, "version") == 0) {
            int is_bo = leaf[0] == 'b';
            size_t len = 0;
            IT_TRY(read_entry(a, src->what, name, 16, &small, &len));
            char *dst = is_bo ? byteorder : version;
            memcpy(dst, small, len);
            dst[len] = '\0';
            snprintf(is_bo ? byteorder_prefix : version_prefix, MAX_ENTRY_NAME + 1, "%.*s", (int)plen, name);
            free(small);
            small = NULL;
        }
    }
    if (r != ARCHIVE_EOF)
        IT_FAIL(IT_E_FORMAT, "%s: corrupt zip archive: %s", src->what,
                archive_error_string(a) ? archive_error_string(a) : "read error");
    archive_read_free(a);
    a = NULL;
    if (!prefix)
        IT_FAIL(IT_E_FORMAT, "%s: no <name>/data.pkl member: not a torch.save checkpoint", src->what);
    qsort(names, nnames, sizeof *names, cmp_str);
    for (size_t i = 1; i < nnames; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            IT_FAIL(IT_E_FORMAT, "%s: member '%s' appears twice in the archive", src->what, names[i]);
    if (byteorder[0] && strcmp(byteorder_prefix, prefix) == 0 && strcmp(byteorder, "little") != 0)
        IT_FAIL(IT_E_UNSUPPORTED, "%s: byteorder is \"%.16s\"; only little-endian checkpoints are supported",
                src->what, byteorder);
    if (version[0] && strcmp(version_prefix, prefix) == 0) {
        char *end;
        long v = strtol(version, &end, 10);
        if (end == version || (*end && strcmp(end, "\n") != 0) || v < 1 || v > 100)
            IT_FAIL(IT_E_FORMAT, "%s: version member holds \"%.16s\", not a version number", src->what, version);
    }

    /* The pickle: find the state dict and its network tensors. */
    IT_TRY(pk_run(&vm, pkl, pkl_len, what, &root));
    free(pkl);
    pkl = NULL;
    if (root->type != PK_DICT)
        IT_FAIL(IT_E_FORMAT, "%s: the checkpoint is not a dict", what);
    const pk_obj *sd = pk_dict_get(root, "model");
    if (sd && sd->type != PK_DICT)
        IT_FAIL(IT_E_FORMAT, "%s: ckpt[\"model\"] is not a dict", what);
    if (!sd)
        sd = root;
    pts = calloc(sd->u.dict.len ? sd->u.dict.len : 1, sizeof *pts);
    need = calloc(sd->u.dict.len ? sd->u.dict.len : 1, sizeof *need);
    IT_CHECK_ALLOC(pts && need, "the tensor list");
    for (size_t i = 0; i < sd->u.dict.len; i++) {
        const pk_obj *k = sd->u.dict.kv[2 * i], *v = sd->u.dict.kv[2 * i + 1];
        if (k->type != PK_STR || k->u.str.len < 8 || memcmp(k->u.str.s, "network.", 8) != 0)
            continue; /* ema.*, optimizer and anything else the network does not load */
        const char *name = k->u.str.s + 8;
        if (!it_weights_name_ok(name, k->u.str.len - 8) || strlen(name) != k->u.str.len - 8)
            IT_FAIL(IT_E_FORMAT, "%s: state dict key \"network.%.80s\" is not a sane tensor name", what,
                    it_weights_name_ok(name, strlen(name)) ? name : "...");
        if (v->type != PK_TENSOR)
            IT_FAIL(IT_E_FORMAT, "%s: state dict entry 'network.%s' is not a tensor", what, name);
        if (npts >= IT_WEIGHTS_MAX_TENSORS)
            IT_FAIL(IT_E_UNSUPPORTED, "%s: more than %d network tensors", what, IT_WEIGHTS_MAX_TENSORS);
        IT_CHECK_ALLOC(pts[npts].name = strdup(name), "a tensor name");
        pts[npts].t = v->u.tensor;
        npts++;
    }
    if (npts == 0)
        IT_FAIL(IT_E_NOTFOUND, "%s: no 'network.*' tensors in the checkpoint", what);

    /* The storages they use, each once, sorted by key (sorting keeps this n log n however many
     * tensors a hostile pickle lists). */
    order = malloc(npts * sizeof *order);
    IT_CHECK_ALLOC(order, "the storage list");
    for (size_t i = 0; i < npts; i++)
        order[i] = &pts[i];
    qsort(order, npts, sizeof *order, cmp_ptensor_key);
    for (size_t i = 0; i < npts; i++) {
        const pk_obj *st = order[i]->t->storage;
        if (nneed == 0 || strcmp(need[nneed - 1].key, st->u.storage.key) != 0) {
            need[nneed].key = st->u.storage.key;
            need[nneed].dtype = st->u.storage.dtype;
            need[nneed].numel = st->u.storage.numel;
            nneed++;
        } else if (need[nneed - 1].dtype != st->u.storage.dtype || need[nneed - 1].numel != st->u.storage.numel) {
            /* Two typed views of one untyped storage: legal in PyTorch, never in a state dict. */
            IT_FAIL(IT_E_UNSUPPORTED, "%s: storage '%s' is used with two different types or sizes", what,
                    need[nneed - 1].key);
        }
        order[i]->slot = nneed - 1;
    }

    /* Pass 2: read just the storages the network tensors use. */
    size_t plen = strlen(prefix);
    IT_TRY(zopen(src, &a));
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = archive_entry_pathname(e);
        if (!name || strncmp(name, prefix, plen) != 0 || strncmp(name + plen, "/data/", 6) != 0)
            continue;
        const char *key = name + plen + 6;
        needed probe = {.key = key};
        needed *found = bsearch(&probe, need, nneed, sizeof *need, cmp_needed_key);
        if (found) {
            size_t s = (size_t)(found - need);
            size_t want = (size_t)need[s].numel * pk_dtype_size(need[s].dtype);
            IT_TRY(read_entry(a, src->what, name, want, &need[s].data, &need[s].len));
            if (need[s].len != want)
                IT_FAIL(IT_E_TRUNCATED, "%s: storage '%s' holds %zu bytes, the pickle says %lld %s elements (%zu bytes)",
                        src->what, name, need[s].len, (long long)need[s].numel,
                        pk_dtype_name(need[s].dtype), want);
            need[s].loaded = 1;
            IT_TRY(it_weights_own(w, need[s].data));
        }
    }
    if (r != ARCHIVE_EOF)
        IT_FAIL(IT_E_FORMAT, "%s: corrupt zip archive: %s", src->what,
                archive_error_string(a) ? archive_error_string(a) : "read error");
    for (size_t s = 0; s < nneed; s++)
        if (!need[s].loaded)
            IT_FAIL(IT_E_FORMAT, "%s: storage member '%s/data/%s' is missing", src->what, prefix, need[s].key);

    /* Views: straight into the storage when packed, else a packed copy. */
    w->tensors = calloc(npts, sizeof *w->tensors);
    IT_CHECK_ALLOC(w->tensors, "the tensor list");
    for (size_t i = 0; i < npts; i++) {
        const pk_tensor *t = pts[i].t;
        const needed *s = &need[pts[i].slot];
        it_tensor_view *v = &w->tensors[w->count];
        v->name = pts[i].name;
        pts[i].name = NULL;
        w->count++;
        if (map_dtype(s->dtype, &v->dtype) < 0)
            IT_FAIL(IT_E_UNSUPPORTED, "%s: tensor '%s' has dtype %s, which no network weight has", what,
                    v->name, pk_dtype_name(s->dtype));
        v->ndim = t->ndim;
        v->numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            v->shape[d] = t->size[d];
            v->numel *= t->size[d]; /* bounded by the storage size (pickle.c checked) */
        }
        size_t esize = pk_dtype_size(s->dtype);
        v->nbytes = (size_t)v->numel * it_dtype_size(v->dtype);
        if (v->numel == 0) {
            v->data = s->data;
        } else if (s->dtype != PK_F64 && is_contiguous(t)) {
            v->data = s->data + (size_t)t->offset * esize;
        } else {
            unsigned char *copy = malloc(v->nbytes);
            IT_CHECK_ALLOC(copy, "a tensor copy");
            gather(t, s->data, esize, s->dtype == PK_F64, copy, v->numel);
            IT_TRY(it_weights_own(w, copy));
            v->data = copy;
        }
    }
    IT_TRY(it_weights_finalize(w));
    *out = w;
    w = NULL;
done:
    if (a)
        archive_read_free(a);
    pk_free(&vm);
    free(pkl);
    free(small);
    free(prefix);
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    if (pts)
        for (size_t i = 0; i < npts; i++)
            free(pts[i].name);
    free(pts);
    free(order);
    if (need) /* storages not yet owned by w */
        for (size_t s = 0; s < nneed; s++)
            if (!need[s].loaded)
                free(need[s].data);
    free(need);
    it_weights_close(&w);
    return rc;
}

int it_weights_open_pt(it_weights **out, const char *path)
{
    zsrc src = {.path = path, .what = path};
    return open_pt(out, &src);
}

int it_weights_open_pt_memory(it_weights **out, const void *data, size_t size, const char *name)
{
    zsrc src = {.mem = data, .size = size, .what = name ? name : "(memory)"};
    return open_pt(out, &src);
}
