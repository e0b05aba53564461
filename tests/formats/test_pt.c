/* test_pt.c: the PyTorch checkpoint reader on committed fixtures (tests/formats/fixtures, made
 * by make_pt_fixtures.py with python3-torch): fp32/bf16/fp16 storages, the {"model": ...}
 * wrapper and flat dicts, ema/optimizer entries ignored, storage offsets, non-contiguous and
 * shared views, float64; then hostile files: a pickle calling os.system, every truncation,
 * flipped bytes (CRC), and checks against a config's tensor table. */
#include "formats/weights_internal.h"
#include "test_util.h"

static const it_tensor_view *get(const it_weights *w, const char *name, it_dtype dt, int ndim,
                                 const int64_t *shape)
{
    const it_tensor_view *t = it_weights_find(w, name);
    if (!t) {
        fprintf(stderr, "tensor %s missing\n", name);
        test_failures++;
        return NULL;
    }
    int ok = t->dtype == dt && t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++)
        ok = t->shape[d] == shape[d];
    if (!ok) {
        char s[128];
        it_shape_format(s, sizeof s, t->ndim, t->shape);
        fprintf(stderr, "tensor %s: dtype %s shape %s\n", name, it_dtype_name(t->dtype), s);
        test_failures++;
        return NULL;
    }
    return t;
}

/* values[i] == scale * i + bias, read as float */
static void check_ramp(const it_tensor_view *t, float scale, float bias)
{
    if (!t)
        return;
    float *v = malloc((size_t)t->numel * sizeof *v);
    CHECK_OK(it_tensor_to_f32(t, v));
    for (int64_t i = 0; i < t->numel; i++)
        if (v[i] != scale * (float)i + bias) {
            fprintf(stderr, "%s[%lld] = %g, expected %g\n", t->name, (long long)i, (double)v[i],
                    (double)(scale * (float)i + bias));
            test_failures++;
            break;
        }
    free(v);
}

static void flat(void)
{
    it_weights *w = NULL;
    CHECK_OK(it_weights_open_any(&w, fixture("fixtures/flat_f32.pt")));
    if (!w)
        return;
    CHECK(it_weights_is_pt(w));
    CHECK(it_weights_count(w) == 2); /* ema.* and "epoch" ignored */
    CHECK(strcmp(it_weights_tensor(w, 0)->name, "conv.weight") == 0); /* dict order kept */
    check_ramp(get(w, "conv.weight", IT_DTYPE_F32, 3, (int64_t[]){2, 3, 4}), 0.25f, -1.f);
    check_ramp(get(w, "conv.bias", IT_DTYPE_F32, 1, (int64_t[]){2}), 1.f, 5.f);
    it_config c;
    CHECK_ERR(it_weights_config(w, &c), IT_E_NOTFOUND, "carries no config");
    it_weights_close(&w);
}

static void wrapped(void)
{
    it_weights *w = NULL;
    CHECK_OK(it_weights_open_pt(&w, fixture("fixtures/wrapped_bf16.pt")));
    if (!w)
        return;
    CHECK(it_weights_count(w) == 5);
    check_ramp(get(w, "lin.weight", IT_DTYPE_BF16, 2, (int64_t[]){3, 4}), 0.25f, -1.f);
    check_ramp(get(w, "lin.bias", IT_DTYPE_BF16, 1, (int64_t[]){3}), 0.5f, 0.f);
    check_ramp(get(w, "norm.weight", IT_DTYPE_BF16, 1, (int64_t[]){3}), 0.f, 1.f);
    const it_tensor_view *t = get(w, "_levels", IT_DTYPE_I32, 1, (int64_t[]){6});
    if (t) {
        int64_t v[6];
        CHECK_OK(it_tensor_to_i64(t, v));
        CHECK(v[0] == 8 && v[5] == 5);
    }
    CHECK(it_weights_find(w, "ema.lin-weight") == NULL);
    it_weights_close(&w);
}

static void views(void)
{
    it_weights *w = NULL;
    CHECK_OK(it_weights_open_pt(&w, fixture("fixtures/views_f16.pt")));
    if (!w)
        return;
    CHECK(it_weights_count(w) == 10);
    check_ramp(get(w, "half", IT_DTYPE_F16, 2, (int64_t[]){2, 3}), 0.25f, -1.f);
    check_ramp(get(w, "slice", IT_DTYPE_F16, 1, (int64_t[]){6}), 0.5f, 5.f); /* base[10:16] */
    check_ramp(get(w, "shared_a", IT_DTYPE_F32, 1, (int64_t[]){4}), 1.f, 100.f);
    check_ramp(get(w, "shared_b", IT_DTYPE_F32, 2, (int64_t[]){2, 2}), 1.f, 106.f);
    check_ramp(get(w, "double", IT_DTYPE_F32, 1, (int64_t[]){3}), 0.5f, 0.25f);
    check_ramp(get(w, "param", IT_DTYPE_F32, 1, (int64_t[]){2}), 1.f, 7.f);
    check_ramp(get(w, "scalar", IT_DTYPE_F32, 0, NULL), 0.f, 2.5f);
    const it_tensor_view *t = get(w, "transposed", IT_DTYPE_F32, 2, (int64_t[]){4, 3});
    if (t) { /* grid.t()[i][j] = grid[j][i] = (4j + i) * 0.25 - 1 */
        float v[12];
        CHECK_OK(it_tensor_to_f32(t, v));
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++)
                CHECK(v[i * 3 + j] == (float)(4 * j + i) * 0.25f - 1.f);
    }
    int64_t iv[3];
    t = get(w, "int32", IT_DTYPE_I32, 1, (int64_t[]){3});
    if (t) {
        CHECK_OK(it_tensor_to_i64(t, iv));
        CHECK(iv[0] == 1 && iv[1] == -2 && iv[2] == 3);
    }
    t = get(w, "int64", IT_DTYPE_I64, 1, (int64_t[]){2});
    if (t) {
        CHECK_OK(it_tensor_to_i64(t, iv));
        CHECK(iv[0] == ((int64_t)1 << 40) && iv[1] == -7);
    }
    it_weights_close(&w);
}

static void evil(void)
{
    it_weights *w = NULL;
    CHECK_ERR(it_weights_open_any(&w, fixture("fixtures/evil_os_system.pt")), IT_E_UNSUPPORTED,
              "evil_os_system.pt: evil/data.pkl: offset 17: pickle refers to global 'os.system', which is not allowed");
    CHECK(w == NULL);
}

/* Every prefix of a checkpoint must be refused cleanly; every single-byte flip must either be
 * refused or (in fields nothing reads) give the same tensors. */
static void damaged(const char *name)
{
    size_t n;
    unsigned char *good = read_file(fixture(name), &n);
    it_weights *w = NULL, *ref = NULL;
    if (!good) {
        fprintf(stderr, "cannot read %s\n", name);
        test_failures++;
        return;
    }
    CHECK_OK(it_weights_open_pt_memory(&ref, good, n, name));
    unsigned char *copy = malloc(n);
    int refused = 0, crc = 0;
    for (size_t len = 0; len < n; len += (len < 64 || n - len < 64) ? 1 : 7) {
        memcpy(copy, good, len);
        it_error_clear();
        int rc = it_weights_open_pt_memory(&w, copy, len, name);
        if (rc == 0) {
            fprintf(stderr, "%s cut to %zu bytes was accepted\n", name, len);
            test_failures++;
        }
        it_weights_close(&w);
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(copy, good, n);
        copy[i] ^= 0x5a;
        it_error_clear();
        int rc = it_weights_open_pt_memory(&w, copy, n, name);
        if (rc < 0) {
            refused++;
            crc += strstr(it_error_message(), "CRC") != NULL;
        } else if (w && ref) {
            int same = it_weights_count(w) == it_weights_count(ref);
            for (size_t k = 0; same && k < it_weights_count(w); k++) {
                const it_tensor_view *a = it_weights_tensor(w, k), *b = it_weights_find(ref, a->name);
                same = b && a->nbytes == b->nbytes && a->dtype == b->dtype &&
                       memcmp(a->data, b->data, a->nbytes) == 0;
            }
            if (!same) {
                fprintf(stderr, "%s: flipping byte %zu changed the tensors without an error\n", name, i);
                test_failures++;
            }
        }
        it_weights_close(&w);
    }
    if (getenv("VERBOSE"))
        fprintf(stderr, "%s: %d of %zu flips refused, %d by CRC\n", name, refused, n, crc);
    CHECK(refused > 0 && crc > 0);
    it_weights_close(&ref);
    free(copy);
    free(good);
}

static void against_table(void)
{
    size_t n;
    char *json = (char *)read_file(fixture("tiny_config.json"), &n);
    it_config cfg;
    it_tensor_table *t = NULL;
    it_weights *w = NULL;
    CHECK(json != NULL);
    if (!json)
        return;
    CHECK_OK(it_config_parse(&cfg, json, n, "tiny_config.json"));
    free(json);
    CHECK_OK(it_tensor_table_build(&cfg, &t));
    if (!t)
        return;
    CHECK_OK(it_weights_open_pt(&w, fixture("fixtures/tiny_model.pt")));
    if (w) {
        CHECK_OK(it_weights_check(w, t));
        CHECK(it_weights_count(w) == t->count - 1); /* all but the implicit codebook */
        it_weights_close(&w);
    }
    CHECK_OK(it_weights_open_pt(&w, fixture("fixtures/tiny_missing.pt")));
    if (w)
        CHECK_ERR(it_weights_check(w, t), IT_E_NOTFOUND,
                  "tiny_missing.pt: tensor 'decoder.conv_out.1.conv3d.bias' is missing");
    it_weights_close(&w);
    CHECK_OK(it_weights_open_pt(&w, fixture("fixtures/tiny_extra.pt")));
    if (w)
        CHECK_ERR(it_weights_check(w, t), IT_E_FORMAT,
                  "tiny_extra.pt: unexpected tensor 'decoder.conv_out.2.conv3d.bias'");
    it_weights_close(&w);
    CHECK_OK(it_weights_open_pt(&w, fixture("fixtures/tiny_shape.pt")));
    if (w)
        CHECK_ERR(it_weights_check(w, t), IT_E_SHAPE,
                  "tiny_shape.pt: tensor 'encoder.conv_in.0.conv3d.weight' has shape [4,24,1,3,2], expected [4,24,1,3,3]");
    it_weights_close(&w);
    /* The official table refuses the tiny network, naming a tensor. */
    it_tensor_table_free(&t);
    it_config off = it_config_official();
    CHECK_OK(it_tensor_table_build(&off, &t));
    CHECK_OK(it_weights_open_pt(&w, fixture("fixtures/tiny_model.pt")));
    if (w && t)
        CHECK_ERR(it_weights_check(w, t), IT_E_SHAPE, "has shape [4,24,1,3,3], expected [128,24,1,3,3]");
    it_weights_close(&w);
    it_tensor_table_free(&t);
}

int main(void)
{
    flat();
    wrapped();
    views();
    evil();
    damaged("fixtures/flat_f32.pt");
    damaged("fixtures/views_f16.pt");
    against_table();
    return test_result();
}
