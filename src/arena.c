/* arena.c: record a dry pass's allocations, lay them out first-fit, replay the layout in one
 * buffer of backend memory. */
#include <stdlib.h>
#include <string.h>

#include "arena_internal.h"
#include "error_internal.h"

enum { ALIGN = 256, MAX_PLANS = 8 };

typedef struct plan {
    uint64_t key;
    size_t count;    /* allocations in a pass */
    size_t *offset;  /* bytes, per allocation in order */
    size_t *size;    /* bytes, per allocation (checked on replay) */
    size_t total;
} plan;

typedef struct event { size_t id; size_t size; int is_alloc; } event;

struct it_arena {
    it_ctx *ctx;
    plan plans[MAX_PLANS];
    int nplans, next_evict;
    /* the current pass */
    plan *replay;          /* NULL while recording */
    size_t n_alloc;        /* allocations so far in this pass */
    size_t live;
    uint64_t key;
    /* recording */
    event *events;
    size_t n_events, cap_events;
    /* replay */
    uint8_t *buf;
    size_t buf_bytes;
};

static size_t round_up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

/* The placeholder of recorded allocation id: a distinct, aligned, never-dereferenced address. */
static void *placeholder(size_t id) { return (void *)(uintptr_t)((id + 1) * ALIGN); }
static size_t placeholder_id(const void *p) { return (size_t)((uintptr_t)p / ALIGN) - 1; }

int it_arena_new(it_arena **out, it_ctx *ctx)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return it_error_set(IT_E_NOMEM, "out of memory allocating an arena");
    (*out)->ctx = ctx;
    return 0;
}

void it_arena_free_all(it_arena **pa)
{
    it_arena *a = *pa;
    if (!a)
        return;
    for (int i = 0; i < a->nplans; i++) {
        free(a->plans[i].offset);
        free(a->plans[i].size);
    }
    free(a->events);
    if (a->buf)
        a->ctx->be->free(a->ctx, a->buf);
    free(a);
    *pa = NULL;
}

int it_arena_begin(it_arena *a, uint64_t key)
{
    a->replay = NULL;
    a->n_alloc = 0;
    a->live = 0;
    a->n_events = 0;
    a->key = key;
    for (int i = 0; i < a->nplans; i++)
        if (a->plans[i].key == key) {
            a->replay = &a->plans[i];
            break;
        }
    if (!a->replay)
        return 1;
    const size_t total = a->replay->total;
    if (total > a->buf_bytes) {
        if (a->buf)
            a->ctx->be->free(a->ctx, a->buf);
        a->buf = NULL;
        a->buf_bytes = 0;
        void *p;
        if (a->ctx->be->alloc(a->ctx, total, &p) < 0) {
            a->replay = NULL;
            return it_error_set(IT_E_NOMEM, "out of memory: %zu bytes of activations", total);
        }
        a->buf = p;
        a->buf_bytes = total;
    }
    return 0;
}

static int push_event(it_arena *a, size_t id, size_t size, int is_alloc)
{
    if (a->n_events == a->cap_events) {
        size_t cap = a->cap_events ? a->cap_events * 2 : 256;
        event *e = realloc(a->events, cap * sizeof *e);
        if (!e)
            return -1;
        a->events = e;
        a->cap_events = cap;
    }
    a->events[a->n_events++] = (event){id, size, is_alloc};
    return 0;
}

void *it_arena_alloc(it_arena *a, size_t n)
{
    size_t bytes = round_up(n > 0 ? n : 1);
    size_t id = a->n_alloc++;
    a->live++;
    if (a->replay) {
        plan *p = a->replay;
        if (id >= p->count || p->size[id] != bytes) {
            it_error_set(IT_E_INTERNAL, "activation plan mismatch at allocation %zu", id);
            return NULL;
        }
        return a->buf + p->offset[id];
    }
    if (push_event(a, id, bytes, 1) < 0) {
        it_error_set(IT_E_NOMEM, "out of memory recording activations");
        return NULL;
    }
    return placeholder(id);
}

void it_arena_release(it_arena *a, void *ptr)
{
    if (!ptr)
        return;
    a->live--;
    if (a->replay)
        return;
    push_event(a, placeholder_id(ptr), 0, 0); /* a failed push only makes the plan larger */
}

/* First fit over the recorded timeline: each allocation takes the lowest offset that does
 * not overlap a block live at the same time. */
static int make_plan(it_arena *a, plan *p)
{
    size_t count = a->n_alloc;
    p->offset = calloc(count ? count : 1, sizeof *p->offset);
    p->size = calloc(count ? count : 1, sizeof *p->size);
    size_t *live_ids = calloc(count ? count : 1, sizeof *live_ids);
    if (!p->offset || !p->size || !live_ids) {
        free(live_ids);
        return it_error_set(IT_E_NOMEM, "out of memory planning activations");
    }
    size_t nlive = 0;
    p->count = count;
    p->total = 0;
    for (size_t e = 0; e < a->n_events; e++) {
        const event *ev = &a->events[e];
        if (!ev->is_alloc) {
            for (size_t i = 0; i < nlive; i++)
                if (live_ids[i] == ev->id) {
                    memmove(live_ids + i, live_ids + i + 1, (nlive - i - 1) * sizeof *live_ids);
                    nlive--;
                    break;
                }
            continue;
        }
        /* live_ids is kept sorted by offset: scan the gaps. */
        size_t off = 0, pos = 0;
        for (; pos < nlive; pos++) {
            size_t lo = p->offset[live_ids[pos]];
            if (lo >= off + ev->size)
                break;
            size_t hi = lo + p->size[live_ids[pos]];
            if (hi > off)
                off = hi;
        }
        p->offset[ev->id] = off;
        p->size[ev->id] = ev->size;
        memmove(live_ids + pos + 1, live_ids + pos, (nlive - pos) * sizeof *live_ids);
        live_ids[pos] = ev->id;
        nlive++;
        if (off + ev->size > p->total)
            p->total = off + ev->size;
    }
    free(live_ids);
    return 0;
}

int it_arena_end(it_arena *a)
{
    if (a->live != 0)
        return it_error_set(IT_E_INTERNAL, "%zu activation buffers not released", a->live);
    if (a->replay)
        return 0;
    plan *p;
    if (a->nplans < MAX_PLANS) {
        p = &a->plans[a->nplans++];
    } else {
        p = &a->plans[a->next_evict];
        a->next_evict = (a->next_evict + 1) % MAX_PLANS;
        free(p->offset);
        free(p->size);
    }
    memset(p, 0, sizeof *p);
    int rc = make_plan(a, p);
    /* A failed plan never matches, so the next pass with this key records again. */
    p->key = rc < 0 ? ~a->key : a->key;
    return rc;
}

void it_arena_abort(it_arena *a)
{
    a->replay = NULL;
    a->n_alloc = 0;
    a->live = 0;
    a->n_events = 0;
}

size_t it_arena_bytes(const it_arena *a) { return a->buf_bytes; }
