"""Time the PyTorch reference of the network (tests/model/infotok_ref.py) on one window:
encode + full-rate decode + ELBO map, what it-encode runs per window; end to end, the 3D
convolutions (profiler: aten::conv3d and below) and the transformer blocks (module hooks).
The peer of bench_model.c in engine-vs-torch.sh.

    /usr/bin/python3 tests/bench/bench_torch.py WEIGHTS T H W THREADS REPS
"""
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "model"))
import infotok_ref as R  # noqa: E402
import safetensors_io as S  # noqa: E402


def load(path):
    if path.endswith(".pt"):
        return R.load_official_pt(path)
    tensors, meta = S.read(path)
    import json
    cfg = json.loads(meta["config"])
    m = R.InfoTok(cfg).eval()
    sd = m.state_dict()
    m.load_state_dict({k: torch.as_tensor(tensors[k]).to(sd[k].dtype) for k in sd if k in tensors}, strict=False)
    return m


def main():
    path, T, H, W, threads, reps = sys.argv[1], *map(int, sys.argv[2:7])
    torch.set_num_threads(threads)
    m = load(path)
    x = (torch.arange(3 * T * H * W, dtype=torch.float64) * 2654435761 % 1000 / 500 - 1).float().reshape(1, 3, T, H, W)
    vit_time = [0.0]

    def pre(mod, inp):
        mod._t0 = time.perf_counter()

    def post(mod, inp, out):
        vit_time[0] += time.perf_counter() - mod._t0

    for name, mod in m.named_modules():
        if isinstance(mod, R.TransformerBlock):
            mod.register_forward_pre_hook(pre)
            mod.register_forward_hook(post)

    def window():
        codes = m.encode(x)[1]  # (indices, codes, ...) as the official encode returns
        recon = m.decode(codes)
        recon = recon["recon"] if isinstance(recon, dict) else recon
        R.chunk_loss(x, recon)

    with torch.no_grad():
        window()  # warm-up
        vit_time[0] = 0.0
        t0 = time.perf_counter()
        for _ in range(reps):
            window()
        total = (time.perf_counter() - t0) / reps
        vit = vit_time[0] / reps
        with torch.autograd.profiler.profile() as prof:
            window()
    conv = sum(e.self_cpu_time_total for e in prof.key_averages()
               if "conv" in e.key or "mkldnn" in e.key) / 1e6
    print("torch %s threads %d" % (torch.__version__, threads))
    print("per_window_s %.4f frames_per_s %.2f" % (total, T / total))
    print("conv_s %.4f transformer_s %.4f" % (conv, vit))


if __name__ == "__main__":
    main()
