#!/usr/bin/python3
"""Measure shard record layouts on real token records (formats/SHARD-LAYOUT.md):

  - token entropy: order-0 entropy of the corpus's indices (bits/token), against raw 16-bit
    storage and zstd -19 of the raw concatenated uint16 tokens;
  - record layouts: tokens+ELBO as interleaved little-endian arrays or as byte planes, zstd
    levels 1, 3, 9, 19, without and with a trained dictionary (zstd's trainer, 16 KiB, on
    the first half of the records, measured on the second half);
  - compression and decompression time per record.

Usage: shard-layout.py STREAM.itok [RATE]   (a full-rate stream; RATE re-allocates statically
with numpy's quantile to also measure masked records, default 0.5). Python's zstandard binds
the same libzstd as the C code."""
import math
import sys
import time

import numpy as np
import zstandard

sys.path.insert(0, __file__.rsplit("/", 3)[0] + "/examples")
import read_stream  # noqa: E402


def windows(path):
    with open(path, "rb") as f:
        for _video, _end, wins in read_stream.videos(f):
            for w in wins:
                yield w


def body(w, layout, keep):
    ix = w["indices"].reshape(-1).astype("<u2")
    el = w["elbo"].reshape(-1).astype("<f4")
    parts = []
    if layout == "planes":
        parts.append(ix.view(np.uint8).reshape(-1, 2).T.tobytes())
        parts.append(el.view(np.uint8).reshape(-1, 4).T.tobytes())
    else:
        parts.append(ix.tobytes())
        parts.append(el.tobytes())
    if keep is not None:
        parts.append(np.packbits(keep, bitorder="little").tobytes())
    return b"".join(parts)


def main():
    path = sys.argv[1]
    rate = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    ws = list(windows(path))
    tokens = np.concatenate([w["indices"].reshape(-1) for w in ws])
    n = tokens.size
    counts = np.bincount(tokens, minlength=64000)
    p = counts[counts > 0] / n
    h0 = float(-(p * np.log2(p)).sum())
    raw = tokens.astype("<u2").tobytes()
    z19 = len(zstandard.ZstdCompressor(level=19).compress(raw))
    print("corpus: %d windows, %d tokens, %d distinct codes of 64000" % (len(ws), n, int((counts > 0).sum())))
    print("tokens only (bits/token): order-0 entropy %.2f | raw 16-bit 16.00 | zstd -19 of the raw stream %.2f"
          % (h0, 8.0 * z19 / n))
    print("  (log2(64000) = %.2f bits is the codebook's uniform bound)" % math.log2(64000))
    # keep masks at `rate`: strict '>' against the quantile, as the library does
    keeps = []
    for w in ws:
        e = w["elbo"].reshape(-1)
        q = np.quantile(e.astype(np.float32), 1 - rate)
        keeps.append(e > q)
    print()
    print("records: bytes per token (all fields: indices, ELBO map, mask) and time per record")
    print("layout\tmask\tlevel\tdict\tbytes/token\ttoken part b/tok\tcompress us\tdecompress us")
    half = len(ws) // 2
    for masked in (False, True):
        for layout in ("interleaved", "planes"):
            bodies = [body(w, layout, keeps[i] if masked else None) for i, w in enumerate(ws)]
            tok_only = [b[: 2 * w["indices"].size] for b, w in zip(bodies, ws)]
            test = bodies[half:]
            ntest = sum(w["indices"].size for w in ws[half:])
            for level in (1, 3, 9, 19):
                for use_dict in (False, True):
                    d = None
                    if use_dict:
                        try:
                            d = zstandard.train_dictionary(16384, bodies[:half], level=level)
                        except zstandard.ZstdError:
                            continue
                    c = zstandard.ZstdCompressor(level=level, dict_data=d)
                    dc = zstandard.ZstdDecompressor(dict_data=d)
                    t0 = time.perf_counter()
                    comp = [c.compress(b) for b in test]
                    t1 = time.perf_counter()
                    for x in comp:
                        dc.decompress(x)
                    t2 = time.perf_counter()
                    tok = sum(len(c.compress(b)) for b in tok_only[half:])
                    print("%s\t%s\t%d\t%s\t%.3f\t%.3f\t%.0f\t%.0f" % (
                        layout, "yes" if masked else "no", level, "16K" if use_dict else "none",
                        sum(len(x) + 16 for x in comp) / ntest, 8.0 * tok / ntest / 8.0,
                        1e6 * (t1 - t0) / len(test), 1e6 * (t2 - t1) / len(test)))


if __name__ == "__main__":
    main()
