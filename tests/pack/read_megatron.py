#!/usr/bin/python3
"""An independent reader of Megatron-LM's indexed dataset (MMIDIDX version 1), written from
its documented layout, not from it-pack's code:

  .idx: b"MMIDIDX\\x00\\x00", u64 version (1), u8 dtype code (8 = uint16), u64 sequence count S,
        u64 document-index count D, int32 lengths[S], int64 byte pointers[S], int64 doc index[D]
  .bin: the sequences' tokens back to back

Usage: read_megatron.py PREFIX  -> one line per document: its tokens, space-separated.
"""
import sys

import numpy as np

DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32, 8: np.uint16}


def read(prefix):
    idx = open(prefix + ".idx", "rb").read()
    assert idx[:9] == b"MMIDIDX\x00\x00", "bad magic"
    off = 9
    version = int(np.frombuffer(idx, "<u8", 1, off)[0]); off += 8
    assert version == 1, version
    dtype = DTYPES[idx[off]]; off += 1
    nseq = int(np.frombuffer(idx, "<u8", 1, off)[0]); off += 8
    ndoc = int(np.frombuffer(idx, "<u8", 1, off)[0]); off += 8
    lengths = np.frombuffer(idx, "<i4", nseq, off); off += 4 * nseq
    pointers = np.frombuffer(idx, "<i8", nseq, off); off += 8 * nseq
    docs = np.frombuffer(idx, "<i8", ndoc, off); off += 8 * ndoc
    assert off == len(idx), "trailing bytes in .idx"
    data = np.memmap(prefix + ".bin", dtype=dtype, mode="r")
    item = np.dtype(dtype).itemsize
    out = []
    for d in range(ndoc - 1):
        seqs = range(docs[d], docs[d + 1])
        toks = [data[pointers[s] // item: pointers[s] // item + lengths[s]] for s in seqs]
        out.append(np.concatenate(toks) if toks else np.zeros(0, dtype))
    return out


if __name__ == "__main__":
    for doc in read(sys.argv[1]):
        print(" ".join(str(int(x)) for x in doc))
