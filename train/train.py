#!/usr/bin/python3
"""Train the small InfoTok model (same architecture and 4x8x8 / 64000-code FSQ geometry as the
official OURS4x8x8 model, fewer channels/layers) on CPU with the PyTorch reference network of
tests/model/infotok_ref.py, InfoTok-style:

  codes   = FSQ(encode(x)) with a straight-through round (as the official quantizer's round_ste:
            b + (round(b) - b).detach(), b = tanh(z + shift)*half_l - offset)
  full    = decode(codes)                                (full rate, with gradient)
  L       = chunk_loss(x, full) without gradient         (spec §4.4 ELBO map)
  r       ~ uniform{1, 0.75, 0.5, 0.25}                  (official base-rate draw)
  keep    = L > quantile(L, 1 - r)                       (spec §4.6 mask)
  masked  = decode(codes * keep)                         (with gradient; skipped when r == 1,
                                                          where it equals full but one token)
  loss    = l1(full) + w_mse*mse(full) + [r<1] (l1(masked) + w_mse*mse(masked))
            + w_bound * mean(relu(|pre_fsq| - 2)^2)           (keeps tanh of the FSQ unsaturated)

Seeded (torch, numpy-per-step data), resumable (--resume, checkpoint every --ckpt-every steps
to --ckpt), torch.set_num_threads(2). Export with --export (or export.py logic below) to the
native weight format with metadata config / training / source_commit.

Usage (see train/README.md):
  nohup nice -n 10 /usr/bin/python3 train/train.py --steps 4000 --ckpt /tmp/infotok_small.ckpt \
      > /tmp/infotok_train.log 2>&1 &
  /usr/bin/python3 train/train.py --ckpt /tmp/infotok_small.ckpt --export models/infotok-small.safetensors
"""

import argparse
import json
import math
import os
import subprocess
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

SMALL_CONFIG = dict(R.OFFICIAL_CONFIG, channels=16, channels_mult=[1, 2, 4], num_res_blocks=1,
                    z_channels=64, vit_hidden=64, vit_intermediate=128, vit_enc_layers=2,
                    vit_dec_layers=2, vit_heads=8)
RATES = (1.0, 0.75, 0.5, 0.25)


def _fast_causal_conv(self, x):
    """CausalConv3d.forward of the reference, computed with conv2d (PyTorch's CPU conv3d takes
    the slow unfold path; conv2d uses oneDNN: ~50-100x faster here, same maths). Kernels are
    (1,k,k) (frames folded into the batch) or (k,1,1) (H*W flattened)."""
    kt, kh, kw = self.k
    if self.time_pad > 0:
        x = torch.cat([x[:, :, :1].expand(-1, -1, self.time_pad, -1, -1), x], dim=2)
    w, b = self.conv3d.weight, self.conv3d.bias
    B, C, T, H, W = x.shape
    st, ss = self.stride[0], self.stride[1]
    if kt == 1:
        xx = x.transpose(1, 2).reshape(B * T, C, H, W)
        y = F.conv2d(xx, w[:, :, 0], b, stride=ss, padding=self.pad)
        return y.reshape(B, T, y.shape[1], y.shape[2], y.shape[3]).transpose(1, 2)
    assert kh == 1 and kw == 1 and not self.pad
    y = F.conv2d(x.reshape(B, C, T, H * W), w[:, :, :, :, 0], b, stride=(st, 1))
    return y.reshape(B, y.shape[1], y.shape[2], H, W)


R.CausalConv3d.forward = _fast_causal_conv


def fsq_ste(model, pre):
    """Quantise with a straight-through estimator. pre [B,6,t,h,w] -> codes [B,6,t,h,w]."""
    q = model.quantizer
    zc = pre.movedim(1, -1)
    b = q.bound(zc)
    r = b + (torch.round(b) - b).detach()
    hw = (q._levels // 2).to(b.dtype)
    return (r / hw).movedim(-1, 1)


def encode_train(model, x):
    p = R.haar_patch(x)
    z = model.encoder(p)
    zv = model.vit_encode(z)
    return model.quant_conv(zv)


def init_model(cfg, seed):
    model = R.InfoTok(cfg)
    R.init_random(model, seed=seed, latent_gain=1.0, out_gain=0.1)
    with torch.no_grad():
        model.temporal_embed.mul_(0.04)  # std 0.02
        for n, p in model.named_parameters():
            if n.endswith("norm.weight") or n.endswith("_norm.weight"):
                p.fill_(1.0)
            elif n.endswith(".bias"):
                p.zero_()
        # Transformer residual branches start near zero (the ViT starts close to the identity):
        # with N(0, 1/fan_in) everywhere, the attention branch (whose in-projection applies
        # twice, the official quirk) outweighs the residual stream ~3:1 at init and averages
        # tokens, which slowed early learning badly (measured: a CNN-only model learned faster).
        for blk in list(model.vit_encoder) + list(model.vit_decoder):
            blk.attention.mha.out_proj.weight.zero_()
            blk.mlp.w2.weight.zero_()
    return model


def recon_loss(x, y, w_mse):
    d = y - x
    return d.abs().mean() + w_mse * d.pow(2).mean()


def lr_at(step, total, base, warm=150, final_frac=0.05):
    if step < warm:
        return base * (step + 1) / warm
    u = min(1.0, (step - warm) / max(1, total - warm))
    return base * (final_frac + (1 - final_frac) * 0.5 * (1 + math.cos(math.pi * u)))


def save_ckpt(path, model, opt, step, args, hist, ema=None):
    tmp = path + ".tmp"
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                "args": vars(args), "hist": hist, "torch_rng": torch.get_rng_state(),
                "ema": ema}, tmp)
    os.replace(tmp, path)


def load_weights(path, config=None):
    """(config dict, state_dict) of a starting point for training:
      - a native weight file (.safetensors; its metadata config),
      - an official-layout PyTorch checkpoint (.pt/.pth: `network.*` keys of ckpt["model"] or
        of the top-level dict, the official config unless `config` names another),
      - a train.py checkpoint (its EMA weights when it has them, else the raw weights).
    Every parameter and buffer of the model must be present with its shape (strict), except the
    implicit codebook, which the levels determine."""
    if path.endswith(".safetensors"):
        t, meta = S.read(path)
        if meta.get("format") != "infotok-weights" or "config" not in meta:
            raise SystemExit("%s: not an infotok weight file (metadata format %r)" % (path, meta.get("format")))
        cfg = json.loads(meta["config"])
        sd = {k: torch.from_numpy(np.array(v)) for k, v in t.items()}
    else:
        ck = torch.load(path, map_location="cpu")
        if isinstance(ck, dict) and "args" in ck and "model" in ck and "step" in ck:
            cfg = json.loads(ck["args"]["config"])
            sd = ck["ema"]["state"] if ck.get("ema") else ck["model"]
        else:
            ck = ck.get("model", ck) if isinstance(ck, dict) else ck
            if not isinstance(ck, dict):
                raise SystemExit("%s: not a state dict" % path)
            sd = {k[len("network."):]: v for k, v in ck.items() if k.startswith("network.")}
            if not sd:
                raise SystemExit("%s: no network.* tensors (not an official InfoTok checkpoint?)" % path)
            cfg = json.loads(config) if config else dict(R.OFFICIAL_CONFIG)
    R.check_config(cfg)
    ref = R.InfoTok(cfg).state_dict()
    out = {}
    for k, v in ref.items():
        if k == "quantizer.implicit_codebook":
            out[k] = v
            continue
        if k not in sd:
            raise SystemExit("%s: tensor %s missing" % (path, k))
        if tuple(sd[k].shape) != tuple(v.shape):
            raise SystemExit("%s: tensor %s has shape %s, the config needs %s" % (path, k, tuple(sd[k].shape), tuple(v.shape)))
        out[k] = sd[k].to(v.dtype)
    extra = sorted(set(sd) - set(ref))
    if extra:
        raise SystemExit("%s: %d tensors the config has no place for (first: %s)" % (path, len(extra), extra[0]))
    return cfg, out


class WeightEMA:
    """Exponential moving average of the weights (floating tensors; integer buffers copied), with
    the usual warm-up: decay_t = min(decay, (1 + t) / (10 + t)), t counted from the EMA's start,
    so a short fine-tune is not dominated by its starting point."""

    def __init__(self, model, decay, state=None, t=0):
        self.decay, self.t = decay, t
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items()} if state is None else state

    @torch.no_grad()
    def update(self, model):
        d = min(self.decay, (1 + self.t) / (10 + self.t))
        for k, v in model.state_dict().items():
            e = self.state[k]
            if v.is_floating_point():
                e.mul_(d).add_(v.detach().to(e.device), alpha=1 - d)
            else:
                e.copy_(v)
        self.t += 1


def git_head():
    try:
        return subprocess.check_output(["git", "-C", HERE, "rev-parse", "HEAD"]).decode().strip()
    except Exception:
        return "unknown"


def export(ckpt_path, out_path, dtype="F32", metrics_path=None, raw=False):
    ck = torch.load(ckpt_path, map_location="cpu")
    args = ck["args"]
    cfg = json.loads(args["config"])
    model = R.InfoTok(cfg)
    use_ema = bool(ck.get("ema")) and not raw
    model.load_state_dict(ck["ema"]["state"] if use_ema else ck["model"])
    hist = ck["hist"]
    if args.get("manifest"):
        data = {"manifest": os.path.abspath(args["manifest"])}
    else:
        data = {"train_videos": D.TRAIN_VIDEOS, "source_dir": D.SRC,
                "train_photos": D.TRAIN_PHOTOS + (D.EXTRA_PHOTOS if args.get("extra_photos") else [])}
    training = {
        "script": "train/train.py",
        "init": args.get("init"),
        "weights": "EMA (decay %g)" % args["ema"] if use_ema else "raw",
        "data": data,
        "held_out": {"videos": D.HELDOUT_VIDEOS, "photos": D.HELDOUT_PHOTOS} if not args.get("manifest") else None,
        "steps": ck["step"], "seed": args["seed"], "batch": args["batch"],
        "clip": [args["frames"], args["size"], args["size"]], "lr": args["lr"],
        "losses": "l1 + %g*mse on the full-rate decode and on the chunk_loss-masked decode "
                  "(rate drawn from {1,0.75,0.5,0.25}); + %g*mean(relu(|pre_fsq|-%g)^2); FSQ "
                  "straight-through" % (args["w_mse"], args.get("w_bound", 0), args.get("bound_margin", 2.0)),
        "final_train_loss_ema": hist[-1]["ema"] if hist else None,
        "recipe": {k: args.get(k) for k in ("warmup", "photo_frac", "extra_photos", "video_pan", "ema", "w_bound",
                                            "threads", "device")},
    }
    if metrics_path and os.path.exists(metrics_path):
        with open(metrics_path) as f:
            training["final_metrics"] = json.load(f)
    sd = model.state_dict()
    t = {}
    for k, v in sd.items():
        if k == "quantizer.implicit_codebook":
            continue
        if v.is_floating_point() and dtype == "BF16":
            v = v.to(torch.bfloat16)
        t[k] = v
    meta = {"format": "infotok-weights", "format_version": "1", "config": R.config_json(cfg),
            "training": json.dumps(training, separators=(",", ":")), "source_commit": git_head()}
    S.write(out_path, t, meta)
    print("exported %s (%d tensors, step %d, %s, %s weights)" % (out_path, len(t), ck["step"], dtype,
                                                                "EMA" if use_ema else "raw"))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Train or post-train (fine-tune) an InfoTok model.")
    ap.add_argument("--steps", type=int, default=4000, help="total steps (the cosine schedule's length)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--frames", type=int, default=17)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=150)
    ap.add_argument("--w-mse", type=float, default=1.0)
    ap.add_argument("--w-bound", type=float, default=1.0)
    ap.add_argument("--bound-margin", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--ckpt", default="/tmp/infotok_small.ckpt")
    ap.add_argument("--ckpt-every", type=int, default=50)
    ap.add_argument("--resume", action="store_true", help="continue from --ckpt if it exists")
    ap.add_argument("--config", default=None, help="model config JSON for a fresh model (default: the "
                    "small config) or for an official .pt given to --init (default: the official config)")
    ap.add_argument("--init", help="start from these weights: a native .safetensors weight file, an "
                    "official-layout .pt, or a train.py checkpoint (its EMA weights); the config is the file's")
    ap.add_argument("--manifest", help="train on the videos of this it-scan manifest (JSON Lines) instead "
                    "of the bundled sources (post-training on your own videos)")
    ap.add_argument("--max-side", type=int, default=512, help="manifest videos are scaled down so that "
                    "their shorter side is at most this (area), before cropping")
    ap.add_argument("--max-frames", type=int, default=900, help="decode at most this many frames per manifest video")
    ap.add_argument("--photo-frac", type=float, default=None, help="share of clips made from photographs "
                    "(default 0.35 on the bundled sources, 0 with --manifest)")
    ap.add_argument("--extra-photos", action="store_true", help="add data.EXTRA_PHOTOS to the training photographs")
    ap.add_argument("--video-pan", type=float, default=0.0, help="probability of a synthetic pan/zoom "
                    "over a video clip")
    ap.add_argument("--ema", type=float, default=0.999, help="decay of the EMA of the weights (0: none); "
                    "the export writes the EMA weights")
    ap.add_argument("--out", help="export the native weight file here when training ends")
    ap.add_argument("--export", help="write the native weight file from --ckpt and exit")
    ap.add_argument("--export-raw", action="store_true", help="export the raw weights, not the EMA")
    ap.add_argument("--export-dtype", default="F32", choices=["F32", "BF16"])
    ap.add_argument("--metrics", help="JSON of evaluation results to record in the metadata")
    ap.add_argument("--stop-after", type=int, default=0, help="stop (with a checkpoint) once this step "
                    "is reached, leaving the schedule of --steps intact (for time-limited jobs; --resume goes on)")
    ap.add_argument("--time-steps", type=int, default=0, help="time N steps and exit")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.export:
        export(args.ckpt, args.export, args.export_dtype, args.metrics, args.export_raw)
        return
    dev = torch.device(args.device)
    resuming = args.resume and os.path.exists(args.ckpt)
    ck = torch.load(args.ckpt, map_location="cpu") if resuming else None
    init_sd = None
    if ck is not None:
        cfg = json.loads(ck["args"]["config"])
    elif args.init:
        cfg, init_sd = load_weights(args.init, args.config)
    else:
        cfg = json.loads(args.config) if args.config else dict(SMALL_CONFIG)
    R.check_config(cfg)
    args.config = R.config_json(cfg)
    torch.manual_seed(args.seed)
    model = init_model(cfg, args.seed)
    if init_sd is not None:
        model.load_state_dict(init_sd)
        print("initialised from %s" % args.init, flush=True)
    model.to(dev)
    params = [p for p in model.parameters()]
    decay = [p for n, p in model.named_parameters() if p.dim() > 1 and n != "temporal_embed"]
    nodecay = [p for n, p in model.named_parameters() if not (p.dim() > 1 and n != "temporal_embed")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4},
                             {"params": nodecay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.99))
    step, hist = 0, []
    wema = WeightEMA(model, args.ema) if args.ema > 0 else None
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, hist = ck["step"], ck["hist"]
        torch.set_rng_state(ck["torch_rng"])
        if wema is not None:
            if ck.get("ema"):
                wema = WeightEMA(model, args.ema, {k: v.to(dev) for k, v in ck["ema"]["state"].items()},
                                 ck["ema"]["t"])
            else:
                print("checkpoint has no EMA: the EMA starts at step %d" % step, flush=True)
        if not args.init:  # the starting point of a resumed run is the checkpoint's (its export records it)
            args.init = ck["args"].get("init")
        print("resumed from %s at step %d" % (args.ckpt, step), flush=True)
        del ck
    print("config %s, %d parameters, device %s" % (args.config, sum(p.numel() for p in params), dev), flush=True)
    if args.manifest:
        vids = D.manifest_videos(args.manifest, args.frames, args.max_side, args.max_frames)
        print("manifest %s: %d videos, %d frames" % (args.manifest, len(vids), sum(len(v) for _, v in vids)), flush=True)
        pf = 0.0 if args.photo_frac is None else args.photo_frac
        data = D.TrainData(T=args.frames, S=args.size, photo_frac=pf, extra_photos=args.extra_photos,
                           video_pan=args.video_pan, videos=vids)
    else:
        pf = 0.35 if args.photo_frac is None else args.photo_frac
        data = D.TrainData(T=args.frames, S=args.size, photo_frac=pf, extra_photos=args.extra_photos,
                           video_pan=args.video_pan)
    model.train()
    ema = hist[-1]["ema"] if hist else None
    t_start = time.time()
    while step < args.steps:
        t0 = time.time()
        rng = np.random.default_rng([args.seed, step])
        xs = [data.sample(rng)[0] for _ in range(args.batch)]
        x = torch.stack(xs).to(dev)
        rate = float(RATES[int(rng.integers(len(RATES)))])
        lr = lr_at(step, args.steps, args.lr, warm=args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        pre = encode_train(model, x)
        codes = fsq_ste(model, pre)
        # keep the pre-FSQ latent where tanh is not saturated (|z| > ~2 changes no code and
        # passes ~no gradient through the bound; without this the encoder drifts to |z| ~ 100
        # and the FSQ collapses to a few dozen codes, as a first run did by step 300)
        loss_bound = args.w_bound * F.relu(pre.abs() - args.bound_margin).pow(2).mean()
        full = model.decode(codes)
        loss_full = recon_loss(x, full, args.w_mse)
        loss = loss_full + loss_bound
        loss_m = torch.tensor(float("nan"))
        if rate < 1.0:
            with torch.no_grad():
                L = R.chunk_loss(x, full.detach())
                keep = torch.cat([R.token_mask(L[i:i + 1], rate) for i in range(L.shape[0])])
            masked = model.decode(R.apply_mask(codes, keep))
            loss_m = recon_loss(x, masked, args.w_mse)
            loss = loss + loss_m
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if wema is not None:
            wema.update(model)
        step += 1
        with torch.no_grad():
            mse = (full.detach().clamp(-1, 1) - x).pow(2).mean().item() / 4.0  # on [0,1]
            psnr = -10 * math.log10(max(mse, 1e-10))
            ncode = len(torch.unique(model.quantizer(pre.detach())[0]))
        ema = psnr if ema is None else 0.98 * ema + 0.02 * psnr
        hist.append({"step": step, "loss": round(loss.item(), 5), "psnr_full": round(psnr, 3), "codes": ncode,
                     "ema": round(ema, 3), "rate": rate})
        dt = time.time() - t0
        if step % 10 == 0 or step <= 5:
            print("step %d/%d lr %.2e loss %.4f (full %.4f masked@%.2f %.4f) psnr_full %.2f ema %.2f "
                  "gnorm %.2f |pre| max %.2f codes %d/%d %.2fs/step elapsed %.0fs" % (step, args.steps, lr, loss.item(),
                  loss_full.item(), rate, loss_m.item(), psnr, ema, float(gn), float(pre.abs().max()), ncode,
                  pre[:, 0].numel(), dt, time.time() - t_start), flush=True)
        if args.time_steps and step >= args.time_steps:
            return
        if step % args.ckpt_every == 0 or step == args.steps:
            save_ckpt(args.ckpt, model, opt, step, args, hist,
                      None if wema is None else {"state": {k: v.cpu() for k, v in wema.state.items()}, "t": wema.t})
        if args.stop_after and step >= args.stop_after and step < args.steps:
            save_ckpt(args.ckpt, model, opt, step, args, hist,
                      None if wema is None else {"state": {k: v.cpu() for k, v in wema.state.items()}, "t": wema.t})
            print("stopped at step %d of %d (--stop-after); --resume continues" % (step, args.steps), flush=True)
            return
    print("done", flush=True)
    if args.out:
        export(args.ckpt, args.out, args.export_dtype, args.metrics, args.export_raw)


if __name__ == "__main__":
    main()
