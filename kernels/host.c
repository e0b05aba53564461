/* host.c: contexts of the host backends (ref, cpu): device memory is aligned host memory,
 * upload/download are memcpy, and each context keeps its ops' scratch in slots that grow and
 * stay (no allocation, and so no page faults, in a steady state of same-shape calls). */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_internal.h"

enum { HOST_ALIGN = 256 };

int it_host_open(const it_backend *be, const it_ctx_opts *o, it_ctx **out)
{
    *out = NULL;
    if (o->precision < 0 || o->precision >= IT_PRECISION_COUNT)
        return it_error_set(IT_E_INVALID, "backend '%s': unknown precision %d", be->name, o->precision);
    if (o->device != 0)
        return it_error_set(IT_E_UNSUPPORTED, "backend '%s' has no device %d (host memory only)", be->name,
                            o->device);
    it_ctx *ctx = calloc(1, sizeof *ctx);
    it_host_priv *priv = calloc(1, sizeof *priv);
    if (!ctx || !priv) {
        free(ctx);
        free(priv);
        return it_error_set(IT_E_NOMEM, "out of memory opening a '%s' context", be->name);
    }
    ctx->be = be;
    ctx->precision = o->precision;
    ctx->device = 0;
    ctx->threads = o->threads > 0 ? o->threads : 0;
    ctx->priv = priv;
    *out = ctx;
    return 0;
}

void it_host_close(it_ctx *ctx)
{
    if (!ctx)
        return;
    it_host_priv *priv = ctx->priv;
    if (priv) {
        for (int i = 0; i < IT_SCR_COUNT; i++)
            free(priv->scratch[i].p);
        if (priv->free_state)
            priv->free_state(priv->state);
        free(priv);
    }
    free(ctx);
}

int it_host_alloc(it_ctx *ctx, size_t bytes, void **out)
{
    (void)ctx;
    size_t size = (bytes ? bytes : 1) + HOST_ALIGN - 1;
    if (size < bytes)
        return it_error_set(IT_E_NOMEM, "out of memory: %zu bytes", bytes);
    *out = aligned_alloc(HOST_ALIGN, size / HOST_ALIGN * HOST_ALIGN);
    return *out ? 0 : it_error_set(IT_E_NOMEM, "out of memory: %zu bytes", bytes);
}

void it_host_free(it_ctx *ctx, void *p)
{
    (void)ctx;
    free(p);
}

int it_host_upload(it_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    (void)ctx;
    if (bytes && dst != src)
        memcpy(dst, src, bytes);
    return 0;
}

int it_host_download(it_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    (void)ctx;
    if (bytes && dst != src)
        memcpy(dst, src, bytes);
    return 0;
}

int it_host_copy(it_ctx *ctx, void *dst, const void *src, size_t bytes)
{
    (void)ctx;
    if (bytes && dst != src)
        memmove(dst, src, bytes);
    return 0;
}

int it_host_sync(it_ctx *ctx)
{
    (void)ctx;
    return 0;
}

void *it_host_scratch(it_ctx *ctx, int slot, size_t bytes)
{
    it_host_priv *priv = ctx->priv;
    if (slot < 0 || slot >= IT_SCR_COUNT) {
        it_error_set(IT_E_INTERNAL, "scratch slot %d out of range", slot);
        return NULL;
    }
    if (bytes <= priv->scratch[slot].bytes)
        return priv->scratch[slot].p;
    free(priv->scratch[slot].p);
    size_t size = (bytes + 63) / 64 * 64;
    priv->scratch[slot].p = size >= bytes ? aligned_alloc(64, size) : NULL;
    priv->scratch[slot].bytes = priv->scratch[slot].p ? size : 0;
    if (!priv->scratch[slot].p)
        it_error_set(IT_E_NOMEM, "out of memory: %zu bytes of scratch", bytes);
    return priv->scratch[slot].p;
}

/* Elementwise, so splitting the loop over threads cannot change a result. Blocks of a fixed
 * 16 elements: GCC's -O2 vectorises only loops that need no epilogue, and these run on every
 * bf16 op's wrapper. */
#define CONV_BLOCK 16
void it_bf16_to_f32_n(size_t n, const it_bf16 *src, float *dst)
{
    const size_t nb = n / CONV_BLOCK;
#pragma omp parallel for schedule(static) if (n >= (1 << 18))
    for (size_t b = 0; b < nb; b++)
        for (int i = 0; i < CONV_BLOCK; i++)
            dst[b * CONV_BLOCK + i] = it_bf16_to_f32(src[b * CONV_BLOCK + i]);
    for (size_t i = nb * CONV_BLOCK; i < n; i++)
        dst[i] = it_bf16_to_f32(src[i]);
}

void it_bf16_from_f32_n(size_t n, const float *src, it_bf16 *dst)
{
    const size_t nb = n / CONV_BLOCK;
#pragma omp parallel for schedule(static) if (n >= (1 << 18))
    for (size_t b = 0; b < nb; b++)
        for (int i = 0; i < CONV_BLOCK; i++)
            dst[b * CONV_BLOCK + i] = it_bf16_from_f32(src[b * CONV_BLOCK + i]);
    for (size_t i = nb * CONV_BLOCK; i < n; i++)
        dst[i] = it_bf16_from_f32(src[i]);
}
