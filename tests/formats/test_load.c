/* test_load.c: loading = the whole-file check against a config's tensor table, on native files
 * written here for the tiny config (tests/formats/tiny_config.json): everything present passes;
 * a missing, extra, misshapen or mistyped tensor, or a rebuilt buffer with wrong values, is
 * refused naming the tensor; it_weights_require / it_weights_check_all_used catch tensors a
 * network builder never used. Also reads the tests/model fixtures when they are there. */
#include <unistd.h>

#include "formats/weights_internal.h"
#include "kernels/it_kernels.h"
#include "test_util.h"

static const char *dir;
static it_config cfg;
static it_tensor_table *table;

enum { OK, DROP, EXTRA, RESHAPE, INT_PARAM, BAD_CODEBOOK, BAD_LEVELS, FLOAT_LEVELS, BAD_STAT, DROP3, NO_BUFFERS };

/* Write the tiny network with one defect; returns the path. */
static const char *write_model(int defect, const char *name)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    it_weights_writer *wr = NULL;
    void **bufs = calloc(table->count + 1, sizeof *bufs);
    int dropped = 0;
    CHECK_OK(it_weights_writer_new(&wr, path));
    CHECK_OK(it_weights_writer_set_config(wr, &cfg));
    for (size_t i = 0; i < table->count; i++) {
        const it_tensor_spec *s = &table->specs[i];
        int64_t shape[IT_MAX_DIMS], n = 1;
        memcpy(shape, s->shape, sizeof shape);
        for (int d = 0; d < s->ndim; d++)
            n *= shape[d];
        if ((defect == DROP || defect == DROP3) && s->kind == IT_TENSOR_PARAM && dropped < (defect == DROP ? 1 : 3) &&
            strstr(s->name, "vit_decoder.0.mlp")) {
            dropped++;
            continue;
        }
        if (defect == NO_BUFFERS && s->kind != IT_TENSOR_PARAM)
            continue;
        if (defect == RESHAPE && strcmp(s->name, "encoder.conv_in.0.conv3d.weight") == 0)
            shape[4] = 2, n = n / 3 * 2;
        if (defect == BAD_STAT && strcmp(s->name, "save_loss") == 0)
            shape[0] = 64, n = 64;
        if (strcmp(s->name, "quantizer._levels") == 0 || strcmp(s->name, "quantizer._basis") == 0) {
            int32_t *v = calloc(6, 4);
            int32_t b = 1;
            for (int c = 0; c < 6; c++) {
                v[c] = s->name[11] == 'l' ? cfg.levels[c] : b;
                b *= cfg.levels[c];
            }
            if (defect == BAD_LEVELS && s->name[11] == 'l')
                v[5] = 4;
            bufs[i] = v;
            if (defect == FLOAT_LEVELS && s->name[11] == 'l') {
                float *f = calloc(6, 4);
                for (int c = 0; c < 6; c++)
                    f[c] = (float)v[c];
                free(v);
                bufs[i] = f;
                CHECK_OK(it_weights_writer_add(wr, s->name, IT_DTYPE_F32, 1, shape, f));
            } else {
                CHECK_OK(it_weights_writer_add(wr, s->name, IT_DTYPE_I32, 1, shape, v));
            }
            continue;
        }
        if (strcmp(s->name, "quantizer.implicit_codebook") == 0) {
            uint16_t *v = calloc((size_t)n, 2);
            int64_t basis = 1;
            for (int c = 0; c < 6; c++) {
                int half = cfg.levels[c] / 2;
                for (int64_t k = 0; k < shape[0]; k++)
                    v[k * 6 + c] = it_bf16_from_f32((float)((k / basis) % cfg.levels[c] - half) / (float)half);
                basis *= cfg.levels[c];
            }
            if (defect == BAD_CODEBOOK)
                v[6 * 32036 + 1] = it_bf16_from_f32(0.5f);
            bufs[i] = v;
            CHECK_OK(it_weights_writer_add(wr, s->name, IT_DTYPE_BF16, 2, shape, v));
            continue;
        }
        if (defect == INT_PARAM && strcmp(s->name, "temporal_embed") == 0) {
            bufs[i] = calloc((size_t)n, 4);
            CHECK_OK(it_weights_writer_add(wr, s->name, IT_DTYPE_I32, s->ndim, shape, bufs[i]));
            continue;
        }
        float *v = calloc((size_t)(n ? n : 1), 4);
        for (int64_t k = 0; k < n; k++)
            v[k] = (float)((k * 7 + (int64_t)i) % 13) * 0.125f - 0.75f;
        bufs[i] = v;
        CHECK_OK(it_weights_writer_add(wr, s->name, IT_DTYPE_F32, s->ndim, shape, v));
    }
    float one = 1;
    int64_t s1 = 1;
    if (defect == EXTRA)
        CHECK_OK(it_weights_writer_add(wr, "vit_encoder.1.mlp.w4.weight", IT_DTYPE_F32, 1, &s1, &one));
    CHECK_OK(it_weights_writer_finish(&wr));
    for (size_t i = 0; i < table->count; i++)
        free(bufs[i]);
    free(bufs);
    return path;
}

static int check_file(const char *path)
{
    it_weights *w = NULL;
    int rc = it_weights_open(&w, path);
    if (rc == 0)
        rc = it_weights_check(w, table);
    it_weights_close(&w);
    return rc;
}

static void good(void)
{
    it_weights *w = NULL;
    it_config back;
    const char *p = write_model(OK, "ok.safetensors");
    CHECK_OK(it_weights_open(&w, p));
    if (!w)
        return;
    CHECK(it_weights_count(w) == table->count);
    CHECK_OK(it_weights_config(w, &back));
    CHECK(memcmp(&back, &cfg, sizeof cfg) == 0);
    CHECK_OK(it_weights_check(w, table));

    /* A network builder takes what it needs; whatever it forgot is named. */
    const it_tensor_view *t = NULL;
    CHECK_ERR(it_weights_check_all_used(w, table), IT_E_FORMAT,
              "tensor 'encoder.conv_in.0.conv3d.weight' was never used by the network");
    CHECK_ERR(it_weights_require(w, "temporal_embed", 2, (int64_t[]){49, 8}, &t), IT_E_SHAPE,
              "ok.safetensors: tensor 'temporal_embed' has shape [3,8], expected [49,8]");
    CHECK_ERR(it_weights_require(w, "nope", 1, (int64_t[]){1}, &t), IT_E_NOTFOUND, "tensor 'nope' is missing");
    size_t skipped = 0;
    for (size_t i = 0; i < table->count; i++) {
        const it_tensor_spec *s = &table->specs[i];
        if (s->kind != IT_TENSOR_PARAM) {
            skipped++;
            continue;
        }
        if (strcmp(s->name, "vit_decoder.0.mlp.w2.weight") == 0)
            continue;
        CHECK_OK(it_weights_require(w, s->name, s->ndim, s->shape, &t));
    }
    CHECK(skipped == 5);
    CHECK_ERR(it_weights_check_all_used(w, table), IT_E_FORMAT, "tensor 'vit_decoder.0.mlp.w2.weight' was never used");
    const it_tensor_spec *s = it_tensor_table_find(table, "vit_decoder.0.mlp.w2.weight");
    CHECK_OK(it_weights_require(w, s->name, s->ndim, s->shape, &t));
    CHECK(t && t->dtype == IT_DTYPE_F32 && t->shape[0] == 8 && t->shape[1] == 16);
    CHECK_OK(it_weights_check_all_used(w, table));
    /* Without a table the buffers count as unused too. */
    CHECK_ERR(it_weights_check_all_used(w, NULL), IT_E_FORMAT, "was never used");
    it_weights_close(&w);

    /* The rebuilt buffers and training statistics may be absent. */
    CHECK_OK(check_file(write_model(NO_BUFFERS, "nobuf.safetensors")));
}

static void defects(void)
{
    CHECK_ERR(check_file(write_model(DROP, "drop.safetensors")), IT_E_NOTFOUND,
              "drop.safetensors: tensor 'vit_decoder.0.mlp.w1.weight' is missing");
    CHECK_ERR(check_file(write_model(DROP3, "drop3.safetensors")), IT_E_NOTFOUND,
              "tensor 'vit_decoder.0.mlp.w1.weight' is missing (and 2 more)");
    CHECK_ERR(check_file(write_model(EXTRA, "extra.safetensors")), IT_E_FORMAT,
              "extra.safetensors: unexpected tensor 'vit_encoder.1.mlp.w4.weight'");
    CHECK_ERR(check_file(write_model(RESHAPE, "shape.safetensors")), IT_E_SHAPE,
              "shape.safetensors: tensor 'encoder.conv_in.0.conv3d.weight' has shape [4,24,1,3,2], expected [4,24,1,3,3]");
    CHECK_ERR(check_file(write_model(INT_PARAM, "int.safetensors")), IT_E_SHAPE,
              "tensor 'temporal_embed' has dtype I32, expected a float type");
    CHECK_ERR(check_file(write_model(BAD_CODEBOOK, "book.safetensors")), IT_E_FORMAT,
              "tensor 'quantizer.implicit_codebook' holds 0.5 at [32036,1], expected 0");
    CHECK_ERR(check_file(write_model(BAD_LEVELS, "levels.safetensors")), IT_E_FORMAT,
              "tensor 'quantizer._levels' holds 4 at [5], expected 5");
    CHECK_ERR(check_file(write_model(FLOAT_LEVELS, "flevels.safetensors")), IT_E_SHAPE,
              "tensor 'quantizer._levels' has dtype F32, expected I32 or I64");
    CHECK_ERR(check_file(write_model(BAD_STAT, "stat.safetensors")), IT_E_SHAPE,
              "tensor 'save_loss' has shape [64], expected [128]");
}

/* The model tests' native fixtures (tests/model, written by another generator) load and pass. */
static void model_fixtures(void)
{
    const char *top = getenv("top_srcdir");
    char path[4200];
    snprintf(path, sizeof path, "%s/tests/model/fixtures/tiny.safetensors", top ? top : ".");
    if (access(path, R_OK) != 0)
        return;
    it_weights *w = NULL;
    it_config c;
    it_tensor_table *t = NULL;
    CHECK_OK(it_weights_open(&w, path));
    if (!w)
        return;
    CHECK_OK(it_weights_config(w, &c));
    CHECK_OK(it_tensor_table_build(&c, &t));
    if (t)
        CHECK_OK(it_weights_check(w, t));
    it_tensor_table_free(&t);
    it_weights_close(&w);
    snprintf(path, sizeof path, "%s/tests/model/fixtures/tiny_io.safetensors", top ? top : ".");
    if (access(path, R_OK) == 0) {
        CHECK_OK(it_weights_open(&w, path));
        it_weights_close(&w);
    }
}

int main(void)
{
    size_t n;
    char *json = (char *)read_file(fixture("tiny_config.json"), &n);
    if (!json)
        return 99;
    CHECK_OK(it_config_parse(&cfg, json, n, "tiny_config.json"));
    free(json);
    CHECK_OK(it_tensor_table_build(&cfg, &table));
    if (!table)
        return 99;
    dir = scratch_dir("load");
    good();
    defects();
    model_fixtures();
    it_tensor_table_free(&table);
    rm_tree(dir);
    return test_result();
}
