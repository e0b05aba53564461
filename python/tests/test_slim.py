"""Slim shards (it-pack --slim, infotok-shard(5) SLIM SHARDS) against the C tools: the dump
lines equal it-pack dump's, the datasets serve the kept tokens of the full shards they came
from, re-allocation and ELBO maps are refused naming the shard, the format's rules (version 2
with "slim":true, slim records only in slim shards, the mask keeping the stored tokens) are
enforced; and the manifest's passthrough keys (a caption) reach the samples."""

import contextlib
import io
import json
import os
import shutil
import struct
import zlib

import lmdb
import numpy as np
import pytest
import zstandard

import infotok
from infotok.__main__ import main as cli
from infotok.errors import AllocationError, ChecksumError, FormatError
from conftest import OPENCV, CROP, c_dump, json_lines, run, run_status, window_part

CAPTION = 'a tree, "quoted", \u00e9t\u00e9'


class Slim:
    pass


@pytest.fixture(scope="module")
def slim(corpus, tmp_path_factory):
    d = tmp_path_factory.mktemp("slim")
    c = Slim()
    # a manifest line with keys no tool owns: they travel into the VIDEO records
    line = json.loads(run("it-scan", "-q", os.path.join(OPENCV, "tree.avi")).splitlines()[0])
    line.update(caption=CAPTION, license="CC-BY-4.0")
    (d / "m.jsonl").write_text(json.dumps(line) + "\n")
    c.stream = d / "c.itok"
    run("it-encode", "-q", "--crop", CROP, "--strategy", "elbo", "--avg-rate", "0.4", "-o", c.stream, d / "m.jsonl")
    run("it-pack", "-q", "-o", d / "full", c.stream)
    run("it-pack", "-q", "--slim", "-o", d / "slim", c.stream)
    c.full, c.slim = d / "full-00000.itshard", d / "slim-00000.itshard"
    # without rates (every token stored) and with a global_elbo allocation (the alloc entry)
    run("it-pack", "-q", "--slim", "-o", d / "nr", corpus.a)
    run("it-pack", "-q", "--slim", "-o", d / "ga", corpus.sga)
    c.norate, c.ga = d / "nr-00000.itshard", d / "ga-00000.itshard"
    c.dir = d
    return c


def py_dump(*args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli(["dump"] + [str(a) for a in args]) == 0
    return out.getvalue().splitlines()


@pytest.mark.parametrize("name", ["slim", "norate", "ga"])
def test_dump_equals_it_pack(slim, name):
    path = getattr(slim, name)
    with infotok.Shard(path, check=True) as s:
        assert s.slim
        s.verify()
    for elbo in (False, True):
        want = c_dump(path, elbo=elbo)
        got = py_dump(*(["--elbo"] if elbo else []), path)
        assert len(window_part(want)) > 0
        assert window_part(got) == window_part(want)
        assert json_lines(got) == json_lines(want)
    if name == "ga":
        assert any(l.startswith("ALLOCATION\tstrategy=global_elbo") for l in want)
    assert "ELBO\tnone" in want


def test_same_kept_tokens_as_full(slim):
    with infotok.Shard(slim.full) as f, infotok.Shard(slim.slim) as s:
        assert not f.slim and s.slim and len(f) == len(s) == 1
        # the ELBO sums are the full shard's (global_elbo over slim shards is still defined)
        assert f.elbo_stat() == s.elbo_stat() and f.video(0)["video"] == s.video(0)["video"]
        wf, ws = f.windows(0), s.windows(0)
        assert len(wf) == len(ws) > 0
        for a, b in zip(wf, ws):
            assert b.slim and b.elbo is None and not a.slim
            assert a.geometry() == b.geometry()
            assert np.array_equal(a.keep, b.keep) and 0 < b.kept < b.nt
            assert np.array_equal(a.kept_tokens(), b.kept_tokens())
            assert np.array_equal(a.positions(), b.positions())
            assert not b.indices[~b.keep].any()  # dropped positions read as 0
    with infotok.Shard(slim.norate) as s:
        w = s.window(0, 0)
        assert w.keep is None and w.elbo is None and w.kept_tokens().size == w.nt


def test_datasets(slim):
    full, sl = infotok.ShardDataset(slim.full), infotok.ShardDataset(slim.slim)
    assert len(full) == len(sl) == 1
    a, b = full[0], sl[0]
    for k in ("tokens", "positions", "window"):
        assert np.array_equal(a[k], b[k]), k
    assert a["windows"] == b["windows"] and a["video"] == b["video"]
    it = infotok.ShardIterable([str(slim.slim), str(slim.norate), str(slim.ga)], seed=3, rank=0, world_size=1)
    got = list(it)
    assert sorted((s["shard"], s["ordinal"]) for s in got) == sorted(
        (str(p), 0) for p in (slim.slim, slim.norate, slim.ga))
    assert all(s["tokens"].size > 0 for s in got)


def test_passthrough_keys(slim):
    for path in (slim.full, slim.slim):
        s = infotok.ShardDataset(path)[0]
        assert s["meta"] == {"caption": CAPTION, "license": "CC-BY-4.0"}
        assert s["video"]["caption"] == CAPTION
    # a manifest without such keys: an empty meta
    assert infotok.ShardDataset(slim.norate)[0]["meta"] == {}


def test_reallocation_refused(slim):
    p = str(slim.slim)
    for kw in ({"avg_rate": 0.5}, {"avg_rate": 0.5, "strategy": "static"}, {"full_rate": True}):
        with pytest.raises(AllocationError, match="%s: a slim shard .* cannot be re-allocated" % p):
            infotok.ShardDataset(p, **kw)
        with pytest.raises(AllocationError, match=p):
            infotok.ShardIterable([str(slim.full), p], **kw)
    with pytest.raises(AllocationError, match="%s: a slim shard .* maps=True" % p):
        infotok.ShardDataset(p, maps=True)
    with infotok.Shard(p) as s:
        with pytest.raises(AllocationError, match="slim"):
            infotok.apply(s.window(0, 0), infotok.allocation("static", 0.5))
    # the command line, like it-pack's
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert cli(["dump", "--avg-rate", "0.5", p]) == 3
    assert "%s: a slim shard" % p in err.getvalue()
    rc, _, cerr = run_status("it-pack", "-q", "-o", slim.dir / "refused", "--avg-rate", "0.5", p)
    assert rc == 3 and "%s: a slim shard" % p in cerr and "cannot be re-allocated" in cerr
    # the full shard it came from still re-allocates
    assert len(infotok.ShardDataset(str(slim.full), avg_rate=0.5)) == 1


# ---- the format's rules, on shards rewritten with one thing changed ----

TRAILER = struct.Struct(">8sQIII4s")


def rewrite(src, dst, meta=None, window=None):
    """dst: src's LMDB data with meta entries replaced (a dict of JSON values) and the value of
    window (ordinal, index) replaced by window[1] (bytes), and a fresh valid trailer: only the
    change itself can be refused."""
    data = src.read_bytes()
    dst.write_bytes(data[:-TRAILER.size])
    env = lmdb.open(str(dst), subdir=False, lock=False, max_dbs=4, map_size=1 << 26)
    with env.begin(write=True) as t:
        for k, v in (meta or {}).items():
            t.put(k.encode(), json.dumps(v, separators=(",", ":")).encode() + b"\0", db=env.open_db(b"meta", txn=t))
        if window:
            t.put(struct.pack(">II", *window[0]), window[1], db=env.open_db(b"window", txn=t))
    env.close()
    body = dst.read_bytes()
    head = TRAILER.pack(b"ITSHARD1", len(body), zlib.crc32(body), 1, 0, bytes(4))[:24]
    dst.write_bytes(body + head + struct.pack(">I", zlib.crc32(head)) + bytes(4))
    return dst


def window_value(path, ordinal, index):
    env = lmdb.open(str(path), subdir=False, readonly=True, lock=False, max_dbs=4)
    with env.begin() as t:
        v = bytes(t.get(struct.pack(">II", ordinal, index), db=env.open_db(b"window", txn=t)))
    env.close()
    return v


def record(flags, body):
    return struct.pack("<4sBBHII", b"ITSW", 1, flags, 0, len(body), zlib.crc32(body)) + \
        zstandard.ZstdCompressor().compress(body)


def test_format_rules(slim, tmp_path):
    # the unchanged copy reads: the rewriting itself is sound
    infotok.Shard(rewrite(slim.slim, tmp_path / "same.itshard"), check=True).verify()
    for fmt in ({"format": "infotok-shard", "version": 2},
                {"format": "infotok-shard", "version": 1, "slim": True},
                {"format": "infotok-shard", "version": 2, "slim": 1},
                {"format": "infotok-shard", "version": 3, "slim": True}):
        p = rewrite(slim.slim, tmp_path / "fmt.itshard", meta={"format": fmt})
        with pytest.raises(FormatError, match=str(p)):
            infotok.Shard(p)
    # a slim shard's records read as a full shard's, and the other way round
    p = rewrite(slim.slim, tmp_path / "s1.itshard", meta={"format": {"format": "infotok-shard", "version": 1}})
    with pytest.raises(FormatError, match="video 0 window 0: a slim record in a full shard"):
        infotok.Shard(p).window(0, 0)
    p = rewrite(slim.full, tmp_path / "f2.itshard",
                meta={"format": {"format": "infotok-shard", "version": 2, "slim": True}})
    with pytest.raises(FormatError, match="video 0 window 0: a full record in a slim shard"):
        infotok.Shard(p).window(0, 0)


def test_slim_record_rules(slim, tmp_path):
    """A slim record rebuilt with a valid CRC: the mask must keep exactly the stored tokens,
    the body must have the slim size, the CRC still applies."""
    v = window_value(slim.slim, 0, 0)
    flags = v[5]
    assert flags == 3
    body = bytearray(zstandard.ZstdDecompressor().decompress(v[16:]))
    nt, kept = struct.unpack_from("<I", body, 96)[0], struct.unpack_from("<I", body, 92)[0]
    mask_at = 100 + 2 * kept
    keep = np.unpackbits(np.frombuffer(bytes(body[mask_at:]), np.uint8), bitorder="little")[:nt]
    off = int(np.argmin(keep))  # a dropped token: set its bit, the mask keeps kept + 1
    more = bytearray(body)
    more[mask_at + off // 8] |= 1 << (off % 8)
    extra = bytearray(body)
    extra += b"\0"
    for bad, msg in ((more, "the mask keeps %d tokens" % (kept + 1)), (extra, "body of %d bytes" % (len(body) + 1))):
        p = rewrite(slim.slim, tmp_path / "r.itshard", window=((0, 0), record(flags, bytes(bad))))
        with pytest.raises(FormatError, match="video 0 window 0: " + msg):
            infotok.Shard(p).window(0, 0)
    # the same record, well formed, reads; a flipped body byte under the old CRC does not
    p = rewrite(slim.slim, tmp_path / "ok.itshard", window=((0, 0), record(flags, bytes(body))))
    infotok.Shard(p).window(0, 0)
    val = bytearray(record(flags, bytes(body)))
    val[12] ^= 1  # the CRC field
    p = rewrite(slim.slim, tmp_path / "crc.itshard", window=((0, 0), bytes(val)))
    with pytest.raises(ChecksumError):
        infotok.Shard(p).window(0, 0)
