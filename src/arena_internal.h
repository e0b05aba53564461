/* arena_internal.h: activation memory planned once per window shape, in one buffer of
 * backend memory (device memory on a device backend).
 * The first pass for a shape key is a dry run: the network is walked without running any op
 * (the model skips them) while the arena hands out placeholder addresses and records every
 * allocation's size and lifetime; a first-fit layout over that timeline then gives each
 * allocation an offset in one buffer, allocated from the backend context. Every later pass
 * with the same key, the first real one included, replays the layout: no allocation per op,
 * none per window. The network's allocation sequence is a pure function of the shape, which
 * makes this safe; a pass that departs from its plan fails loudly (IT_E_INTERNAL).
 * Placeholders must never be dereferenced (nor offset: the model does no pointer arithmetic on
 * activations during a dry run). Not thread-safe. */
#ifndef IT_ARENA_INTERNAL_H
#define IT_ARENA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/it_kernels.h"

typedef struct it_arena it_arena;

/* An arena whose buffer comes from ctx (kept until it_arena_free_all). */
int it_arena_new(it_arena **out, it_ctx *ctx);
void it_arena_free_all(it_arena **a); /* NULL-safe; frees the buffer through the context */
/* Start a pass for a shape key (any 64-bit summary of the shapes involved): 1 when the key has
 * no plan yet and this pass is the recording dry run, 0 when it replays a plan, < 0 on error. */
int it_arena_begin(it_arena *a, uint64_t key);
/* bytes (rounded up to 256, the backend alignment); NULL (message set) on a plan mismatch. */
void *it_arena_alloc(it_arena *a, size_t bytes);
void it_arena_release(it_arena *a, void *p); /* NULL-safe */
/* End the pass: every allocation must have been released. Ending a dry run makes the plan;
 * the next begin with its key grows the buffer to it (only ever up, through the context). */
int it_arena_end(it_arena *a);
/* Abandon a failed pass: nothing is planned from it. */
void it_arena_abort(it_arena *a);
/* Bytes of the buffer (0 before any plan). */
size_t it_arena_bytes(const it_arena *a);

#endif
