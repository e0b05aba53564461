/* pickle.c: the pickle subset torch.save writes for a state dict (protocol 2, plus the protocol
 * 4 spellings a newer writer might use), interpreted by a stack machine that builds data only.
 * Globals are looked up in a whitelist when they are read, so an unknown one is refused before
 * anything could call it; REDUCE only ever "calls" the whitelisted constructors below, which
 * are implemented here as data transformations. Every read is bounds-checked and every
 * structure is capped (pickle_internal.h). All objects live on one list owned by the VM, so a
 * hostile pickle that builds cycles leaks nothing and cannot make a free recurse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "formats/pickle_internal.h"

enum {
    G_ORDERED_DICT, G_SET, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER,
    G_REBUILD_PARAMETER_WITH_STATE, G_STORAGE
};

static const struct gentry {
    const char *module, *name;
    int kind;
    pk_dtype dtype;
} whitelist[] = {
    {"collections", "OrderedDict", G_ORDERED_DICT, 0},
    {"builtins", "set", G_SET, 0},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR_V2, 0},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAMETER, 0},
    {"torch._utils", "_rebuild_parameter_with_state", G_REBUILD_PARAMETER_WITH_STATE, 0},
    /* Storage classes only ever appear inside persistent ids; torch 1.x and 2.x both write the
     * legacy typed names (TypedStorage._pickle_storage_type), UntypedStorage for raw bytes. */
    {"torch", "FloatStorage", G_STORAGE, PK_F32},
    {"torch", "BFloat16Storage", G_STORAGE, PK_BF16},
    {"torch", "HalfStorage", G_STORAGE, PK_F16},
    {"torch", "IntStorage", G_STORAGE, PK_I32},
    {"torch", "LongStorage", G_STORAGE, PK_I64},
    {"torch", "DoubleStorage", G_STORAGE, PK_F64},
    {"torch", "ByteStorage", G_STORAGE, PK_U8},
    {"torch", "CharStorage", G_STORAGE, PK_I8},
    {"torch", "ShortStorage", G_STORAGE, PK_I16},
    {"torch", "BoolStorage", G_STORAGE, PK_BOOL8},
    {"torch", "UntypedStorage", G_STORAGE, PK_U8},
};
#define NWHITE (sizeof whitelist / sizeof whitelist[0])

static const struct { const char *name; size_t size; } pk_dtypes[PK_DTYPE_COUNT] = {
    [PK_F32] = {"float32", 4}, [PK_BF16] = {"bfloat16", 2}, [PK_F16] = {"float16", 2},
    [PK_I32] = {"int32", 4},   [PK_I64] = {"int64", 8},     [PK_F64] = {"float64", 8},
    [PK_U8] = {"uint8", 1},    [PK_I8] = {"int8", 1},       [PK_I16] = {"int16", 2},
    [PK_BOOL8] = {"bool", 1},
};

size_t pk_dtype_size(pk_dtype t) { return (unsigned)t < PK_DTYPE_COUNT ? pk_dtypes[t].size : 0; }
const char *pk_dtype_name(pk_dtype t) { return (unsigned)t < PK_DTYPE_COUNT ? pk_dtypes[t].name : "?"; }

struct pk_vm {
    const unsigned char *p;
    size_t len, pos, op_at;
    const char *what;
    pk_obj *all;
    size_t nobj;
    pk_obj **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks;
    pk_obj **memo;
    size_t nmemo, mcap;
    pk_obj none, yes, no; /* shared constants, not on the list */
};

#define FAILAT(code, ...)                                                                  \
    do {                                                                                   \
        char msg_[1024];                                                                    \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                                          \
        rc = it_error_set((code), "%s: offset %zu: %s", vm->what, vm->op_at, msg_);        \
        goto done;                                                                         \
    } while (0)

static pk_obj *new_obj(pk_vm *vm, pk_type type)
{
    if (vm->nobj >= PK_MAX_OBJECTS)
        return NULL;
    pk_obj *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->type = type;
    o->next = vm->all;
    vm->all = o;
    vm->nobj++;
    return o;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *a = realloc(*arr, n * elem);
    if (!a)
        return -1;
    *arr = a;
    *cap = n;
    return 0;
}

void pk_free(pk_vm **pvm)
{
    pk_vm *vm = pvm ? *pvm : NULL;
    if (!vm)
        return;
    for (pk_obj *o = vm->all, *next; o; o = next) {
        next = o->next;
        switch (o->type) {
        case PK_STR:
        case PK_BYTES: free(o->u.str.s); break;
        case PK_TUPLE:
        case PK_LIST: free(o->u.seq.items); break;
        case PK_DICT: free(o->u.dict.kv); break;
        case PK_STORAGE: free(o->u.storage.key); break;
        case PK_TENSOR: free(o->u.tensor); break;
        default: break;
        }
        free(o);
    }
    free(vm->stack);
    free(vm->marks);
    free(vm->memo);
    free(vm);
    *pvm = NULL;
}

pk_obj *pk_dict_get(const pk_obj *d, const char *key)
{
    pk_obj *found = NULL;
    size_t klen = strlen(key);
    if (!d || d->type != PK_DICT)
        return NULL;
    /* The last assignment wins, as in Python. */
    for (size_t i = 0; i < d->u.dict.len; i++) {
        const pk_obj *k = d->u.dict.kv[2 * i];
        if (k->type == PK_STR && k->u.str.len == klen && memcmp(k->u.str.s, key, klen) == 0)
            found = d->u.dict.kv[2 * i + 1];
    }
    return found;
}

static const char *type_name(const pk_obj *o)
{
    static const char *const names[] = {"None", "bool", "int", "float", "str", "bytes", "tuple",
                                        "list", "dict", "global", "storage", "tensor"};
    return names[o->type];
}

/* ---- the machine ---------------------------------------------------------------------------- */

int pk_run(pk_vm **out, const unsigned char *data, size_t len, const char *what, pk_obj **root)
{
    int rc = 0;
    pk_vm *vm = calloc(1, sizeof *vm);
    pk_obj *o = NULL;
    if (!vm)
        return it_error_set(IT_E_NOMEM, "out of memory");
    vm->p = data;
    vm->len = len;
    vm->what = what;
    vm->none.type = PK_NONE;
    vm->yes.type = vm->no.type = PK_BOOL;
    vm->yes.u.i = 1;
    *root = NULL;
    if (len > PK_MAX_INPUT)
        FAILAT(IT_E_UNSUPPORTED, "pickle of %zu bytes exceeds the limit", len);

/* Helpers as macros so that each failure names its opcode's offset and jumps to cleanup. */
#define NEED(n)                                                                            \
    do {                                                                                   \
        if ((size_t)(n) > vm->len - vm->pos)                                               \
            FAILAT(IT_E_TRUNCATED, "pickle ends inside opcode 0x%02x", op);                \
    } while (0)
#define FLOOR (vm->nmarks ? vm->marks[vm->nmarks - 1] : 0)
#define PUSH(obj)                                                                          \
    do {                                                                                   \
        pk_obj *o_ = (obj);                                                                \
        if (!o_)                                                                           \
            FAILAT(IT_E_NOMEM, "out of memory or more than %d objects", PK_MAX_OBJECTS);   \
        if (vm->sp >= PK_MAX_STACK)                                                        \
            FAILAT(IT_E_UNSUPPORTED, "stack deeper than %d", PK_MAX_STACK);                \
        if (grow((void **)&vm->stack, &vm->scap, vm->sp + 1, sizeof *vm->stack) < 0)       \
            FAILAT(IT_E_NOMEM, "out of memory");                                           \
        vm->stack[vm->sp++] = o_;                                                          \
    } while (0)
#define POP(dst)                                                                           \
    do {                                                                                   \
        if (vm->sp <= FLOOR)                                                               \
            FAILAT(IT_E_FORMAT, "stack underflow at opcode 0x%02x", op);                   \
        (dst) = vm->stack[--vm->sp];                                                       \
    } while (0)
#define TOP(dst)                                                                           \
    do {                                                                                   \
        if (vm->sp <= FLOOR)                                                               \
            FAILAT(IT_E_FORMAT, "stack underflow at opcode 0x%02x", op);                   \
        (dst) = vm->stack[vm->sp - 1];                                                     \
    } while (0)
#define POP_MARK(start)                                                                    \
    do {                                                                                   \
        if (!vm->nmarks)                                                                   \
            FAILAT(IT_E_FORMAT, "opcode 0x%02x without a MARK", op);                       \
        (start) = vm->marks[--vm->nmarks];                                                 \
    } while (0)

    for (;;) {
        if (vm->pos >= vm->len) {
            vm->op_at = vm->pos;
            FAILAT(IT_E_TRUNCATED, "pickle ends before STOP");
        }
        vm->op_at = vm->pos;
        unsigned char op = vm->p[vm->pos++];
        const unsigned char *a = vm->p + vm->pos; /* the opcode's argument */
        size_t start, n;
        pk_obj *x, *y;

        switch (op) {
        case 0x80: /* PROTO */
            NEED(1);
            if (a[0] > 5)
                FAILAT(IT_E_UNSUPPORTED, "pickle protocol %d", a[0]);
            vm->pos += 1;
            break;
        case 0x95: { /* FRAME: a length hint only */
            NEED(8);
            uint64_t fl = 0;
            for (int i = 7; i >= 0; i--)
                fl = (fl << 8) | a[i];
            vm->pos += 8;
            if (fl > vm->len - vm->pos)
                FAILAT(IT_E_TRUNCATED, "frame of %llu bytes runs past the end", (unsigned long long)fl);
            break;
        }
        case '.': /* STOP */
            if (vm->nmarks || vm->sp != 1)
                FAILAT(IT_E_FORMAT, "STOP with %zu values and %zu marks on the stack", vm->sp, vm->nmarks);
            if (vm->pos != vm->len)
                FAILAT(IT_E_FORMAT, "%zu bytes after STOP", vm->len - vm->pos);
            *root = vm->stack[0];
            goto done;
        case '(': /* MARK */
            if (vm->nmarks >= PK_MAX_MARKS)
                FAILAT(IT_E_UNSUPPORTED, "more than %d nested MARKs", PK_MAX_MARKS);
            if (!vm->marks && !(vm->marks = malloc(PK_MAX_MARKS * sizeof *vm->marks)))
                FAILAT(IT_E_NOMEM, "out of memory");
            vm->marks[vm->nmarks++] = vm->sp;
            break;
        case '0': /* POP */
            if (vm->sp == FLOOR && vm->nmarks)
                vm->nmarks--; /* Python pops the mark itself here */
            else
                POP(x);
            break;
        case '1': /* POP_MARK */
            POP_MARK(start);
            vm->sp = start;
            break;
        case '2': /* DUP */
            TOP(x);
            PUSH(x);
            break;
        case 'N': PUSH(&vm->none); break;
        case 0x88: PUSH(&vm->yes); break;  /* NEWTRUE */
        case 0x89: PUSH(&vm->no); break;   /* NEWFALSE */
        case 'J': /* BININT */
            NEED(4);
            PUSH(o = new_obj(vm, PK_INT));
            o->u.i = (int32_t)((uint32_t)a[0] | (uint32_t)a[1] << 8 | (uint32_t)a[2] << 16 | (uint32_t)a[3] << 24);
            vm->pos += 4;
            break;
        case 'K': /* BININT1 */
            NEED(1);
            PUSH(o = new_obj(vm, PK_INT));
            o->u.i = a[0];
            vm->pos += 1;
            break;
        case 'M': /* BININT2 */
            NEED(2);
            PUSH(o = new_obj(vm, PK_INT));
            o->u.i = a[0] | a[1] << 8;
            vm->pos += 2;
            break;
        case 0x8a: { /* LONG1: n bytes of little-endian two's complement */
            NEED(1);
            n = a[0];
            NEED(1 + n);
            if (n > 8)
                FAILAT(IT_E_UNSUPPORTED, "integer of %zu bytes is too large", n);
            uint64_t u = 0;
            for (size_t i = n; i-- > 0;)
                u = (u << 8) | a[1 + i];
            if (n > 0 && n < 8 && (a[n] & 0x80))
                u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
            PUSH(o = new_obj(vm, PK_INT));
            memcpy(&o->u.i, &u, sizeof u);
            vm->pos += 1 + n;
            break;
        }
        case 'G': { /* BINFLOAT: big-endian double */
            NEED(8);
            uint64_t u = 0;
            for (int i = 0; i < 8; i++)
                u = (u << 8) | a[i];
            PUSH(o = new_obj(vm, PK_FLOAT));
            memcpy(&o->u.f, &u, 8);
            vm->pos += 8;
            break;
        }
        case 'X': case 0x8c: case 0x8d: /* BINUNICODE, SHORT_BINUNICODE, BINUNICODE8 */
        case 'B': case 'C': case 0x8e:  /* BINBYTES, SHORT_BINBYTES, BINBYTES8 */
        case 'T': case 'U': {           /* BINSTRING, SHORT_BINSTRING (Python 2 str) */
            size_t w = (op == 0x8c || op == 'C' || op == 'U') ? 1 : (op == 0x8d || op == 0x8e) ? 8 : 4;
            uint64_t sl = 0;
            NEED(w);
            for (size_t i = w; i-- > 0;)
                sl = (sl << 8) | a[i];
            if (op == 'T' && (sl & 0x80000000u))
                FAILAT(IT_E_FORMAT, "negative string length");
            if (sl > PK_MAX_STRING)
                FAILAT(IT_E_UNSUPPORTED, "string of %llu bytes exceeds the limit", (unsigned long long)sl);
            NEED(w + sl);
            int is_bytes = op == 'B' || op == 'C' || op == 0x8e;
            PUSH(o = new_obj(vm, is_bytes ? PK_BYTES : PK_STR));
            if (!(o->u.str.s = malloc((size_t)sl + 1)))
                FAILAT(IT_E_NOMEM, "out of memory");
            memcpy(o->u.str.s, a + w, (size_t)sl);
            o->u.str.s[sl] = '\0';
            o->u.str.len = (size_t)sl;
            vm->pos += w + (size_t)sl;
            break;
        }
        case ')': /* EMPTY_TUPLE */
        case 0x85: case 0x86: case 0x87: /* TUPLE1..3 */
        case 't': { /* TUPLE */
            if (op == 't') {
                POP_MARK(start);
                n = vm->sp - start;
            } else {
                n = op == ')' ? 0 : (size_t)(op - 0x84);
                if (vm->sp - FLOOR < n)
                    FAILAT(IT_E_FORMAT, "stack underflow at opcode 0x%02x", op);
                start = vm->sp - n;
            }
            o = new_obj(vm, PK_TUPLE);
            if (!o || (n && !(o->u.seq.items = malloc(n * sizeof *o->u.seq.items))))
                FAILAT(IT_E_NOMEM, "out of memory");
            if (n)
                memcpy(o->u.seq.items, vm->stack + start, n * sizeof *o->u.seq.items);
            o->u.seq.len = o->u.seq.cap = n;
            vm->sp = start;
            PUSH(o);
            break;
        }
        case ']': PUSH(new_obj(vm, PK_LIST)); break; /* EMPTY_LIST */
        case '}': PUSH(new_obj(vm, PK_DICT)); break; /* EMPTY_DICT */
        case 'l': case 'd': /* LIST, DICT from the items above a MARK */
            POP_MARK(start);
            n = vm->sp - start;
            if (op == 'd' && n % 2)
                FAILAT(IT_E_FORMAT, "DICT with an odd number of items");
            o = new_obj(vm, op == 'l' ? PK_LIST : PK_DICT);
            if (!o || (n && !(o->u.seq.items = malloc(n * sizeof(pk_obj *)))))
                FAILAT(IT_E_NOMEM, "out of memory");
            /* seq and dict share their layout: an array, a count and a capacity */
            if (n)
                memcpy(o->u.seq.items, vm->stack + start, n * sizeof(pk_obj *));
            o->u.seq.len = op == 'l' ? n : n / 2;
            o->u.seq.cap = n;
            vm->sp = start;
            PUSH(o);
            break;
        case 'a': case 'e': /* APPEND, APPENDS */
            if (op == 'a') {
                POP(x);
                start = vm->sp;
                vm->stack[vm->sp] = x; /* the slot is still allocated */
                n = 1;
            } else {
                POP_MARK(start);
                n = vm->sp - start;
                vm->sp = start;
            }
            TOP(y);
            if (y->type != PK_LIST)
                FAILAT(IT_E_FORMAT, "APPEND to a %s", type_name(y));
            if (grow((void **)&y->u.seq.items, &y->u.seq.cap, y->u.seq.len + n, sizeof(pk_obj *)) < 0)
                FAILAT(IT_E_NOMEM, "out of memory");
            if (n)
                memcpy(y->u.seq.items + y->u.seq.len, vm->stack + start, n * sizeof(pk_obj *));
            y->u.seq.len += n;
            break;
        case 's': case 'u': /* SETITEM, SETITEMS */
            if (op == 's') {
                if (vm->sp - FLOOR < 2)
                    FAILAT(IT_E_FORMAT, "stack underflow at opcode 0x%02x", op);
                start = vm->sp - 2;
            } else {
                POP_MARK(start);
            }
            n = vm->sp - start;
            if (n % 2)
                FAILAT(IT_E_FORMAT, "SETITEMS with an odd number of items");
            vm->sp = start;
            TOP(y);
            if (y->type != PK_DICT)
                FAILAT(IT_E_FORMAT, "SETITEM on a %s", type_name(y));
            /* Appended, not replaced: lookups take the last value, as Python would. */
            if (grow((void **)&y->u.dict.kv, &y->u.dict.cap, 2 * y->u.dict.len + n, sizeof(pk_obj *)) < 0)
                FAILAT(IT_E_NOMEM, "out of memory");
            if (n)
                memcpy(y->u.dict.kv + 2 * y->u.dict.len, vm->stack + start, n * sizeof(pk_obj *));
            y->u.dict.len += n / 2;
            break;
        case 'q': case 'r': case 0x94: { /* BINPUT, LONG_BINPUT, MEMOIZE */
            size_t idx;
            if (op == 0x94) {
                idx = vm->nmemo;
            } else {
                size_t w = op == 'q' ? 1 : 4;
                NEED(w);
                idx = op == 'q' ? a[0] : ((size_t)a[0] | (size_t)a[1] << 8 | (size_t)a[2] << 16 | (size_t)a[3] << 24);
                vm->pos += w;
            }
            TOP(x);
            /* Python numbers memo entries 0, 1, 2, ...; allowing only those (or overwrites)
             * keeps the memo as large as the pickle, whatever index a hostile file names. */
            if (idx > vm->nmemo || idx >= PK_MAX_MEMO)
                FAILAT(IT_E_UNSUPPORTED, "memo index %zu out of sequence (have %zu)", idx, vm->nmemo);
            if (idx == vm->nmemo) {
                if (grow((void **)&vm->memo, &vm->mcap, vm->nmemo + 1, sizeof *vm->memo) < 0)
                    FAILAT(IT_E_NOMEM, "out of memory");
                vm->nmemo++;
            }
            vm->memo[idx] = x;
            break;
        }
        case 'h': case 'j': { /* BINGET, LONG_BINGET */
            size_t w = op == 'h' ? 1 : 4;
            NEED(w);
            size_t idx = op == 'h' ? a[0] : ((size_t)a[0] | (size_t)a[1] << 8 | (size_t)a[2] << 16 | (size_t)a[3] << 24);
            vm->pos += w;
            if (idx >= vm->nmemo)
                FAILAT(IT_E_FORMAT, "memo index %zu was never stored", idx);
            PUSH(vm->memo[idx]);
            break;
        }
        case 'c': case 0x93: { /* GLOBAL "module\nname\n", STACK_GLOBAL */
            char mod[257], name[257];
            if (op == 'c') {
                for (int part = 0; part < 2; part++) {
                    char *dst = part ? name : mod;
                    const unsigned char *nl = memchr(vm->p + vm->pos, '\n', vm->len - vm->pos);
                    if (!nl)
                        FAILAT(IT_E_TRUNCATED, "pickle ends inside GLOBAL");
                    size_t l = (size_t)(nl - (vm->p + vm->pos));
                    if (l > 256)
                        FAILAT(IT_E_UNSUPPORTED, "GLOBAL name longer than 256 bytes");
                    memcpy(dst, vm->p + vm->pos, l);
                    dst[l] = '\0';
                    vm->pos += l + 1;
                }
            } else {
                POP(y);
                POP(x);
                if (x->type != PK_STR || y->type != PK_STR || x->u.str.len > 256 || y->u.str.len > 256 ||
                    strlen(x->u.str.s) != x->u.str.len || strlen(y->u.str.s) != y->u.str.len)
                    FAILAT(IT_E_FORMAT, "STACK_GLOBAL needs two short strings");
                memcpy(mod, x->u.str.s, x->u.str.len + 1);
                memcpy(name, y->u.str.s, y->u.str.len + 1);
            }
            size_t g;
            for (g = 0; g < NWHITE; g++)
                if (strcmp(mod, whitelist[g].module) == 0 && strcmp(name, whitelist[g].name) == 0)
                    break;
            if (g == NWHITE) {
                /* Printable only: the name goes into a terminal. */
                for (char *s = mod; *s; s++)
                    if (*s < 0x20 || *s > 0x7e) *s = '?';
                for (char *s = name; *s; s++)
                    if (*s < 0x20 || *s > 0x7e) *s = '?';
                FAILAT(IT_E_UNSUPPORTED,
                       "pickle refers to global '%s.%s', which is not allowed in a weight file (only tensors and containers are; nothing was executed)",
                       mod, name);
            }
            PUSH(o = new_obj(vm, PK_GLOBAL));
            o->u.global = (int)g;
            break;
        }
        case 'Q': { /* BINPERSID: ('storage', StorageClass, key, location, numel) */
            POP(x);
            if (x->type != PK_TUPLE || x->u.seq.len != 5)
                FAILAT(IT_E_FORMAT, "persistent id is not a 5-tuple");
            pk_obj **it = x->u.seq.items;
            if (it[0]->type != PK_STR || strcmp(it[0]->u.str.s, "storage") != 0)
                FAILAT(IT_E_FORMAT, "persistent id is not a storage");
            if (it[1]->type != PK_GLOBAL || whitelist[it[1]->u.global].kind != G_STORAGE)
                FAILAT(IT_E_FORMAT, "persistent id names no storage class");
            if (it[2]->type != PK_STR || it[2]->u.str.len == 0 || it[2]->u.str.len > 64)
                FAILAT(IT_E_FORMAT, "storage key is not a short string");
            for (size_t i = 0; i < it[2]->u.str.len; i++) {
                char c = it[2]->u.str.s[i];
                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'))
                    FAILAT(IT_E_FORMAT, "storage key holds a character other than [A-Za-z0-9_]");
            }
            if (it[3]->type != PK_STR)
                FAILAT(IT_E_FORMAT, "storage location is not a string");
            pk_dtype dt = whitelist[it[1]->u.global].dtype;
            if (it[4]->type != PK_INT || it[4]->u.i < 0 ||
                (uint64_t)it[4]->u.i > ((uint64_t)1 << 60) / pk_dtype_size(dt))
                FAILAT(IT_E_FORMAT, "storage size is not a sane element count");
            PUSH(o = new_obj(vm, PK_STORAGE));
            if (!(o->u.storage.key = strdup(it[2]->u.str.s)))
                FAILAT(IT_E_NOMEM, "out of memory");
            o->u.storage.dtype = dt;
            o->u.storage.numel = it[4]->u.i;
            break;
        }
        case 'R': { /* REDUCE: callable(*args), for whitelisted callables only */
            POP(y);
            POP(x);
            if (x->type != PK_GLOBAL || y->type != PK_TUPLE)
                FAILAT(IT_E_FORMAT, "REDUCE of a %s with %s arguments", type_name(x), type_name(y));
            const struct gentry *g = &whitelist[x->u.global];
            pk_obj **arg = y->u.seq.items;
            size_t nargs = y->u.seq.len;
            switch (g->kind) {
            case G_ORDERED_DICT:
                if (nargs != 0)
                    FAILAT(IT_E_UNSUPPORTED, "OrderedDict with arguments");
                PUSH(new_obj(vm, PK_DICT));
                break;
            case G_SET: /* kept as a list: only its presence matters here */
                if (nargs > 1 || (nargs == 1 && arg[0]->type != PK_LIST && arg[0]->type != PK_TUPLE))
                    FAILAT(IT_E_UNSUPPORTED, "set() of something other than a list");
                o = new_obj(vm, PK_LIST);
                n = nargs ? arg[0]->u.seq.len : 0;
                if (!o || (n && !(o->u.seq.items = malloc(n * sizeof(pk_obj *)))))
                    FAILAT(IT_E_NOMEM, "out of memory");
                if (n)
                    memcpy(o->u.seq.items, arg[0]->u.seq.items, n * sizeof(pk_obj *));
                o->u.seq.len = o->u.seq.cap = n;
                PUSH(o);
                break;
            case G_REBUILD_PARAMETER:
            case G_REBUILD_PARAMETER_WITH_STATE:
                if (nargs != (g->kind == G_REBUILD_PARAMETER ? 3u : 4u) || arg[0]->type != PK_TENSOR)
                    FAILAT(IT_E_FORMAT, "%s with unexpected arguments", g->name);
                PUSH(arg[0]); /* a Parameter is its tensor */
                break;
            case G_REBUILD_TENSOR_V2: {
                /* (storage, offset, size, stride, requires_grad, hooks[, metadata]) */
                if (nargs != 6 && nargs != 7)
                    FAILAT(IT_E_FORMAT, "_rebuild_tensor_v2 with %zu arguments", nargs);
                if (arg[0]->type != PK_STORAGE || arg[1]->type != PK_INT || arg[2]->type != PK_TUPLE ||
                    arg[3]->type != PK_TUPLE || arg[4]->type != PK_BOOL || arg[5]->type != PK_DICT)
                    FAILAT(IT_E_FORMAT, "_rebuild_tensor_v2 with arguments of the wrong types");
                size_t nd = arg[2]->u.seq.len;
                if (nd > PK_MAX_DIMS || arg[3]->u.seq.len != nd)
                    FAILAT(IT_E_UNSUPPORTED, "tensor with %zu dimensions (%zu strides)", nd, arg[3]->u.seq.len);
                pk_tensor *t = calloc(1, sizeof *t);
                PUSH(o = new_obj(vm, PK_TENSOR));
                if (!t)
                    FAILAT(IT_E_NOMEM, "out of memory");
                o->u.tensor = t;
                t->storage = arg[0];
                t->offset = arg[1]->u.i;
                t->ndim = (int)nd;
                int64_t numel = 1, last = t->offset;
                int empty = 0, overflow = t->offset < 0;
                for (size_t d = 0; d < nd; d++) {
                    pk_obj *s = arg[2]->u.seq.items[d], *st = arg[3]->u.seq.items[d];
                    if (s->type != PK_INT || st->type != PK_INT || s->u.i < 0 || st->u.i < 0)
                        FAILAT(IT_E_FORMAT, "tensor size or stride is not a non-negative integer");
                    t->size[d] = s->u.i;
                    t->stride[d] = st->u.i;
                    empty |= s->u.i == 0;
                }
                for (size_t d = 0; d < nd && !empty; d++) {
                    int64_t step;
                    overflow |= __builtin_mul_overflow(numel, t->size[d], &numel);
                    overflow |= __builtin_mul_overflow(t->size[d] - 1, t->stride[d], &step);
                    overflow |= __builtin_add_overflow(last, step, &last);
                }
                /* The view's last element must lie inside the storage. */
                int64_t snumel = arg[0]->u.storage.numel;
                if (overflow || (!empty && last >= snumel) || (empty && t->offset > snumel))
                    FAILAT(IT_E_FORMAT, "tensor view (offset %lld) reaches outside its storage '%s' of %lld elements",
                           (long long)t->offset, arg[0]->u.storage.key, (long long)snumel);
                break;
            }
            default:
                FAILAT(IT_E_UNSUPPORTED, "calling %s.%s is not supported", g->module, g->name);
            }
            break;
        }
        case 'b': /* BUILD: a state_dict's _metadata, or a tensor's python state; ignored */
            POP(y);
            TOP(x);
            if (x->type != PK_DICT && x->type != PK_TENSOR)
                FAILAT(IT_E_UNSUPPORTED, "BUILD on a %s", type_name(x));
            break;
        default:
            FAILAT(IT_E_UNSUPPORTED, "pickle opcode 0x%02x is not supported in a weight file", op);
        }
    }
#undef NEED
#undef FLOOR
#undef PUSH
#undef POP
#undef TOP
#undef POP_MARK
done:
    if (rc < 0) {
        pk_free(&vm);
        *root = NULL;
    }
    *out = vm;
    return rc;
}
