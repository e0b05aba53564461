"""The PyTorch reference (tests/model/infotok_ref.py) in bf16 on a GPU: frames per second of
encode + full-rate decode + ELBO map (what it_model_tokenize does) on BATCH windows at once,
the peer of tests/gpu/bench_gpu.c in tests/gpu/check.sh. Prints one JSON object.

    python3 tests/gpu/bench_torch_gpu.py WEIGHTS T H W BATCH REPS
"""
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
sys.path.insert(0, os.path.join(HERE, "..", "model"))
import bench_torch as B  # noqa: E402  (its load(): .pt or native safetensors)
import infotok_ref as R  # noqa: E402


def main():
    path, T, H, W, batch, reps = sys.argv[1], *map(int, sys.argv[2:7])
    dev = torch.device("cuda")
    m = B.load(path).to(dev, torch.bfloat16).eval()
    n = batch * 3 * T * H * W
    x = (torch.arange(n, dtype=torch.float64) * 2654435761 % 1000 / 500 - 1).reshape(batch, 3, T, H, W)
    x = x.to(dev, torch.bfloat16)

    def window():
        codes = m.encode(x)[1]
        recon = m.decode(codes)
        recon = recon["recon"] if isinstance(recon, dict) else recon
        R.chunk_loss(x, recon)

    out = {"peer": "torch", "torch": torch.__version__, "precision": "bf16", "T": T, "H": H, "W": W,
           "batch": batch, "reps": reps}
    try:
        with torch.no_grad():
            window()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(reps):
                window()
            torch.cuda.synchronize()
            s = (time.perf_counter() - t0) / reps
        out.update({"tokenize_s": round(s, 4), "tokenize_frames_per_s": round(batch * T / s, 2)})
    except Exception as e:  # e.g. out of memory at batch 8: reported, not fatal
        out["error"] = "%s: %s" % (type(e).__name__, str(e)[:200])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
