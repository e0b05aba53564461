#!/usr/bin/python3
"""Evaluate an InfoTok checkpoint (train.py checkpoint or native .safetensors weight file) on
the held-out set of train/data.py, with the PyTorch reference network, in float32.

Per held-out clip (256x256, see data.heldout_clips) the clip is cut into non-overlapping
windows of 17 frames (spec §4.2 windows with ov = 0; each window padded as §4.2), every window
is encoded, decoded at full rate, and its §4.4 ELBO map (chunk_loss of the full-rate decode)
gives the §4.6 mask for each static rate r in {1, 0.75, 0.5, 0.25}; the masked codes are
decoded, converted to uint8 (§4.7) and cropped. "full" is the unmasked decode (every token).
PSNR follows TokenBench: per video, MSE over all frames and RGB channels on 0..255 values,
PSNR = 10 log10(255^2/MSE); the table's mean row is the mean over videos. SSIM: Gaussian
window 11, sigma 1.5, K1 0.01, K2 0.03, data range 255, per RGB channel and frame, averaged.

Usage: /usr/bin/python3 train/evaluate.py WEIGHTS_OR_CKPT [--out table.md] [--json m.json]
       [--quick] (first 2 windows per clip only)
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "model"))
sys.path.insert(0, HERE)
import infotok_ref as R  # noqa: E402
import safetensors_io as S  # noqa: E402
import data as D  # noqa: E402
import train as TR  # noqa: E402,F401  (installs the conv2d fast path: same maths)

RATES = (1.0, 0.75, 0.5, 0.25)


def load_model(path):
    if path.endswith(".safetensors"):
        t, meta = S.read(path)
        cfg = json.loads(meta["config"])
        m = R.InfoTok(cfg)
        sd = m.state_dict()
        sd2 = {k: torch.from_numpy(np.array(v)).to(sd[k].dtype) for k, v in t.items()}
        missing = m.load_state_dict(sd2, strict=False)
        assert list(missing.missing_keys) == ["quantizer.implicit_codebook"], missing
        assert not missing.unexpected_keys
    else:
        ck = torch.load(path, map_location="cpu")
        cfg = json.loads(ck["args"]["config"])
        m = R.InfoTok(cfg)
        m.load_state_dict(ck["model"])
    return m.eval()


def _gauss(win=11, sigma=1.5):
    g = torch.exp(-((torch.arange(win, dtype=torch.float64) - win // 2) ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return g


def ssim(a, b):
    """a, b uint8 [T,H,W,3] -> mean SSIM (valid-region Gaussian windows)."""
    x = torch.from_numpy(a).double().permute(0, 3, 1, 2).reshape(-1, 1, a.shape[1], a.shape[2])
    y = torch.from_numpy(b).double().permute(0, 3, 1, 2).reshape(-1, 1, b.shape[1], b.shape[2])
    g = _gauss()
    k = (g[:, None] * g[None, :])[None, None]
    f = lambda z: F.conv2d(z, k)  # noqa: E731
    mx, my = f(x), f(y)
    sxx = f(x * x) - mx * mx
    syy = f(y * y) - my * my
    sxy = f(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0 ** 2 / max(mse, 1e-12))


@torch.no_grad()
def run_clip(model, clip, tw=17, max_windows=None):
    """-> {'full': uint8 [T,H,W,3], 1.0: ..., ...} reconstructions of the clip."""
    outs = {k: [] for k in ("full",) + RATES}
    wins = R.windows(len(clip), tw, 0)
    if max_windows:
        wins = wins[:max_windows]
    for a, b in wins:
        padded, crop = R.pad_window(clip[a:b])
        f1, y1, x1, f2, y2, x2 = crop
        x = R.to_model_input(padded)
        _, codes = model.encode(x)
        rec = model.decode(codes)
        L = R.chunk_loss(x, rec)
        outs["full"].append(R.to_uint8(rec)[f1:f2, y1:y2, x1:x2])
        for r in RATES:
            keep = R.token_mask(L, r)
            y = model.decode(R.apply_mask(codes, keep))
            outs[r].append(R.to_uint8(y)[f1:f2, y1:y2, x1:x2])
    n = sum(b - a for a, b in wins)
    return {k: np.concatenate(v) for k, v in outs.items()}, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("weights")
    ap.add_argument("--out")
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.weights)
    clips = D.heldout_clips()
    keys = ("full",) + RATES
    res = {}
    t0 = time.time()
    for name, clip in clips:
        rec, n = run_clip(model, clip, max_windows=2 if args.quick else None)
        ref = clip[:n]
        res[name] = {str(k): {"psnr": round(psnr(ref, rec[k]), 3), "ssim": round(ssim(ref, rec[k]), 4)}
                     for k in keys}
        res[name]["frames"] = n
        print(name, n, "frames", " ".join("%s %.2f/%.3f" % (k, res[name][str(k)]["psnr"], res[name][str(k)]["ssim"])
                                           for k in keys), "(%.0fs)" % (time.time() - t0), flush=True)
    mean = {str(k): {m: round(float(np.mean([res[c][str(k)][m] for c, _ in clips])), 4 if m == "ssim" else 3)
                     for m in ("psnr", "ssim")} for k in keys}
    res["mean"] = mean
    lines = ["| held-out clip (256x256) | frames | " + " | ".join(
        "PSNR %s / SSIM" % ("full" if k == "full" else "r=%g" % k) for k in keys) + " |",
        "|---|---|" + "---|" * len(keys)]
    for name, _ in clips:
        lines.append("| %s | %d | " % (name, res[name]["frames"]) + " | ".join(
            "%.2f / %.3f" % (res[name][str(k)]["psnr"], res[name][str(k)]["ssim"]) for k in keys) + " |")
    lines.append("| **mean over videos** | | " + " | ".join(
        "**%.2f** / %.3f" % (mean[str(k)]["psnr"], mean[str(k)]["ssim"]) for k in keys) + " |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as f:
            f.write(table + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"heldout_256": res, "windows": "17 frames, ov 0", "quick": args.quick}, f)


if __name__ == "__main__":
    main()
