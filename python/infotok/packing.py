"""Fixed-length packing for autoregressive training.

Videos are laid end to end as documents, BOS, the kept tokens (window after window, with an
optional SEP id between windows), EOD, and cut into sequences of seq_len tokens. The special
ids sit above the codebook: BOS = 64000, EOD = 64001, SEP = 64002, so a model's vocabulary
is VOCAB_SIZE = 64003. A document may continue into the next sequence.

Each sequence also carries what Megatron-LM's --reset-position-ids / --reset-attention-mask
(and litdata's token loaders) derive from EOD tokens:
    document      int32 [N]  the document of each token within the sequence: 0, then +1 after
                             each EOD (the EOD belongs to the document it ends)
    position_ids  int32 [N]  0 at the sequence start and after each EOD, +1 per token
    loss_mask     bool [N]   False on padding only
  and the video structure:
    thw           int32 [N, 3]  (t, h, w) of each token in its window's latent grid, -1 for specials
    window        int32 [N]     window index, -1 for specials
    video         int64 [N]     the running number of the document (video) in the packed
                                stream, -1 for padding
attention_mask(document) gives the [N, N] boolean mask (causal and within a document).
"""

import numpy as np

from .records import CODEBOOK

BOS, EOD, SEP = CODEBOOK, CODEBOOK + 1, CODEBOOK + 2
VOCAB_SIZE = CODEBOOK + 3


def _document(sample, bos, eod, sep):
    """The tokens, thw and window of one sample (a dict with tokens, positions, window) as a
    document."""
    toks = np.asarray(sample["tokens"], np.int64)
    pos = np.asarray(sample["positions"], np.int32).reshape(-1, 3)
    win = np.asarray(sample["window"], np.int32)
    if sep is not None:
        # SEP between consecutive windows, also around windows that kept no token, so that
        # unpacking gives one array per window
        nwin = len(sample["windows"]) if "windows" in sample else (int(win.max()) + 1 if win.size else 0)
        cut = np.cumsum(np.bincount(win, minlength=nwin))[:-1] if nwin > 1 else np.zeros(0, np.int64)
        toks = np.insert(toks, cut, sep)
        pos = np.insert(pos, cut, -1, axis=0)
        win = np.insert(win, cut, -1)
    toks = np.concatenate([[bos], toks, [eod]])
    pos = np.concatenate([np.full((1, 3), -1, np.int32), pos, np.full((1, 3), -1, np.int32)])
    win = np.concatenate([[-1], win, [-1]]).astype(np.int32)
    return toks, pos, win


def pack_sequences(samples, seq_len, bos=BOS, eod=EOD, sep=None, drop_last=False, pad=EOD):
    """Yield packed sequences (dicts of arrays, see the module doc) of seq_len tokens from an
    iterable of samples (ShardDataset / ShardIterable samples, or dicts with tokens,
    positions and window). The last, partial sequence is padded with pad (loss_mask False)
    unless drop_last."""
    if seq_len < 1:
        raise ValueError("seq_len %d < 1" % seq_len)
    bt, bp, bw, bv = [], [], [], []
    have, doc = 0, 0
    for sample in samples:
        t, p, w = _document(sample, bos, eod, sep)
        bt.append(t)
        bp.append(p)
        bw.append(w)
        bv.append(np.full(t.size, doc, np.int64))
        doc += 1
        have += t.size
        if have >= seq_len:  # join once, cut every full sequence, keep the rest
            t, p, w, v = (np.concatenate(x) for x in (bt, bp, bw, bv))
            at = 0
            while have - at >= seq_len:
                e = at + seq_len
                yield _sequence(t[at:e], p[at:e], w[at:e], v[at:e], seq_len, eod)
                at = e
            bt, bp, bw, bv = [t[at:]], [p[at:]], [w[at:]], [v[at:]]
            have -= at
    if have and not drop_last:
        t, p, w, v = (np.concatenate(x) for x in (bt, bp, bw, bv))
        n = seq_len - have
        yield _sequence(np.concatenate([t, np.full(n, pad, np.int64)]),
                        np.concatenate([p, np.full((n, 3), -1, np.int32)]),
                        np.concatenate([w, np.full(n, -1, np.int32)]),
                        np.concatenate([v, np.full(n, -1, np.int64)]), seq_len, eod, valid=have)


def _sequence(tokens, thw, window, video, seq_len, eod, valid=None):
    tokens = tokens.astype(np.int32)
    is_eod = tokens == eod
    # the document number: EODs strictly before each token
    document = np.concatenate([[0], np.cumsum(is_eod[:-1])]).astype(np.int32)
    starts = np.concatenate([[0], np.flatnonzero(is_eod[:-1]) + 1])
    first = starts[document]
    position_ids = (np.arange(seq_len) - first).astype(np.int32)
    loss_mask = np.ones(seq_len, bool)
    if valid is not None:
        loss_mask[valid:] = False
    return {"tokens": tokens, "document": document, "position_ids": position_ids, "loss_mask": loss_mask,
            "thw": thw.astype(np.int32), "window": window.astype(np.int32), "video": video}


def attention_mask(document):
    """[N, N] bool: token i may attend to token j when j <= i and both are in the same
    document (Megatron's reset attention mask; True means attend)."""
    d = np.asarray(document)
    return np.tril(d[:, None] == d[None, :])


def unpack_sequences(sequences, bos=BOS, eod=EOD, sep=None):
    """The inverse of pack_sequences: yield, per document, the list of its windows' token
    arrays (one array when packed without sep). Padding after the last EOD is dropped; a
    document cut by the end is yielded as far as it goes."""
    def done(parts):
        return [np.concatenate(c).astype(np.uint16) if c else np.zeros(0, np.uint16) for c in parts]

    special = [bos, eod] + ([sep] if sep is not None else [])
    cur, in_doc = [], False
    for seq in sequences:
        toks = np.asarray(seq["tokens"] if isinstance(seq, dict) else seq)
        if isinstance(seq, dict):
            toks = toks[np.asarray(seq["loss_mask"], bool)]
        prev = 0
        # slices between special ids go whole into the current window
        for j in list(np.flatnonzero(np.isin(toks, special))) + [toks.size]:
            if in_doc and j > prev:
                cur[-1].append(toks[prev:j])
            if j == toks.size:
                break
            x = int(toks[j])
            if x == bos:
                cur, in_doc = [[]], True
            elif in_doc and x == eod:
                yield done(cur)
                in_doc = False
            elif in_doc:  # sep
                cur.append([])
            prev = j + 1
    if in_doc:
        yield done(cur)
