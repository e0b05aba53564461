"""The window record shared by token streams and shards (infotok-stream(5), WINDOW payload;
infotok-shard(5), the window table) and the checks every reader makes on it."""

import math
import struct

import numpy as np

from .errors import FormatError

CODEBOOK = 64000           # FSQ codes: every index is below this
MAX_TOKENS = 49 * 96 * 96  # NT limit of one window
STRATEGIES = ("none", "static", "elbo", "global_elbo")
# The keys of a VIDEO record the tools own (it-scan's manifest line, infotok-stream(5), and
# the ordinal); every other key is the manifest's own and passes through unchanged.
VIDEO_KEYS = frozenset(("id", "path", "member", "size", "container", "codec", "width", "height", "rotation",
                        "pix_fmt", "fps", "duration", "frames", "frames_exact", "audio", "bit_rate", "status",
                        "error", "ordinal"))
GEOMETRY = ("t", "h", "w", "pt", "ph", "pw", "t0", "h0", "w0", "lt", "lh", "lw")


def strategy_code(strategy):
    """0..3 from a name ("none", "static", "elbo", "global_elbo") or a code."""
    if isinstance(strategy, str):
        try:
            return STRATEGIES.index(strategy)
        except ValueError:
            raise ValueError("unknown strategy %r (expected one of %s)" % (strategy, ", ".join(STRATEGIES))) from None
    if strategy not in (0, 1, 2, 3):
        raise ValueError("unknown strategy %r" % (strategy,))
    return int(strategy)


def window_mean(elbo):
    """The window's mean ELBO as the formats define it: the sum of the values in raster order
    in binary64, one after the other (np.cumsum is sequential; np.sum is pairwise and may
    differ in the last bit), divided by NT, rounded to binary32."""
    nt = elbo.size
    if nt == 0:
        return np.float32(0)
    return np.float32(np.cumsum(elbo, dtype=np.float64)[-1] / nt)


def f32_bits(x):
    return int(np.float32(x).view(np.uint32))


class Window:
    """One temporal window of one video: geometry, full-rate indices (uint16 [NT]), the ELBO
    map (float32 [NT]) and, when a rate was applied, the keep mask (bool [NT]); arrays are in
    raster order (t, h, w) of the latent grid, shape() gives (lt, lh, lw) to reshape them.
    A window of a slim shard (it-pack --slim) has no ELBO map (elbo is None) and its indices at
    dropped positions are 0: only the kept tokens are stored."""

    __slots__ = ("video_id", "video_ordinal", "window_index", "first_frame") + GEOMETRY + (
        "fps", "elbo_mean", "strategy", "rate", "kept", "indices", "elbo", "keep")

    def __init__(self, **kw):
        for k in self.__slots__:
            setattr(self, k, kw.get(k))

    @property
    def nt(self):
        return self.lt * self.lh * self.lw

    def shape(self):
        return (self.lt, self.lh, self.lw)

    @property
    def strategy_name(self):
        return STRATEGIES[self.strategy]

    @property
    def slim(self):
        """True for a slim shard's window: no ELBO map, only the kept tokens."""
        return self.elbo is None

    def keep_mask(self):
        """The keep mask; every token when no rate was applied (a full-rate record)."""
        return self.keep if self.keep is not None else np.ones(self.nt, bool)

    def kept_tokens(self):
        """The kept indices in raster order (all of them for a full-rate record)."""
        return self.indices[self.keep] if self.keep is not None else self.indices

    def positions(self):
        """(t, h, w) of the kept tokens in the latent grid, int32 [kept, 3]."""
        flat = np.flatnonzero(self.keep_mask())
        t, rem = np.divmod(flat, self.lh * self.lw)
        h, w = np.divmod(rem, self.lw)
        return np.stack([t, h, w], axis=1).astype(np.int32)

    def geometry(self):
        """The window's geometry and rate as a plain dict (no arrays)."""
        d = {k: getattr(self, k) for k in ("video_id", "video_ordinal", "window_index", "first_frame") + GEOMETRY}
        d.update(fps=float(self.fps), elbo_mean=float(self.elbo_mean), strategy=self.strategy_name,
                 rate=float(self.rate), kept=int(self.kept) if self.strategy else self.nt)
        return d

    def copy(self):
        return Window(**{k: getattr(self, k) for k in self.__slots__})

    def __repr__(self):
        return ("Window(video=%d window=%d latent=%dx%dx%d strategy=%s rate=%.4g kept=%d)"
                % (self.video_ordinal, self.window_index, self.lt, self.lh, self.lw, self.strategy_name,
                   self.rate, self.kept if self.strategy else self.nt))


# The fixed fields after the ids, in both formats: first_frame, 12 x i32 geometry, fps, elbo_mean.
def check_geometry(w, where):
    """The WINDOW payload's rules on the fixed fields (infotok-stream(5)); where names the
    record in messages. Returns NT."""
    def bad(msg):
        raise FormatError("%s: %s" % (where, msg))
    if w.first_frame < 0:
        bad("first_frame %d < 0" % w.first_frame)
    for n, pn, n0 in (("t", "pt", "t0"), ("h", "ph", "h0"), ("w", "pw", "w0")):
        v, p, o = getattr(w, n), getattr(w, pn), getattr(w, n0)
        if not 1 <= v <= p:
            bad("%s=%d outside [1, %s=%d]" % (n, v, pn, p))
        if o < 0 or o + v > p:
            bad("%s=%d with %s=%d does not fit %s=%d" % (n0, o, n, v, pn, p))
    for n in ("lt", "lh", "lw"):
        if getattr(w, n) < 1:
            bad("%s=%d < 1" % (n, getattr(w, n)))
    nt = w.lt * w.lh * w.lw
    if nt > MAX_TOKENS:
        bad("%d tokens (%dx%dx%d) above the limit %d" % (nt, w.lt, w.lh, w.lw, MAX_TOKENS))
    if not (math.isfinite(w.fps) and w.fps >= 0):
        bad("fps %r is not finite and >= 0" % w.fps)
    if w.strategy not in (0, 1, 2, 3):
        bad("unknown strategy %d" % w.strategy)
    if not (0.0 <= w.rate <= 1.0):
        bad("rate %r outside [0, 1]" % w.rate)
    if w.strategy == 0 and (w.rate != 0 or w.kept != 0):
        bad("rate %r and kept %d without a strategy (both must be 0)" % (w.rate, w.kept))
    if w.kept > nt:
        bad("kept %d > %d tokens" % (w.kept, nt))
    return nt


def check_arrays(w, where):
    """Indices below the codebook, the ELBO map finite and >= 0 with elbo_mean its mean bit for
    bit, the mask's count equal to kept."""
    def bad(msg):
        raise FormatError("%s: %s" % (where, msg))
    if w.indices.size and int(w.indices.max()) >= CODEBOOK:
        i = int(np.argmax(w.indices >= CODEBOOK))
        bad("token %d: index %d >= %d" % (i, int(w.indices[i]), CODEBOOK))
    if w.elbo is not None:  # a slim record has none: its elbo_mean is the full record's, unchecked
        ok = np.isfinite(w.elbo) & (w.elbo >= 0)
        if not ok.all():
            i = int(np.argmin(ok))
            bad("token %d: ELBO %r is not finite and >= 0" % (i, float(w.elbo[i])))
        m = window_mean(w.elbo)
        if f32_bits(m) != f32_bits(w.elbo_mean):
            bad("elbo_mean %.9g is not the mean of the ELBO map (%.9g)" % (w.elbo_mean, m))
    if w.keep is not None:
        n = int(np.count_nonzero(w.keep))
        if n != w.kept:
            bad("the mask keeps %d tokens, kept says %d" % (n, w.kept))


def unpack_mask(buf, nt, where):
    """LSB-first bit mask of ceil(nt/8) bytes -> bool [nt]; bits past nt-1 must be 0."""
    bits = np.unpackbits(np.frombuffer(buf, np.uint8), bitorder="little")
    if bits[nt:].any():
        raise FormatError("%s: mask bits set past token %d" % (where, nt - 1))
    return bits[:nt].astype(bool)


def pack_mask(keep):
    return np.packbits(keep.astype(np.uint8), bitorder="little").tobytes()


ALLOC = struct.Struct("<BBHfQq")


class Allocation:
    """A rate allocation: strategy (code), avg_rate (float32) and, for global_elbo, the corpus
    statistic (ElboStat). The ALLOCATION record of a stream is one."""

    __slots__ = ("strategy", "avg_rate", "stat")

    def __init__(self, strategy, avg_rate, stat=None):
        from .rate import ElboStat
        self.strategy = strategy_code(strategy)
        self.avg_rate = np.float32(avg_rate)
        self.stat = stat if stat is not None else ElboStat()

    @property
    def strategy_name(self):
        return STRATEGIES[self.strategy]

    def __eq__(self, other):
        return (isinstance(other, Allocation) and self.strategy == other.strategy
                and f32_bits(self.avg_rate) == f32_bits(other.avg_rate) and self.stat == other.stat)

    def __repr__(self):
        return "Allocation(%s, %.9g, %r)" % (self.strategy_name, self.avg_rate, self.stat)
