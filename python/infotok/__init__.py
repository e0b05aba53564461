"""infotok: InfoTok token streams and shards in Python (numpy, lmdb, zstandard; torch optional).

    import infotok
    for kind, rec in infotok.read_records("corpus-00000.itshard"): ...   # streams or shards
    s = infotok.Shard("corpus-00000.itshard"); w = s.window(0, 0)
    ds = infotok.ShardDataset(["corpus-00000.itshard"], avg_rate=0.25)   # map-style
    it = infotok.ShardIterable(paths, seed=0, buffer_size=64)             # shuffled, resumable
    for seq in infotok.pack_sequences(it, seq_len=4096): ...              # AR training sequences

Formats: infotok-stream(5), infotok-shard(5); allocation: infotok(7), RATE ALLOCATION.
"""

from .errors import AllocationError, ChecksumError, FormatError, IncompleteError, InfotokError
from .records import CODEBOOK, STRATEGIES, Allocation, Window
from .rate import ElboStat, allocation, apply, corpus_stat, quantile_bound, quantile_mask, rate_for_window
from .shard import Shard, check_trailer, is_shard, read_records
from .stream import Stream, read_stream
from .packing import BOS, EOD, SEP, VOCAB_SIZE, attention_mask, pack_sequences, unpack_sequences

__version__ = "0.1.0"

_LAZY = {"ShardDataset", "ShardIterable", "collate_list", "sample_from_windows"}


def __getattr__(name):
    # The dataset module imports torch when it is installed (to subclass its Dataset types);
    # import it only when asked, so the readers stay quick to import.
    if name in _LAZY:
        from . import dataset
        return getattr(dataset, name)
    raise AttributeError("module 'infotok' has no attribute %r" % name)


__all__ = ["AllocationError", "ChecksumError", "FormatError", "IncompleteError", "InfotokError", "CODEBOOK",
           "STRATEGIES", "Allocation", "Window", "ElboStat", "allocation", "apply", "corpus_stat",
           "quantile_bound", "quantile_mask", "rate_for_window", "Shard", "check_trailer", "is_shard",
           "read_records", "Stream", "read_stream", "BOS", "EOD", "SEP", "VOCAB_SIZE", "attention_mask",
           "pack_sequences", "unpack_sequences"] + sorted(_LAZY)
