"""PyTorch reference of the InfoTok network OURS4x8x8-mse-256p-88 (InfoTok-Flex).

What it is: a self-contained, CPU, float32 (or float64) re-implementation of what the official
code (YWolfeee/InfoTok@042fc58) computes, written from ../../../shared/spec/infotok-model.md and
checked against the official modules (see README.md beside this file). Its state_dict names are
the official ones (without the `network.` prefix), so official checkpoints load into it and its
random weights load into the official model.

What it is not: a copy of the official code, a bf16 emulation, or a training module. The official
pipeline runs in bf16; this reference is the fp32 oracle the C engine is tested against.

Dimension letters: B batch (always 1 in the pipeline), C channels, T frames (pixels), t latent
frames, H W pixels, h w latent grid, S = t*h*w tokens, D hidden, nh heads, hd head_dim.
"""

import json
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# The released checkpoint's config, in the schema the C side parses from the weight metadata.
OFFICIAL_CONFIG = {
    "arch": "infotok-ours-4x8x8",
    "channels": 128,
    "channels_mult": [2, 4, 4],
    "num_res_blocks": 2,
    "z_channels": 256,
    "embedding_dim": 6,
    "levels": [8, 8, 8, 5, 5, 5],
    "patch_size": 2,
    "spatial_compression": 8,
    "temporal_compression": 4,
    "vit_hidden": 256,
    "vit_intermediate": 512,
    "vit_enc_layers": 8,
    "vit_dec_layers": 8,
    "vit_heads": 32,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-5,
    "max_latent_frames": 49,
    "max_rope_size": 96,
    "norm_eps": 1e-6,
}

# A config small enough for committed fixtures: head_dim 8 as in the real model.
TINY_CONFIG = dict(OFFICIAL_CONFIG, channels=8, channels_mult=[1, 2, 2], num_res_blocks=1,
                   z_channels=16, vit_hidden=16, vit_intermediate=32, vit_enc_layers=2,
                   vit_dec_layers=2, vit_heads=2)

# Geometry that every supported config shares (the C engine hard-codes the level structure).
_FIXED = {"embedding_dim": 6, "levels": [8, 8, 8, 5, 5, 5], "patch_size": 2,
          "spatial_compression": 8, "temporal_compression": 4}
CONFIG_KEYS = list(OFFICIAL_CONFIG.keys())


def check_config(cfg):
    """Raise ValueError unless cfg follows the schema and the fixed geometry."""
    if sorted(cfg.keys()) != sorted(CONFIG_KEYS):
        raise ValueError("config keys differ from the schema: %s" % sorted(set(cfg) ^ set(CONFIG_KEYS)))
    if cfg["arch"] != "infotok-ours-4x8x8":
        raise ValueError("arch must be infotok-ours-4x8x8")
    for k, v in _FIXED.items():
        if cfg[k] != v:
            raise ValueError("%s must be %r" % (k, v))
    if len(cfg["channels_mult"]) != 3:
        raise ValueError("channels_mult must have 3 levels")
    if cfg["z_channels"] != cfg["vit_hidden"]:
        raise ValueError("z_channels must equal vit_hidden (vit_conv is Identity only then)")
    if cfg["vit_hidden"] % cfg["vit_heads"] or (cfg["vit_hidden"] // cfg["vit_heads"]) % 2:
        raise ValueError("head_dim must be an even integer")


def config_json(cfg):
    """The config as the compact JSON string stored in the weight file's metadata."""
    return json.dumps(cfg, separators=(",", ":"))


# --------------------------------------------------------------------------------------------
# Parameter holders. They only carry tensors under the official names; the maths is in forward().
# --------------------------------------------------------------------------------------------

class _Params(nn.Module):
    """Holds `weight` and optionally `bias` (an nn.Conv3d / nn.GroupNorm without its forward)."""

    def __init__(self, wshape, bias_len=None, fill_w=None):
        super().__init__()
        w = torch.empty(wshape) if fill_w is None else torch.full(wshape, fill_w)
        self.weight = nn.Parameter(w)
        if bias_len is not None:
            self.bias = nn.Parameter(torch.zeros(bias_len))


class CausalConv3d(nn.Module):
    """Conv3d that first prepends `time_pad` copies of frame 0 (causal, replicate) and zero-pads
    H and W by `pad`. time_pad = (kt - 1) + (1 - time_stride), as in the official layer."""

    def __init__(self, cin, cout, k, stride=1, time_stride=1, pad=0):
        super().__init__()
        self.k = k
        self.stride = (time_stride, stride, stride)
        self.time_pad = (k[0] - 1) + (1 - time_stride)
        self.pad = pad
        self.conv3d = _Params((cout, cin) + tuple(k), cout)

    def forward(self, x):  # x [B,C,T,H,W]
        if self.time_pad > 0:
            x = torch.cat([x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1), x], dim=2)
        if self.pad:
            x = F.pad(x, (self.pad,) * 4 + (0, 0))
        return F.conv3d(x, self.conv3d.weight, self.conv3d.bias, stride=self.stride)


def _conv133(cin, cout, stride=1):
    return CausalConv3d(cin, cout, (1, 3, 3), stride=stride, pad=1 if stride == 1 else 0)


def _conv311(cin, cout, time_stride=1):
    return CausalConv3d(cin, cout, (3, 1, 1), time_stride=time_stride)


def _conv111(cin, cout):
    return CausalConv3d(cin, cout, (1, 1, 1))


class FactorizedConv(nn.Sequential):
    """k(1,3,3) pad 1 then causal k(3,1,1): the official `nn.Sequential` pair (names .0 .1)."""

    def __init__(self, cin, cout):
        super().__init__(_conv133(cin, cout), _conv311(cout, cout))


def silu(x):
    # The CNN uses x*sigmoid(x) literally (official `nonlinearity`); the ViT MLP uses F.silu.
    return x * torch.sigmoid(x)


class CausalNorm(nn.Module):
    """GroupNorm with one group applied to each frame on its own (statistics over C*H*W)."""

    def __init__(self, c, eps):
        super().__init__()
        self.eps = eps
        self.norm = _Params((c,), c, fill_w=1.0)

    def forward(self, x):  # [B,C,T,H,W]
        B, C, T, H, W = x.shape
        y = x.permute(0, 2, 1, 3, 4).reshape(B * T, C, H, W)
        y = F.group_norm(y, 1, self.norm.weight, self.norm.bias, self.eps)
        return y.reshape(B, T, C, H, W).permute(0, 2, 1, 3, 4)


class ResBlock(nn.Module):
    """GN -> SiLU -> conv1 -> GN -> SiLU -> conv2, plus x (1x1x1 conv when C changes)."""

    def __init__(self, cin, cout, eps):
        super().__init__()
        self.norm1 = CausalNorm(cin, eps)
        self.conv1 = FactorizedConv(cin, cout)
        self.norm2 = CausalNorm(cout, eps)
        self.conv2 = FactorizedConv(cout, cout)
        self.nin_shortcut = _conv111(cin, cout) if cin != cout else None

    def forward(self, x):
        h = self.conv1(silu(self.norm1(x)))
        h = self.conv2(silu(self.norm2(h)))
        if self.nin_shortcut is not None:
            x = self.nin_shortcut(x)
        return x + h


class SpatialAttn(nn.Module):
    """Single-head attention over the h*w positions of each frame, scale C^-0.5, residual."""

    def __init__(self, c, eps):
        super().__init__()
        self.norm = CausalNorm(c, eps)
        self.q, self.k, self.v, self.proj_out = (_conv111(c, c) for _ in range(4))

    def forward(self, x):  # [B,C,T,H,W]
        B, C, T, H, W = x.shape
        n = self.norm(x)
        q, k, v = (m(n).permute(0, 2, 1, 3, 4).reshape(B * T, C, H * W) for m in (self.q, self.k, self.v))
        w = torch.bmm(q.permute(0, 2, 1), k) * (int(C) ** -0.5)  # [BT, HW(query), HW(key)]
        w = F.softmax(w, dim=2)
        h = torch.bmm(v, w.permute(0, 2, 1))  # [BT, C, HW]
        h = h.reshape(B, T, C, H, W).permute(0, 2, 1, 3, 4)
        return x + self.proj_out(h)


class TemporalAttn(nn.Module):
    """Single-head causal attention over the frames at each (h, w), scale C^-0.5, residual."""

    def __init__(self, c, eps):
        super().__init__()
        self.norm = CausalNorm(c, eps)
        self.q, self.k, self.v, self.proj_out = (_conv111(c, c) for _ in range(4))

    def forward(self, x):
        B, C, T, H, W = x.shape
        n = self.norm(x)
        q, k, v = (m(n).permute(0, 3, 4, 2, 1).reshape(B * H * W, T, C) for m in (self.q, self.k, self.v))
        w = torch.bmm(q, k.permute(0, 2, 1)) * (int(C) ** -0.5)  # [BHW, T, T]
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        w = w.masked_fill(~causal, float("-inf"))
        w = F.softmax(w, dim=2)
        h = torch.bmm(w, v)  # [BHW, T, C]
        h = h.reshape(B, H, W, T, C).permute(0, 4, 3, 1, 2)
        return x + self.proj_out(h)


class HybridDownsample(nn.Module):
    """Spatial: zero-pad right/bottom 1, conv k(1,3,3) stride 2 + avgpool(1,2,2).
    Temporal: prepend frame 0, conv k(3,1,1) time_stride 2 (prepends one more) + avgpool(2,1,1).
    Then a 1x1x1 conv. T' = (T-1)/2 + 1."""

    def __init__(self, c, spatial, temporal):
        super().__init__()
        self.spatial, self.temporal = spatial, temporal
        if spatial:
            self.conv1 = _conv133(c, c, stride=2)
        if temporal:
            self.conv2 = _conv311(c, c, time_stride=2)
        self.conv3 = _conv111(c, c)

    def forward(self, x):
        if self.spatial:
            x = F.pad(x, (0, 1, 0, 1, 0, 0))
            x = self.conv1(x) + F.avg_pool3d(x, (1, 2, 2), (1, 2, 2))
        if self.temporal:
            x = torch.cat([x[:, :, :1], x], dim=2)
            x = self.conv2(x) + F.avg_pool3d(x, (2, 1, 1), (2, 1, 1))
        return self.conv3(x)


class HybridUpsample(nn.Module):
    """Temporal: each frame twice, drop the first (t -> 2t-1; no duplication when t == 1, but
    the conv + residual still runs), causal k(3,1,1) + x. Spatial: nearest x2, k(1,3,3) + x.
    Then a 1x1x1 conv."""

    def __init__(self, c, spatial, temporal):
        super().__init__()
        self.spatial, self.temporal = spatial, temporal
        if temporal:
            self.conv1 = _conv311(c, c)
        if spatial:
            self.conv2 = _conv133(c, c)
        self.conv3 = _conv111(c, c)

    def forward(self, x):
        if self.temporal:
            if x.shape[2] > 1:
                x = x.repeat_interleave(2, dim=2)[:, :, 1:]
            x = self.conv1(x) + x
        if self.spatial:
            x = x.repeat_interleave(2, dim=3).repeat_interleave(2, dim=4)
            x = self.conv2(x) + x
        return self.conv3(x)


# --------------------------------------------------------------------------------------------
# Haar wavelet patcher / unpatcher (one level, patch 2). Buffers are not part of the checkpoint.
# --------------------------------------------------------------------------------------------

# fp32/fp64: the exact constant 1/sqrt(2). Official inference casts the model to bf16, which
# rounds it to 0.70703125 (and the 2*sqrt(2) rescale is fp32): a documented deviation of the
# official bf16 pipeline, not modelled here.
_HAAR_A = 1.0 / math.sqrt(2.0)


def _split2(x, dim):
    n = x.shape[dim]
    return x.narrow(dim, 0, n).unflatten(dim, (n // 2, 2)).unbind(dim + 1)


def _lohi(x, dim):
    """lo = a*x[2i] + a*x[2i+1], hi = a*x[2i] - a*x[2i+1] along dim (the official filters)."""
    x0, x1 = _split2(x, dim)
    return x0 * _HAAR_A + x1 * _HAAR_A, x0 * _HAAR_A - x1 * _HAAR_A


def haar_patch(x):
    """[B,3,T,H,W] (T odd, H W even) -> [B,24,(T+1)/2,H/2,W/2]; channel = band*3 + rgb, bands
    lll..hhh over (T,H,W) with l = sum, h = first - second. Net (1/8)*sum(+-x) per 2x2x2 cube."""
    x = torch.cat([x[:, :, :1], x], dim=2)  # duplicate frame 0
    bands = [x]
    for dim in (2, 3, 4):  # T, then H, then W
        bands = [y for b in bands for y in _lohi(b, dim)]
    return torch.cat(bands, dim=1) / (2.0 * math.sqrt(2.0))


def _inv_lohi(lo, hi, dim):
    """Transposed conv with the same filters: y[2i] = a*lo + a*hi, y[2i+1] = a*lo - a*hi."""
    e = lo * _HAAR_A + hi * _HAAR_A
    o = lo * _HAAR_A - hi * _HAAR_A
    return torch.stack([e, o], dim=dim + 1).flatten(dim, dim + 1)


def haar_unpatch(x):
    """[B,24,t,h,w] -> [B,3,2t-1,2h,2w]: inverse along W, then H, then T, times 2*sqrt(2),
    then drop the first frame."""
    b = list(torch.chunk(x, 8, dim=1))
    for dim in (4, 3, 2):  # W, H, T: pairs (l, h) on the last letter merge first
        b = [_inv_lohi(b[2 * i], b[2 * i + 1], dim) for i in range(len(b) // 2)]
    y = b[0] * (2.0 * math.sqrt(2.0))
    return y[:, :, 1:]


# --------------------------------------------------------------------------------------------
# CNN encoder / decoder (EncoderFactorized / DecoderFactorized)
# --------------------------------------------------------------------------------------------

class _Level(nn.Module):
    pass


class _Mid(nn.Module):
    def __init__(self, c, eps):
        super().__init__()
        self.block_1 = ResBlock(c, c, eps)
        self.attn_1 = nn.Sequential(SpatialAttn(c, eps), TemporalAttn(c, eps))
        self.block_2 = ResBlock(c, c, eps)

    def forward(self, x):
        return self.block_2(self.attn_1(self.block_1(x)))


def _n_downs(cfg):
    lp = int(math.log2(cfg["patch_size"]))
    return (int(math.log2(cfg["spatial_compression"])) - lp,
            int(math.log2(cfg["temporal_compression"])) - lp)


class Encoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, mult, nres, eps = cfg["channels"], cfg["channels_mult"], cfg["num_res_blocks"], cfg["norm_eps"]
        n_sp, n_tm = _n_downs(cfg)
        cin = 3 * cfg["patch_size"] ** 3
        self.conv_in = FactorizedConv(cin, ch)
        in_mult = [1] + list(mult)
        self.down = nn.ModuleList()
        for i in range(len(mult)):
            lvl = _Level()
            bin_, bout = ch * in_mult[i], ch * mult[i]
            lvl.block = nn.ModuleList()
            for _ in range(nres):
                lvl.block.append(ResBlock(bin_, bout, eps))
                bin_ = bout
            # attn_resolutions=[32] never matches (resolution 1024): no attention in the levels.
            if i != len(mult) - 1:
                lvl.downsample = HybridDownsample(bout, spatial=i < n_sp, temporal=i < n_tm)
            self.down.append(lvl)
        c = ch * mult[-1]
        self.mid = _Mid(c, eps)
        self.norm_out = CausalNorm(c, eps)
        self.conv_out = FactorizedConv(c, cfg["z_channels"])

    def forward(self, x, trace=None):  # x: Haar patcher output [B,24,T',H/2,W/2]
        h = self.conv_in(x)
        for i, lvl in enumerate(self.down):
            for blk in lvl.block:
                h = blk(h)
            if hasattr(lvl, "downsample"):
                h = lvl.downsample(h)
            if trace is not None:
                trace["enc_down%d" % i] = h  # after the level's blocks and downsample
        h = self.mid(h)
        if trace is not None:
            trace["enc_mid"] = h
        return self.conv_out(silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        ch, mult, nres, eps = cfg["channels"], cfg["channels_mult"], cfg["num_res_blocks"], cfg["norm_eps"]
        n_sp, n_tm = _n_downs(cfg)
        nlev = len(mult)
        c = ch * mult[-1]
        self.conv_in = FactorizedConv(cfg["z_channels"], c)
        self.mid = _Mid(c, eps)
        ups = []
        for i in reversed(range(nlev)):
            lvl = _Level()
            lvl.block = nn.ModuleList()
            for _ in range(nres + 1):
                lvl.block.append(ResBlock(c, ch * mult[i], eps))
                c = ch * mult[i]
            if i != 0:
                rev = nlev - i - 1  # legacy_mode=False mirrored upsampling
                temporal = 0 < rev < n_tm + 1
                spatial = temporal or (rev < n_sp and n_sp > n_tm)
                lvl.upsample = HybridUpsample(c, spatial=spatial, temporal=temporal)
            ups.insert(0, lvl)
        self.up = nn.ModuleList(ups)  # stored 0,1,2; executed 2,1,0
        self.norm_out = CausalNorm(c, eps)
        self.conv_out = FactorizedConv(c, 3 * cfg["patch_size"] ** 3)

    def forward(self, z, trace=None):  # returns the pre-unpatcher tensor [B,24,T',H/2,W/2]
        h = self.mid(self.conv_in(z))
        if trace is not None:
            trace["dec_mid"] = h
        for i in reversed(range(len(self.up))):
            for blk in self.up[i].block:
                h = blk(h)
            if hasattr(self.up[i], "upsample"):
                h = self.up[i].upsample(h)
            if trace is not None:
                trace["dec_up%d" % i] = h  # after the level's blocks and upsample
        return self.conv_out(silu(self.norm_out(h)))


# --------------------------------------------------------------------------------------------
# ViT (TransformerBlock x 8 per side; shared temporal_embed; block-causal mask; 2D RoPE)
# --------------------------------------------------------------------------------------------

def rope_2d_table(head_dim, h, w, theta, dtype=torch.float32):
    """cos, sin [h, w, head_dim/2] of the official precompute_freqs_cis_2d.
    freqs f_j = theta^(-2j/head_dim), j < head_dim/2. Pairs 0..ceil(n/2)-1 rotate by row*f[0::2],
    the remaining pairs by col*f[1::2] (n = head_dim/2). head_dim 8: h*{1,1e-2}, w*{1e-1,1e-3}.
    In fp32 the angles and cos/sin are fp32 as in the official code (torch.polar)."""
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=dtype) / head_dim))
    fh = torch.outer(torch.arange(h, dtype=dtype), freqs[0::2])  # [h, ceil(n/2)]
    fw = torch.outer(torch.arange(w, dtype=dtype), freqs[1::2])  # [w, floor(n/2)]
    ang = torch.cat([fh[:, None, :].expand(h, w, -1), fw[None, :, :].expand(h, w, -1)], dim=-1)
    return torch.cos(ang), torch.sin(ang)


def apply_rope_2d(x, cos, sin, t, h, w, nh):
    """x [B,S,D] with S = t*h*w raster (t,h,w) and D = nh*hd head-major; interleaved pairs
    (2p, 2p+1) are rotated as complex numbers by the angle of pair p at (row, col)."""
    B, S, D = x.shape
    hd = D // nh
    xr = x.reshape(B, t, h, w, nh, hd // 2, 2)
    a, b = xr[..., 0], xr[..., 1]
    c = cos[None, None, :h, :w, None, :]
    s = sin[None, None, :h, :w, None, :]
    out = torch.stack([a * c - b * s, a * s + b * c], dim=-1)
    return out.reshape(B, S, D)


def block_causal_mask(t, hw, dtype):
    """[S,S] additive mask: 0 where key frame <= query frame, -inf elsewhere."""
    frame = torch.arange(t).repeat_interleave(hw)
    m = torch.zeros(t * hw, t * hw, dtype=dtype)
    return m.masked_fill(frame[None, :] > frame[:, None], float("-inf"))


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight


class _MHAParams(nn.Module):
    """The parameters of nn.MultiheadAttention(D, nh) under their official names."""

    def __init__(self, d):
        super().__init__()
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d, d))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * d))
        self.out_proj = nn.Linear(d, d)


class RotaryAttention(nn.Module):
    def __init__(self, d, nh):
        super().__init__()
        self.nh = nh
        self.mha = _MHAParams(d)

    def forward(self, x, mask, cos, sin, thw):
        t, h, w = thw
        B, S, D = x.shape
        nh, hd = self.nh, D // self.nh
        W, bias = self.mha.in_proj_weight, self.mha.in_proj_bias
        q, k, v = F.linear(x, W, bias).chunk(3, dim=-1)
        q = apply_rope_2d(q, cos, sin, t, h, w, nh)
        k = apply_rope_2d(k, cos, sin, t, h, w, nh)
        # QUIRK (trained this way): the official code passes q, k, v (distinct tensors) to
        # nn.MultiheadAttention, which applies the in-projection a second time.
        Wq, Wk, Wv = W.chunk(3)
        bq, bk, bv = bias.chunk(3)
        q, k, v = F.linear(q, Wq, bq), F.linear(k, Wk, bk), F.linear(v, Wv, bv)
        q, k, v = (y.reshape(B, S, nh, hd).transpose(1, 2) for y in (q, k, v))  # [B,nh,S,hd]
        att = torch.matmul(q / math.sqrt(hd), k.transpose(-2, -1)) + mask
        att = F.softmax(att, dim=-1)
        o = torch.matmul(att, v).transpose(1, 2).reshape(B, S, D)
        return self.mha.out_proj(o)


class MLP(nn.Module):
    def __init__(self, d, di):
        super().__init__()
        self.w1 = nn.Linear(d, di, bias=False)
        self.w2 = nn.Linear(di, d, bias=False)
        self.w3 = nn.Linear(d, di, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["vit_hidden"]
        self.attention_norm = RMSNorm(d, cfg["rms_norm_eps"])
        self.ffn_norm = RMSNorm(d, cfg["rms_norm_eps"])
        self.attention = RotaryAttention(d, cfg["vit_heads"])
        self.mlp = MLP(d, cfg["vit_intermediate"])

    def forward(self, x, mask, cos, sin, thw):
        x = x + self.attention(self.attention_norm(x), mask, cos, sin, thw)
        return x + self.mlp(self.ffn_norm(x))


# --------------------------------------------------------------------------------------------
# FSQ
# --------------------------------------------------------------------------------------------

class FSQ(nn.Module):
    """Finite scalar quantiser, levels [8,8,8,5,5,5], no projections.
    bounded = tanh(z + shift)*half_l - offset; q = round_half_even(bounded); code = q/(L//2);
    index = sum (q + L//2)*basis. The constants are computed in fp32 as in the official code."""

    def __init__(self, levels):
        super().__init__()
        lv = torch.tensor(levels, dtype=torch.int32)
        self.register_buffer("_levels", lv)
        self.register_buffer("_basis", torch.cumprod(torch.tensor([1] + levels[:-1]), 0).to(torch.int32))
        n = int(lv.prod())
        # fp32 here; the official model holds it in bf16 (both exact: values are k/4 or k/2).
        self.register_buffer("implicit_codebook", self.indices_to_codes(torch.arange(n)).float())

    def constants(self):
        half_l = (self._levels - 1) * (1 + 1e-3) / 2  # fp32: 3.5035, 2.002
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0)
        shift = (offset / half_l).atanh()  # fp32: 0.14369535 (L=8), 0 (L=5)
        return half_l, offset, shift

    def bound(self, z):  # z [..., 6]
        half_l, offset, shift = self.constants()
        return (z + shift).tanh() * half_l - offset

    def forward(self, z):
        """z [B,6,t,h,w] -> (indices [B,t,h,w] int32, codes [B,6,t,h,w], bounded [B,6,t,h,w])."""
        zc = z.movedim(1, -1)
        b = self.bound(zc)
        q = torch.round(b)  # half to even
        hw = (self._levels // 2).to(b.dtype)
        codes = q / hw
        idx = ((q + hw).long() * self._basis.long()).sum(-1).to(torch.int32)
        return idx, codes.movedim(-1, 1), b.movedim(-1, 1)

    def indices_to_codes(self, idx):
        """idx [...] -> codes [..., 6] (float32): digit = (idx // basis) % L, (digit - L//2)/(L//2)."""
        d = (idx.long()[..., None] // self._basis.long()) % self._levels.long()
        hw = (self._levels // 2).float()
        return (d.float() - hw) / hw


# Index of the all-zero code (digits 4,4,4,2,2,2): what a masked token decodes as.
ZERO_CODE_INDEX = 4 * 1 + 4 * 8 + 4 * 64 + 2 * 512 + 2 * 2560 + 2 * 12800  # 32036


# --------------------------------------------------------------------------------------------
# The whole network
# --------------------------------------------------------------------------------------------

class InfoTok(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        check_config(cfg)
        self.cfg = dict(cfg)
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quant_conv = _conv111(cfg["z_channels"], cfg["embedding_dim"])
        self.post_quant_conv = _conv111(cfg["embedding_dim"], cfg["z_channels"])
        self.quantizer = FSQ(cfg["levels"])
        self.vit_encoder = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg["vit_enc_layers"]))
        self.vit_decoder = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg["vit_dec_layers"]))
        self.temporal_embed = nn.Parameter(torch.zeros(cfg["max_latent_frames"], cfg["vit_hidden"]))
        # Training-only EMA statistics; persistent buffers in the official checkpoint.
        self.register_buffer("save_loss", torch.zeros(128))
        self.register_buffer("ema_loss", torch.zeros(1))

    @property
    def dtype(self):
        return self.temporal_embed.dtype

    # ---- ViT ----
    def _vit(self, z, blocks):
        """z [B,D,t,h,w] -> same shape. temporal_embed[i] added to every token of latent frame i
        (shared by both stacks), block-causal mask, 2D RoPE by (row, col) in every layer, no
        final norm."""
        B, D, t, h, w = z.shape
        if t > self.cfg["max_latent_frames"] or max(h, w) > self.cfg["max_rope_size"]:
            raise ValueError("latent grid %dx%dx%d exceeds the config limits" % (t, h, w))
        x = z.permute(0, 2, 3, 4, 1).reshape(B, t, h * w, D) + self.temporal_embed[:t].reshape(1, t, 1, D)
        x = x.reshape(B, t * h * w, D)
        mask = block_causal_mask(t, h * w, x.dtype)
        cos, sin = rope_2d_table(D // self.cfg["vit_heads"], h, w, self.cfg["rope_theta"], x.dtype)
        for blk in blocks:
            x = blk(x, mask, cos, sin, (t, h, w))
        return x.permute(0, 2, 1).reshape(B, D, t, h, w)

    def vit_encode(self, z):
        return self._vit(z, self.vit_encoder)

    def vit_decode(self, z):
        return self._vit(z, self.vit_decoder)

    # ---- encode / decode ----
    def encode(self, x, keep=False):
        """x [B,3,T,H,W] in [-1,1], T = 1+4k, H W multiples of 8 (the pipeline pads to 16).
        Returns (indices [B,t,h,w] int32, codes [B,6,t,h,w]); with keep=True a dict of every
        intermediate instead."""
        tr = {} if keep else None
        p = haar_patch(x)
        z = self.encoder(p, tr)
        zv = self.vit_encode(z)
        pre = self.quant_conv(zv)
        idx, codes, bounded = self.quantizer(pre)
        if keep:
            tr.update({"patcher": p, "z": z, "vit_enc": zv, "pre_fsq": pre, "bounded": bounded,
                       "codes": codes, "indices": idx})
            return tr
        return idx, codes

    def decode(self, codes, keep=False):
        """codes [B,6,t,h,w] -> [B,3,4t-3,8h,8w] (unclamped, ~[-1,1])."""
        tr = {} if keep else None
        zq = self.post_quant_conv(codes)
        zv = self.vit_decode(zq)
        d = self.decoder(zv, tr)
        y = haar_unpatch(d)
        if keep:
            tr.update({"post_quant": zq, "vit_dec": zv, "dec_cnn": d, "recon": y})
            return tr
        return y

    def decode_indices(self, idx):
        """idx [B,t,h,w] -> reconstruction (the inverse quantiser then decode)."""
        return self.decode(self.quantizer.indices_to_codes(idx).movedim(-1, 1).to(self.dtype))


# --------------------------------------------------------------------------------------------
# Pipeline pieces around the network (spec section 4)
# --------------------------------------------------------------------------------------------

def chunk_loss(x, recon, tc=4, sc=8):
    """Per-token "ELBO" map [B,t,h,w] (section 4.4): e = mean_rgb |x - recon|; latent frame 0 uses
    pixel frame 0 alone, frame j >= 1 the mean of pixel frames 4j-3..4j; then the mean over each
    8x8 block."""
    e = (x - recon).abs().mean(dim=1)  # [B,T,H,W]
    B, T, H, W = e.shape
    rest = e[:, 1:].reshape(B, -1, tc, H, W).mean(dim=2)
    e = torch.cat([e[:, :1], rest], dim=1)
    t = e.shape[1]
    return e.reshape(B, t, H // sc, sc, W // sc, sc).mean(dim=(-1, -3))


def mask_bound(loss, rate):
    """The mask threshold of section 4.6, explicitly: torch.quantile(float32(L), float32(1 - r),
    interpolation='linear'). pos = q*(N-1) in fp32, lo = trunc(pos), hi = ceil(pos),
    weight = pos - lo, and torch's lerp: lo + w*(hi-lo) if w < 0.5 else hi - (hi-lo)*(1-w)."""
    L = loss.reshape(-1).float()
    n = L.numel()
    q = torch.tensor(1.0, dtype=torch.float32) - torch.tensor(rate, dtype=torch.float32)
    pos = q * (n - 1)
    lo = int(pos.long())
    hi = int(torch.ceil(pos).long())
    wgt = pos - lo
    s = torch.sort(L).values
    a, b = s[lo], s[hi]
    if float(wgt) < 0.5:
        return a + wgt * (b - a)
    return b - (b - a) * (1 - wgt)


def token_mask(loss, rate):
    """keep[i] = L[i] > bound (strict); loss [B=1,t,h,w] -> bool [1,t,h,w]. Even rate 1.0 drops
    the minimum-loss token(s). Checked against torch.quantile in self_check()."""
    return loss.float() > mask_bound(loss, rate)


def apply_mask(codes, keep):
    """Zero all 6 channels of dropped tokens (the zero code, index 32036)."""
    return torch.where(keep[:, None], codes, torch.zeros_like(codes))


def window_rate(strategy, avg_rate, window_loss=None, elbo_mean=None):
    """Rate of one window (section 4.5). `window_loss` is the window's chunk_loss, `elbo_mean`
    the mean over all windows of mean(chunk_loss) (global strategies only). Returns a Python
    float (fp32 value). Official bf16 arithmetic is not modelled; here the maths is fp32."""
    if strategy == "global_elbo":
        r = avg_rate * torch.mean(window_loss.float()) / elbo_mean
        return float(r.clip(0.0625, 1.0))
    if strategy == "global_elbo_bin":
        r = float(avg_rate * torch.mean(window_loss.float()) / elbo_mean)
        r = 0.25 * round(r / 0.25)  # Python round: half to even
        return float(np.float32(min(max(r, 0.0625), 1.0)))
    if strategy == "video_elbo":
        raise NotImplementedError("video_elbo raises in the official code")
    return float(np.float32(avg_rate))  # static, elbo, uniform, ...: the rate as given


def windows(n_frames, tw, ov):
    """[(start, end)] of the sliding windows (section 4.2)."""
    if ov > 0:
        step = tw - ov
        iters = 1 if n_frames <= tw else math.ceil((n_frames - tw) / step) + 1
        return [(i * step, min(i * step + tw, n_frames)) for i in range(iters)]
    return [(i * tw, min((i + 1) * tw, n_frames)) for i in range((n_frames - 1) // tw + 1)]


def pad_window(clip, temporal_align=8, spatial_align=16):
    """uint8 [T,H,W,3] -> (padded [T',H',W',3], crop [f1,y1,x1,f2,y2,x2]): zero pad H, W up to a
    multiple of 16 (floor half top/left), edge-replicate frames so (T'-1) % 8 == 0 (floor half
    in front)."""
    T, H, W = clip.shape[:3]
    ph = (spatial_align - H % spatial_align) % spatial_align
    pw = (spatial_align - W % spatial_align) % spatial_align
    pt = (temporal_align - (T - 1) % temporal_align) % temporal_align
    crop = [pt >> 1, ph >> 1, pw >> 1, T + (pt >> 1), H + (ph >> 1), W + (pw >> 1)]
    out = np.pad(clip, ((0, 0), (ph >> 1, ph - (ph >> 1)), (pw >> 1, pw - (pw >> 1)), (0, 0)))
    out = np.pad(out, ((pt >> 1, pt - (pt >> 1)), (0, 0), (0, 0), (0, 0)), mode="edge")
    return out, crop


def to_model_input(clip, dtype=torch.float32):
    """uint8 [T,H,W,3] -> [1,3,T,H,W]: x/255*2-1 computed in float64, then cast."""
    x = clip.transpose(3, 0, 1, 2)[None] / 255.0
    return torch.from_numpy(2.0 * x - 1.0).to(dtype)


def to_uint8(y):
    """[1,3,T,H,W] -> uint8 [T,H,W,3]: fp32 (y+1)/2, clamp [0,1], *255 + 0.5, truncate."""
    v = ((y.float() + 1.0) / 2.0).clamp(0, 1).numpy()[0].transpose(1, 2, 3, 0)
    return (v * np.float32(255.0) + np.float32(0.5)).astype(np.uint8)


def blend_overlap(prev, nxt, ov):
    """uint8 [T,H,W,3] windows joined with ov blended frames (section 4.8; truncating)."""
    k = min(ov, len(prev), len(nxt))
    if k == 0:
        return np.concatenate([prev, nxt])
    a = np.array([(k - i) / (k + 1) for i in range(k)], dtype=np.float32).reshape(-1, 1, 1, 1)
    mid = a * prev[-k:].astype(np.float32) + (1 - a) * nxt[:k].astype(np.float32)
    return np.concatenate([prev[:-k], np.clip(mid, 0, 255).astype(np.uint8), nxt[k:]])


@torch.no_grad()
def run_window(model, clip_u8, rates=(1.0, 0.75, 0.5, 0.25)):
    """One already padded window through the network: every intermediate the C side compares.
    Keys: input, patcher, enc_down0..2, enc_mid, z, vit_enc, pre_fsq, bounded, codes, indices,
    post_quant, vit_dec, dec_mid, dec_up2..0, dec_cnn, recon, chunk_loss, frames (uint8), and per
    rate r: bound_r, mask_r, recon_r, frames_r (uint8)."""
    x = to_model_input(clip_u8, model.dtype)
    out = {"input": x}
    out.update(model.encode(x, keep=True))
    out.update(model.decode(out["codes"], keep=True))
    out["chunk_loss"] = chunk_loss(x, out["recon"])
    out["frames"] = to_uint8(out["recon"])
    for r in rates:
        keep = token_mask(out["chunk_loss"], r)
        out["bound_%g" % r] = mask_bound(out["chunk_loss"], r)
        out["mask_%g" % r] = keep
        out["recon_%g" % r] = model.decode(apply_mask(out["codes"], keep))
        out["frames_%g" % r] = to_uint8(out["recon_%g" % r])
    return out


# --------------------------------------------------------------------------------------------
# Random weights (fixtures, official-layout test checkpoints)
# --------------------------------------------------------------------------------------------

@torch.no_grad()
def init_random(model, seed=0, latent_gain=1.0, out_gain=1.0):
    """Deterministic random weights that keep activations O(1): conv/linear ~ N(0, 1/fan_in),
    biases and norm affine small, temporal_embed N(0, 0.5). latent_gain scales quant_conv so the
    pre-FSQ latent spreads over the FSQ levels; out_gain scales the decoder's last conv so the
    reconstruction stays mostly inside [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    for name, p in sorted(model.named_parameters()):
        if name.endswith("norm.weight") or name.endswith("_norm.weight"):
            p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
        elif name.endswith(".bias"):
            p.copy_(0.05 * torch.randn(p.shape, generator=g))
        elif name == "temporal_embed":
            p.copy_(0.5 * torch.randn(p.shape, generator=g))
        else:
            fan_in = p[0].numel()
            p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(fan_in))
    model.quant_conv.conv3d.weight.mul_(latent_gain)
    model.decoder.conv_out[1].conv3d.weight.mul_(out_gain)
    model.decoder.conv_out[1].conv3d.bias.mul_(out_gain)
    return model


def load_official_pt(path, cfg=OFFICIAL_CONFIG, dtype=torch.float32):
    """InfoTok built from cfg with the `network.*` tensors of an official-layout .pt (the
    official loader's rule: use ckpt["model"] if present, keep `network.` keys, strip the prefix;
    here every key is required, strict)."""
    ck = torch.load(path, map_location="cpu")
    ck = ck.get("model", ck)
    sd = {k[len("network."):]: v for k, v in ck.items() if k.startswith("network.")}
    m = InfoTok(cfg).eval()
    m.load_state_dict({k: v.to(m.state_dict()[k].dtype) for k, v in sd.items()}, strict=True)
    return m.to(dtype)


def official_key_shapes(path):
    """{name: shape} parsed from infotok_state_dict_keys.txt (parameters and buffers)."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, rest = line.split(" ", 1)
            shape = rest[rest.index("(") + 1:rest.index(")")]
            out[name] = tuple(int(s) for s in shape.split(",") if s.strip())
    return out


def self_check(keys_path=None, verbose=True):
    """Checks that need no official code: the official config's key set and shapes equal the
    companion key file; FSQ constants, zero code and index round trip; the explicit quantile
    equals torch.quantile; Haar patch/unpatch invert each other."""
    import os
    if keys_path is None:
        keys_path = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 "../../../shared/spec/infotok_state_dict_keys.txt")
    m = InfoTok(OFFICIAL_CONFIG)
    got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    want = official_key_shapes(keys_path)
    assert got == want, ("key/shape mismatch", sorted(set(got) ^ set(want)),
                         [k for k in got if k in want and got[k] != want[k]])
    nparam = sum(p.numel() for p in m.parameters())
    assert nparam == 123142646, nparam
    q = m.quantizer
    half_l, offset, shift = q.constants()
    assert half_l.dtype == torch.float32 and abs(float(shift[0]) - 0.14369535) < 1e-7
    z = torch.zeros(1, 6, 1, 1, 1)
    assert int(q(z)[0]) == ZERO_CODE_INDEX
    allidx = torch.arange(64000)
    c = q.indices_to_codes(allidx)
    hw = (q._levels // 2).float()
    back = ((c * hw + hw).long() * q._basis.long()).sum(-1)
    assert torch.equal(back, allidx)
    g = torch.Generator().manual_seed(1)
    for n in (1, 2, 7, 480, 1000):
        L = torch.rand(1, n, generator=g)
        for r in (1.0, 0.75, 0.5, 0.3, 0.25, 0.0625):
            ref = torch.quantile(L, float(torch.tensor(1.0) - torch.tensor(r)), interpolation="linear")
            assert torch.equal(mask_bound(L, r), ref), (n, r)
    x = torch.rand(1, 3, 9, 8, 12, generator=g, dtype=torch.float64)
    y = haar_unpatch(haar_patch(x))
    assert torch.allclose(x, y, atol=1e-12)
    if verbose:
        print("self_check: %d state_dict entries match the key file; %d parameters; FSQ, quantile,"
              " Haar ok" % (len(got), nparam))
    return True


if __name__ == "__main__":
    self_check()
