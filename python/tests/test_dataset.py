"""ShardDataset and ShardIterable on real shard sets: samples equal the shards' records (and
it-pack's re-allocation), every video exactly once per epoch across a simulated 2-rank world
and 2 DataLoader workers, also with fewer shards than workers, and a resume in the middle of
an epoch equals an uninterrupted run."""

import numpy as np
import pytest

import infotok
from infotok import dataset as dsmod
from conftest import OPENCV, run

try:
    import torch
    from torch.utils.data import DataLoader
except ImportError:  # the DataLoader tests skip; the rest runs without torch
    torch = None


def key(sample):
    return (sample["shard"], sample["ordinal"])


def test_map_style(corpus):
    ds = infotok.ShardDataset(corpus.many)
    assert len(ds) == 8
    seen = set()
    for i in range(len(ds)):
        s = ds[i]
        seen.add(key(s))
        sh = infotok.Shard(s["shard"])
        ws = sh.windows(s["ordinal"])
        assert np.array_equal(s["tokens"], np.concatenate([w.indices for w in ws]))  # full-rate shards
        assert s["positions"].shape == (s["tokens"].size, 3) and s["window"].size == s["tokens"].size
        assert len(s["windows"]) == len(ws) and s["id"] == "%016x" % s["video_id"]
        # positions are raster order within each window's (lt, lh, lw) grid
        g = s["windows"][0]
        first = s["positions"][s["window"] == 0]
        assert np.array_equal(first[:, 0] * g["lh"] * g["lw"] + first[:, 1] * g["lw"] + first[:, 2],
                              np.arange(g["lt"] * g["lh"] * g["lw"]))
    assert len(seen) == 8
    assert ds[-1]["index"] == 7
    with pytest.raises(IndexError):
        ds[8]
    vid = ds[0]["video_id"]
    idx = ds.indices_of(vid)
    assert len(idx) == 4 and all(ds[i]["video_id"] == vid for i in idx)
    assert ds.by_id("%016x" % vid)["index"] == idx[0]
    with pytest.raises(KeyError):
        ds.by_id(vid ^ 1)


def test_map_reallocated_equals_it_pack(corpus, tmp_path):
    run("it-pack", "-q", "-o", tmp_path / "r", "--avg-rate", "0.3", *corpus.many)
    ref = infotok.ShardDataset([str(tmp_path / "r-00000.itshard")])
    ds = infotok.ShardDataset(corpus.many, avg_rate=0.3, maps=True)
    assert ds.allocation.strategy_name == "global_elbo"
    assert len(ds) == len(ref)
    for i in range(len(ds)):
        a, b = ds[i], ref[i]
        assert np.array_equal(a["tokens"], b["tokens"]) and np.array_equal(a["positions"], b["positions"])
        assert [w["rate"] for w in a["windows"]] == [w["rate"] for w in b["windows"]]
        assert sum(k.sum() for k in a["keep"]) == a["tokens"].size
        assert all(e.shape == k.shape for e, k in zip(a["elbo"], a["keep"]))
    # static and full rate
    st = infotok.ShardDataset(corpus.many, avg_rate=0.5, strategy="static")[0]
    assert all(w["rate"] == np.float32(0.5) for w in st["windows"])
    full = infotok.ShardDataset([str(tmp_path / "r-00000.itshard")], full_rate=True)[0]
    assert full["tokens"].size == sum(w["lt"] * w["lh"] * w["lw"] for w in full["windows"])


def epoch_keys(paths, epoch, world, workers, **kw):
    """The keys of one epoch over a simulated world of `world` ranks, each with `workers`
    simulated DataLoader workers (dsmod._worker patched), per rank in the loader's order."""
    per_rank = []
    for rank in range(world):
        it = infotok.ShardIterable(paths, rank=rank, world_size=world, **kw)
        it.set_epoch(epoch)
        got = {}
        for w in range(workers):
            orig = dsmod._worker
            dsmod._worker = lambda w=w: (w, workers)
            try:
                got[w] = [(s["position"], key(s)) for s in it]
            finally:
                dsmod._worker = orig
        merged = sorted(p for lst in got.values() for p in lst)
        assert [p for p, _ in merged] == list(range(len(it)))
        per_rank.append([k for _, k in merged])
    return per_rank


@pytest.mark.parametrize("which", ["many", "one"])
def test_every_video_once(corpus, which):
    paths = getattr(corpus, which)
    everything = {key(infotok.ShardDataset(paths)[i]) for i in range(8)}
    orders = []
    for epoch in (0, 1):
        for world, workers in ((1, 1), (2, 1), (2, 2), (3, 2)):
            ranks = epoch_keys(paths, epoch, world, workers, seed=7, buffer_size=3, batch_size=2)
            flat = [k for r in ranks for k in r]
            assert sorted(flat) == sorted(everything), (world, workers)
            assert max(map(len, ranks)) - min(map(len, ranks)) <= 1
            if (world, workers) == (1, 1):
                orders.append(flat)
            # the rank's order does not depend on the number of workers
            if world == 2 and workers == 2:
                assert ranks == epoch_keys(paths, epoch, 2, 1, seed=7, buffer_size=3, batch_size=2)
    assert orders[0] != orders[1]  # epochs are shuffled differently
    # same seed and epoch: the same order; unshuffled: shard then ordinal order
    again = epoch_keys(paths, 0, 1, 1, seed=7, buffer_size=3, batch_size=2)[0]
    assert again == orders[0]
    plain = epoch_keys(paths, 0, 1, 1, shuffle=False)[0]
    assert plain == [key(infotok.ShardDataset(paths)[i]) for i in range(8)]


def test_resume_in_process(corpus):
    it = infotok.ShardIterable(corpus.many, seed=3, buffer_size=4, avg_rate=0.25, strategy="elbo")
    it.set_epoch(2)
    full = [s["tokens"] for s in it]
    it2 = infotok.ShardIterable(corpus.many, seed=3, buffer_size=4, avg_rate=0.25, strategy="elbo")
    it2.set_epoch(2)
    head = []
    for s in it2:
        head.append(s["tokens"])
        if len(head) == 3:
            break
    state = it2.state_dict()
    assert state["consumed"] == 3 and state["epoch"] == 2
    it3 = infotok.ShardIterable(corpus.many, seed=3, buffer_size=4, avg_rate=0.25, strategy="elbo")
    it3.load_state_dict(state)
    it3.set_epoch(2)  # the usual loop calls it again: the position stays
    rest = [s["tokens"] for s in it3]
    assert len(head) + len(rest) == len(full)
    assert all(np.array_equal(a, b) for a, b in zip(head + rest, full))
    it3.set_epoch(3)
    assert len(list(it3)) == 8
    other = infotok.ShardIterable(corpus.many, seed=4, buffer_size=4)
    with pytest.raises(ValueError, match="seed"):
        other.load_state_dict(state)


@pytest.mark.skipif(torch is None, reason="python3-torch is not installed")
@pytest.mark.parametrize("which", ["many", "one"])
def test_dataloader_two_workers_two_ranks(corpus, which):
    paths = getattr(corpus, which)
    everything = []
    for rank in (0, 1):
        it = infotok.ShardIterable(paths, seed=11, buffer_size=3, batch_size=2, rank=rank, world_size=2)
        it.set_epoch(1)
        dl = DataLoader(it, batch_size=2, num_workers=2, collate_fn=infotok.collate_list)
        got = [s for batch in dl for s in batch]
        # the loader hands out the rank's epoch order itself
        assert [s["position"] for s in got] == list(range(len(it)))
        order = it.order(1)
        assert [s["index"] for s in got] == [int(i) for i in order]
        everything += [key(s) for s in got]
    assert len(everything) == 8 and len(set(everything)) == 8
    if which == "one":
        return

    # resume after 2 batches with 2 workers equals the uninterrupted run
    def make():
        x = infotok.ShardIterable(paths, seed=11, buffer_size=3, batch_size=2, rank=1, world_size=2)
        x.set_epoch(1)
        return x
    it = make()
    full = [s["index"] for b in DataLoader(it, batch_size=2, num_workers=2, collate_fn=infotok.collate_list) for s in b]
    it = make()
    head = []
    for n, b in enumerate(DataLoader(it, batch_size=2, num_workers=2, collate_fn=infotok.collate_list)):
        head += b
        if n == 0:
            break
    state = it.state_dict(consumed=head[-1]["position"] + 1)
    it2 = make()
    it2.load_state_dict(state)
    rest = [s["index"] for b in DataLoader(it2, batch_size=2, num_workers=2, collate_fn=infotok.collate_list)
            for s in b]
    assert [s["index"] for s in head] + rest == full


def test_one_model_per_dataset(corpus, tmp_path):
    """Shards of another model (the tiny test fixture) are refused next to the bundled one's."""
    import os
    tiny = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/model/fixtures/tiny.safetensors")
    if not os.path.isfile(tiny):
        pytest.skip("tests/model/fixtures/tiny.safetensors not found")
    run("it-encode", "-q", "--checkpoint", tiny, "--crop", "32x32", "--full-rate", "-o", tmp_path / "t.itok",
        os.path.join(OPENCV, "tree.avi"))
    run("it-pack", "-q", "-o", tmp_path / "t", tmp_path / "t.itok")
    other = str(tmp_path / "t-00000.itshard")
    assert len(infotok.ShardDataset([other])) == 1
    with pytest.raises(infotok.FormatError, match="different models"):
        infotok.ShardDataset([str(corpus.sa), other])


def test_without_torch(corpus):
    """With torch absent (its import blocked), the datasets are plain objects that work the same."""
    import os
    import subprocess
    import sys
    code = """
import sys
sys.modules["torch"] = None  # import torch now raises ImportError
import infotok
paths = sys.argv[1:]
it = infotok.ShardIterable(paths, seed=5, buffer_size=3, rank=1, world_size=2)
assert infotok.ShardIterable.__mro__[1] is object
got = [s["index"] for s in it]
assert got == [int(i) for i in it.order()] and len(got) == 4, got
print(len(infotok.ShardDataset(paths)))
"""
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    p = subprocess.run([sys.executable, "-c", code] + corpus.many, capture_output=True, text=True, env=env)
    assert p.returncode == 0 and p.stdout.strip() == "8", p.stderr
