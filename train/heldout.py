#!/usr/bin/python3
"""Write the held-out evaluation clips of train/data.py (never used in training) as lossless
video files, so the toolkit itself (it-scan, it-encode, it-stats --psnr) can measure the
bundled model on them: FFV1 in Matroska, RGB (bgr0: lossless for 8-bit RGB), 256x256.

Usage: /usr/bin/python3 train/heldout.py OUTDIR    -> OUTDIR/<name>.mkv, one per clip
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as D  # noqa: E402

FPS = {"tree.avi": 25, "vtest.avi[600:]": 10}


def main(out):
    os.makedirs(out, exist_ok=True)
    for name, clip in D.heldout_clips():
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name).strip("_")
        path = os.path.join(out, safe + ".mkv")
        t, h, w, _ = clip.shape
        cmd = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "%dx%d" % (w, h),
               "-r", str(FPS.get(name, 25)), "-i", "-", "-c:v", "ffv1", "-pix_fmt", "bgr0", path]
        subprocess.run(cmd, input=clip.tobytes(), check=True)
        print("%s: %d frames %dx%d -> %s" % (name, t, w, h, path))


if __name__ == "__main__":
    main(sys.argv[1])
