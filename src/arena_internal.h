/* arena_internal.h: activation memory planned once per window shape.
 * The first pass for a shape key runs on malloc/free and records every allocation's size
 * and lifetime; a first-fit layout over that timeline then gives each allocation an offset
 * in one buffer. Later passes with the same key replay the layout: no allocation per op.
 * The network's allocation sequence is a pure function of the shape, which makes this safe;
 * a pass that departs from its plan fails loudly (IT_E_INTERNAL). Not thread-safe. */
#ifndef IT_ARENA_INTERNAL_H
#define IT_ARENA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct it_arena it_arena;

int it_arena_new(it_arena **out);
void it_arena_free_all(it_arena **a); /* NULL-safe */
/* Start a pass for a shape key (any 64-bit summary of the shapes involved). */
int it_arena_begin(it_arena *a, uint64_t key);
/* n floats, 64-byte aligned; NULL (message set) on failure. */
float *it_arena_alloc(it_arena *a, size_t n);
void it_arena_release(it_arena *a, float *p); /* NULL-safe */
/* End the pass: every allocation must have been released. */
int it_arena_end(it_arena *a);
/* Abandon a failed pass: nothing is planned from it. */
void it_arena_abort(it_arena *a);
/* Bytes of the planned buffer (0 before any plan). */
size_t it_arena_bytes(const it_arena *a);

#endif
