#!/usr/bin/python3
"""Make the small PyTorch checkpoints under tests/formats/fixtures.

Run with Debian's python3-torch (no pip):  /usr/bin/python3 tests/formats/make_pt_fixtures.py
The outputs are committed; rerun only to change them. Values are deterministic (fixed seeds,
closed-form values) so the C tests can check them exactly.

  flat_f32.pt        flat state dict: network.* fp32, ema.* copies, a non-network int
  wrapped_bf16.pt    {"model": Module.state_dict() (OrderedDict with _metadata -> BUILD),
                      "optimizer", "scheduler", "grad_scaler", "iteration"}; network.* bf16
  views_f16.pt       fp16, a transposed (non-contiguous) view, a slice at a storage offset,
                     two tensors sharing one storage, float64, int32/int64, a Parameter
  tiny_model.pt      a complete network for tests/formats/tiny_config.json (names and shapes
                     from tiny_table.txt), bf16 like the official checkpoint, with ema and
                     optimizer entries
  tiny_missing.pt    tiny_model without one tensor
  tiny_extra.pt      tiny_model with one tensor too many
  tiny_shape.pt      tiny_model with one tensor of the wrong shape
  evil_os_system.pt  a zip whose data.pkl calls os.system (written by hand, never loaded)
"""
import collections
import io
import os
import sys
import zipfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures")


def ramp(n, scale=0.25, bias=-1.0):
    # i * 0.25 - 1 is exact in bf16 and fp16 for the sizes used here
    return torch.arange(n, dtype=torch.float32) * scale + bias


def save(obj, name):
    path = os.path.join(OUT, name)
    torch.save(obj, path)
    print(path, os.path.getsize(path))


def flat_f32():
    sd = collections.OrderedDict()
    sd["network.conv.weight"] = ramp(24).reshape(2, 3, 4)
    sd["network.conv.bias"] = ramp(2, 1.0, 5.0)
    sd["ema.conv-weight"] = ramp(24).reshape(2, 3, 4) * 2
    sd["epoch"] = 3
    save(sd, "flat_f32.pt")


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 3)
        self.norm = torch.nn.LayerNorm(3)
        self.register_buffer("_levels", torch.tensor([8, 8, 8, 5, 5, 5], dtype=torch.int32))


def wrapped_bf16():
    m = Small()
    with torch.no_grad():
        m.lin.weight.copy_(ramp(12).reshape(3, 4))
        m.lin.bias.copy_(ramp(3, 0.5, 0.0))
        m.norm.weight.fill_(1.0)
        m.norm.bias.fill_(0.0)
    m = m.to(torch.bfloat16)
    inner = m.state_dict()  # an OrderedDict with a _metadata attribute
    model = collections.OrderedDict()
    for k, v in inner.items():
        model["network." + k] = v
    for k, v in inner.items():
        model["ema." + k.replace(".", "-")] = v.float()
    model._metadata = inner._metadata
    opt = torch.optim.Adam(Small().parameters(), lr=1e-4, betas=(0.5, 0.999))
    opt.zero_grad()
    loss = sum(p.sum() for p in opt.param_groups[0]["params"])
    loss.backward()
    opt.step()
    ckpt = {
        "model": model,
        "optimizer": opt.state_dict(),
        "scheduler": {"last_epoch": 3, "_step_count": 4, "base_lrs": [1e-4], "verbose": False},
        "grad_scaler": {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                        "growth_interval": 2000, "_growth_tracker": 0},
        "iteration": 5,
    }
    save(ckpt, "wrapped_bf16.pt")


def views_f16():
    base = ramp(40, 0.5, 0.0).to(torch.float16)
    grid = ramp(12).reshape(3, 4)
    shared = ramp(10, 1.0, 100.0)
    sd = collections.OrderedDict()
    sd["network.half"] = ramp(6).to(torch.float16).reshape(2, 3)
    sd["network.slice"] = base[10:16]                  # storage offset 10 of 40
    sd["network.transposed"] = grid.t()                 # strides (1, 4)
    sd["network.shared_a"] = shared[:4]                 # one storage, two views
    sd["network.shared_b"] = shared[6:].reshape(2, 2)
    sd["network.double"] = ramp(3, 0.5, 0.25).double()
    sd["network.int32"] = torch.tensor([1, -2, 3], dtype=torch.int32)
    sd["network.int64"] = torch.tensor([2**40, -7], dtype=torch.int64)
    sd["network.param"] = torch.nn.Parameter(ramp(2, 1.0, 7.0))
    sd["network.scalar"] = torch.tensor(2.5)
    sd["ema.ignored"] = torch.zeros(3, dtype=torch.bool)
    save(sd, "views_f16.pt")


def read_table():
    rows = []
    with open(os.path.join(HERE, "tiny_table.txt")) as f:
        for line in f:
            name, rest = line.split(" ", 1)
            shape = tuple(int(x) for x in rest[rest.index("(") + 1:rest.index(")")].split(",") if x.strip())
            kind = "const" if "const" in rest else "stat" if "stat" in rest else "param"
            rows.append((name, shape, kind))
    return rows


def tiny_models():
    gen = torch.Generator().manual_seed(1234)
    model = collections.OrderedDict()
    params = []
    for name, shape, kind in read_table():
        if kind == "param":
            t = (torch.randn(shape, generator=gen) * 0.1).to(torch.bfloat16)
            params.append((name, t))
        elif name == "quantizer._levels":
            t = torch.tensor([8, 8, 8, 5, 5, 5], dtype=torch.int32)
        elif name == "quantizer._basis":
            t = torch.tensor([1, 8, 64, 512, 2560, 12800], dtype=torch.int32)
        elif name == "quantizer.implicit_codebook":
            continue  # 64000 x 6: rebuilt from the levels, allowed to be absent
        else:
            t = torch.zeros(shape, dtype=torch.float32)
        model["network." + name] = t
    for name, t in params[:5]:
        model["ema." + name.replace(".", "-")] = t.float()
    ckpt = {
        "model": model,
        "optimizer": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}},
                      "param_groups": [{"lr": 1e-4, "betas": (0.5, 0.999), "weight_decay": 0.01,
                                        "params": [0]}]},
        "iteration": 100,
    }
    save(ckpt, "tiny_model.pt")

    missing = collections.OrderedDict(model)
    del missing["network.decoder.conv_out.1.conv3d.bias"]
    save({"model": missing}, "tiny_missing.pt")

    extra = collections.OrderedDict(model)
    extra["network.decoder.conv_out.2.conv3d.bias"] = torch.zeros(24, dtype=torch.bfloat16)
    save({"model": extra}, "tiny_extra.pt")

    shape = collections.OrderedDict(model)
    shape["network.encoder.conv_in.0.conv3d.weight"] = torch.zeros((4, 24, 1, 3, 2), dtype=torch.bfloat16)
    save({"model": shape}, "tiny_shape.pt")


def evil():
    # {"model": os.system("true")}: the pickle would run a shell command if unpickled by Python.
    pkl = (b"\x80\x02}q\x00X\x05\x00\x00\x00modelq\x01cos\nsystem\nq\x02"
           b"X\x04\x00\x00\x00trueq\x03\x85q\x04Rq\x05s.")
    path = os.path.join(OUT, "evil_os_system.pt")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in (("evil/data.pkl", pkl), ("evil/version", b"3\n")):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, data)
    print(path, os.path.getsize(path))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    flat_f32()
    wrapped_bf16()
    views_f16()
    tiny_models()
    evil()
    return 0


if __name__ == "__main__":
    sys.exit(main())
