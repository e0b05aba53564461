/* fuzz_weights.c: a libFuzzer target for the weight readers. Every input goes to all of them:
 * the safetensors parser, the checkpoint (zip + pickle) reader, the pickle VM on its own (a zip
 * protects data.pkl with a CRC, so mutations rarely reach the VM through it), the checkpoint
 * reader again with the input as data.pkl of a well-formed zip whose storages have the sizes
 * the pickle asks for (so the tensor extraction, views and copies are reached), and the config
 * parser. Whatever opens is then used the way a loader would: config, table check, every tensor
 * converted, so a view that points outside the input shows up under ASan.
 * Built by tests/formats/fuzz.sh (make fuzz-weights), never by make check. */
#include <archive.h>
#include <archive_entry.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/pickle_internal.h"
#include "formats/weights_internal.h"

static void use(it_weights *w)
{
    it_config cfg;
    it_tensor_table *t = NULL;
    if (getenv("FUZZ_DEBUG")) /* to see which readers an input reaches */
        fprintf(stderr, "opened %s: %zu tensors\n", it_weights_path(w), it_weights_count(w));
    if (it_weights_config(w, &cfg) < 0)
        cfg = it_config_official();
    if (it_tensor_table_build(&cfg, &t) == 0) {
        it_weights_check(w, t);
        it_tensor_table_free(&t);
    }
    for (size_t i = 0; i < it_weights_count(w); i++) {
        const it_tensor_view *v = it_weights_tensor(w, i);
        if (it_weights_find(w, v->name) != v)
            abort(); /* lookup must find each tensor */
        if (v->numel > (1 << 24))
            continue;
        if (it_dtype_is_float(v->dtype)) {
            float *f = malloc((size_t)v->numel * sizeof *f + 1);
            if (f && it_tensor_to_f32(v, f) != 0)
                abort();
            free(f);
        } else {
            int64_t *q = malloc((size_t)v->numel * sizeof *q + 1);
            if (q && it_tensor_to_i64(v, q) != 0)
                abort();
            free(q);
        }
    }
    for (size_t i = 0; i < it_weights_metadata_count(w); i++) {
        const char *k, *val;
        it_weights_metadata_at(w, i, &k, &val);
        if (it_weights_metadata(w, k) == NULL)
            abort();
    }
}

/* Zip the pickle with storages of the sizes its persistent ids name, and read that. */
static void as_checkpoint(const uint8_t *data, size_t size, const pk_obj *root)
{
    enum { MAX_STORAGES = 32, MAX_BYTES = 1 << 16 };
    const pk_obj *sd = pk_dict_get(root, "model");
    if (!sd || sd->type != PK_DICT)
        sd = root;
    if (sd->type != PK_DICT)
        return;
    const pk_obj *st[MAX_STORAGES];
    size_t nst = 0, total = 0;
    for (size_t i = 0; i < sd->u.dict.len && nst < MAX_STORAGES; i++) {
        const pk_obj *v = sd->u.dict.kv[2 * i + 1];
        if (v->type != PK_TENSOR)
            continue;
        const pk_obj *s = v->u.tensor->storage;
        size_t bytes = (size_t)s->u.storage.numel * pk_dtype_size(s->u.storage.dtype);
        if (bytes > MAX_BYTES || total + bytes > 4 * MAX_BYTES)
            return;
        int dup = 0;
        for (size_t j = 0; j < nst; j++)
            dup |= strcmp(st[j]->u.storage.key, s->u.storage.key) == 0;
        if (!dup) {
            st[nst++] = s;
            total += bytes;
        }
    }
    size_t cap = size + total + 4096 + 256 * nst, used = 0;
    unsigned char *zip = malloc(cap), *fill = calloc(1, MAX_BYTES);
    struct archive *a = archive_write_new();
    if (!zip || !fill || !a)
        goto done;
    archive_write_set_format_zip(a);
    archive_write_zip_set_compression_store(a);
    if (archive_write_open_memory(a, zip, cap, &used) != ARCHIVE_OK)
        goto done;
    for (size_t i = 0; i < MAX_BYTES; i++)
        fill[i] = (unsigned char)(i * 37 + 11);
    for (size_t i = 0; i <= nst + 1; i++) {
        char name[128];
        const void *body = fill;
        size_t len;
        if (i == 0) {
            snprintf(name, sizeof name, "archive/data.pkl");
            body = data;
            len = size;
        } else if (i == nst + 1) {
            snprintf(name, sizeof name, "archive/version");
            body = "3\n";
            len = 2;
        } else {
            snprintf(name, sizeof name, "archive/data/%s", st[i - 1]->u.storage.key);
            len = (size_t)st[i - 1]->u.storage.numel * pk_dtype_size(st[i - 1]->u.storage.dtype);
        }
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, name);
        archive_entry_set_size(e, (la_int64_t)len);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        int bad = archive_write_header(a, e) != ARCHIVE_OK ||
                  (len && archive_write_data(a, body, len) != (la_ssize_t)len);
        archive_entry_free(e);
        if (bad)
            goto done;
    }
    if (archive_write_close(a) != ARCHIVE_OK)
        goto done;
    it_weights *w = NULL;
    if (it_weights_open_pt_memory(&w, zip, used, "fuzz-zipped.pt") == 0)
        use(w);
    it_weights_close(&w);
done:
    if (a)
        archive_write_free(a);
    free(zip);
    free(fill);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    it_weights *w = NULL;
    if (it_weights_open_safetensors_memory(&w, data, size, "fuzz.safetensors") == 0)
        use(w);
    it_weights_close(&w);
    if (it_weights_open_pt_memory(&w, data, size, "fuzz.pt") == 0)
        use(w);
    it_weights_close(&w);

    pk_vm *vm = NULL;
    pk_obj *root = NULL;
    if (pk_run(&vm, data, size, "fuzz.pkl", &root) == 0)
        as_checkpoint(data, size, root);
    pk_free(&vm);

    it_config cfg;
    if (it_config_parse(&cfg, (const char *)data, size, "fuzz.json") == 0) {
        char *json = NULL;
        it_tensor_table *t = NULL;
        if (it_config_to_json(&cfg, &json) == 0) {
            it_config back;
            if (it_config_parse(&back, json, strlen(json), "printed") != 0)
                abort(); /* what we print must parse */
            free(json);
        }
        if (it_tensor_table_build(&cfg, &t) == 0)
            it_tensor_table_free(&t);
    }
    return 0;
}
