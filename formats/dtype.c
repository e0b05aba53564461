/* dtype.c: element types of weight files and the float conversions between them.
 * Data is little-endian; configure refuses big-endian hosts, so no byte swapping here. */
#include <math.h>
#include <string.h>

#include "error_internal.h"
#include "infotok/weights.h"
#include "kernels/it_kernels.h"

static const struct { const char *name; size_t size; int is_float; } dtypes[IT_DTYPE_COUNT] = {
    [IT_DTYPE_F32] = {"F32", 4, 1},
    [IT_DTYPE_BF16] = {"BF16", 2, 1},
    [IT_DTYPE_F16] = {"F16", 2, 1},
    [IT_DTYPE_I32] = {"I32", 4, 0},
    [IT_DTYPE_I64] = {"I64", 8, 0},
    [IT_DTYPE_U8] = {"U8", 1, 0},
};

size_t it_dtype_size(it_dtype t)
{
    return (unsigned)t < IT_DTYPE_COUNT ? dtypes[t].size : 0;
}

const char *it_dtype_name(it_dtype t)
{
    return (unsigned)t < IT_DTYPE_COUNT ? dtypes[t].name : "?";
}

int it_dtype_is_float(it_dtype t)
{
    return (unsigned)t < IT_DTYPE_COUNT && dtypes[t].is_float;
}

int it_dtype_from_name(const char *name, it_dtype *t)
{
    for (int i = 0; i < IT_DTYPE_COUNT; i++)
        if (strcmp(name, dtypes[i].name) == 0) {
            *t = (it_dtype)i;
            return 0;
        }
    return IT_E_UNSUPPORTED;
}

float it_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13); /* inf or NaN */
    } else if (exp != 0) {
        u = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        u = sign;
    } else { /* subnormal half: exactly representable as a normal float */
        float v = ldexpf((float)man, -24);
        memcpy(&u, &v, 4);
        u |= sign;
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int it_tensor_to_f32(const it_tensor_view *t, float *dst)
{
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case IT_DTYPE_F32:
        if (t->nbytes)
            memcpy(dst, p, t->nbytes);
        return 0;
    case IT_DTYPE_BF16:
    case IT_DTYPE_F16:
        for (int64_t i = 0; i < t->numel; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = t->dtype == IT_DTYPE_BF16 ? it_bf16_to_f32(h) : it_f16_to_f32(h);
        }
        return 0;
    default:
        return it_error_set(IT_E_SHAPE, "tensor '%s' has dtype %s, expected a float type",
                            t->name, it_dtype_name(t->dtype));
    }
}

int it_tensor_to_i64(const it_tensor_view *t, int64_t *dst)
{
    const unsigned char *p = t->data;
    switch (t->dtype) {
    case IT_DTYPE_I64:
        if (t->nbytes)
            memcpy(dst, p, t->nbytes);
        return 0;
    case IT_DTYPE_I32:
        for (int64_t i = 0; i < t->numel; i++) {
            int32_t v;
            memcpy(&v, p + 4 * i, 4);
            dst[i] = v;
        }
        return 0;
    case IT_DTYPE_U8:
        for (int64_t i = 0; i < t->numel; i++)
            dst[i] = p[i];
        return 0;
    default:
        return it_error_set(IT_E_SHAPE, "tensor '%s' has dtype %s, expected an integer type",
                            t->name, it_dtype_name(t->dtype));
    }
}
