/* test_safetensors.c: the native format: a round trip through the writer and reader (every
 * dtype, conversions, metadata, config, alignment), atomic writes, and hostile files. */
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

#include "formats/weights_internal.h"
#include "kernels/it_kernels.h"
#include "test_util.h"

static const char *dir;

static const char *path_in(const char *name)
{
    static char buf[2][4200];
    static int slot;
    char *b = buf[slot++ % 2];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

/* A file from a header string and a data section. */
static const char *make_file(const char *name, const char *hdr, const void *data, size_t dlen)
{
    const char *p = path_in(name);
    size_t h = strlen(hdr);
    unsigned char *buf = malloc(8 + h + dlen + 1);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, hdr, h);
    if (dlen)
        memcpy(buf + 8 + h, data, dlen);
    if (write_file(p, buf, 8 + h + dlen) != 0)
        exit(99);
    free(buf);
    return p;
}

static int open_hdr(const char *hdr, size_t dlen)
{
    static unsigned char zeros[256];
    it_weights *w = NULL;
    int rc = it_weights_open(&w, make_file("h.safetensors", hdr, zeros, dlen));
    it_weights_close(&w);
    return rc;
}

static int count_temp_files(void)
{
    int n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return n;
}

static void round_trip(void)
{
    float f32[6] = {0.f, 1.5f, -2.25f, 3.0e30f, -0.f, 1e-40f};
    uint16_t bf16[5] = {0x3f80, 0xbfc0, 0x7f80, 0x0001, 0x4049}; /* 1, -1.5, inf, tiny, 3.140625 */
    uint16_t f16[4] = {0x3c00, 0x7bff, 0x0001, 0xc000};        /* 1, 65504, 2^-24, -2 */
    int32_t i32[4] = {8, 8, 8, -5};
    int64_t i64[2] = {INT64_MIN, 12800};
    int64_t s23[2] = {2, 3}, s5 = 5, s4 = 4, s2 = 2, s03[2] = {0, 3};
    const char *p = path_in("w.safetensors");
    it_weights_writer *wr = NULL;
    it_weights *w = NULL;
    it_config cfg = it_config_official(), back;

    CHECK_OK(it_weights_writer_new(&wr, p));
    CHECK_OK(it_weights_writer_set_config(wr, &cfg));
    CHECK_OK(it_weights_writer_set_metadata(wr, "training", "unit test"));
    CHECK_ERR(it_weights_writer_set_metadata(wr, "format", "x"), IT_E_INVALID, "reserved");
    CHECK_OK(it_weights_writer_add(wr, "b.bf16", IT_DTYPE_BF16, 1, &s5, bf16));
    CHECK_OK(it_weights_writer_add(wr, "a.f32", IT_DTYPE_F32, 2, s23, f32));
    CHECK_OK(it_weights_writer_add(wr, "c.f16", IT_DTYPE_F16, 1, &s4, f16));
    CHECK_OK(it_weights_writer_add(wr, "d.i32", IT_DTYPE_I32, 1, &s4, i32));
    CHECK_OK(it_weights_writer_add(wr, "e.i64", IT_DTYPE_I64, 1, &s2, i64));
    CHECK_OK(it_weights_writer_add(wr, "f.empty", IT_DTYPE_F32, 2, s03, NULL));
    CHECK_OK(it_weights_writer_add(wr, "g.scalar", IT_DTYPE_F32, 0, NULL, f32 + 1));
    it_tensor_view v = {.name = "h.f32_as_bf16", .dtype = IT_DTYPE_F32, .ndim = 2,
                        .shape = {2, 3}, .numel = 6, .nbytes = 24, .data = f32};
    CHECK_OK(it_weights_writer_add_view(wr, &v, IT_DTYPE_BF16));
    it_tensor_view v2 = {.name = "i.f16_as_f32", .dtype = IT_DTYPE_F16, .ndim = 1,
                         .shape = {4}, .numel = 4, .nbytes = 8, .data = f16};
    CHECK_OK(it_weights_writer_add_view(wr, &v2, IT_DTYPE_F32));
    it_tensor_view v3 = {.name = "j.i32", .dtype = IT_DTYPE_I32, .ndim = 1,
                         .shape = {4}, .numel = 4, .nbytes = 16, .data = i32};
    CHECK_ERR(it_weights_writer_add_view(wr, &v3, IT_DTYPE_F32), IT_E_UNSUPPORTED, "cannot store I32 as F32");
    CHECK_ERR(it_weights_writer_add(wr, "bad name", IT_DTYPE_F32, 1, &s4, f32), IT_E_INVALID, "not allowed");
    CHECK_OK(it_weights_writer_finish(&wr));
    CHECK(wr == NULL);
    CHECK(count_temp_files() == 0);

    CHECK_OK(it_weights_open_any(&w, p));
    if (!w)
        return;
    CHECK(!it_weights_is_pt(w));
    CHECK(it_weights_count(w) == 9);
    CHECK(strcmp(it_weights_metadata(w, "format"), "infotok-weights") == 0);
    CHECK(strcmp(it_weights_metadata(w, "format_version"), "1") == 0);
    CHECK(strcmp(it_weights_metadata(w, "training"), "unit test") == 0);
    CHECK(it_weights_metadata(w, "nope") == NULL);
    CHECK(it_weights_metadata_count(w) == 4);
    CHECK_OK(it_weights_config(w, &back));
    CHECK(memcmp(&back, &cfg, sizeof cfg) == 0);
    /* The data section starts 64-byte aligned and every tensor at a multiple of its size. */
    CHECK((size_t)((const unsigned char *)it_weights_find(w, "e.i64")->data - (const unsigned char *)w->map) % 64 == 0);
    for (size_t i = 0; i < it_weights_count(w); i++) {
        const it_tensor_view *t = it_weights_tensor(w, i);
        CHECK((uintptr_t)t->data % it_dtype_size(t->dtype) == 0);
    }

    const it_tensor_view *t = it_weights_find(w, "a.f32");
    CHECK(t && t->dtype == IT_DTYPE_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    CHECK(t && memcmp(t->data, f32, sizeof f32) == 0);
    t = it_weights_find(w, "b.bf16");
    CHECK(t && t->dtype == IT_DTYPE_BF16 && memcmp(t->data, bf16, sizeof bf16) == 0);
    float out[6];
    CHECK_OK(it_tensor_to_f32(t, out));
    CHECK(out[0] == 1.f && out[1] == -1.5f && out[2] > 3e38f && out[4] == 3.140625f);
    t = it_weights_find(w, "c.f16");
    CHECK_OK(it_tensor_to_f32(t, out));
    CHECK(out[0] == 1.f && out[1] == 65504.f && out[2] == 0x1p-24f && out[3] == -2.f);
    t = it_weights_find(w, "d.i32");
    int64_t ints[4];
    CHECK_OK(it_tensor_to_i64(t, ints));
    CHECK(ints[0] == 8 && ints[3] == -5);
    CHECK_ERR(it_tensor_to_f32(t, out), IT_E_SHAPE, "expected a float type");
    t = it_weights_find(w, "e.i64");
    CHECK(t && memcmp(t->data, i64, sizeof i64) == 0);
    t = it_weights_find(w, "f.empty");
    CHECK(t && t->numel == 0 && t->nbytes == 0 && t->ndim == 2);
    t = it_weights_find(w, "g.scalar");
    CHECK(t && t->ndim == 0 && t->numel == 1 && *(const float *)t->data == 1.5f);
    t = it_weights_find(w, "h.f32_as_bf16");
    CHECK(t && t->dtype == IT_DTYPE_BF16);
    if (t) {
        CHECK_OK(it_tensor_to_f32(t, out));
        for (int i = 0; i < 6; i++) /* round to nearest even; 1e-40 survives as a bf16 subnormal */
            CHECK(out[i] == it_bf16_to_f32(it_bf16_from_f32(f32[i])));
        CHECK(out[1] == 1.5f && out[2] == -2.25f);
    }
    t = it_weights_find(w, "i.f16_as_f32");
    CHECK(t && t->dtype == IT_DTYPE_F32 && ((const float *)t->data)[1] == 65504.f);
    it_weights_close(&w);
    CHECK(w == NULL);

    /* Rounding: ties to even, NaN stays NaN. */
    CHECK(it_bf16_from_f32(1.00390625f) == 0x3f80); /* halfway between 1 and 1+2^-7: even is 1 */
    CHECK(it_bf16_from_f32(1.01171875f) == 0x3f82); /* halfway, rounds up to even */
    CHECK((it_bf16_from_f32(__builtin_nanf("")) & 0x7fc0) == 0x7fc0);

    /* A file without infotok metadata opens but has no config. */
    CHECK_OK(it_weights_writer_new(&wr, p));
    CHECK_OK(it_weights_writer_finish(&wr));
    CHECK_OK(it_weights_open(&w, p));
    CHECK_ERR(it_weights_config(w, &back), IT_E_NOTFOUND, "metadata has no \"config\"");
    it_weights_close(&w);
}

static void writer_failures(void)
{
    it_weights_writer *wr = NULL;
    float f = 1;
    int64_t one = 1;
    CHECK_OK(it_weights_writer_new(&wr, path_in("nodir/x.safetensors")));
    CHECK_ERR(it_weights_writer_finish(&wr), IT_E_IO, "cannot create a temporary file");
    CHECK(wr == NULL);

    const char *p = path_in("dup.safetensors");
    CHECK_OK(it_weights_writer_new(&wr, p));
    CHECK_OK(it_weights_writer_add(wr, "x", IT_DTYPE_F32, 1, &one, &f));
    CHECK_OK(it_weights_writer_add(wr, "x", IT_DTYPE_F32, 1, &one, &f));
    CHECK_ERR(it_weights_writer_finish(&wr), IT_E_INVALID, "tensor 'x' was added twice");
    CHECK(access(p, F_OK) != 0);

    CHECK_OK(it_weights_writer_new(&wr, p));
    CHECK_OK(it_weights_writer_add(wr, "x", IT_DTYPE_F32, 1, &one, &f));
    it_weights_writer_free(&wr); /* abandoned: nothing appears */
    CHECK(access(p, F_OK) != 0);
    CHECK(count_temp_files() == 0);
}

static void hostile(void)
{
    it_weights *w = NULL;
    unsigned char small[5] = {1, 0, 0, 0, 0};
    CHECK_ERR(it_weights_open(&w, path_in("absent")), IT_E_IO, "absent: No such file");
    write_file(path_in("short"), small, 5);
    CHECK_ERR(it_weights_open(&w, path_in("short")), IT_E_TRUNCATED, "too short");
    unsigned char big[16] = {0x00, 0x10, 0, 0, 0, 0, 0, 0, '{', '}'};
    write_file(path_in("long"), big, 16);
    CHECK_ERR(it_weights_open(&w, path_in("long")), IT_E_TRUNCATED, "header length 4096 runs past the end of the file (16 bytes)");
    unsigned char huge[16] = {0, 0, 0, 0, 0, 0, 0, 1};
    write_file(path_in("huge"), huge, 16);
    CHECK_ERR(it_weights_open(&w, path_in("huge")), IT_E_FORMAT, "exceeds the limit");
    CHECK(w == NULL);

    CHECK_ERR(open_hdr("[1]", 0), IT_E_FORMAT, "header is not a JSON object");
    CHECK_ERR(open_hdr("{\"a\":", 0), IT_E_FORMAT, "header is not valid JSON");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
              IT_E_FORMAT, "duplicate");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4),
              IT_E_FORMAT, "tensor 'a' has data_offsets [0, 8] outside the data section (4 bytes)");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
              IT_E_FORMAT, "tensor 'b' (bytes 4-12) overlaps tensor 'a'");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
              IT_E_FORMAT, "4 unused bytes before tensor 'a'");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8),
              IT_E_FORMAT, "4 bytes after the last tensor");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8),
              IT_E_FORMAT, "tensor 'a' spans 8 bytes, but shape [3] of F32 needs 12");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8),
              IT_E_UNSUPPORTED, "tensor 'a' has dtype \"F64\"");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,8]}}", 8),
              IT_E_FORMAT, "\"dtype\" is not a string");
    CHECK_ERR(open_hdr("{\"a b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
              IT_E_FORMAT, "tensor name \"a b\" is not allowed");
    CHECK_ERR(open_hdr("{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
              IT_E_FORMAT, "is not allowed");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4),
              IT_E_FORMAT, "\"shape\"[0] is not a non-negative integer");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4),
              IT_E_FORMAT, "\"shape\"[0] is not a non-negative integer");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", 4),
              IT_E_FORMAT, "needs more than the whole data section");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4),
              IT_E_UNSUPPORTED, "at most 8 are supported");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4),
              IT_E_FORMAT, "must hold [begin, end]");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4),
              IT_E_FORMAT, "outside the data section");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), IT_E_FORMAT, "lacks \"data_offsets\"");
    CHECK_ERR(open_hdr("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4),
              IT_E_FORMAT, "unknown field \"x\"");
    CHECK_ERR(open_hdr("{\"a\":[]}", 0), IT_E_FORMAT, "not described by a JSON object");
    CHECK_ERR(open_hdr("{\"__metadata__\":{\"k\":1}}", 0), IT_E_FORMAT, "metadata \"k\" is not a string");
    CHECK_ERR(open_hdr("{\"__metadata__\":[]}", 0), IT_E_FORMAT, "\"__metadata__\" is not a JSON object");
    CHECK_OK(open_hdr("{\"__metadata__\":{},\"z\":{\"dtype\":\"I64\",\"shape\":[0,5],\"data_offsets\":[0,0]}}  ", 0));

    /* Metadata that claims our format with an unknown version. */
    CHECK_OK(it_weights_open(&w, make_file("v2", "{\"__metadata__\":{\"format\":\"infotok-weights\",\"format_version\":\"2\"}}", NULL, 0)));
    it_config c;
    if (w)
        CHECK_ERR(it_weights_config(w, &c), IT_E_UNSUPPORTED, "format_version 2 is not supported");
    it_weights_close(&w);

    /* Header lengths whose bytes look like other formats' magic still open as native files. */
    char hdr[1409];
    memset(hdr, ' ', sizeof hdr);
    memcpy(hdr, "{}", 2);
    hdr[1408] = '\0'; /* length 0x580: the file starts 80 05, like a pickle */
    CHECK_OK(it_weights_open_any(&w, make_file("pk.safetensors", hdr, NULL, 0)));
    it_weights_close(&w);
    unsigned char legacy[16] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20};
    write_file(path_in("legacy.pt"), legacy, sizeof legacy);
    CHECK_ERR(it_weights_open_any(&w, path_in("legacy.pt")), IT_E_UNSUPPORTED, "legacy torch.save format");

    /* A real file cut short by one byte. */
    size_t n;
    unsigned char *good = read_file(path_in("w.safetensors"), &n);
    if (good) {
        int64_t one = 1;
        float f = 2;
        it_weights_writer *wr = NULL;
        free(good);
        CHECK_OK(it_weights_writer_new(&wr, path_in("cut")));
        CHECK_OK(it_weights_writer_add(wr, "x", IT_DTYPE_F32, 1, &one, &f));
        CHECK_OK(it_weights_writer_finish(&wr));
        good = read_file(path_in("cut"), &n);
        write_file(path_in("cut"), good, n - 1);
        CHECK_ERR(it_weights_open(&w, path_in("cut")), IT_E_FORMAT, "outside the data section");
        free(good);
    }
}

int main(void)
{
    dir = scratch_dir("st");
    round_trip();
    writer_failures();
    hostile();
    rm_tree(dir);
    return test_result();
}
