/* test_pickle.c: the pickle VM on hand-made byte strings: a state dict as torch.save writes it,
 * the globals it must refuse (os.system, builtins.eval, ...), and malformed or hostile
 * programs: truncation at every byte, stack underflow, memo abuse, deep MARKs, huge lengths,
 * views outside their storage, cycles (freed without leaks under ASan). */
#include "formats/pickle_internal.h"
#include "test_util.h"

/* Byte strings with embedded NULs: sizeof - 1 drops the literal's terminator. */
#define PK(s) (const unsigned char *)(s), sizeof(s) - 1

/* Run a pickle; the previous run's VM (which owns the previous *root) is freed first. */
static int run(const unsigned char *p, size_t n, pk_obj **root)
{
    static pk_vm *keep;
    pk_obj *r = NULL;
    pk_free(&keep);
    if (!p)
        return 0;
    int rc = pk_run(&keep, p, n, "t.pkl", &r);
    if (root)
        *root = rc == 0 ? r : NULL;
    return rc;
}

/* {"network.w": _rebuild_tensor_v2(pid('storage', FloatStorage, '0', 'cpu', 6), 0, (2, 3),
 *  (3, 1), False, OrderedDict())}, as torch 1.13 writes it (protocol 2, memoized). */
static const char state_dict[] =
    "\x80\x02}q\x00(X\x09\x00\x00\x00network.wq\x01"
    "ctorch._utils\n_rebuild_tensor_v2\nq\x02"
    "((X\x07\x00\x00\x00storageq\x03" "ctorch\nFloatStorage\nq\x04X\x01\x00\x00\x00" "0q\x05"
    "X\x03\x00\x00\x00" "cpuq\x06K\x06tq\x07QK\x00K\x02K\x03\x86q\x08K\x03K\x01\x86q\x09\x89"
    "ccollections\nOrderedDict\nq\x0a)Rq\x0btq\x0cRq\x0d"
    "X\x05\x00\x00\x00" "epochq\x0eJ\xff\xff\xff\xff"
    "X\x02\x00\x00\x00lrq\x0fG?\x1a" "6\xe2\xeb\x1c" "C-"
    "X\x03\x00\x00\x00" "bigq\x10\x8a\x05\x00\x00\x00\x00\x80"
    "X\x04\x00\x00\x00listq\x11](K\x01M\x00\x01N\x88" "e"
    "u.";

static void good(void)
{
    pk_obj *root = NULL;
    CHECK_OK(run(PK(state_dict), &root));
    if (!root)
        return;
    CHECK(root->type == PK_DICT && root->u.dict.len == 5);
    pk_obj *t = pk_dict_get(root, "network.w");
    CHECK(t && t->type == PK_TENSOR);
    if (t && t->type == PK_TENSOR) {
        pk_tensor *x = t->u.tensor;
        CHECK(x->ndim == 2 && x->size[0] == 2 && x->size[1] == 3 && x->stride[0] == 3 && x->stride[1] == 1);
        CHECK(x->storage->type == PK_STORAGE && x->storage->u.storage.dtype == PK_F32 &&
              x->storage->u.storage.numel == 6 && strcmp(x->storage->u.storage.key, "0") == 0);
    }
    pk_obj *e = pk_dict_get(root, "epoch");
    CHECK(e && e->type == PK_INT && e->u.i == -1);
    e = pk_dict_get(root, "lr");
    CHECK(e && e->type == PK_FLOAT && e->u.f == 1e-4);
    e = pk_dict_get(root, "big");
    CHECK(e && e->type == PK_INT && e->u.i == -549755813888LL); /* LONG1, 5 bytes, negative */
    e = pk_dict_get(root, "list");
    CHECK(e && e->type == PK_LIST && e->u.seq.len == 4 && e->u.seq.items[1]->u.i == 256);
    CHECK(pk_dict_get(root, "absent") == NULL);

    /* Protocol 4 spellings: FRAME, SHORT_BINUNICODE, STACK_GLOBAL, MEMOIZE. */
    CHECK_OK(run(PK("\x80\x04\x95\x29\x00\x00\x00\x00\x00\x00\x00\x8c\x0b" "collections\x94\x8c\x0b"
                    "OrderedDict\x94\x93\x94)R\x94\x8c\x01k\x94K\x07s."), &root));
    CHECK(root && root->type == PK_DICT && pk_dict_get(root, "k")->u.i == 7);

    /* A list that contains itself: legal pickle, freed without a leak. */
    CHECK_OK(run(PK("\x80\x02]q\x00h\x00" "a."), &root));
    CHECK(root && root->type == PK_LIST && root->u.seq.items[0] == root);
    /* A state dict's _metadata arrives through BUILD and is ignored. */
    CHECK_OK(run(PK("\x80\x02" "ccollections\nOrderedDict\n)R}X\x01\x00\x00\x00" "aK\x01sb."), &root));
    CHECK(root && root->type == PK_DICT && root->u.dict.len == 0);
}

static void refused_globals(void)
{
    CHECK_ERR(run(PK("\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00lsq\x00\x85R."), NULL), IT_E_UNSUPPORTED,
              "t.pkl: offset 2: pickle refers to global 'os.system', which is not allowed");
    CHECK_ERR(run(PK("\x80\x02" "cposix\nsystem\n."), NULL), IT_E_UNSUPPORTED, "'posix.system'");
    CHECK_ERR(run(PK("\x80\x02" "cbuiltins\neval\n."), NULL), IT_E_UNSUPPORTED, "'builtins.eval'");
    CHECK_ERR(run(PK("\x80\x02" "c__builtin__\ngetattr\n."), NULL), IT_E_UNSUPPORTED, "'__builtin__.getattr'");
    CHECK_ERR(run(PK("\x80\x02" "csubprocess\nPopen\n."), NULL), IT_E_UNSUPPORTED, "'subprocess.Popen'");
    CHECK_ERR(run(PK("\x80\x02" "ctorch\nload\n."), NULL), IT_E_UNSUPPORTED, "'torch.load'");
    CHECK_ERR(run(PK("\x80\x02" "ctorch._utils\n_rebuild_tensor_v2 \n."), NULL), IT_E_UNSUPPORTED,
              "'torch._utils._rebuild_tensor_v2 '");
    CHECK_ERR(run(PK("\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93."), NULL), IT_E_UNSUPPORTED,
              "'builtins.eval'");
    /* A NUL cannot smuggle a name past the whitelist. */
    CHECK_ERR(run(PK("\x80\x04\x8c\x0b" "collections\x8c\x0d" "OrderedDict\x00x\x93."), NULL), IT_E_FORMAT,
              "STACK_GLOBAL needs two short strings");
    /* Control characters are not echoed to the terminal. */
    CHECK_ERR(run(PK("\x80\x02" "cos\x1b[2J\nsystem\n."), NULL), IT_E_UNSUPPORTED, "'os?[2J.system'");
    /* Whitelisted classes are still not callable in other ways. */
    CHECK_ERR(run(PK("\x80\x02" "ctorch\nFloatStorage\n)R."), NULL), IT_E_UNSUPPORTED,
              "calling torch.FloatStorage is not supported");
    CHECK_ERR(run(PK("\x80\x02" "ccollections\nOrderedDict\nK\x01\x85R."), NULL), IT_E_UNSUPPORTED,
              "OrderedDict with arguments");
    CHECK_ERR(run(PK("\x80\x02K\x01)R."), NULL), IT_E_FORMAT, "REDUCE of a int");
    /* Opcodes outside the subset: INST, OBJ, NEWOBJ, PERSID, EXT1. */
    CHECK_ERR(run(PK("\x80\x02ios\nsystem\n."), NULL), IT_E_UNSUPPORTED, "opcode 0x69 is not supported");
    CHECK_ERR(run(PK("\x80\x02(o."), NULL), IT_E_UNSUPPORTED, "opcode 0x6f");
    CHECK_ERR(run(PK("\x80\x02\x81."), NULL), IT_E_UNSUPPORTED, "opcode 0x81");
    CHECK_ERR(run(PK("\x80\x02P0\n."), NULL), IT_E_UNSUPPORTED, "opcode 0x50");
    CHECK_ERR(run(PK("\x80\x02\x82\x01."), NULL), IT_E_UNSUPPORTED, "opcode 0x82");
}

static void malformed(void)
{
    /* Every proper prefix of a valid pickle fails cleanly. */
    for (size_t n = 0; n < sizeof state_dict - 1; n++) {
        it_error_clear();
        int rc = run((const unsigned char *)state_dict, n, NULL);
        if (rc == 0 || !it_error_message()[0]) {
            fprintf(stderr, "prefix of %zu bytes: rc %d\n", n, rc);
            test_failures++;
        }
    }
    CHECK_ERR(run(PK(""), NULL), IT_E_TRUNCATED, "pickle ends before STOP");
    CHECK_ERR(run(PK("\x80\x09."), NULL), IT_E_UNSUPPORTED, "pickle protocol 9");
    CHECK_ERR(run(PK("\x80\x02s."), NULL), IT_E_FORMAT, "stack underflow");
    CHECK_ERR(run(PK("\x80\x02."), NULL), IT_E_FORMAT, "STOP with 0 values");
    CHECK_ERR(run(PK("\x80\x02NN."), NULL), IT_E_FORMAT, "STOP with 2 values");
    CHECK_ERR(run(PK("\x80\x02(N."), NULL), IT_E_FORMAT, "1 marks");
    CHECK_ERR(run(PK("\x80\x02N.x"), NULL), IT_E_FORMAT, "1 bytes after STOP");
    CHECK_ERR(run(PK("\x80\x02(t."), NULL), 0, "");
    CHECK_ERR(run(PK("\x80\x02N(\x85."), NULL), IT_E_FORMAT, "stack underflow"); /* a mark hides N */
    CHECK_ERR(run(PK("\x80\x02h\x00."), NULL), IT_E_FORMAT, "memo index 0 was never stored");
    CHECK_ERR(run(PK("\x80\x02Nr\xff\xff\xff\xff."), NULL), IT_E_UNSUPPORTED, "memo index 4294967295 out of sequence");
    CHECK_ERR(run(PK("\x80\x02Nq\x05."), NULL), IT_E_UNSUPPORTED, "memo index 5 out of sequence");
    CHECK_ERR(run(PK("\x80\x02q\x00."), NULL), IT_E_FORMAT, "stack underflow");
    CHECK_ERR(run(PK("\x80\x02X\xff\xff\xff\xff."), NULL), IT_E_UNSUPPORTED, "string of 4294967295 bytes exceeds the limit");
    CHECK_ERR(run(PK("\x80\x02X\x10\x00\x00\x00" "abc."), NULL), IT_E_TRUNCATED, "ends inside opcode 0x58");
    CHECK_ERR(run(PK("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xff."), NULL), IT_E_UNSUPPORTED, "exceeds the limit");
    CHECK_ERR(run(PK("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09."), NULL), IT_E_UNSUPPORTED,
              "integer of 9 bytes");
    CHECK_ERR(run(PK("\x80\x02\x95\xff\x00\x00\x00\x00\x00\x00\x00N."), NULL), IT_E_TRUNCATED, "frame of 255 bytes");
    CHECK_ERR(run(PK("\x80\x02" "cos"), NULL), IT_E_TRUNCATED, "ends inside GLOBAL");
    CHECK_ERR(run(PK("\x80\x02K\x01K\x02" "a."), NULL), IT_E_FORMAT, "APPEND to a int");
    CHECK_ERR(run(PK("\x80\x02]K\x01K\x02s."), NULL), IT_E_FORMAT, "SETITEM on a list");
    CHECK_ERR(run(PK("\x80\x02}(K\x01u."), NULL), IT_E_FORMAT, "odd number");
    CHECK_ERR(run(PK("\x80\x02(K\x01" "d."), NULL), IT_E_FORMAT, "odd number");
    CHECK_ERR(run(PK("\x80\x02K\x01Nb."), NULL), IT_E_UNSUPPORTED, "BUILD on a int");
    CHECK_ERR(run(PK("\x80\x02K\x01Q."), NULL), IT_E_FORMAT, "persistent id is not a 5-tuple");

    /* Deep MARK nesting is capped. */
    static unsigned char deep[5010];
    memcpy(deep, "\x80\x02", 2);
    memset(deep + 2, '(', 5000);
    deep[5002] = '.';
    CHECK_ERR(run(deep, 5003, NULL), IT_E_UNSUPPORTED, "more than 4096 nested MARKs");

    /* Views that reach outside their storage, and bad persistent ids. */
#define PIDK(cls, klen, key, numel) "((X\x07\x00\x00\x00storagectorch\n" cls "\nX" klen "\x00\x00\x00" key "X\x03\x00\x00\x00" "cpu" numel "tQ"
#define PID(cls, key, numel) PIDK(cls, "\x01", key, numel)
#define REBUILD "ctorch._utils\n_rebuild_tensor_v2\n"
#define HOOKS "\x89" "ccollections\nOrderedDict\n)Rt"
    CHECK_OK(run(PK("\x80\x02" REBUILD PID("FloatStorage", "0", "K\x06") "K\x00K\x02K\x03\x86K\x03K\x01\x86" HOOKS "R."), NULL));
    CHECK_ERR(run(PK("\x80\x02" REBUILD PID("FloatStorage", "0", "K\x06") "K\x01K\x02K\x03\x86K\x03K\x01\x86" HOOKS "R."), NULL),
              IT_E_FORMAT, "tensor view (offset 1) reaches outside its storage '0' of 6 elements");
    CHECK_ERR(run(PK("\x80\x02" REBUILD PID("FloatStorage", "0", "K\x06") "K\x00K\x03K\x03\x86K\x03K\x01\x86" HOOKS "R."), NULL),
              IT_E_FORMAT, "reaches outside its storage");
    CHECK_ERR(run(PK("\x80\x02" REBUILD PID("FloatStorage", "0", "K\x06") "K\x00\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40K\x03\x86K\x03K\x01\x86" HOOKS "R."), NULL),
              IT_E_FORMAT, "reaches outside its storage");
    CHECK_ERR(run(PK("\x80\x02" REBUILD PID("FloatStorage", "0", "K\x06") "K\x00K\x02J\xff\xff\xff\xff\x86K\x03K\x01\x86" HOOKS "R."), NULL),
              IT_E_FORMAT, "not a non-negative integer");
    CHECK_ERR(run(PK("\x80\x02" REBUILD PID("FloatStorage", "0", "K\x06") "K\x00K\x02\x85K\x03K\x01\x86" HOOKS "R."), NULL),
              IT_E_UNSUPPORTED, "tensor with 1 dimensions (2 strides)");
    CHECK_ERR(run(PK("\x80\x02" REBUILD PIDK("FloatStorage", "\x04", "../x", "K\x06") "K\x00)" ")" HOOKS "R."), NULL),
              IT_E_FORMAT, "storage key holds a character other than");
    CHECK_ERR(run(PK("\x80\x02" REBUILD PIDK("FloatStorage", "\x00", "", "K\x06") "K\x00)" ")" HOOKS "R."), NULL),
              IT_E_FORMAT, "storage key is not a short string");
    CHECK_ERR(run(PK("\x80\x02" REBUILD PIDK("FloatStorage", "\x02", "a/", "K\x06") "K\x00)" ")" HOOKS "R."), NULL),
              IT_E_FORMAT, "storage key holds a character other than");
    CHECK_ERR(run(PK("\x80\x02" REBUILD PID("FloatStorage", "0", "J\xff\xff\xff\xff") "K\x00)" ")" HOOKS "R."), NULL),
              IT_E_FORMAT, "storage size is not a sane element count");
    CHECK_ERR(run(PK("\x80\x02" REBUILD "(K\x01K\x00))" HOOKS "R."), NULL), IT_E_FORMAT,
              "_rebuild_tensor_v2 with arguments of the wrong types");
    CHECK_ERR(run(PK("\x80\x02((X\x07\x00\x00\x00storageccollections\nOrderedDict\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x01tQ."), NULL),
              IT_E_FORMAT, "persistent id names no storage class");
}

int main(void)
{
    good();
    refused_globals();
    malformed();
    run(NULL, 0, NULL); /* frees the last VM */
    return test_result();
}
