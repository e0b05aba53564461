"""Damaged and incomplete inputs raise the package's exceptions, naming the input and the
place: truncations at every record boundary and inside records, flipped bytes, records with
a valid CRC that break a rule, shards without trailer or with damaged records."""

import shutil
import struct
import zlib

import numpy as np
import pytest

import infotok
from infotok.errors import ChecksumError, FormatError, IncompleteError


def drain(path):
    for _ in infotok.read_records(str(path)):
        pass


def record_offsets(data):
    o, out = 16, []
    while o < len(data):
        n, = struct.unpack_from("<I", data, o + 8)
        out.append((o, n))
        o += 16 + n
    return out


def test_stream_truncations(corpus, tmp_path):
    data = corpus.a.read_bytes()
    recs = record_offsets(data)
    cuts = {0, 5, 15, 16} | {o for o, _ in recs} | {o + 7 for o, _ in recs} | {o + 14 + n for o, n in recs}
    cuts.add(len(data) - 1)
    for cut in sorted(cuts):
        p = tmp_path / "cut.itok"
        p.write_bytes(data[:cut])
        with pytest.raises(FormatError) as e:
            drain(p)
        assert isinstance(e.value, IncompleteError) or cut == 0, (cut, e.value)
        assert str(p) in str(e.value)
    drain(corpus.a)


def test_stream_flips(corpus, tmp_path):
    data = bytearray(corpus.a.read_bytes())
    recs = record_offsets(bytes(data))
    for o, n in recs:
        for at in (o + 12, o + 12 + n // 2, o + 12 + n - 1):
            bad = bytearray(data)
            bad[at] ^= 0x40
            p = tmp_path / "flip.itok"
            p.write_bytes(bad)
            with pytest.raises(ChecksumError, match="record %d" % (recs.index((o, n)) + 1)):
                drain(p)
    p.write_bytes(bytes(data) + b"\0")
    with pytest.raises(FormatError, match="after the END"):
        drain(p)


def refresh_crc(data, o):
    typ, _z, n = struct.unpack_from("<HHI", data, o + 4)
    struct.pack_into("<I", data, o + 12 + n, zlib.crc32(bytes(data[o + 4:o + 12 + n])))


def test_stream_rules_under_valid_crc(corpus, tmp_path):
    """A record that breaks a rule is refused even with a valid CRC."""
    data = bytes(corpus.rate_elbo.read_bytes())
    recs = record_offsets(data)
    win = next(o for o, _ in recs if struct.unpack_from("<H", data, o + 4)[0] == 3)
    cases = {
        "elbo_mean": lambda d: struct.pack_into("<f", d, win + 12 + 80, struct.unpack_from("<f", d, win + 12 + 80)[0] * 1.0000002),
        "index": lambda d: struct.pack_into("<H", d, win + 12 + 96, 64000),
        "kept": lambda d: struct.pack_into("<I", d, win + 12 + 92, struct.unpack_from("<I", d, win + 12 + 92)[0] - 1),
        "window_index": lambda d: struct.pack_into("<I", d, win + 12 + 12, 1),
        "strategy": lambda d: struct.pack_into("<B", d, win + 12 + 84, 7),
    }
    for name, poke in cases.items():
        d = bytearray(data)
        poke(d)
        refresh_crc(d, win)
        p = tmp_path / ("%s.itok" % name)
        p.write_bytes(d)
        with pytest.raises(FormatError) as e:
            drain(p)
        assert not isinstance(e.value, ChecksumError), name
        assert "record" in str(e.value), name
    # the kept_tokens copy disagreeing with the indices
    d = bytearray(data)
    n, = struct.unpack_from("<I", d, win + 8)
    last = win + 12 + n - 2
    struct.pack_into("<H", d, last, (struct.unpack_from("<H", d, last)[0] + 1) % 64000)
    refresh_crc(d, win)
    p = tmp_path / "copy.itok"
    p.write_bytes(d)
    with pytest.raises(FormatError, match="kept_tokens"):
        drain(p)


def test_shard_damage(corpus, tmp_path):
    src = corpus.sb
    data = src.read_bytes()
    size = len(data)
    for cut in (0, 10, 4096, size - 32, size - 1):
        p = tmp_path / "cut.itshard"
        p.write_bytes(data[:cut])
        with pytest.raises(IncompleteError) as e:
            infotok.Shard(p)
        assert str(p) in str(e.value)
    p = tmp_path / "ext.itshard"
    p.write_bytes(data + b"\0")
    with pytest.raises(FormatError):
        infotok.Shard(p)
    # trailer CRC
    bad = bytearray(data)
    bad[size - 20] ^= 1
    p.write_bytes(bad)
    with pytest.raises(ChecksumError):
        infotok.Shard(p)
    # a flipped byte inside a window record: the full check sees it; without it, the record's
    # own CRC (or zstd's frame check) does when the window is read
    at = data.index(b"ITSW") + 40
    bad = bytearray(data)
    bad[at] ^= 0x10
    p.write_bytes(bad)
    with pytest.raises(ChecksumError):
        infotok.Shard(p, check=True)
    s = infotok.Shard(p)
    with pytest.raises(ChecksumError, match="video 0 window"):
        for o in range(len(s)):
            s.windows(o)
    with pytest.raises(ChecksumError):
        s.verify()
    # flips anywhere are reported by the full check, never pass
    for pos in (0, 100, 4096, size // 2, size - 40):
        bad = bytearray(data)
        bad[pos] ^= 0xff
        p.write_bytes(bad)
        with pytest.raises(FormatError):
            infotok.Shard(p, check=True).verify()


def test_not_finished(corpus, tmp_path):
    """A stream is not a shard, a shard without trailer is incomplete; a shard with an
    unknown format version is refused by name."""
    p = tmp_path / "x.itshard"
    shutil.copy(corpus.a, p)
    with pytest.raises(IncompleteError):
        infotok.Shard(p)
    p.write_bytes(b"ITOKSTRM" + struct.pack("<II", 1, 0))
    with pytest.raises(IncompleteError):
        drain(p)
    p.write_bytes(b"nonsense" * 10)
    with pytest.raises(FormatError, match="not a"):
        list(infotok.read_stream(p))


def test_window_invariants_unit():
    """check_geometry/check_arrays on a hand-made record: each broken rule is named."""
    from infotok.records import Window, check_arrays, check_geometry
    base = dict(video_id=1, video_ordinal=0, window_index=0, first_frame=0, t=5, h=16, w=16, pt=5, ph=16, pw=16,
                t0=0, h0=0, w0=0, lt=2, lh=2, lw=2, fps=25.0, strategy=0, rate=np.float32(0), kept=0)
    elbo = np.arange(8, dtype=np.float32)
    ok = Window(**base, indices=np.arange(8, dtype=np.uint16), elbo=elbo,
                elbo_mean=infotok.records.window_mean(elbo), keep=None)
    check_geometry(ok, "w")
    check_arrays(ok, "w")
    for field, value, msg in (("t", 6, "t=6"), ("h0", 1, "h0=1"), ("lw", 0, "lw=0"), ("fps", float("nan"), "fps"),
                              ("rate", np.float32(0.5), "without a strategy"), ("first_frame", -1, "first_frame")):
        w = ok.copy()
        setattr(w, field, value)
        with pytest.raises(FormatError, match=msg):
            check_geometry(w, "w")
    w = ok.copy()
    w.elbo = elbo.copy()
    w.elbo[3] = -1
    with pytest.raises(FormatError, match="token 3"):
        check_arrays(w, "w")
