"""Training/evaluation data for the small InfoTok model: the source list, the split, decoding
(ffmpeg CLI to raw RGB, cached as .npy under a cache dir) and the augmentation.

Sources are real footage and photographs shipped by Debian's opencv-doc package
(/usr/share/doc/opencv-doc/examples/data). Split (documented in train/README.md):

  train videos   Megamind.avi (all 270 frames, 720x528), vtest.avi frames 0..599 (768x576)
  held-out video tree.avi (all 68 frames, 320x240), vtest.avi frames 600..794
  train photos   TRAIN_PHOTOS below (rendered as pan/zoom clips)
  held-out photos HELDOUT_PHOTOS below (never used in training; distinct scenes)
  never used     Megamind_bugy.avi (damaged copy of Megamind), synthetic images (logos,
                 charts, text, chessboards, grey calibration shots)

Training samples: clips of T frames at SxS (default 17x128x128), uint8 -> [-1, 1]:
  video: random start, frame stride 1..3 (speed change; 1..2 for vtest, 10 fps), random crop of
         side c in [S, 2S] (scale) resized to S (area), random horizontal flip;
  photo: synthetic camera motion: a crop window of random size moving linearly (pan) and
         changing size (zoom) over the clip, bilinear resampled, random flip.
Everything is drawn from a numpy Generator seeded by (seed, step), so a resumed run sees the
same samples as an uninterrupted one.
"""

import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

SRC = "/usr/share/doc/opencv-doc/examples/data"
CACHE = os.environ.get("INFOTOK_DATA_CACHE", "/tmp/infotok_train_cache")

# (file, first frame, end frame (exclusive) or None)
TRAIN_VIDEOS = [("Megamind.avi", 0, None), ("vtest.avi", 0, 600)]
HELDOUT_VIDEOS = [("tree.avi", 0, None), ("vtest.avi", 600, None)]

TRAIN_PHOTOS = ["aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "apple.jpg", "board.jpg",
                "building.jpg", "butterfly.jpg", "ela_original.jpg", "home.jpg", "leuvenA.jpg",
                "leuvenB.jpg", "licenseplate_motion.jpg", "orange.jpg", "pca_test1.jpg",
                "rubberwhale1.png", "rubberwhale2.png", "smarties.png", "squirrel_cls.jpg",
                "stuff.jpg", "starry_night.jpg", "graf1.png", "graf3.png", "left.jpg",
                "right.jpg", "Blender_Suzanne1.jpg", "HappyFish.jpg", "text_defocus.jpg"]
HELDOUT_PHOTOS = ["baboon.jpg", "fruits.jpg", "messi5.jpg"]
# Added for the second training round (issue #16): real photographs of opencv-doc not used
# before (optical-flow pair of a basketball scene, a close-up of a chick). Never held out.
EXTRA_PHOTOS = ["basketball1.png", "basketball2.png", "chicky_512.png"]


def _probe_size(path):
    out = subprocess.check_output(["ffprobe", "-v", "error", "-select_streams", "v:0",
                                   "-show_entries", "stream=width,height", "-of", "csv=p=0", path])
    w, h = out.decode().strip().split("\n")[0].split(",")[:2]
    return int(w), int(h)


def decode(name, vf=None):
    """uint8 [T,H,W,3] of every coded frame of a file in SRC (cached). vf: ffmpeg filter."""
    os.makedirs(CACHE, exist_ok=True)
    key = name + ("" if vf is None else "." + "".join(c if c.isalnum() else "_" for c in vf))
    cpath = os.path.join(CACHE, key + ".npy")
    if os.path.exists(cpath):
        return np.load(cpath, mmap_mode="r")
    path = os.path.join(SRC, name)
    cmd = ["ffmpeg", "-v", "error", "-i", path, "-fps_mode", "passthrough"]
    if vf:
        cmd += ["-vf", vf]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.check_output(cmd)
    if vf:  # size after the filter: decode one frame to know it
        one = subprocess.check_output(["ffmpeg", "-v", "error", "-i", path, "-frames:v", "1", "-vf", vf,
                                       "-f", "image2", "-c:v", "png", "-"])
        w, h = _png_size(one)
    else:
        w, h = _probe_size(path)
    a = np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)
    np.save(cpath + ".tmp.npy", a)
    os.replace(cpath + ".tmp.npy", cpath)
    return np.load(cpath, mmap_mode="r")


def _png_size(b):
    return int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")


def photo(name):
    """uint8 [H,W,3]."""
    return np.asarray(decode(name)[0])


def video(name, f0=0, f1=None):
    a = decode(name)
    return a[f0:f1]


def to_input(u8):
    """uint8 [T,H,W,3] (numpy or torch) -> float32 [3,T,H,W] in [-1,1]."""
    t = torch.as_tensor(np.ascontiguousarray(u8)).permute(3, 0, 1, 2).float()
    return t / 127.5 - 1.0


class TrainData:
    def __init__(self, T=17, S=128, photo_frac=0.35, extra_photos=False, video_pan=0.0, videos=None):
        """videos: [(name, uint8 [N,H,W,3] array or memmap)] instead of TRAIN_VIDEOS (post-training
        on a manifest; then photo_frac is usually 0). video_pan: probability that a video clip's
        crop window moves (pan) and changes size (zoom) over the clip, on top of the real motion."""
        self.T, self.S, self.photo_frac, self.video_pan = T, S, photo_frac, video_pan
        if videos is None:
            videos = [(n, np.asarray(video(n, a, b))) for n, a, b in TRAIN_VIDEOS]
        self.videos = videos
        names = TRAIN_PHOTOS + (EXTRA_PHOTOS if extra_photos else []) if photo_frac > 0 else []
        self.photos = [(n, torch.as_tensor(photo(n)).permute(2, 0, 1).float()[None]) for n in names]

    def sample(self, rng):
        """One clip float32 [3,T,S,S] in [-1,1] and a short description."""
        if rng.random() < self.photo_frac:
            return self._photo_clip(rng)
        return self._video_clip(rng)

    def _video_clip(self, rng):
        T, S = self.T, self.S
        i = int(rng.integers(len(self.videos)))
        name, v = self.videos[i]
        n, H, W = v.shape[:3]
        smax = 2 if name.startswith("vtest") else 3
        stride = int(rng.integers(1, smax + 1))
        while (T - 1) * stride + 1 > n:
            stride -= 1
        f0 = int(rng.integers(0, n - (T - 1) * stride))
        if self.video_pan > 0 and rng.random() < self.video_pan:
            return self._video_pan_clip(rng, name, v[f0:f0 + (T - 1) * stride + 1:stride], stride)
        c = int(rng.integers(min(S, H, W), min(2 * S, H, W) + 1))
        y = int(rng.integers(0, H - c + 1))
        x = int(rng.integers(0, W - c + 1))
        clip = v[f0:f0 + (T - 1) * stride + 1:stride, y:y + c, x:x + c]
        t = to_input(clip)
        if c != S:
            t = F.interpolate(t, size=(S, S), mode="area")
        if rng.random() < 0.5:
            t = t.flip(-1)
        return t.contiguous(), "%s f%d s%d c%d" % (name, f0, stride, c)

    def _video_pan_clip(self, rng, name, frames, stride):
        """A moving, resizing crop window over real frames (synthetic camera pan/zoom on top of
        the footage's own motion), bilinear resampled to S like the photo clips."""
        T, S = self.T, self.S
        H, W = frames.shape[1:3]
        m = min(H, W)
        c0 = rng.uniform(min(S, m), max(min(S, m), min(2 * S, m)))
        c1 = float(np.clip(c0 * rng.uniform(0.8, 1.25), min(S, m) * 0.8, m))
        (x0, y0), (x1, y1) = [(rng.uniform(c / 2, W - c / 2), rng.uniform(c / 2, H - c / 2)) for c in (c0, c1)]
        maxstep = 0.04 * S * T
        d = np.hypot(x1 - x0, y1 - y0)
        if d > maxstep:
            x1, y1 = x0 + (x1 - x0) * maxstep / d, y0 + (y1 - y0) * maxstep / d
        # only the region both windows cover, pooled once for the whole clip (speed)
        bx0 = max(0, int(min(x0 - c0 / 2, x1 - c1 / 2)) - 1)
        by0 = max(0, int(min(y0 - c0 / 2, y1 - c1 / 2)) - 1)
        bx1 = min(W, int(max(x0 + c0 / 2, x1 + c1 / 2)) + 2)
        by1 = min(H, int(max(y0 + c0 / 2, y1 + c1 / 2)) + 2)
        imgs = torch.as_tensor(np.ascontiguousarray(frames[:, by0:by1, bx0:bx1])).permute(0, 3, 1, 2).float()
        scale = 1
        while min(c0, c1) / scale > 2 * S:
            scale *= 2
        if scale > 1:
            imgs = F.avg_pool2d(imgs, scale, ceil_mode=True)
        Hs, Ws = imgs.shape[-2:]
        lin = (torch.arange(S, dtype=torch.float32) + 0.5) / S - 0.5
        grids = []
        for k in range(T):
            cx, cy, c = _lerp3((x0, y0, c0), (x1, y1, c1), k / max(T - 1, 1))
            gx = ((cx + lin * c - bx0) / scale) / Ws * 2 - 1
            gy = ((cy + lin * c - by0) / scale) / Hs * 2 - 1
            grids.append(torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1))
        clip = F.grid_sample(imgs, torch.stack(grids), mode="bilinear", padding_mode="border", align_corners=False)
        clip = (clip.round().clamp(0, 255) / 127.5 - 1.0).permute(1, 0, 2, 3)
        if rng.random() < 0.5:
            clip = clip.flip(-1)
        return clip.contiguous(), "%s s%d pan(%.0f,%.0f,%.0f)->(%.0f,%.0f,%.0f)" % (name, stride, x0, y0, c0, x1, y1, c1)

    def _photo_clip(self, rng):
        T, S = self.T, self.S
        i = int(rng.integers(len(self.photos)))
        name, img = self.photos[i]
        H, W = img.shape[-2:]
        m = min(H, W)
        c0 = rng.uniform(S, max(S, m * 0.9))
        c1 = float(np.clip(c0 * rng.uniform(0.8, 1.25), S * 0.8, m))
        # centres so that the window stays inside the picture at both ends
        def centre(c):
            return rng.uniform(c / 2, W - c / 2), rng.uniform(c / 2, H - c / 2)
        (x0, y0), (x1, y1) = centre(c0), centre(c1)
        maxstep = 0.06 * S * T  # limit pan speed to ~6% of the crop per frame (in output px)
        d = np.hypot(x1 - x0, y1 - y0)
        if d > maxstep:
            x1 = x0 + (x1 - x0) * maxstep / d
            y1 = y0 + (y1 - y0) * maxstep / d
        clip = render_pan_zoom(img, T, S, (x0, y0, c0), (x1, y1, c1))
        if rng.random() < 0.5:
            clip = clip.flip(-1)
        return clip, "%s pan(%.0f,%.0f,%.0f)->(%.0f,%.0f,%.0f)" % (name, x0, y0, c0, x1, y1, c1)


def _lerp3(a, b, u):
    return tuple(a[j] + (b[j] - a[j]) * u for j in range(3))


def render_pan_zoom(img, T, S, a, b):
    """img float [1,3,H,W] (0..255) -> [3,T,S,S] in [-1,1]: square windows (cx, cy, side) moving
    linearly from a to b; antialiased by area-downscaling when the window is larger than 2S."""
    H, W = img.shape[-2:]
    frames = []
    for k in range(T):
        u = k / max(T - 1, 1)
        cx, cy, c = (a[j] + (b[j] - a[j]) * u for j in range(3))
        src = img
        scale = 1
        while c / scale > 2 * S:
            scale *= 2
        if scale > 1:
            src = F.avg_pool2d(img, scale)
        Hs, Ws = src.shape[-2:]
        lin = (torch.arange(S, dtype=torch.float32) + 0.5) / S - 0.5
        xs = (cx + lin * c) / (W / Ws)  # in source pixel units
        ys = (cy + lin * c) / (H / Hs)
        gx = xs / Ws * 2 - 1
        gy = ys / Hs * 2 - 1
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]
        frames.append(F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False))
    clip = torch.cat(frames)[:, :, :, :]  # [T,3,S,S]
    clip = clip.round().clamp(0, 255)  # like real 8-bit footage
    return (clip / 127.5 - 1.0).permute(1, 0, 2, 3).contiguous()


# ------------------------------------------------------------------------------------------
# Post-training data: the videos of an it-scan manifest.
# ------------------------------------------------------------------------------------------

def read_manifest(path):
    """[(entry dict)] of the ok lines of an it-scan manifest (JSON Lines). Error lines and lines
    that are not JSON objects with a path are reported and skipped."""
    import json
    out = []
    with open(path) as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                e = json.loads(line)
            except ValueError as err:
                raise SystemExit("%s:%d: not a JSON object: %s" % (path, i, err))
            if not isinstance(e, dict) or not isinstance(e.get("path"), str):
                raise SystemExit("%s:%d: no \"path\" string (not an it-scan manifest?)" % (path, i))
            if e.get("status", "ok") != "ok":
                print("%s:%d: skipped (%s)" % (path, i, e.get("error", "status not ok")), file=sys.stderr)
                continue
            out.append(e)
    if not out:
        raise SystemExit("%s: no usable video" % path)
    return out


def decode_entry(e, max_side=512, max_frames=900, cache=CACHE):
    """uint8 [N,H,W,3] (memory-mapped cache) of a manifest entry: every decoded frame (ffmpeg CLI,
    rotation applied as the toolkit does, -fps_mode passthrough), scaled down (area) so that the
    shorter side is at most max_side, at most max_frames frames. An archive member is read
    with Python's tarfile/zipfile and piped to ffmpeg."""
    import hashlib
    path, member = e["path"], e.get("member")
    st = os.stat(path)
    key = hashlib.sha1(("%s\0%s\0%d\0%d\0%d\0%d" % (os.path.abspath(path), member or "", st.st_size,
                                                       int(st.st_mtime), max_side, max_frames)).encode()).hexdigest()[:20]
    os.makedirs(cache, exist_ok=True)
    cpath = os.path.join(cache, "m_" + key + ".npy")
    if os.path.exists(cpath):
        return np.load(cpath, mmap_mode="r")
    data = None
    if member is not None:
        data = _read_member(path, member)
    w, h = int(e.get("width") or 0), int(e.get("height") or 0)
    if e.get("rotation") in (90, 270):
        w, h = h, w
    if w <= 0 or h <= 0:
        raise SystemExit("%s: no frame size in the manifest" % path)
    s = min(1.0, max_side / min(w, h))
    ow, oh = max(16, int(round(w * s / 2)) * 2), max(16, int(round(h * s / 2)) * 2)
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", "-" if data is not None else path,
           "-fps_mode", "passthrough", "-frames:v", str(max_frames),
           "-vf", "scale=%d:%d:flags=area" % (ow, oh), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    r = subprocess.run(cmd, input=data, capture_output=True)
    if r.returncode != 0:
        raise SystemExit("%s%s: ffmpeg failed: %s" % (path, "" if member is None else ":" + member,
                                                     r.stderr.decode(errors="replace").strip()[-300:]))
    a = np.frombuffer(r.stdout, np.uint8)
    if a.size == 0 or a.size % (oh * ow * 3):
        raise SystemExit("%s: decoded %d bytes, not whole %dx%d frames" % (path, a.size, ow, oh))
    a = a.reshape(-1, oh, ow, 3)
    np.save(cpath + ".tmp.npy", a)
    os.replace(cpath + ".tmp.npy", cpath)
    return np.load(cpath, mmap_mode="r")


def _read_member(path, member):
    import tarfile
    import zipfile
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            return z.read(member)
    with tarfile.open(path) as t:
        f = t.extractfile(member)
        if f is None:
            raise SystemExit("%s: member %s is not a regular file" % (path, member))
        return f.read()


def manifest_videos(path, T, max_side=512, max_frames=900):
    """[(name, uint8 array)] of a manifest's videos with at least T frames (shorter ones are
    reported and skipped: a training clip needs T frames)."""
    out = []
    for e in read_manifest(path):
        v = decode_entry(e, max_side, max_frames)
        name = e["path"] + ("" if e.get("member") is None else ":" + e["member"])
        if len(v) < T:
            print("%s: %d frames < %d, skipped" % (name, len(v), T), file=sys.stderr)
            continue
        out.append((name, v))
    if not out:
        raise SystemExit("%s: no video with at least %d frames" % (path, T))
    return out


# ------------------------------------------------------------------------------------------
# Held-out evaluation set: 256x256, windows of 17 frames (uint8 clips).
# ------------------------------------------------------------------------------------------

def _centre_crop(v, S=256):
    H, W = v.shape[1:3]
    y, x = (H - S) // 2, (W - S) // 2
    return np.ascontiguousarray(v[:, y:y + S, x:x + S])


def heldout_clips(S=256, T_photo=33):
    """[(name, uint8 [T,S,S,3])]. tree.avi is 320x240: scaled to 342x256 (bicubic) then
    centre-cropped; vtest frames 600.. are centre-cropped at native resolution; each held-out
    photo becomes a deterministic pan+zoom clip of T_photo frames."""
    out = []
    tree = decode("tree.avi", vf="scale=-2:256:flags=bicubic")
    out.append(("tree.avi", _centre_crop(np.asarray(tree), S)))
    vt = np.asarray(video("vtest.avi", 600, None))
    out.append(("vtest.avi[600:]", _centre_crop(vt, S)))
    for name in HELDOUT_PHOTOS:
        img = torch.as_tensor(photo(name)).permute(2, 0, 1).float()[None]
        H, W = img.shape[-2:]
        m = min(H, W)
        c0, c1 = 0.9 * m, 0.7 * m
        a = (W / 2 - 0.05 * W, H / 2, c0)
        b = (W / 2 + 0.05 * W, H / 2 - 0.03 * H, c1)
        clip = render_pan_zoom(img, T_photo, S, a, b)  # [-1,1]
        u8 = ((clip + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 3, 0).numpy()
        out.append((name + "(pan-zoom)", u8))
    return out


if __name__ == "__main__":
    import time
    t0 = time.time()
    d = TrainData()
    print("loaded in %.1fs: videos %s, %d photos" % (time.time() - t0,
          [(n, v.shape) for n, v in d.videos], len(d.photos)))
    rng = np.random.default_rng(0)
    t0 = time.time()
    for _ in range(20):
        c, desc = d.sample(rng)
    print("20 samples %.2fs; last %s %s range %.2f..%.2f" % (time.time() - t0, tuple(c.shape), desc,
          float(c.min()), float(c.max())))
    for n, c in heldout_clips():
        print("held-out", n, c.shape)
