"""PyTorch-style datasets over token shards; torch is optional.

ShardDataset is map-style (dataset[i], by ordinal, and lookup by video id); ShardIterable is
the iterable form for training: seeded shuffling of shards and of videos within a buffer,
split by distributed rank and by DataLoader worker so that every video comes exactly once
per epoch, and state_dict()/load_state_dict() to resume mid-epoch exactly. When torch is
installed they subclass torch.utils.data.Dataset / IterableDataset (so DataLoader treats them
right); without torch they are plain Python objects with the same behaviour.

A sample is a dict:
    tokens     uint16 [K]       the kept tokens of every window, window after window, each in
                                raster order (t, h, w) of its latent grid
    positions  int32 [K, 3]     (t, h, w) of each token in its window's latent grid
    window     int32 [K]        the window index of each token
    windows    list of dicts    each window's geometry and rate (Window.geometry())
    video, end dicts            the VIDEO and VIDEO_END records (manifest line, status)
    meta       dict             the manifest's own keys (caption, license, ...: every key of
                                the VIDEO record no tool owns), {} when it has none
    id, video_id                16 hex digits, the same as an int
    shard, ordinal, index       where it is: shard path, ordinal in the shard, dataset index
  with maps=True also
    elbo, keep  lists of float32 / bool arrays of shape (lt, lh, lw): the ELBO map and the mask
                (not for slim shards, which have no ELBO maps: AllocationError)

Slim shards (it-pack --slim) serve their stored kept tokens and masks like any shard; they
cannot be re-allocated: avg_rate and full_rate on them raise AllocationError naming the shard.
  from ShardIterable also
    epoch, position             the epoch and the sample's place in the rank's epoch order
"""

import os

import numpy as np

from .errors import AllocationError, FormatError
from .rate import allocation as _allocation, apply as _apply, corpus_stat
from .records import strategy_code
from .records import VIDEO_KEYS
from .shard import Shard, is_shard

try:  # optional: subclass torch's types so that DataLoader knows a map-style from an iterable one
    from torch.utils.data import Dataset as _MapBase, IterableDataset as _IterBase
except ImportError:  # pragma: no cover - exercised where torch is missing
    _MapBase = _IterBase = object


def collate_list(batch):
    """A DataLoader collate_fn that keeps the samples as they are (a list of dicts): samples
    differ in length, so torch's default collate cannot stack them."""
    return batch


def resolve_allocation(paths, avg_rate=None, strategy="global_elbo", elbo_stat=None, full_rate=False):
    """The allocation a dataset applies to every window: None keeps the stored masks;
    full_rate keeps every token; avg_rate re-allocates (global_elbo takes its corpus
    statistic by infotok(7)'s policy: elbo_stat, else the shards' shared allocation, else
    their own stored sums)."""
    if full_rate or avg_rate is not None:
        refuse_slim(paths)
    if full_rate:
        if avg_rate is not None:
            raise AllocationError("full_rate and avg_rate exclude each other")
        return _allocation("none", 0)
    if avg_rate is None:
        if elbo_stat is not None:
            raise AllocationError("elbo_stat without avg_rate")
        return None
    code = strategy_code(strategy)
    if code == 0:
        raise AllocationError("strategy none with avg_rate: use full_rate")
    stat = corpus_stat(paths, elbo_stat)[0] if code == 3 else None
    return _allocation(code, avg_rate, stat)


def refuse_slim(paths):
    """AllocationError naming the first slim shard among paths (streams are never slim):
    without ELBO maps a slim shard is used at its stored rates only, like the C tools'."""
    for p in paths:
        if p != "-" and is_shard(p):
            with Shard(p) as s:
                s.refuse_reallocation()


def passthrough(video):
    """The keys of a VIDEO record that no tool owns (a caption, a license, a source URL...):
    the manifest's own keys, which it-encode and it-pack carry through unchanged."""
    return {k: v for k, v in video.items() if k not in VIDEO_KEYS}


def sample_from_windows(windows, maps=False):
    """tokens, positions, window and windows (and elbo, keep with maps) of a list of Windows."""
    toks, pos, win, geo, elbo, keep = [], [], [], [], [], []
    for w in windows:
        k = w.kept_tokens()
        toks.append(k)
        pos.append(w.positions())
        win.append(np.full(k.size, w.window_index, np.int32))
        geo.append(w.geometry())
        if maps:
            elbo.append(w.elbo.reshape(w.shape()))
            keep.append(w.keep_mask().reshape(w.shape()))
    s = {"tokens": np.concatenate(toks) if toks else np.zeros(0, np.uint16),
         "positions": np.concatenate(pos) if pos else np.zeros((0, 3), np.int32),
         "window": np.concatenate(win) if win else np.zeros(0, np.int32),
         "windows": geo}
    if maps:
        s["elbo"], s["keep"] = elbo, keep
    return s


def _common_header(shards):
    """The HEADER the shards share: what a consumer of tokens requires of it (model.hash and
    window, infotok-stream(5)), and one model and window geometry for the whole set, since
    tokens of two models (or precisions) mean different things."""
    first = None
    for s in shards:
        h = s.header
        model, window = h.get("model"), h.get("window")
        hsh = model.get("hash") if isinstance(model, dict) else None
        if not (isinstance(hsh, str) and len(hsh) == 16) or not isinstance(window, dict):
            raise FormatError("%s: the header has no model.hash or window" % s.path)
        key = (hsh, h.get("precision", "fp32"), window.get("temporal"), window.get("overlap"))
        if first is None:
            first = (s.path, key, h)
        elif key != first[1]:
            raise FormatError("%s and %s hold tokens of different models or windows (%s, %s): one dataset "
                              "takes one model's tokens" % (first[0], s.path, first[1], key))
    return first[2] if first else None


class ShardDataset(_MapBase):
    """Map-style dataset of the videos of a list of shards, in shard order then ordinal order.

    paths        shard files (a set: PREFIX-00000.itshard, ...)
    avg_rate     re-allocate every window at this average rate (None: the stored masks, or
                 every token of a full-rate shard); strategy static, elbo or global_elbo
                 (default); elbo_stat for global_elbo: ElboStat, dict, or it-pack elbo-stat's file
    full_rate    every token, whatever the shards' masks
    maps         add each window's ELBO map and keep mask to the samples
    skip_failed  leave out videos whose status is "error" (they have no windows)
    transform    a function applied to each sample
    """

    def __init__(self, paths, avg_rate=None, strategy="global_elbo", elbo_stat=None, full_rate=False, maps=False,
                 skip_failed=True, transform=None, check=False):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = [str(p) for p in paths]
        if not self.paths:
            raise ValueError("no shards given")
        self.maps, self.transform = maps, transform
        self._shards = [Shard(p, check=check) for p in self.paths]
        for sh in self._shards:
            if maps and sh.slim:
                raise AllocationError("%s: a slim shard (it-pack --slim) keeps no ELBO maps: maps=True needs the "
                                      "full shard it was made from" % sh.path)
        self.header = _common_header(self._shards)
        self.allocation = resolve_allocation(self.paths, avg_rate, strategy, elbo_stat, full_rate)
        keys = []
        for si, s in enumerate(self._shards):
            ords = np.arange(s.nvideos, dtype=np.int64)
            if skip_failed and s.stats.get("failed", 1) != 0:  # stats say none failed: nothing to read
                ords = np.array([o for o in range(s.nvideos) if s.video(o)["end"]["status"] == "ok"], np.int64)
            keys.append(np.stack([np.full(ords.size, si, np.int64), ords], axis=1))
        self._keys = np.concatenate(keys) if keys else np.zeros((0, 2), np.int64)
        self._ids = None

    def __len__(self):
        return len(self._keys)

    def key(self, index):
        """(shard index, ordinal) of dataset index."""
        if not -len(self) <= index < len(self):
            raise IndexError("dataset index %d out of range (%d videos)" % (index, len(self)))
        si, o = self._keys[index]
        return int(si), int(o)

    def __getitem__(self, index):
        index = int(index)
        if index < 0:
            index += len(self)
        si, o = self.key(index)
        s = self._shards[si]
        v = s.video(o)
        windows = [s.window(o, i, v["id"]) for i in range(v["windows"])]
        if self.allocation is not None:
            windows = [_apply(w, self.allocation) for w in windows]
        sample = sample_from_windows(windows, self.maps)
        sample.update(video=v["video"], end=v["end"], id=v["video"]["id"], video_id=v["id"], shard=s.path,
                      ordinal=o, index=index, meta=passthrough(v["video"]))
        return self.transform(sample) if self.transform else sample

    def indices_of(self, video_id):
        """Dataset indices of the videos with this id (int or 16 hex digits): a corpus may
        hold a file twice. Uses each shard's id index."""
        if isinstance(video_id, str):
            video_id = int(video_id, 16)
        if self._ids is None:
            self._ids = {(int(si), int(o)): i for i, (si, o) in enumerate(self._keys)}
        out = []
        for si, s in enumerate(self._shards):
            out += [self._ids[(si, o)] for o in s.find(video_id) if (si, o) in self._ids]
        return sorted(out)

    def by_id(self, video_id):
        """The sample of a video id (the first when there are several); KeyError when absent."""
        idx = self.indices_of(video_id)
        if not idx:
            raise KeyError("no video %s in %s" % (video_id if isinstance(video_id, str) else "%016x" % video_id,
                                                 ", ".join(self.paths)))
        return self[idx[0]]


def _world(rank, world_size):
    if rank is not None or world_size is not None:
        rank, world_size = rank or 0, world_size or 1
    else:
        try:
            import torch.distributed as dist
            if dist.is_available() and dist.is_initialized():
                rank, world_size = dist.get_rank(), dist.get_world_size()
        except ImportError:
            pass
        if rank is None:
            rank, world_size = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if not (world_size >= 1 and 0 <= rank < world_size):
        raise ValueError("rank %d outside a world of %d" % (rank, world_size))
    return rank, world_size


def _worker():
    try:
        from torch.utils.data import get_worker_info
    except ImportError:
        return 0, 1
    info = get_worker_info()
    return (info.id, info.num_workers) if info is not None else (0, 1)


class ShardIterable(_IterBase):
    """Iterable dataset for training over a list of shards.

    Each epoch, with seed s and epoch e: the shards are put in a random order (seeded by s, e),
    their videos laid end to end, rank r of W takes every W-th (r, r+W, ...: ranks differ by
    at most one video), and its list goes through a shuffle buffer of buffer_size videos
    (seeded by s, e, r). That is the rank's epoch order, whatever the number of DataLoader
    workers: worker k of K takes the batches k, k+K, ... of batch_size consecutive samples,
    which is the order in which DataLoader hands them out, so the loader yields the epoch
    order itself and resuming is exact with any number of workers (give the DataLoader the
    same batch_size). Every video comes exactly once per epoch, whatever the number of
    shards, ranks and workers.

    Resuming: state_dict(consumed) records how many samples of the epoch this rank has taken
    (counted by the dataset itself when it is iterated in the training process; with workers,
    pass it: the last sample's "position" + 1); load_state_dict() makes the next iteration
    start right after them. Call set_epoch(e) before each epoch (like DistributedSampler).

    rank, world_size: default torch.distributed's when it is initialised, else the RANK and
    WORLD_SIZE environment variables, else 0 and 1. Other options: those of ShardDataset.
    """

    def __init__(self, paths, seed=0, shuffle=True, buffer_size=256, batch_size=1, rank=None, world_size=None,
                 **dataset_options):
        self.data = ShardDataset(paths, **dataset_options)
        self.seed, self.shuffle = int(seed), bool(shuffle)
        self.buffer_size, self.batch_size = max(1, int(buffer_size)), max(1, int(batch_size))
        self.rank, self.world_size = _world(rank, world_size)
        self.epoch, self._start, self._consumed = 0, 0, 0
        # videos of each shard, in dataset order (ShardDataset keeps shard order)
        si = self.data._keys[:, 0]
        self._bounds = np.searchsorted(si, np.arange(len(self.data.paths) + 1))

    def set_epoch(self, epoch):
        if epoch != self.epoch:
            self.epoch, self._start, self._consumed = int(epoch), 0, 0

    def order(self, epoch=None):
        """This rank's epoch order: dataset indices (int64)."""
        epoch = self.epoch if epoch is None else epoch
        n = len(self.data.paths)
        shards = np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)
        flat = np.concatenate([np.arange(self._bounds[s], self._bounds[s + 1]) for s in shards] or [[]])
        mine = flat[self.rank::self.world_size].astype(np.int64)
        if not self.shuffle or self.buffer_size < 2 or mine.size < 2:
            return mine
        # a shuffle buffer over the keys (reading stays mostly sequential in shards): fill,
        # then each arriving video takes the place of a random one, which goes out
        rng = np.random.default_rng([self.seed, epoch, self.rank])
        out, buf, b = np.empty_like(mine), [], self.buffer_size
        picks = rng.integers(0, b, size=mine.size)
        k = 0
        for i, x in enumerate(mine):
            if len(buf) < b:
                buf.append(x)
                continue
            j = picks[i]
            out[k], buf[j] = buf[j], x
            k += 1
        rest = np.array(buf, np.int64)
        out[k:] = rest[rng.permutation(rest.size)]
        return out

    def __len__(self):
        """Samples this rank gets per epoch."""
        n = len(self.data)
        return n // self.world_size + (self.rank < n % self.world_size)

    def __iter__(self):
        order = self.order()
        start = self._start
        worker, workers = _worker()
        rest = np.arange(start, order.size)
        if workers > 1:  # batches worker, worker + workers, ... of the remaining order
            bs = self.batch_size
            rest = rest[(np.arange(rest.size) // bs) % workers == worker]
        else:
            self._consumed = start
        for pos in rest:
            sample = self.data[int(order[pos])]
            sample["epoch"], sample["position"] = self.epoch, int(pos)
            if workers == 1:
                self._consumed = int(pos) + 1
            yield sample

    def state_dict(self, consumed=None):
        """Where this rank is: seed, epoch, and the number of samples of the epoch consumed
        (default: as counted while iterated in this process)."""
        return {"version": 1, "seed": self.seed, "epoch": self.epoch,
                "consumed": int(self._consumed if consumed is None else consumed), "videos": len(self.data),
                "shards": len(self.data.paths), "rank": self.rank, "world_size": self.world_size,
                "shuffle": self.shuffle, "buffer_size": self.buffer_size}

    def load_state_dict(self, state):
        """Resume: the next iteration starts after the consumed samples of the saved epoch.
        Refuses a state from another corpus, seed, world or shuffle setting."""
        if state.get("version") != 1:
            raise ValueError("not a ShardIterable state (version %r)" % state.get("version"))
        mine = self.state_dict()
        for k in ("seed", "videos", "shards", "rank", "world_size", "shuffle", "buffer_size"):
            if state.get(k) != mine[k]:
                raise ValueError("the state was saved with %s=%r, this dataset has %r: the order would differ"
                                 % (k, state.get(k), mine[k]))
        if not 0 <= state["consumed"] <= len(self):
            raise ValueError("consumed %r outside [0, %d]" % (state["consumed"], len(self)))
        self.epoch, self._start, self._consumed = int(state["epoch"]), int(state["consumed"]), int(state["consumed"])
