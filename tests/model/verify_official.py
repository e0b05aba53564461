"""Compare infotok_ref.py with the official InfoTok implementation (CPU, float32, same weights).

Not part of `make check` (needs PyTorch and a copy of the official code). Usage:

    git -C <mirror of YWolfeee/InfoTok> archive HEAD cosmos_predict1/__init__.py \
        cosmos_predict1/tokenizer | tar -x -C /tmp/official
    /usr/bin/python3 tests/model/verify_official.py --official /tmp/official [--full]

Nothing from the official tree is copied here: it is imported from --official. The official code
needs einops, loguru, mediapy and tqdm, which Debian does not package (einops) or which are
irrelevant here; small stand-ins are written to <official>/_stubs and put first on sys.path.
Two official quirks are neutralised: the FSQ output dtype is forced to bf16 by the constructor
and by `.to()`, so it is reset to float32; and the Haar buffers (not in checkpoints) are kept.
"""

import argparse
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import infotok_ref as R  # noqa: E402

_STUBS = {
    "loguru/__init__.py": '''
class _L:
    def __getattr__(self, name):
        return lambda *a, **k: None
logger = _L()
''',
    "mediapy/__init__.py": "# file I/O is not used here\n",
    "tqdm.py": "def tqdm(x, *a, **k):\n    return x\n",
    "einops/__init__.py": '''
# Minimal einops stand-in: rearrange (groups, ellipsis, literal 1), pack/unpack with one "*".
import math
import torch

def _parse(side):
    groups, cur = [], None
    for t in side.replace("(", " ( ").replace(")", " ) ").split():
        if t == "(":
            cur = []
        elif t == ")":
            groups.append(cur)
            cur = None
        elif cur is not None:
            cur.append(t)
        else:
            groups.append([t])
    return groups

def rearrange(x, pattern, **sizes):
    left, right = [s.strip() for s in pattern.split("->")]
    lg, rg = _parse(left), _parse(right)
    shape = list(x.shape)
    n_ell = len(shape) - len(lg) + (1 if ["..."] in lg else 0)
    known, elem, dim = dict(sizes), [], 0
    for g in lg:
        if g == ["..."]:
            for k in range(n_ell):
                known["...%d" % k] = shape[dim + k]
                elem.append("...%d" % k)
            dim += n_ell
            continue
        prod, unknown = 1, [a for a in g if a not in known and not a.isdigit()]
        for a in g:
            if a.isdigit():
                prod *= int(a)
            elif a in known:
                prod *= known[a]
        if unknown:
            known[unknown[0]] = shape[dim] // prod
        elem += [a for a in g if not a.isdigit()]
        dim += 1
    x = x.reshape([known[a] for a in elem])
    rel, out = [], []
    for g in rg:
        names = ["...%d" % k for k in range(n_ell)] if g == ["..."] else [a for a in g if not a.isdigit()]
        rel += names
        if g == ["..."]:
            out += [known[a] for a in names]
        else:
            out.append(math.prod([int(a) if a.isdigit() else known[a] for a in g]))
    return x.permute([elem.index(a) for a in rel]).reshape(out)

def pack(tensors, pattern):
    toks = pattern.split()
    star, nafter = toks.index("*"), len(toks) - toks.index("*") - 1
    ps, outs = [], []
    for t in tensors:
        s = list(t.shape)
        ps.append(s[star:len(s) - nafter])
        outs.append(t.reshape(s[:star] + [-1] + s[len(s) - nafter:]))
    return torch.cat(outs, dim=star), ps

def unpack(t, ps, pattern):
    star = pattern.split().index("*")
    s = list(t.shape)
    parts = torch.split(t, [math.prod(p) for p in ps], dim=star)
    return [p.reshape(s[:star] + list(m) + s[star + 1:]) for p, m in zip(parts, ps)]

def reduce(*a, **k):
    raise NotImplementedError
''',
}


def setup_official(root):
    stubs = os.path.join(root, "_stubs")
    for rel, text in _STUBS.items():
        path = os.path.join(stubs, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    sys.path[:0] = [stubs, root]


def official_kwargs(cfg):
    """The official config dict with the size fields of cfg substituted."""
    from cosmos_predict1.tokenizer.networks.configs import ours_discrete_video_4x8x8_256p_88 as base
    kw = dict(base)
    kw["vit_config"] = dict(base["vit_config"])
    kw.update(channels=cfg["channels"], channels_mult=list(cfg["channels_mult"]),
              num_res_blocks=cfg["num_res_blocks"], z_channels=cfg["z_channels"])
    kw["vit_config"].update(hidden_size=cfg["vit_hidden"], intermediate_size=cfg["vit_intermediate"],
                            num_encoder_layers=cfg["vit_enc_layers"], num_decoder_layers=cfg["vit_dec_layers"],
                            num_attention_heads=cfg["vit_heads"], theta=cfg["rope_theta"],
                            rms_norm_eps=cfg["rms_norm_eps"], max_num_video_frames=cfg["max_latent_frames"],
                            max_sequence_length=cfg["max_rope_size"])
    return kw


def build_pair(cfg, seed):
    from cosmos_predict1.tokenizer.networks import TokenizerModels
    torch.manual_seed(seed)
    ref = R.init_random(R.InfoTok(cfg).eval(), seed=seed, latent_gain=2.0)
    kw = official_kwargs(cfg)
    off = TokenizerModels[kw["name"]].value(**kw).eval()
    sd = ref.state_dict()
    res = off.load_state_dict(sd, strict=False)
    haar = {"encoder.patcher3d.wavelets", "encoder.patcher3d._arange", "encoder.patcher3d.patch_size_buffer",
            "decoder.unpatcher3d.wavelets", "decoder.unpatcher3d._arange"}
    assert set(res.missing_keys) == haar and not res.unexpected_keys, res
    off_keys = set(off.state_dict().keys()) - haar
    assert off_keys == set(sd.keys())
    for k, v in off.state_dict().items():
        if k in sd:
            assert v.shape == sd[k].shape, k
    off.quantizer.dtype = torch.float32  # official default forces bf16 codes
    return ref, off


def err(a, b):
    a, b = a.double(), b.double()
    d = (a - b).abs().max().item()
    rel = d / max(b.abs().max().item(), 1e-30)
    return d, rel


class Report:
    def __init__(self):
        self.lines = []

    def add(self, name, a, b, tol=None):
        d, rel = err(a, b)
        line = "%-34s max|d| %.3g (rel %.3g)%s" % (name, d, rel, "" if tol is None or d <= tol else "  ** over %g" % tol)
        print(line)
        self.lines.append(line)
        return d

    def note(self, s):
        print(s)
        self.lines.append(s)


@torch.no_grad()
def compare(cfg, clip, seed, rep, title):
    from cosmos_predict1.tokenizer.inference import utils as OU
    from cosmos_predict1.tokenizer.inference.video_lib import CausalVideoTokenizer
    t0 = time.time()
    ref, off = build_pair(cfg, seed)
    rep.note("== %s: clip %s, config channels=%d mult=%s res=%d z=%d vit %d/%d layers %d heads" % (
        title, clip.shape, cfg["channels"], cfg["channels_mult"], cfg["num_res_blocks"], cfg["z_channels"],
        cfg["vit_enc_layers"], cfg["vit_dec_layers"], cfg["vit_heads"]))
    padded, crop = R.pad_window(clip)
    opadded, ocrop = OU.pad_video_batch(clip[None])
    assert np.array_equal(opadded[0], padded) and list(ocrop) == crop, "pad_window"
    x = R.to_model_input(padded)
    ox = OU.numpy2tensor(opadded, dtype=torch.float32, device="cpu")
    assert torch.equal(x, ox), "numpy2tensor"

    # Stage by stage, each official stage fed the reference's input to that stage.
    mine = ref.encode(x, keep=True)
    rep.add("patcher", mine["patcher"], off.encoder.patcher3d(x))
    o_z = off.encoder(x)
    rep.add("CNN encoder z (end to end)", mine["z"], o_z)
    rep.add("ViT encoder (same input)", mine["vit_enc"], off.vit_encode(mine["z"]))
    rep.add("quant_conv (same input)", mine["pre_fsq"], off.quant_conv(mine["vit_enc"]))
    o_idx, o_codes, _ = off.quantizer(mine["pre_fsq"])
    o_b = off.quantizer.bound(mine["pre_fsq"].movedim(1, -1)).movedim(-1, 1)
    rep.add("FSQ bounded (same input)", mine["bounded"], o_b)
    assert torch.equal(mine["indices"], o_idx) and torch.equal(mine["codes"], o_codes), "FSQ"
    rep.note("FSQ indices and codes (same input): identical")
    o_full_idx, o_full_codes, _ = off.encode(x)
    nflip = int((o_full_idx != mine["indices"]).sum())
    dist = (mine["bounded"] - mine["bounded"].round()).abs()
    rep.note("end-to-end indices: %d of %d differ; closest bounded value to a rounding boundary: %.3g" % (
        nflip, o_full_idx.numel(), float((0.5 - dist).abs().min())))
    rep.add("pre-FSQ latent (end to end)", mine["pre_fsq"], off.quant_conv(off.vit_encode(o_z)))
    back = off.quantizer.indices_to_codes(mine["indices"])
    assert torch.equal(back.float(), mine["codes"]), "indices_to_codes"
    assert torch.equal(ref.quantizer.indices_to_codes(mine["indices"]).movedim(-1, 1), mine["codes"])
    rep.note("indices -> codes (official indices_to_codes): identical")
    assert torch.equal(ref.quantizer.implicit_codebook, off.quantizer.implicit_codebook.float())
    dec = ref.decode(mine["codes"], keep=True)
    rep.add("post_quant_conv", dec["post_quant"], off.post_quant_conv(mine["codes"]))
    rep.add("ViT decoder (same input)", dec["vit_dec"], off.vit_decode(dec["post_quant"]))
    rep.add("CNN decoder + unpatch (same input)", dec["recon"], off.decoder(dec["vit_dec"]))
    rep.add("unpatcher (same input)", R.haar_unpatch(dec["dec_cnn"]), off.decoder.unpatcher3d(dec["dec_cnn"]))
    o_recon = off.decode(mine["codes"])
    rep.add("full decode (end to end)", dec["recon"], o_recon)

    # Pipeline: chunk_loss, masks, masked decodes, uint8 frames (official CausalVideoTokenizer).
    tok = CausalVideoTokenizer(checkpoint=None, device="cpu", dtype="float32")
    tok._full_model = off
    cl = R.chunk_loss(x, dec["recon"])
    o_cl = tok.compute_chunk_loss(mine["codes"], x)
    rep.add("chunk_loss", cl, o_cl)
    import contextlib
    import io
    for r in (1.0, 0.75, 0.5, 0.25):
        keep = R.token_mask(cl, r)
        ratios = off.get_allocated_ratios(mine["codes"], use_adaptive=True, chunk_loss=cl,
                                          manual_base_rate=torch.tensor(r), mask_seq=True,
                                          overwrite_strategy="static")
        _, o_mask = off.mask_tokens(mine["codes"], ratios, mask_method="mse", chunk_loss=cl)
        same = torch.equal(o_mask.reshape(-1), keep.reshape(-1))
        with contextlib.redirect_stdout(io.StringIO()):
            o_out, _ = tok.autoencode(x, strategy="static", avg_rate=r)
        mine_out = ref.decode(R.apply_mask(mine["codes"], keep))
        d = rep.add("masked decode r=%g (autoencode)" % r, mine_out, o_out)
        fr, ofr = R.to_uint8(mine_out), OU.tensor2numpy(o_out)[0]
        ndiff = int((fr != ofr).sum())
        dmax = int(np.abs(fr.astype(int) - ofr.astype(int)).max())
        rep.note("   mask r=%g: %d of %d kept, same as official mask_tokens: %s; uint8 frames differ "
                 "in %d of %d values, by at most %d" % (r, int(keep.sum()), keep.numel(), same, ndiff, fr.size, dmax))
        fr_same = np.array_equal(fr[crop[0]:crop[3], crop[1]:crop[4], crop[2]:crop[5]],
                                 OU.unpad_video_batch(ofr[None], ocrop)[0])
        assert same, "mask r=%g" % r
        assert fr_same or ndiff < fr.size * 1e-3
    # global_elbo: official autoencode with an elbo_mean set by hand.
    tok.elbo_mean = float(cl.mean()) * 1.3
    with contextlib.redirect_stdout(io.StringIO()):
        o_out, o_rate = tok.autoencode(x, strategy="global_elbo", avg_rate=0.5)
    r = R.window_rate("global_elbo", 0.5, cl, tok.elbo_mean)
    rep.note("global_elbo rate: ref %.9g official %.9g" % (r, float(o_rate.reshape(-1)[0])))
    rep.add("masked decode global_elbo", ref.decode(R.apply_mask(mine["codes"], R.token_mask(cl, r))), o_out)
    rep.note("   (%.1f s)" % (time.time() - t0))


@torch.no_grad()
def sensitivity(cfg, rep):
    """Show that the comparison discriminates: two plausible misreadings of the spec, each
    compared with the official output (they must NOT match)."""
    import torch.nn.functional as F
    ref, off = build_pair(cfg, 11)
    x = R.to_model_input(tree_clip(9, 32, 48))
    codes = ref.encode(x)[1]
    o = off.decode(codes)
    # (a) a single in-projection (the "clean" attention) instead of the double one.
    orig = R.RotaryAttention.forward

    def single(self, xx, mask, cos, sin, thw):
        t, h, w = thw
        B, S, D = xx.shape
        nh, hd = self.nh, D // self.nh
        q, k, v = F.linear(xx, self.mha.in_proj_weight, self.mha.in_proj_bias).chunk(3, dim=-1)
        q = R.apply_rope_2d(q, cos, sin, t, h, w, nh)
        k = R.apply_rope_2d(k, cos, sin, t, h, w, nh)
        q, k, v = (y.reshape(B, S, nh, hd).transpose(1, 2) for y in (q, k, v))
        att = F.softmax(torch.matmul(q / hd ** 0.5, k.transpose(-2, -1)) + mask, dim=-1)
        return self.mha.out_proj(torch.matmul(att, v).transpose(1, 2).reshape(B, S, D))
    R.RotaryAttention.forward = single
    try:
        rep.add("[must differ] single in-projection", ref.decode(codes), o)
    finally:
        R.RotaryAttention.forward = orig
    # (b) skipping the temporal conv of the upsampler when t == 1 (spec 3.4 wording).
    c1 = codes[:, :, :1]
    o1 = off.decode(c1)
    rep.add("t=1 decode, conv1 kept (reference)", ref.decode(c1), o1)
    orig_up = R.HybridUpsample.forward

    def skip(self, xx):
        if self.temporal and xx.shape[2] == 1:
            self.temporal = False
            try:
                return orig_up(self, xx)
            finally:
                self.temporal = True
        return orig_up(self, xx)
    R.HybridUpsample.forward = skip
    try:
        rep.add("[must differ] t=1 decode, conv1 skipped", ref.decode(c1), o1)
    finally:
        R.HybridUpsample.forward = orig_up


@torch.no_grad()
def check_pt(path, rep):
    """The official loader (inference/utils.load_model) reads the .pt written by
    make_official_pt.py; the reference loads the same file; outputs agree."""
    from cosmos_predict1.tokenizer.inference.utils import load_model
    t0 = time.time()
    kw = official_kwargs(R.OFFICIAL_CONFIG)
    off = load_model(path, kw, "cpu").float()
    off.quantizer.dtype = torch.float32
    ref = R.load_official_pt(path)
    for k, v in ref.state_dict().items():
        assert torch.equal(v.float(), off.state_dict()[k].float()), k
    rep.note("== %s: the official load_model and load_official_pt hold identical tensors" % path)
    x = R.to_model_input(tree_clip(9, 32, 32))
    mine = ref.encode(x, keep=True)
    o_idx, o_codes, _ = off.encode(x)
    rep.note("indices: %d of %d differ; %d distinct; pre-FSQ std %.2f" % (
        int((o_idx != mine["indices"]).sum()), o_idx.numel(), len(torch.unique(o_idx)), float(mine["pre_fsq"].std())))
    y = ref.decode(mine["codes"])
    rep.note("reconstruction mean %.3f std %.3f" % (float(y.mean()), float(y.std())))
    rep.add("decode (official .pt)", y, off.decode(mine["codes"]))
    rep.note("   (%.1f s)" % (time.time() - t0))


def check_pipeline(rep):
    """Windows, per-window padding, uint8 conversion, crop and overlap blending: the official
    CausalVideoTokenizer.forward / forward_with_overlap with its network call replaced by a
    cheap stand-in (input*0.8 + 0.05*window number), against windows() / pad_window() /
    to_uint8() / blend_overlap() with the same stand-in."""
    from cosmos_predict1.tokenizer.inference.video_lib import CausalVideoTokenizer
    tok = CausalVideoTokenizer(checkpoint=None, device="cpu", dtype="float32")
    calls = [0]

    def fake(x, strategy="static", avg_rate=0.5):
        calls[0] += 1
        return x * 0.8 + 0.05 * calls[0], torch.tensor([[avg_rate]])
    tok.autoencode = fake
    n = 41
    video = tree_clip(n, 20, 30)
    for tw, ov in ((17, 3), (17, 0), (9, 0), (9, 2), (81, 3), (13, 5), (40, 0)):
        calls[0] = 0
        out = tok(video[None], temporal_window=tw, strategy="static", avg_rate=0.5, overlap_window=ov)[0][0]
        res = None
        for k, (s, e) in enumerate(R.windows(n, tw, ov), start=1):
            padded, c = R.pad_window(video[s:e])
            fr = R.to_uint8(R.to_model_input(padded) * 0.8 + 0.05 * k)[c[0]:c[3], c[1]:c[4], c[2]:c[5]]
            res = fr if res is None else (R.blend_overlap(res, fr, ov) if ov > 0 else np.concatenate([res, fr]))
        assert calls[0] == len(R.windows(n, tw, ov))
        assert np.array_equal(out, res), (tw, ov)
        rep.note("pipeline %d frames, window %d, overlap %d: %d windows, output identical (%s)" % (
            n, tw, ov, calls[0], "x".join(map(str, out.shape))))


def tree_clip(frames, h, w, start=0):
    import subprocess
    src = "/usr/share/doc/opencv-doc/examples/data/tree.avi"
    cmd = ["ffmpeg", "-v", "error", "-i", src, "-vf", "select=gte(n\\,%d),scale=%d:%d:flags=area" % (start, w, h),
           "-fps_mode", "passthrough", "-frames:v", str(frames), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(frames, h, w, 3).copy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", required=True, help="directory holding cosmos_predict1/ from YWolfeee/InfoTok")
    ap.add_argument("--full", action="store_true", help="also run the official config (slow, ~2 GiB)")
    ap.add_argument("--out", help="write the report lines here")
    ap.add_argument("--pipeline-only", action="store_true", help="only the window/blend check")
    ap.add_argument("--pt", help="also load this make_official_pt.py checkpoint with the official loader")
    a = ap.parse_args()
    setup_official(a.official)
    torch.set_num_threads(1)
    rep = Report()
    check_pipeline(rep)
    if a.pipeline_only:
        if a.out:
            with open(a.out, "w") as f:
                f.write("\n".join(rep.lines) + "\n")
        return
    small = dict(R.OFFICIAL_CONFIG, channels=16, channels_mult=[1, 2, 2], num_res_blocks=2, z_channels=32,
                 vit_hidden=32, vit_intermediate=64, vit_enc_layers=2, vit_dec_layers=2, vit_heads=4)
    compare(small, tree_clip(17, 48, 80), 1, rep, "small config, 17x48x80")
    compare(small, tree_clip(13, 50, 70), 2, rep, "small config, 13x50x70 (padding)")
    compare(small, tree_clip(1, 32, 48), 3, rep, "small config, 1 frame (t == 1)")
    hd6 = dict(small, z_channels=24, vit_hidden=24, vit_heads=4)     # head_dim 6: 3 RoPE pairs
    compare(hd6, tree_clip(9, 32, 64), 4, rep, "head_dim 6")
    hd12 = dict(small, z_channels=24, vit_hidden=24, vit_heads=2)    # head_dim 12: 6 RoPE pairs
    compare(hd12, tree_clip(9, 32, 64), 5, rep, "head_dim 12")
    compare(R.TINY_CONFIG, tree_clip(9, 32, 48), 6, rep, "tiny fixture config")
    sensitivity(small, rep)
    if a.pt:
        check_pt(a.pt, rep)
    if a.full:
        compare(R.OFFICIAL_CONFIG, tree_clip(9, 64, 64), 7, rep, "OFFICIAL config, 9x64x64")
    if a.out:
        with open(a.out, "w") as f:
            f.write("\n".join(rep.lines) + "\n")


if __name__ == "__main__":
    main()
