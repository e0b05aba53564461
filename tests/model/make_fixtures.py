"""Generate the committed model fixtures (deterministic; needs PyTorch, numpy and ffmpeg).

    /usr/bin/python3 tests/model/make_fixtures.py [--outdir tests/model/fixtures] [--report]

Writes:
  tiny.safetensors     random weights of TINY_CONFIG (fp32, native format, config in metadata)
  tiny_io.safetensors  one real-footage window through the tiny network: every intermediate
  ops.safetensors      small per-op cases (Haar, FSQ, RoPE table, mask quantile, rates, uint8
                       conversion, overlap blending, window padding)
The names, shapes and dtypes are listed in README.md. --report also runs the network in
float64 and prints the fp32-vs-fp64 error of each intermediate (to size C tolerances).
"""

import argparse
import copy
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import infotok_ref as R  # noqa: E402
import safetensors_io as S  # noqa: E402

SEED = 20260101
RATES = (1.0, 0.75, 0.5, 0.25)
# Source footage (opencv-doc): 7 frames from frame 30 of its 68 coded frames, scaled to 44x28 so that the window
# needs padding on every axis (-> 9x32x48, crop [1,2,2,8,30,46]).
CLIP_SRC = "/usr/share/doc/opencv-doc/examples/data/tree.avi"
CLIP_START, CLIP_T, CLIP_H, CLIP_W = 30, 7, 28, 44


def read_clip():
    vf = "select=gte(n\\,%d),scale=%d:%d:flags=area" % (CLIP_START, CLIP_W, CLIP_H)
    cmd = ["ffmpeg", "-v", "error", "-i", CLIP_SRC, "-vf", vf, "-fps_mode", "passthrough", "-frames:v", str(CLIP_T),
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(CLIP_T, CLIP_H, CLIP_W, 3).copy()


def build_tiny(clip):
    """Seeded random weights, then two deterministic calibrations on the fixture clip so the test
    exercises the interesting ranges: quant_conv standardised per channel (pre-FSQ latent
    ~N(0, 1.2): codes spread over the levels), and the decoder's last conv rescaled so the
    reconstruction has the input's mean and a std of 0.5 (frames not saturated)."""
    torch.manual_seed(SEED)
    m = R.init_random(R.InfoTok(R.TINY_CONFIG).eval(), seed=SEED)
    x = R.to_model_input(R.pad_window(clip)[0])
    with torch.no_grad():
        y = m.encode(x, keep=True)["pre_fsq"]
        mean, std = y.mean(dim=(0, 2, 3, 4)), y.std(dim=(0, 2, 3, 4))
        s = 1.2 / std
        w, b = m.quant_conv.conv3d.weight, m.quant_conv.conv3d.bias
        w.mul_(s.reshape(-1, 1, 1, 1, 1))
        b.copy_((b - mean) * s)
        r = m.decode(m.encode(x)[1])
        last = m.decoder.conv_out[1].conv3d
        k = 0.5 / float(r.std())
        last.weight.mul_(k)
        last.bias.mul_(k)
        # The lll band (channels 0..2) adds its value to every pixel of its 2x2x2 cube.
        r = m.decode(m.encode(x)[1])
        last.bias[:3] += (x.mean(dim=(0, 2, 3, 4)) - r.mean(dim=(0, 2, 3, 4)))
    return m


def crop(frames, c):
    return frames[c[0]:c[3], c[1]:c[4], c[2]:c[5]]


def io_tensors(model, clip):
    padded, c = R.pad_window(clip)
    o = R.run_window(model, padded, RATES)
    t = {
        "clip_u8": clip,                                   # U8 [T,H,W,3] source frames
        "input_u8": padded,                                # U8 [T',H',W',3] padded window
        "crop": np.array(c, np.int32),                     # I32 [6] f1,y1,x1,f2,y2,x2
        "patcher": o["patcher"],
        "enc_down0": o["enc_down0"],                       # CNN stages, to localise a mismatch
        "enc_down1": o["enc_down1"],
        "enc_down2": o["enc_down2"],
        "enc_mid": o["enc_mid"],
        "z": o["z"],
        "vit_enc": o["vit_enc"],
        "pre_fsq": o["pre_fsq"],
        "bounded": o["bounded"],
        "codes": o["codes"],
        "indices": o["indices"],
        "post_quant": o["post_quant"],
        "vit_dec": o["vit_dec"],
        "dec_mid": o["dec_mid"],
        "dec_up2": o["dec_up2"],
        "recon": o["recon"],
        "chunk_loss": o["chunk_loss"],
        "frames": crop(o["frames"], c),
    }
    for r in RATES:
        k = "%g" % r
        t["mask_" + k] = o["mask_" + k].to(torch.uint8)
        t["bound_" + k] = o["bound_" + k].reshape(1)
        t["recon_" + k] = o["recon_" + k]
        t["frames_" + k] = crop(o["frames_" + k], c)
    return {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in t.items()}, o


def ops_tensors():
    """Small per-op cases; every input is seeded."""
    g = torch.Generator().manual_seed(SEED + 1)
    t = {}
    # Haar: forward on [1,3,5,4,6] (frame 0 duplicated -> 6 frames -> 3), inverse on [1,24,3,2,3].
    x = torch.rand(1, 3, 5, 4, 6, generator=g) * 2 - 1
    t["haar_in"], t["haar_out"] = x, R.haar_patch(x)
    y = torch.randn(1, 24, 3, 2, 3, generator=g) * 0.3
    t["unhaar_in"], t["unhaar_out"] = y, R.haar_unpatch(y)
    # FSQ: random latents plus special values (0, -shift, saturating, half-integers after bound).
    q = R.FSQ([8, 8, 8, 5, 5, 5])
    z = torch.randn(1, 6, 250, generator=g) * 2.0
    z[:, :, :5] = torch.tensor([0.0, 20.0, -20.0, 1e-3, -1e-3])[None, None, :]
    z[:, :3, 5] = -0.14369535  # shift undone: bounded = -0.5 for L = 8
    idx, codes, b = q(z[..., None, None])
    t["fsq_z"], t["fsq_bounded"], t["fsq_codes"] = z, b[..., 0, 0], codes[..., 0, 0]
    t["fsq_indices"] = idx[..., 0, 0]
    half_l, offset, shift = q.constants()
    t["fsq_half_l"], t["fsq_offset"], t["fsq_shift"] = half_l, offset, shift
    t["fsq_all_codes_sample"] = q.indices_to_codes(torch.arange(0, 64000, 97))  # [660,6]
    # RoPE table for head_dim 8 and 6, grid 5x7: cos/sin [h,w,hd/2]; one application.
    for hd in (8, 6):
        cos, sin = R.rope_2d_table(hd, 5, 7, 10000.0)
        t["rope%d_cos" % hd], t["rope%d_sin" % hd] = cos, sin
    xr = torch.randn(1, 2 * 5 * 7, 16, generator=g)
    cos, sin = R.rope_2d_table(8, 5, 7, 10000.0)
    t["rope_apply_in"] = xr  # [1, t*h*w, nh*hd] with t=2, h=5, w=7, nh=2, hd=8
    t["rope_apply_out"] = R.apply_rope_2d(xr, cos, sin, 2, 5, 7, 2)
    # Mask quantile: losses with ties (multiples of 1/64) and without, several rates.
    rates = torch.tensor([1.0, 0.9, 0.75, 0.5, 0.3, 0.25, 0.1, 0.0625])
    t["mask_rates"] = rates
    for name, L in (("distinct", torch.rand(1, 3, 4, 5, generator=g)),
                    ("ties", torch.floor(torch.rand(1, 3, 4, 5, generator=g) * 16) / 64)):
        t["mask_%s_loss" % name] = L
        t["mask_%s_bound" % name] = torch.stack([R.mask_bound(L, float(r)) for r in rates])
        t["mask_%s_keep" % name] = torch.stack([R.token_mask(L, float(r))[0] for r in rates]).to(torch.uint8)
    # Rates (section 4.5), fp32: rows (avg_rate, window mean loss, elbo_mean) -> rate.
    rows = [(0.5, 0.1, 0.1), (0.5, 0.3, 0.1), (0.5, 0.001, 0.1), (0.75, 0.12, 0.1), (0.25, 0.05, 0.2),
            (0.5, 0.0625, 0.1), (0.5, 0.075, 0.1)]
    ge, gb = [], []
    for a, m, e in rows:
        L = torch.full((1, 1, 1, 1), m, dtype=torch.float32)
        ge.append(R.window_rate("global_elbo", a, L, e))
        gb.append(R.window_rate("global_elbo_bin", a, L, e))
    t["rate_cases"] = torch.tensor(rows, dtype=torch.float32)
    t["rate_global_elbo"] = torch.tensor(ge, dtype=torch.float32)
    t["rate_global_elbo_bin"] = torch.tensor(gb, dtype=torch.float32)
    # uint8 conversion (section 4.7) on values around the rounding points.
    v = torch.linspace(-1.01, 1.01, 1023).reshape(1, 3, 1, 1, 341)
    t["to_u8_in"], t["to_u8_out"] = v, torch.from_numpy(R.to_uint8(v))  # out [1,1,341,3]
    # Overlap blend (section 4.8), ov = 3: prev [5,2,2,3], next [6,2,2,3] -> [8,2,2,3].
    prev = torch.randint(0, 256, (5, 2, 2, 3), generator=g, dtype=torch.uint8).numpy()
    nxt = torch.randint(0, 256, (6, 2, 2, 3), generator=g, dtype=torch.uint8).numpy()
    t["blend_prev"], t["blend_next"], t["blend_out"] = prev, nxt, R.blend_overlap(prev, nxt, 3)
    # Window padding (section 4.2): rows T,H,W -> T',H',W', f1,y1,x1,f2,y2,x2.
    cases = []
    for T, H, W in ((13, 50, 70), (1, 16, 16), (20, 240, 320), (81, 240, 426), (2, 17, 33), (9, 32, 48)):
        p, c = R.pad_window(np.zeros((T, H, W, 3), np.uint8))
        cases.append([T, H, W] + list(p.shape[:3]) + c)
    t["pad_cases"] = np.array(cases, np.int32)
    return t


def histogram(idx):
    lv = [8, 8, 8, 5, 5, 5]
    basis = [1, 8, 64, 512, 2560, 12800]
    out = []
    for c in range(6):
        d = (idx.long() // basis[c]) % lv[c]
        out.append(torch.bincount(d.reshape(-1), minlength=lv[c]).tolist())
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outdir", default=os.path.join(HERE, "fixtures"))
    ap.add_argument("--report", action="store_true", help="fp32 vs fp64 error of each intermediate")
    a = ap.parse_args()
    torch.set_num_threads(1)  # thread count must not matter; one thread is the reproducible choice
    os.makedirs(a.outdir, exist_ok=True)
    clip = read_clip()
    model = build_tiny(clip)
    names = S.write_weights(os.path.join(a.outdir, "tiny.safetensors"), model.state_dict(), R.TINY_CONFIG)
    io, o = io_tensors(model, clip)
    meta = {"format": "infotok-fixture", "format_version": "1", "config": R.config_json(R.TINY_CONFIG),
            "weights": "tiny.safetensors", "rates": json.dumps(list(RATES)),
            "source": "tree.avi frames %d..%d scaled to %dx%d (ffmpeg area), padded to a window"
                      % (CLIP_START, CLIP_START + CLIP_T - 1, CLIP_W, CLIP_H),
            "generator": "tests/model/make_fixtures.py seed %d" % SEED}
    S.write(os.path.join(a.outdir, "tiny_io.safetensors"), io, meta)
    S.write(os.path.join(a.outdir, "ops.safetensors"), ops_tensors(),
            {"format": "infotok-fixture", "format_version": "1", "generator": "tests/model/make_fixtures.py"})

    # Round trip: the files read back bit for bit, and the weights reloaded from tiny.safetensors
    # reproduce tiny_io.safetensors exactly.
    w, wmeta = S.read(os.path.join(a.outdir, "tiny.safetensors"))
    assert json.loads(wmeta["config"]) == R.TINY_CONFIG and wmeta["format"] == "infotok-weights"
    m2 = R.InfoTok(json.loads(wmeta["config"])).eval()
    missing = m2.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in w.items()}, strict=False)
    assert missing.missing_keys == ["quantizer.implicit_codebook"] and not missing.unexpected_keys
    io2, _ = io_tensors(m2, clip)
    back, _ = S.read(os.path.join(a.outdir, "tiny_io.safetensors"))
    for k, v in io.items():
        v = v.numpy() if torch.is_tensor(v) else v
        v2 = io2[k].numpy() if torch.is_tensor(io2[k]) else io2[k]
        assert np.array_equal(back[k], v) and np.array_equal(v2, v), k
    print("round trip ok: %d io tensors" % len(io))

    # Sanity report: code spread, kept counts, margins to the FSQ rounding boundaries.
    print("weights: %d tensors, %d parameters" % (len(names), sum(p.numel() for p in model.parameters())))
    print("per-channel digit histogram:", histogram(o["indices"]))
    print("distinct indices: %d of %d tokens" % (len(torch.unique(o["indices"])), o["indices"].numel()))
    b = o["bounded"]
    margin = (0.5 - (b - b.round()).abs())
    print("smallest distance of a bounded value to a rounding boundary: %.3g" % float(margin.min()))
    print("pre_fsq std %.3f, z std %.3f, recon range [%.3f, %.3f]" % (
        float(o["pre_fsq"].std()), float(o["z"].std()), float(o["recon"].min()), float(o["recon"].max())))
    for r in RATES:
        print("rate %g: kept %d of %d" % (r, int(o["mask_%g" % r].sum()), o["mask_%g" % r].numel()))
    for f in ("tiny.safetensors", "tiny_io.safetensors", "ops.safetensors"):
        print("%-22s %8d bytes" % (f, os.path.getsize(os.path.join(a.outdir, f))))
    if a.report:
        m64 = copy.deepcopy(model).double()
        padded, _ = R.pad_window(clip)
        o64 = R.run_window(m64, padded, RATES)
        for k in ("patcher", "z", "vit_enc", "pre_fsq", "bounded", "post_quant", "vit_dec", "recon",
                  "chunk_loss", "recon_0.5"):
            d = (o[k].double() - o64[k]).abs().max().item()
            print("fp32 vs fp64 %-12s max|d| %.3g (max|x| %.3g)" % (k, d, o64[k].abs().max().item()))
        print("indices equal in fp64:", torch.equal(o["indices"], o64["indices"]))
        for r in RATES:
            print("mask %g equal in fp64:" % r, torch.equal(o["mask_%g" % r], o64["mask_%g" % r]))


if __name__ == "__main__":
    main()
