"""The readers against the C tools on real streams and shards: it-pack dump's lines, the
records' JSON, shards read as the streams they were made from, ids found by the id index."""

import io
import contextlib

import numpy as np
import pytest

import infotok
from infotok.__main__ import main as cli
from conftest import c_dump, json_lines, run, window_part


def py_dump(*args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli(["dump"] + [str(a) for a in args]) == 0
    return out.getvalue().splitlines()


@pytest.mark.parametrize("name", ["a", "b", "rate_elbo", "g", "sa", "sb", "sga"])
def test_dump_equals_it_pack(corpus, name):
    path = getattr(corpus, name)
    want = c_dump(path, elbo=True)
    got = py_dump("--elbo", path)
    assert window_part(got) == window_part(want)
    assert len(window_part(want)) > 0
    assert json_lines(got) == json_lines(want)


def test_shard_reads_as_its_stream(corpus):
    for stream, shard in ((corpus.a, corpus.sa), (corpus.b, corpus.sb)):
        a = list(infotok.read_stream(stream))
        b = list(infotok.read_records(shard))
        assert [k for k, _ in a] == [k for k, _ in b]
        for (k, x), (_, y) in zip(a, b):
            if k == "WINDOW":
                for f in infotok.Window.__slots__:
                    u, v = getattr(x, f), getattr(y, f)
                    assert (np.array_equal(u, v) if isinstance(u, np.ndarray) else u == v), f
            elif k in ("VIDEO", "VIDEO_END", "END"):
                assert x == y


def test_shard_api(corpus):
    with infotok.Shard(corpus.many[0], check=True) as s:
        assert len(s) == 1 and s.video(0)["end"]["status"] == "ok"
        w = s.window(0, 0)
        assert w.indices.dtype == np.uint16 and w.elbo.dtype == np.float32 and w.keep is None
        assert w.kept_tokens().size == w.nt and w.positions().shape == (w.nt, 3)
        vid = s.video(0)["id"]
        assert s.find(vid) == [0] and s.find("%016x" % vid) == [0] and s.find(vid ^ 1) == []
        with pytest.raises(IndexError):
            s.video(1)
    # the id index of a shard holding each video four times
    with infotok.Shard(corpus.one[0]) as s:
        ids = [s.video(o)["id"] for o in range(len(s))]
        assert len(s) == 8 and len(set(ids)) == 2
        for i in set(ids):
            assert s.find(i) == [o for o in range(8) if ids[o] == i]
    infotok.Shard(corpus.sa).verify()


def test_list_matches(corpus):
    """it-pack list's kept counts and windows equal the package's."""
    lines = run("it-pack", "list", corpus.sga).splitlines()[1:]
    s = infotok.Shard(corpus.sga)
    for line in lines:
        _inp, o, vid, status, nwin, _frames, tokens, kept = line.split("\t")
        ws = s.windows(int(o))
        assert (vid, status, int(nwin)) == (s.video(int(o))["video"]["id"], "ok", len(ws))
        assert int(tokens) == sum(w.nt for w in ws) and int(kept) == sum(int(w.kept) for w in ws)
