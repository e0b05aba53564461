/* pickle_internal.h: a small pickle interpreter for torch.save state dicts. It builds plain data
 * (None, bools, ints, floats, strings, tuples, lists, dicts) plus two torch objects, storages
 * (from persistent ids) and tensors (from _rebuild_tensor_v2), and refuses every other global by
 * name. Nothing is ever executed. Not part of the public interface. */
#ifndef IT_FORMATS_PICKLE_INTERNAL_H
#define IT_FORMATS_PICKLE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Limits: real checkpoints (model + EMA + optimizer) stay far below them. */
#define PK_MAX_INPUT ((size_t)256 << 20)  /* bytes of data.pkl */
#define PK_MAX_OBJECTS (1 << 21)         /* objects created */
#define PK_MAX_MEMO (1 << 21)            /* memo entries */
#define PK_MAX_STACK (1 << 20)           /* stack entries */
#define PK_MAX_MARKS 4096                /* nested MARKs */
#define PK_MAX_STRING ((size_t)16 << 20) /* bytes of one string */
#define PK_MAX_DIMS 8

typedef enum pk_type {
    PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_BYTES,
    PK_TUPLE, PK_LIST, PK_DICT, PK_GLOBAL, PK_STORAGE, PK_TENSOR
} pk_type;

/* Storage element types as torch names them (more than it_dtype: a checkpoint may hold tensors
 * of other types outside the network, which are parsed and then ignored). */
typedef enum pk_dtype {
    PK_F32, PK_BF16, PK_F16, PK_I32, PK_I64, PK_F64, PK_U8, PK_I8, PK_I16, PK_BOOL8, PK_DTYPE_COUNT
} pk_dtype;
size_t pk_dtype_size(pk_dtype t);
const char *pk_dtype_name(pk_dtype t); /* torch spelling: "float32", ... */

typedef struct pk_obj pk_obj;
struct pk_obj {
    pk_type type;
    union {
        int64_t i;                                           /* PK_BOOL, PK_INT */
        double f;                                            /* PK_FLOAT */
        struct { char *s; size_t len; } str;                 /* PK_STR, PK_BYTES (NUL-ended) */
        struct { pk_obj **items; size_t len, cap; } seq;     /* PK_TUPLE, PK_LIST */
        struct { pk_obj **kv; size_t len, cap; } dict;       /* PK_DICT: len pairs, kv[2i], kv[2i+1] */
        int global;                                          /* PK_GLOBAL: index in the whitelist */
        struct { char *key; pk_dtype dtype; int64_t numel; } storage;
        struct pk_tensor *tensor;                            /* PK_TENSOR */
    } u;
    pk_obj *next; /* every object is on the VM's list and freed with it, so cycles are harmless */
};

typedef struct pk_tensor {
    pk_obj *storage; /* PK_STORAGE */
    int64_t offset;  /* in elements */
    int ndim;
    int64_t size[PK_MAX_DIMS], stride[PK_MAX_DIMS];
} pk_tensor;

typedef struct pk_vm pk_vm;

/* Interpret data[0..len) (what names it in messages, e.g. "model.pt: data.pkl"). On success
 * *root is the unpickled value, owned by *vm until pk_free. */
int pk_run(pk_vm **vm, const unsigned char *data, size_t len, const char *what, pk_obj **root);
void pk_free(pk_vm **vm);

/* The value stored under a string key in a dict, or NULL. */
pk_obj *pk_dict_get(const pk_obj *dict, const char *key);

#endif
