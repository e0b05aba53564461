/* weights_internal.h: the it_weights object shared by the two readers, and the in-memory entry
 * points the tests and the fuzzer use. Not part of the public interface. */
#ifndef IT_FORMATS_WEIGHTS_INTERNAL_H
#define IT_FORMATS_WEIGHTS_INTERNAL_H

#include "infotok/weights.h"

/* Hard limits shared by the readers; far above the real model (468 tensors, 246 MB header-free
 * data in bf16) and low enough that a hostile file cannot make us allocate without bound. */
#define IT_WEIGHTS_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* safetensors JSON header */
#define IT_WEIGHTS_MAX_TENSORS 100000
#define IT_WEIGHTS_MAX_NAME 255

struct it_weights {
    char *path;               /* for messages */
    int is_pt;
    it_tensor_view *tensors;  /* file order; names owned (malloc'ed) */
    size_t count;
    size_t *by_name;          /* indices sorted by name, for lookup */
    unsigned char *used;      /* it_weights_require marks */
    char **meta_keys, **meta_values;
    size_t meta_count;
    void *map;                /* the mmap'ed native file, or NULL */
    size_t map_size;
    void **blocks;            /* heap blocks the views point into (checkpoint storages) */
    size_t nblocks, cap_blocks;
};

/* An empty object naming `path` (the name used in messages). */
int it_weights_alloc(it_weights **out, const char *path);
/* Take ownership of a heap block. On failure the block is freed. */
int it_weights_own(it_weights *w, void *block);
/* After the views are filled in: sort the index, refuse duplicate or insane names. */
int it_weights_finalize(it_weights *w);
/* 1 if a tensor name is acceptable: 1..255 bytes of [A-Za-z0-9_.:/-], not "__metadata__". */
int it_weights_name_ok(const char *name, size_t len);

/* Parse a safetensors image held in memory (the views point into it; the caller keeps it alive
 * and owns it unless w->map is set afterwards). */
int it_safetensors_parse(it_weights *w, const unsigned char *data, size_t size);
int it_weights_open_safetensors_memory(it_weights **out, const void *data, size_t size,
                                       const char *name);
/* Read a checkpoint zip held in memory (storages are copied out). */
int it_weights_open_pt_memory(it_weights **out, const void *data, size_t size, const char *name);

#endif
