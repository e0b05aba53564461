#!/usr/bin/python3
"""Check that a native weight file decodes a clip in the C engine as PyTorch does: the frames
`it-decode --format raw` wrote for a full-rate stream of VIDEO made with these weights,
against the reference network of tests/model/infotok_ref.py run on the same frames with the
same windows (spec §4.2, overlap 0) in float32.

  check_export.py WEIGHTS VIDEO DECODED.rgb --window TW [--differs-from OTHER_WEIGHTS]

VIDEO is decoded to RGB24 by the ffmpeg CLI; use a source that is RGB already (e.g. FFV1
bgr0), so that the CLI's colour conversion and the library's cannot differ.

Tolerance: the engine computes in float32 in another summation order (errors ~1e-5 on O(1)
values, tests/model/README.md); uint8 conversion truncates (y+1)/2*255+0.5, so a value moves
by 1 where it sits within ~1e-3 of a step: about 0.1% of values. Passes when no value differs
by more than 1 and at most 1% differ by 1. (An FSQ index flip, a bounded value within ~1e-5 of
a half-integer, would show as a larger local difference; its odds on a clip this size are
~1e-3.) --differs-from: the same comparison against OTHER_WEIGHTS' reference decode must FAIL
(more than 1% of values differ), so the check sees which weights the engine used.
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import evaluate as E  # noqa: E402  (load_model; installs train.py's conv2d fast path)
import infotok_ref as R  # noqa: E402


def ref_decode(weights, clip, tw):
    model = E.load_model(weights)
    outs = []
    with torch.no_grad():
        for a, b in R.windows(len(clip), tw, 0):
            padded, crop = R.pad_window(clip[a:b])
            f1, y1, x1, f2, y2, x2 = crop
            x = R.to_model_input(padded)
            _, codes = model.encode(x)
            outs.append(R.to_uint8(model.decode(codes))[f1:f2, y1:y2, x1:x2])
    return np.concatenate(outs)


def compare(ref, got):
    d = np.abs(ref.astype(np.int16) - got.astype(np.int16))
    return int(d.max()), float(np.mean(d > 0)), int(np.sum(d > 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("video")
    ap.add_argument("decoded")
    ap.add_argument("--window", type=int, required=True)
    ap.add_argument("--differs-from")
    a = ap.parse_args()
    torch.set_num_threads(1)
    out = subprocess.check_output(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                   "stream=width,height", "-of", "csv=p=0", a.video])
    w, h = [int(x) for x in out.decode().split("\n")[0].split(",")[:2]]
    raw = subprocess.check_output(["ffmpeg", "-nostdin", "-v", "error", "-i", a.video, "-fps_mode", "passthrough",
                                   "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    clip = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    got = np.fromfile(a.decoded, np.uint8)
    if got.size != clip.size:
        print("FAIL: %s has %d bytes, the source %d frames of %dx%d RGB (%d)" % (a.decoded, got.size, len(clip), w, h,
                                                                             clip.size))
        return 1
    got = got.reshape(clip.shape)
    ref = ref_decode(a.weights, clip, a.window)
    mx, frac, big = compare(ref, got)
    print("engine vs PyTorch (%s): max |diff| %d, %.4f%% of values differ, %d by more than 1"
          % (os.path.basename(a.weights), mx, 100 * frac, big))
    ok = mx <= 1 and frac <= 0.01
    if a.differs_from:
        mx2, frac2, _ = compare(ref_decode(a.differs_from, clip, a.window), got)
        print("engine vs PyTorch with %s: max |diff| %d, %.2f%% of values differ"
              % (os.path.basename(a.differs_from), mx2, 100 * frac2))
        if frac2 <= 0.01:
            print("FAIL: the engine's output also matches %s: the comparison cannot tell the weights apart"
                  % a.differs_from)
            ok = False
    print("ok" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
