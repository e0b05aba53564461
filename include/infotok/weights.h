/* weights.h: weight files for the InfoTok network: the native format, the official PyTorch
 * checkpoint, the model config and the table of tensors a config requires.
 *
 * Caveats first:
 *  - Both readers treat the file as hostile: every offset, size, shape and name is checked, and
 *    a malformed file yields IT_E_FORMAT / IT_E_TRUNCATED / IT_E_UNSUPPORTED with a message that
 *    names the file and the problem. The PyTorch reader interprets only a whitelisted subset of
 *    pickle; it never executes anything and refuses any other global by name.
 *  - A native file is mmap'ed read-only. Tensor views point into the mapping and stay valid until
 *    it_weights_close(); if another process truncates the file meanwhile, reading a view may
 *    raise SIGBUS (as with LMDB). Views of a .pt checkpoint point into heap copies.
 *  - A view's data is packed little-endian, row-major, contiguous; it is aligned to its element
 *    size in files infotok writes, but may be unaligned in other safetensors files: read it with
 *    memcpy or through it_tensor_to_f32().
 *  - Names are the PyTorch state_dict names, with the checkpoint's "network." prefix stripped.
 *  - The format is documented in infotok-weights(5). This header is the API.
 */
#ifndef IT_FORMATS_WEIGHTS_H
#define IT_FORMATS_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "infotok/core.h"

/* Exported from libinfotok.so: the public API (the library builds with hidden visibility). */
#pragma GCC visibility push(default)

#ifdef __cplusplus
extern "C" {
#endif

/* ---- element types ------------------------------------------------------------------------ */
typedef enum it_dtype {
    IT_DTYPE_F32 = 0,
    IT_DTYPE_BF16,
    IT_DTYPE_F16,
    IT_DTYPE_I32,
    IT_DTYPE_I64,
    IT_DTYPE_U8,     /* not in weights; test fixtures carry uint8 frames */
    IT_DTYPE_COUNT
} it_dtype;

size_t it_dtype_size(it_dtype t);        /* bytes per element, 0 for an invalid value */
const char *it_dtype_name(it_dtype t);   /* safetensors spelling: "F32", "BF16", ... */
int it_dtype_from_name(const char *name, it_dtype *t); /* 0, or IT_E_UNSUPPORTED */
int it_dtype_is_float(it_dtype t);

/* Float conversions, exactly as the files need them: bf16 <-> f32 are it_bf16_from_f32 (round
 * to nearest even, NaN stays NaN) and it_bf16_to_f32 of kernels/it_kernels.h, defined once for
 * the whole engine; f16 is read only. */
float it_f16_to_f32(uint16_t h);

/* ---- tensor views ------------------------------------------------------------------------- */
#define IT_MAX_DIMS 8

typedef struct it_tensor_view {
    const char *name;
    it_dtype dtype;
    int ndim;
    int64_t shape[IT_MAX_DIMS];
    int64_t numel;      /* product of shape (1 for a scalar) */
    size_t nbytes;      /* numel * it_dtype_size(dtype) */
    const void *data;   /* see the caveats above */
} it_tensor_view;

/* Convert a float tensor (F32, BF16 or F16) to numel floats at dst. IT_E_SHAPE for integers. */
int it_tensor_to_f32(const it_tensor_view *t, float *dst);
/* Convert an integer tensor (I32, I64 or U8) to numel int64 values. IT_E_SHAPE for floats. */
int it_tensor_to_i64(const it_tensor_view *t, int64_t *dst);

/* ---- the model config (spec §3.1), stored in a native file's metadata as JSON --------------- */
#define IT_CONFIG_RESOLUTIONS 3 /* CNN levels: entries of channels_mult */
#define IT_CONFIG_MAX_FSQ 8     /* capacity of levels[] */

typedef struct it_config {
    char arch[64];              /* "infotok-ours-4x8x8" */
    int channels;               /* 128 */
    int channels_mult[IT_CONFIG_RESOLUTIONS]; /* 2,4,4 */
    int num_res_blocks;         /* 2 (the decoder has num_res_blocks + 1 per level) */
    int z_channels;             /* 256, must equal vit_hidden */
    int embedding_dim;          /* 6 FSQ channels */
    int levels[IT_CONFIG_MAX_FSQ]; /* 8,8,8,5,5,5 (embedding_dim entries) */
    int patch_size;             /* 2 (Haar) */
    int spatial_compression;    /* 8 */
    int temporal_compression;   /* 4 */
    int vit_hidden;             /* 256 */
    int vit_intermediate;       /* 512 */
    int vit_enc_layers;         /* 8 */
    int vit_dec_layers;         /* 8 */
    int vit_heads;              /* 32 */
    double rope_theta;          /* 1e4 */
    double rms_norm_eps;        /* 1e-5 */
    int max_latent_frames;      /* 49: rows of temporal_embed */
    int max_rope_size;          /* 96: the 2D RoPE table is max_rope_size^2 */
    double norm_eps;            /* 1e-6 (GroupNorm) */
} it_config;

/* The released checkpoint's config (OURS4x8x8-mse-256p-88). */
it_config it_config_official(void);
/* Parse the config JSON (every key required, no unknown keys) and validate it. `what` names the
 * input in messages. */
int it_config_parse(it_config *cfg, const char *json, size_t len, const char *what);
/* Check ranges and the fixed parts (geometry 2/8/4, 3 levels, FSQ levels 8,8,8,5,5,5). */
int it_config_validate(const it_config *cfg, const char *what);
/* The config as compact JSON with the keys in schema order; *json is malloc'ed. */
int it_config_to_json(const it_config *cfg, char **json);
/* Number of FSQ codes (product of levels). */
int64_t it_config_codebook_size(const it_config *cfg);

/* ---- the tensors a config requires ---------------------------------------------------------- */
typedef enum it_tensor_kind {
    IT_TENSOR_PARAM = 0,   /* a learned parameter: required, float */
    IT_TENSOR_CONST,       /* a buffer rebuilt from the config (FSQ levels, basis, codebook):
                              may be absent; if present its values must match */
    IT_TENSOR_STAT         /* a training-only statistic (save_loss, ema_loss): may be absent,
                              never used; if present its shape must match */
} it_tensor_kind;

typedef struct it_tensor_spec {
    char name[96];
    it_tensor_kind kind;
    int ndim;
    int64_t shape[IT_MAX_DIMS];
} it_tensor_spec;

typedef struct it_tensor_table {
    it_tensor_spec *specs; /* in module order */
    size_t count;
    it_config config;      /* the config it was built from */
} it_tensor_table;

int it_tensor_table_build(const it_config *cfg, it_tensor_table **out);
void it_tensor_table_free(it_tensor_table **t); /* NULL-safe */
const it_tensor_spec *it_tensor_table_find(const it_tensor_table *t, const char *name);
/* Sum of numel over the IT_TENSOR_PARAM entries. */
int64_t it_tensor_table_param_count(const it_tensor_table *t);
/* "[128,24,1,3,3]" into buf (always NUL-terminated). */
void it_shape_format(char *buf, size_t size, int ndim, const int64_t *shape);

/* ---- weight files --------------------------------------------------------------------------- */
typedef struct it_weights it_weights;

/* Open a native (safetensors-layout) file. Any valid safetensors file with supported dtypes
 * opens; the infotok metadata is checked by it_weights_config(). */
int it_weights_open(it_weights **out, const char *path);
/* Open an official torch.save checkpoint (zip). Keeps the "network.*" entries of ckpt["model"]
 * (or of the flat dict) with the prefix stripped; everything else (ema.*, optimizer, ...) is
 * ignored. float64 tensors become F32; non-contiguous views are copied. */
int it_weights_open_pt(it_weights **out, const char *path);
/* Either of the two, told apart by the file's first bytes (a zip is a checkpoint). */
int it_weights_open_any(it_weights **out, const char *path);
void it_weights_close(it_weights **w); /* NULL-safe; sets *w = NULL */

const char *it_weights_path(const it_weights *w);
int it_weights_is_pt(const it_weights *w);
size_t it_weights_count(const it_weights *w);
/* Tensors in file order (native: header order; checkpoint: dict order). */
const it_tensor_view *it_weights_tensor(const it_weights *w, size_t i);
const it_tensor_view *it_weights_find(const it_weights *w, const char *name); /* NULL if absent */

/* Native metadata ("__metadata__"), string to string. NULL if absent. */
const char *it_weights_metadata(const it_weights *w, const char *key);
size_t it_weights_metadata_count(const it_weights *w);
int it_weights_metadata_at(const it_weights *w, size_t i, const char **key, const char **value);

/* The config stored in a native file (metadata "format" must be "infotok-weights",
 * "format_version" "1"). IT_E_NOTFOUND when the file has none (a checkpoint never has one). */
int it_weights_config(const it_weights *w, it_config *cfg);

/* The whole-file check, ggml style: every required tensor present with its exact shape and a
 * float dtype; rebuilt buffers absent or equal to their known values; training statistics
 * absent or of the right shape; nothing else. The first problem is reported, naming the
 * tensor. */
int it_weights_check(const it_weights *w, const it_tensor_table *table);

/* For a network builder: take one tensor by name and exact shape, marking it used. */
int it_weights_require(it_weights *w, const char *name, int ndim, const int64_t *shape,
                       const it_tensor_view **out);
/* After building: IT_E_FORMAT naming the first tensor never required (IT_TENSOR_CONST and
 * IT_TENSOR_STAT entries of `table` are exempt; table may be NULL). */
int it_weights_check_all_used(const it_weights *w, const it_tensor_table *table);

/* ---- writing a native file ------------------------------------------------------------------ */
/* The file appears under its name only when complete: it is written to a temporary file in the
 * same directory, synced and renamed. Tensor data is referenced, not copied, until finish. */
typedef struct it_weights_writer it_weights_writer;

int it_weights_writer_new(it_weights_writer **out, const char *path);
/* A metadata string; "format" and "format_version" are set by the writer. */
int it_weights_writer_set_metadata(it_weights_writer *wr, const char *key, const char *value);
/* Store the config as metadata "config" (validated first). */
int it_weights_writer_set_config(it_weights_writer *wr, const it_config *cfg);
int it_weights_writer_add(it_weights_writer *wr, const char *name, it_dtype dtype, int ndim,
                          const int64_t *shape, const void *data);
/* Add a view, converting it to out_dtype: a float tensor may become F32 or BF16; anything else
 * is stored as it is (out_dtype must then equal its dtype). */
int it_weights_writer_add_view(it_weights_writer *wr, const it_tensor_view *t, it_dtype out_dtype);
/* Write, sync, rename; frees the writer (also on failure, leaving no file behind). */
int it_weights_writer_finish(it_weights_writer **wr);
/* Abandon without writing (NULL-safe). */
void it_weights_writer_free(it_weights_writer **wr);

#ifdef __cplusplus
}
#endif
#pragma GCC visibility pop
#endif
