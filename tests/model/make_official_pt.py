"""Write a deterministic random-weight checkpoint of the FULL official config in the official
`.pt` layout, for testing the C `.pt` reader and the engine at full size. Not committed (~250 MB).

    /usr/bin/python3 tests/model/make_official_pt.py OUT.pt [--fp32] [--seed N] [--native OUT.safetensors]

Layout (as `torch.save` of the official trainer, read by the official `_load_pytorch_model`):
    {"model": {"network.<state_dict key>": tensor, ..., "ema.<key with '.' -> '-'>": fp32 tensor}}
All 468 `network.*` entries of infotok_state_dict_keys.txt are written; floating tensors in bf16
(the probable dtype of the release; --fp32 keeps float32), `quantizer._levels/_basis` int32,
`quantizer.implicit_codebook` bf16 as in a freshly built official model. A few `ema.` entries
(fp32, as the official EMA keeps them) are added; a loader must ignore them. Written by torch 1.13
with the zip serialisation: the pickle uses collections.OrderedDict, torch._utils._rebuild_tensor_v2
and torch.{BFloat16,Float,Int}Storage.
"""

import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import infotok_ref as R  # noqa: E402

N_EMA = 4  # how many ema.* decoys to add


def build(seed):
    torch.manual_seed(seed)
    return R.init_random(R.InfoTok(R.OFFICIAL_CONFIG).eval(), seed=seed, latent_gain=0.4, out_gain=0.25)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--fp32", action="store_true", help="network tensors in float32 instead of bf16")
    ap.add_argument("--seed", type=int, default=20260102)
    ap.add_argument("--native", help="also write the same weights (same dtype) in the native format")
    a = ap.parse_args()
    torch.set_num_threads(1)
    m = build(a.seed)
    dt = torch.float32 if a.fp32 else torch.bfloat16
    net = {}
    for k, v in m.state_dict().items():
        if k == "quantizer.implicit_codebook":
            v = v.to(torch.bfloat16)  # the official buffer dtype, whatever the network dtype
        elif v.is_floating_point():
            v = v.to(dt)
        net["network." + k] = v.clone()
    ema = {}
    for k in sorted(net)[:N_EMA]:
        ema["ema." + k[len("network."):].replace(".", "-")] = net[k].float().clone()
    torch.save({"model": {**net, **ema}}, a.out)
    print("%s: %d network tensors (%s), %d ema decoys" % (a.out, len(net), dt, len(ema)))
    if a.native:
        import safetensors_io as S
        sd = {k[len("network."):]: v for k, v in net.items()}
        S.write_weights(a.native, sd, R.OFFICIAL_CONFIG)
        print("%s: native copy" % a.native)


if __name__ == "__main__":
    main()
