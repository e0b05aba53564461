"""Packing for AR training: round trip (pack then unpack gives every video's tokens back, with
and without window separators), the document ids, position ids and attention mask that
Megatron-LM's --reset-position-ids/--reset-attention-mask derive from EOD tokens (recomputed
here by their definition, token by token), and packing real dataset samples."""

import numpy as np
import pytest

import infotok
from infotok import BOS, EOD, SEP, attention_mask, pack_sequences, unpack_sequences


def fake_samples(seed, n):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        nw = int(rng.integers(0, 4))
        toks, win, pos = [], [], []
        for w in range(nw):
            k = int(rng.integers(1, 20))
            toks.append(rng.integers(0, 64000, k))
            win.append(np.full(k, w))
            pos.append(rng.integers(0, 4, (k, 3)))
        out.append({"tokens": np.concatenate(toks).astype(np.uint16) if toks else np.zeros(0, np.uint16),
                    "window": np.concatenate(win).astype(np.int32) if win else np.zeros(0, np.int32),
                    "positions": np.concatenate(pos).astype(np.int32) if pos else np.zeros((0, 3), np.int32)})
    return out


def by_definition(tokens, eod):
    """Megatron's reset rules, one token at a time: a new document starts after each EOD."""
    doc, pos, d, p = [], [], 0, 0
    for t in tokens:
        doc.append(d)
        pos.append(p)
        p += 1
        if t == eod:
            d, p = d + 1, 0
    return np.array(doc), np.array(pos)


@pytest.mark.parametrize("sep", [None, SEP])
@pytest.mark.parametrize("seq_len", [1, 7, 64, 1000])
def test_round_trip(sep, seq_len):
    samples = fake_samples(seq_len, 12)
    seqs = list(pack_sequences(samples, seq_len, sep=sep))
    assert all(s["tokens"].shape == (seq_len,) for s in seqs)
    nwin = [int(s["window"].max()) + 1 if s["window"].size else 0 for s in samples]
    total = sum(s["tokens"].size + 2 + (max(0, n - 1) if sep else 0) for s, n in zip(samples, nwin))
    assert len(seqs) == -(-total // seq_len)
    docs = list(unpack_sequences(seqs, sep=sep))
    assert len(docs) == len(samples)
    for d, s in zip(docs, samples):
        if sep is None:
            assert np.array_equal(np.concatenate(d), s["tokens"])
        else:
            parts = [s["tokens"][s["window"] == w] for w in range(max(1, int(s["window"].max()) + 1 if s["window"].size else 1))]
            assert len(d) == len(parts) and all(np.array_equal(a, b) for a, b in zip(d, parts))
    for s in seqs:
        doc, pos = by_definition(s["tokens"], EOD)
        assert np.array_equal(s["document"], doc) and np.array_equal(s["position_ids"], pos)
        special = s["tokens"] >= BOS
        assert (s["thw"][special] == -1).all() and (s["window"][special] == -1).all()
        assert (s["thw"][~special] >= 0).all()
    # the video numbers run 0.. over the packed stream, the last sequence is padded
    v = np.concatenate([s["video"] for s in seqs])
    assert v[v >= 0].max() == len(samples) - 1 and (np.diff(v[v >= 0]) >= 0).all()
    assert (seqs[-1]["loss_mask"] == (seqs[-1]["video"] >= 0)).all()
    dropped = list(pack_sequences(samples, seq_len, sep=sep, drop_last=True))
    assert len(dropped) == total // seq_len


def test_empty_window():
    s = {"tokens": np.array([5, 6, 7], np.uint16), "window": np.array([0, 0, 2], np.int32),
         "positions": np.zeros((3, 3), np.int32), "windows": [{}, {}, {}]}
    seq = next(pack_sequences([s], 16, sep=SEP))
    assert seq["tokens"][:7].tolist() == [BOS, 5, 6, SEP, SEP, 7, EOD]
    (doc,) = unpack_sequences([seq], sep=SEP)
    assert [d.tolist() for d in doc] == [[5, 6], [], [7]]


def test_attention_mask():
    seq = next(pack_sequences(fake_samples(1, 5), 40))
    m = attention_mask(seq["document"])
    for i in range(40):
        for j in range(40):
            assert m[i, j] == (j <= i and seq["document"][i] == seq["document"][j])


def test_pack_real_samples(corpus):
    ds = infotok.ShardDataset(corpus.many, avg_rate=0.25, strategy="elbo")
    samples = [ds[i] for i in range(len(ds))]
    seqs = list(pack_sequences(samples, 128, sep=SEP))
    docs = list(unpack_sequences(seqs, sep=SEP))
    assert len(docs) == len(samples)
    for d, s in zip(docs, samples):
        assert np.array_equal(np.concatenate(d), s["tokens"]) and len(d) == len(s["windows"])
    t = np.concatenate([q["tokens"] for q in seqs])
    thw = np.concatenate([q["thw"] for q in seqs])
    assert np.array_equal(thw[t < BOS], np.concatenate([s["positions"] for s in samples]))
