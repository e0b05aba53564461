"""Write the reference's outputs for one real window through a weight file of the official
config (made by make_official_pt.py), in the fixture layout of tiny_io.safetensors, so the C
engine can be compared at full size (tests/model/test_official.sh).

    /usr/bin/python3 tests/model/official_io.py WEIGHTS.pt OUT_io.safetensors
"""
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

SOURCE = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"


def read_clip(frames=9, w=64, h=48):
    # Real footage, scaled so the window pads in space (48 rows -> 48, 64 cols -> 64: none;
    # 9 frames -> 9) - a plain window; the tiny fixture already covers padding. Where there is
    # no ffmpeg (a GPU machine: tests/gpu/check.sh), IT_OFFICIAL_RAW names these frames as
    # raw rgb24, extracted beforehand with this same command (tests/gpu/prepare.sh).
    if os.environ.get("IT_OFFICIAL_RAW"):
        with open(os.environ["IT_OFFICIAL_RAW"], "rb") as f:
            return np.frombuffer(f.read(), np.uint8).reshape(frames, h, w, 3).copy()
    raw = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", SOURCE, "-fps_mode", "passthrough",
         "-vf", "select=gte(n\\,100),scale=%d:%d:flags=area" % (w, h), "-frames:v", str(frames),
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(frames, h, w, 3).copy()


def main():
    torch.set_num_threads(2)
    pt, out = sys.argv[1], sys.argv[2]
    model = R.load_official_pt(pt)
    with torch.no_grad():
        tensors, _ = F.io_tensors(model, read_clip())
    S.write(out, tensors, {"format": "infotok-fixture", "config": R.config_json(R.OFFICIAL_CONFIG),
                           "source": SOURCE})


if __name__ == "__main__":
    main()
