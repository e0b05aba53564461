"""A second small configuration for the C engine's fidelity test, different from the tiny
fixture on every axis the code path depends on: 2 residual blocks per level, channel
multipliers [2,2,4], 3 heads, unequal encoder/decoder depths, a 17-frame window of other
footage (vtest.avi) whose size pads in space and time (11x20x36 -> 17x32x48). Deterministic; needs PyTorch.

    /usr/bin/python3 tests/model/make_small2_fixture.py [--outdir tests/model/fixtures]
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import infotok_ref as R  # noqa: E402
import make_fixtures as F  # noqa: E402
import safetensors_io as S  # noqa: E402

CONFIG = dict(R.TINY_CONFIG, channels=4, channels_mult=[2, 2, 4], num_res_blocks=2, z_channels=24,
              vit_hidden=24, vit_intermediate=40, vit_enc_layers=1, vit_dec_layers=3, vit_heads=3)
SOURCE = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
T, H, W = 11, 20, 36  # pads to 17x32x48


def read_clip():
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", SOURCE, "-fps_mode", "passthrough",
                          "-vf", "select=gte(n\\,200),scale=%d:%d:flags=area" % (W, H), "-frames:v", str(T),
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(T, H, W, 3).copy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outdir", default=os.path.join(HERE, "fixtures"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    clip = read_clip()
    # build_tiny's seeded init and calibration, applied to this config.
    saved, R.TINY_CONFIG = R.TINY_CONFIG, CONFIG
    try:
        model = F.build_tiny(clip)
    finally:
        R.TINY_CONFIG = saved
    S.write_weights(os.path.join(a.outdir, "small2.safetensors"), model.state_dict(), CONFIG)
    with torch.no_grad():
        io, o = F.io_tensors(model, clip)
    S.write(os.path.join(a.outdir, "small2_io.safetensors"), io,
            {"format": "infotok-fixture", "format_version": "1", "config": R.config_json(CONFIG),
             "weights": "small2.safetensors", "source": SOURCE + " frames 200.. scaled to %dx%d" % (W, H),
             "generator": "tests/model/make_small2_fixture.py"})
    b = o["bounded"]
    print("tokens %d, distinct %d, min boundary margin %.3g" % (
        o["indices"].numel(), len(torch.unique(o["indices"])), float((0.5 - (b - b.round()).abs()).min())))
    for f in ("small2.safetensors", "small2_io.safetensors"):
        print(f, os.path.getsize(os.path.join(a.outdir, f)))


if __name__ == "__main__":
    main()
