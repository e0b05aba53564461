"""Reader and writer for the native weight/fixture format (the safetensors layout), by hand.

Layout (all little-endian):
  u64 N                          length of the JSON header in bytes
  N bytes of JSON                {"__metadata__": {str: str}, name: {"dtype", "shape",
                                  "data_offsets": [begin, end]}, ...}; padded with spaces so
                                  that 8 + N is a multiple of 8
  data                           raw tensors, C order, in sorted-name order, contiguous;
                                  offsets are relative to the start of the data
Weight files carry __metadata__ = {"format": "infotok-weights", "format_version": "1",
"config": "<config JSON>"}. Fixture files use format "infotok-fixture".

Not the `safetensors` package (not installed, PyPI unreachable); files written here load with it.
Needs numpy; torch tensors are accepted and (for BF16) returned as torch when torch is present.
"""

import json
import struct

import numpy as np

# dtype name -> (numpy dtype of the stored bits, bytes per element)
_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
           "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
           "BOOL": np.bool_}
_NP2NAME = {np.dtype(np.float64): "F64", np.dtype(np.float32): "F32", np.dtype(np.float16): "F16",
            np.dtype(np.int64): "I64", np.dtype(np.int32): "I32", np.dtype(np.int16): "I16",
            np.dtype(np.int8): "I8", np.dtype(np.uint8): "U8", np.dtype(np.bool_): "BOOL"}


def _to_bits(t):
    """(dtype name, little-endian numpy array of the stored bits) for a numpy or torch tensor."""
    mod = type(t).__module__
    if mod.startswith("torch"):
        import torch
        t = t.detach().cpu().contiguous()
        if t.dtype == torch.bfloat16:
            return "BF16", t.view(torch.int16).numpy().view(np.uint16)
        t = t.numpy()
    a = np.ascontiguousarray(t)
    name = _NP2NAME.get(a.dtype)
    if name is None:
        raise TypeError("unsupported dtype %s" % a.dtype)
    return name, a.astype(a.dtype.newbyteorder("<"), copy=False)


def write(path, tensors, metadata):
    """Write {name: tensor} with {str: str} metadata. Names sorted; data contiguous."""
    names = sorted(tensors)
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    blobs, off = [], 0
    for n in names:
        dt, a = _to_bits(tensors[n])
        b = a.tobytes()
        header[n] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def read(path, bf16_as="float32"):
    """-> (tensors {name: numpy array}, metadata {str: str}). BF16 becomes float32 (exact) unless
    bf16_as="torch" (a torch.bfloat16 tensor) or "bits" (uint16). Checks the layout strictly."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("truncated file")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw) or n % 8:
        raise ValueError("bad header length %d" % n)
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = memoryview(raw)[8 + n:]
    out, expect = {}, 0
    for name in sorted(header):
        h = header[name]
        b, e = h["data_offsets"]
        if b != expect:
            raise ValueError("%s: data not contiguous in sorted order" % name)
        dt = np.dtype(_DTYPES[h["dtype"]]).newbyteorder("<")
        count = int(np.prod(h["shape"], dtype=np.int64))
        if e - b != count * dt.itemsize:
            raise ValueError("%s: size does not match shape" % name)
        a = np.frombuffer(data[b:e], dtype=dt).reshape(h["shape"])
        if h["dtype"] == "BF16":
            if bf16_as == "float32":
                a = (a.astype(np.uint32) << 16).view(np.float32)
            elif bf16_as == "torch":
                import torch
                a = torch.from_numpy(a.astype(np.int16)).view(torch.bfloat16)
        out[name] = a
        expect = e
    if expect != len(data):
        raise ValueError("trailing bytes after the last tensor")
    return out, meta


def write_weights(path, state_dict, cfg, dtype=None, drop=("quantizer.implicit_codebook",)):
    """Native weight file: every state_dict tensor (official names) except `drop`, floating
    tensors cast to `dtype` (a torch dtype) if given; integer buffers kept as they are.
    quantizer.implicit_codebook is dropped by default: 64000x6 values fully determined by the
    levels, and 1.5 MB that a C engine never reads."""
    import torch
    from infotok_ref import config_json
    t = {}
    for k, v in state_dict.items():
        if k in drop:
            continue
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        t[k] = v
    write(path, t, {"format": "infotok-weights", "format_version": "1", "config": config_json(cfg)})
    return sorted(t)
