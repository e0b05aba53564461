"""InfoTok's rate allocation (infotok(7), RATE ALLOCATION), bit for bit as the C tools make it.

The arithmetic is fixed so that a mask made here equals one made by it-encode or it-pack:
per-window rates and quantiles in binary32 (numpy float32 scalars, never mixed with Python
floats, which would promote to binary64), the corpus mean from an exact fixed-point sum in
binary64 rounded to binary32, and the bound as torch.quantile's linear interpolation with
torch.lerp's two-sided formula. A token is kept when its ELBO is strictly above the bound.
"""

import json
import math

import numpy as np

from .errors import AllocationError
from .records import Allocation, Window, strategy_code

RATE_MIN = np.float32(0.0625)
RATE_MAX = np.float32(1.0)
FIXED_ONE = 4294967296.0  # 2^32: the statistic's sum is in units of 2^-32
_F0, _F1, _HALF = np.float32(0), np.float32(1), np.float32(0.5)


class ElboStat:
    """The global_elbo corpus statistic: a count of windows and the exact sum of their
    ELBO means in units of 2^-32, so that partial sums add up in any order."""

    __slots__ = ("count", "sum_fixed")

    def __init__(self, count=0, sum_fixed=0):
        self.count, self.sum_fixed = int(count), int(sum_fixed)

    def add(self, window_mean):
        m = np.float32(window_mean)
        if not m >= 0:  # NaN or negative: stored maps are validated, this keeps the sum defined
            m = _F0
        if m > np.float32(1e6):
            m = np.float32(1e6)
        self.count += 1
        self.sum_fixed += int(float(m) * FIXED_ONE)  # truncation toward zero, like the C cast
        return self

    def merge(self, other):
        self.count += other.count
        self.sum_fixed += other.sum_fixed
        return self

    def mean(self):
        """float32 mean, 0 when empty."""
        if not self.count:
            return _F0
        return np.float32(self.sum_fixed / FIXED_ONE / self.count)

    def to_json(self):
        """The text of it-pack elbo-stat: {"count":N,"sum_fixed":"S","mean":M}."""
        return '{"count":%d,"sum_fixed":"%d","mean":%s}' % (self.count, self.sum_fixed, _g9(self.mean()))

    @classmethod
    def from_json(cls, obj, name="statistic"):
        """From it-pack elbo-stat's JSON (a dict, a JSON text, or a file path)."""
        if isinstance(obj, str) and not obj.lstrip().startswith("{"):
            with open(obj, "rb") as f:
                name, obj = obj, f.read().decode()
        if isinstance(obj, (str, bytes)):
            try:
                obj = json.loads(obj)
            except ValueError as e:
                raise AllocationError("%s: not an ELBO statistic: %s" % (name, e)) from None
        try:
            count, s = obj["count"], obj["sum_fixed"]
            if isinstance(count, bool) or not isinstance(count, int) or count < 0 or not isinstance(s, str):
                raise TypeError
            return cls(count, int(s, 10))
        except (KeyError, TypeError, ValueError):
            raise AllocationError('%s: not an ELBO statistic (expected {"count":N,"sum_fixed":"S"})' % name) from None

    def __eq__(self, other):
        return isinstance(other, ElboStat) and (self.count, self.sum_fixed) == (other.count, other.sum_fixed)

    def __repr__(self):
        return "ElboStat(count=%d, sum_fixed=%d)" % (self.count, self.sum_fixed)


def _g9(x):
    """printf's %.9g for a float32 value."""
    return "%.9g" % float(x)


def rate_for_window(strategy, avg_rate, window_mean, corpus_mean):
    """static/elbo: avg_rate. global_elbo: clip(avg_rate * window_mean / corpus_mean, 0.0625, 1)
    in binary32, left to right; avg_rate when the corpus mean is not > 0."""
    avg_rate = np.float32(avg_rate)
    if strategy_code(strategy) != 3:
        return avg_rate
    corpus_mean = np.float32(corpus_mean)
    if not corpus_mean > _F0:
        return avg_rate
    r = avg_rate * np.float32(window_mean) / corpus_mean
    return RATE_MIN if r < RATE_MIN else RATE_MAX if r > RATE_MAX else r


def quantile_bound(elbo, rate):
    """The bound of the mask: torch.quantile(elbo, 1 - rate, interpolation='linear') in
    binary32 (NaN when the map has a NaN), computed as the C tools compute it; torch 1.13's own
    quantile can be one ulp away on some inputs."""
    elbo = np.asarray(elbo, np.float32).ravel()
    nt = elbo.size
    if nt == 0:
        raise ValueError("an empty ELBO map")
    rate = np.float32(rate)
    q = _F1 - rate
    if not (_F0 <= q <= _F1):
        raise AllocationError("rate %g outside [0, 1]" % float(rate))
    s = np.sort(elbo)  # NaN last, like torch.sort
    if math.isnan(s[-1]):
        return np.float32("nan")
    pos = q * np.float32(nt - 1)
    lo, hi = int(pos), int(np.ceil(pos))
    hi = min(hi, nt - 1)  # float32(nt - 1) may round up past the last index for huge nt
    lo = min(lo, hi)
    wgt = pos - np.float32(lo)
    a, b = s[lo], s[hi]
    return a + wgt * (b - a) if wgt < _HALF else b - (b - a) * (_F1 - wgt)


def quantile_mask(elbo, rate):
    """bool mask of the tokens kept at this rate: ELBO strictly above quantile_bound (ties
    with the bound are dropped; a map with a NaN keeps nothing)."""
    elbo = np.asarray(elbo, np.float32).ravel()
    bnd = quantile_bound(elbo, rate)
    if math.isnan(bnd):
        return np.zeros(elbo.size, bool)
    return elbo > bnd


def apply(window, allocation):
    """A copy of window re-allocated: its rate, mask and kept count under allocation (an
    Allocation); the strategy "none" removes the mask (full rate)."""
    if window.elbo is None:  # callers with a path refuse first, naming it (Shard.refuse_reallocation)
        raise AllocationError("video %d window %d is a slim shard's (it-pack --slim): no ELBO map to "
                              "re-allocate from" % (window.video_ordinal, window.window_index))
    w = window.copy()
    if allocation.strategy == 0:
        w.strategy, w.rate, w.kept, w.keep = 0, _F0, 0, None
        return w
    rate = rate_for_window(allocation.strategy, allocation.avg_rate, window.elbo_mean, allocation.stat.mean())
    if not (_F0 <= rate <= _F1):
        raise AllocationError("rate %g outside [0, 1]" % float(rate))
    w.keep = quantile_mask(window.elbo, rate)
    w.strategy, w.rate, w.kept = allocation.strategy, rate, int(np.count_nonzero(w.keep))
    return w


def allocation(strategy, avg_rate, stat=None):
    """An Allocation, checked: avg_rate in [0.0625, 1] for the strategies with a rate."""
    a = Allocation(strategy, avg_rate, stat)
    if a.strategy and not (RATE_MIN <= a.avg_rate <= RATE_MAX):
        raise AllocationError("avg_rate %g outside [0.0625, 1]" % float(a.avg_rate))
    return a


# ---- the corpus statistic of a set of inputs: the one policy of infotok(7) ----

def input_stat(path):
    """(own statistic, global_elbo Allocation or None) of one stream or shard: a shard gives
    its stored sum and its alloc entry, a stream is read once."""
    from .shard import Shard, is_shard
    from .stream import read_stream
    if is_shard(path):
        with Shard(path) as s:
            return s.elbo_stat(), s.allocation()
    own, alloc = ElboStat(), None
    for kind, rec in read_stream(path):
        if kind == "WINDOW":
            own.add(rec.elbo_mean)
        elif kind == "ALLOCATION" and rec.strategy == 3:
            alloc = rec
    return own, alloc


def corpus_stat(inputs, elbo_stat=None):
    """The global_elbo corpus statistic of inputs (paths of streams and shards), in the order
    of infotok(7): elbo_stat when given (an ElboStat, a dict or a file of it-pack elbo-stat);
    else, when every input carries a global_elbo allocation naming the same statistic, that
    one; else, when none does, the sum over the inputs' own windows. Returns (ElboStat,
    origin) with origin "elbo_stat", "allocation" or "windows"; inputs that disagree raise
    AllocationError naming two of them."""
    if elbo_stat is not None:
        return (elbo_stat if isinstance(elbo_stat, ElboStat) else ElboStat.from_json(elbo_stat)), "elbo_stat"
    if any(p == "-" for p in inputs):
        raise AllocationError("global_elbo needs the corpus statistic before the first window, and stdin "
                              "cannot be read twice: give files, or elbo_stat (it-pack elbo-stat)")
    own, first, with_, without = ElboStat(), None, None, None
    for p in inputs:
        part, a = input_stat(p)
        own.merge(part)
        if a is None:
            without = without or p
        elif first is None:
            with_, first = p, a
        elif a.stat != first.stat:
            raise AllocationError("%s and %s were allocated over different corpora (%d and %d windows): give "
                                  "elbo_stat to say which corpus the rates spread over"
                                  % (with_, p, first.stat.count, a.stat.count))
    if with_ and without:
        raise AllocationError("%s carries the statistic of the corpus it was allocated over, %s does not: give "
                              "elbo_stat to say which corpus the rates spread over" % (with_, without))
    if first is not None:
        return ElboStat(first.stat.count, first.stat.sum_fixed), "allocation"
    return own, "windows"


__all__ = ["ElboStat", "Allocation", "Window", "RATE_MIN", "RATE_MAX", "rate_for_window", "quantile_bound",
           "quantile_mask", "apply", "allocation", "corpus_stat", "input_stat"]
