"""Reader of token shards (infotok-shard(5), .itshard), written from the man page.

    with infotok.Shard("shards/corpus-00000.itshard") as s:   # trailer, format, completion checked
        for ordinal in range(len(s)):
            v = s.video(ordinal)                 # {"video": VIDEO dict, "end": VIDEO_END dict, "windows": n}
            w = s.window(ordinal, 0)             # Window: geometry, indices, elbo, keep
        s.slim                                   # a slim shard: w.elbo is None, no re-allocation
        s.find(0x81bd72350aeb08af)               # ordinals of a video id

A Shard may be used after a fork: it reopens its LMDB environment in the new process (an
environment must not cross a fork).
"""

import json
import os
import struct
import zlib

import lmdb
import numpy as np
import zstandard

from .errors import AllocationError, ChecksumError, FormatError, IncompleteError
from .records import STRATEGIES, Allocation, Window, check_arrays, check_geometry, unpack_mask

TRAILER = struct.Struct(">8sQIII4s")  # magic, data length, data CRC, version, trailer CRC, zero
BODY = struct.Struct("<QIIq12idfB3sfII")  # the 100-byte fixed part of a window body
FRAME = struct.Struct("<4sBBHII")  # "ITSW", version, flags, 0, body length, body CRC
META_KEYS = ("format", "header", "provenance", "stats", "alloc", "complete")


def slim_refusal(path, what="re-allocated (avg_rate, strategy, full_rate)"):
    """The message of every refusal to re-allocate a slim shard (or read its ELBO maps)."""
    return ("%s: a slim shard (it-pack --slim) keeps no ELBO maps, so it cannot be %s: re-allocate the full "
            "shard it was made from, or use it at its stored rates" % (path, what))


def is_shard(path):
    """True when path is a shard file (a stream starts with ITOKSTRM; a shard is LMDB)."""
    if path == "-" or not os.path.isfile(path):
        return False
    with open(path, "rb") as f:
        return f.read(8) != b"ITOKSTRM"


def check_trailer(path, full=False):
    """Check the 32-byte trailer and the file length (cheap); with full, the CRC-32 of the
    data too. Returns the data length."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        if size < TRAILER.size:
            raise IncompleteError("%s: no trailer (%d bytes): incomplete or not a shard" % (path, size))
        f.seek(size - TRAILER.size)
        raw = f.read(TRAILER.size)
        magic, length, crc, version, tcrc, zero = TRAILER.unpack(raw)
        if magic != b"ITSHARD1":
            raise IncompleteError("%s: no shard trailer: an incomplete shard or not a shard" % path)
        if zlib.crc32(raw[:24]) != tcrc or zero != bytes(4):
            raise ChecksumError("%s: the trailer is damaged (CRC-32 mismatch)" % path)
        if version != 1:
            raise FormatError("%s: trailer version %d, only 1 is known" % (path, version))
        if length + TRAILER.size != size:
            raise IncompleteError("%s: the trailer says %d data bytes, the file has %d: truncated or extended"
                                  % (path, length, size - TRAILER.size))
        if full:
            f.seek(0)
            c, left = 0, length
            while left:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    raise IncompleteError("%s: truncated" % path)
                c = zlib.crc32(chunk, c)
                left -= len(chunk)
            if c != crc:
                raise ChecksumError("%s: CRC-32 of the data does not match the trailer: the file is damaged" % path)
    return length


def _json_nul(v, where):
    v = bytes(v)
    if not v.endswith(b"\0"):
        raise FormatError("%s: not NUL-terminated" % where)
    from .stream import parse_json
    return parse_json(v[:-1], where)


class Shard:
    """One token shard, open read-only. check=True also verifies the CRC-32 of the whole
    file (what it-pack verify does); without it, the trailer and length are checked and
    every record read is checked against its own CRC-32."""

    def __init__(self, path, check=False):
        self.path = str(path)
        check_trailer(self.path, full=check)
        self._pid = None
        self._open()
        self.meta = {}
        for key in META_KEYS:
            v = self._get("meta", key.encode())
            if v is not None:
                self.meta[key] = _json_nul(v, "%s: meta \"%s\"" % (self.path, key))
        fmt = self.meta.get("format")
        if not fmt or fmt.get("format") != "infotok-shard":
            raise FormatError("%s: not a token shard (format entry %r)" % (self.path, fmt))
        version, slim = fmt.get("version"), fmt.get("slim", False)
        if type(version) is not int or version not in (1, 2):
            raise FormatError("%s: shard version %r, only 1 (full) and 2 (slim) are known" % (self.path, version))
        if not isinstance(slim, bool) or (version == 2) != slim:
            raise FormatError("%s: format entry %r: version 2 and \"slim\":true go together" % (self.path, fmt))
        # a slim shard (it-pack --slim): kept tokens and masks, no ELBO maps, not re-allocatable
        self.slim = slim
        if "complete" not in self.meta:
            raise IncompleteError("%s: no completion marker: the shard was never finished" % self.path)
        if "header" not in self.meta or "stats" not in self.meta:
            raise FormatError("%s: the header or stats entry is missing" % self.path)
        c = self.meta["complete"]
        nv, nw = c.get("videos"), c.get("windows")
        if not (isinstance(nv, int) and isinstance(nw, int) and 0 <= nv < 1 << 32 and nw >= 0):
            raise FormatError("%s: malformed completion marker %r" % (self.path, c))
        self.nvideos, self.nwindows = nv, nw
        self._alloc = self._parse_alloc() if "alloc" in self.meta else None
        self._dctx = zstandard.ZstdDecompressor()

    # ---- LMDB, reopened after a fork ----
    def _open(self):
        try:
            self._env = lmdb.open(self.path, subdir=False, readonly=True, lock=False, readahead=False, max_dbs=4)
            self._db = {n: self._env.open_db(n.encode(), create=False) for n in ("meta", "video", "window", "id")}
        except lmdb.Error as e:
            raise FormatError("%s: cannot open as a shard: %s" % (self.path, e)) from None
        self._txn = self._env.begin(buffers=False)
        self._pid = os.getpid()

    def _get(self, db, key):
        if self._pid != os.getpid():
            self._open()
        try:
            return self._txn.get(key, db=self._db[db])
        except lmdb.Error as e:
            raise FormatError("%s: table %s: %s" % (self.path, db, e)) from None

    def close(self):
        if self._pid == os.getpid() and self._env is not None:
            self._txn.abort()
            self._env.close()
        self._env = None
        self._pid = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self):
        return self.nvideos

    def __getstate__(self):  # pickled into DataLoader workers: the path, reopened there
        return {"path": self.path}

    def __setstate__(self, st):
        self.__init__(st["path"])

    # ---- metadata ----
    @property
    def header(self):
        return self.meta["header"]

    @property
    def stats(self):
        return self.meta["stats"]

    def refuse_reallocation(self):
        """Raise AllocationError when the shard is slim: without ELBO maps it can only be used
        at its stored rates (the C tools refuse --avg-rate, --strategy and --full-rate)."""
        if self.slim:
            raise AllocationError(slim_refusal(self.path))

    def elbo_stat(self):
        """The stored corpus statistic of the shard's own windows (ElboStat)."""
        from .rate import ElboStat
        e = self.stats.get("elbo")
        try:
            return ElboStat.from_json(e, "%s: stats" % self.path)
        except Exception:
            raise FormatError("%s: the stats entry has no ELBO sum" % self.path) from None

    def _parse_alloc(self):
        from .rate import ElboStat
        a = self.meta["alloc"]
        where = "%s: meta \"alloc\"" % self.path
        try:
            strategy = STRATEGIES.index(a["strategy"])
            rate = a["avg_rate"]
            if strategy == 0 or not isinstance(rate, (int, float)) or not 0.0625 <= rate <= 1:
                raise ValueError
            stat = ElboStat.from_json(a["elbo"], where)
        except (KeyError, ValueError, TypeError):
            raise FormatError("%s: malformed allocation %r" % (where, a)) from None
        return Allocation(strategy, rate, stat)

    def allocation(self):
        """The allocation applied to the whole shard (its "alloc" entry) or None."""
        return self._alloc

    # ---- records ----
    def video(self, ordinal):
        """{"video": VIDEO dict, "end": VIDEO_END dict, "windows": count} of a video."""
        if not 0 <= ordinal < self.nvideos:
            raise IndexError("%s: no video %d (the shard has %d)" % (self.path, ordinal, self.nvideos))
        where = "%s: video %d" % (self.path, ordinal)
        v = self._get("video", struct.pack(">I", ordinal))
        if v is None:
            raise FormatError("%s: missing from the video table" % where)
        if len(v) < 8:
            raise FormatError("%s: value of %d bytes" % (where, len(v)))
        nwin, lv = struct.unpack_from("<II", v)
        if lv < 1 or 8 + lv >= len(v):
            raise FormatError("%s: VIDEO JSON length %d does not fit the value (%d bytes)" % (where, lv, len(v)))
        video = _json_nul(v[8:8 + lv], where + " VIDEO")
        end = _json_nul(v[8 + lv:], where + " VIDEO_END")
        if video.get("ordinal") != ordinal or end.get("ordinal") != ordinal:
            raise FormatError("%s: records carry ordinal %r/%r" % (where, video.get("ordinal"), end.get("ordinal")))
        if video.get("id") != end.get("id") or not isinstance(video.get("id"), str) or len(video["id"]) != 16:
            raise FormatError("%s: bad or mismatched ids %r, %r" % (where, video.get("id"), end.get("id")))
        if end.get("windows") != nwin:
            raise FormatError("%s: %d windows, VIDEO_END says %r" % (where, nwin, end.get("windows")))
        if end.get("status") not in ("ok", "error"):
            raise FormatError("%s: status %r" % (where, end.get("status")))
        try:
            vid = int(video["id"], 16)
        except ValueError:
            raise FormatError("%s: bad id %r" % (where, video["id"])) from None
        return {"video": video, "end": end, "windows": nwin, "id": vid}

    def window(self, ordinal, index, video_id=None):
        """Window index of video ordinal, checked (its CRC-32 and every invariant)."""
        where = "%s: video %d window %d" % (self.path, ordinal, index)
        val = self._get("window", struct.pack(">II", ordinal, index))
        if val is None:
            raise FormatError("%s: missing from the window table" % where)
        if len(val) < FRAME.size:
            raise FormatError("%s: record of %d bytes" % (where, len(val)))
        magic, version, flags, zero, nbody, crc = FRAME.unpack_from(val)
        if magic != b"ITSW" or version != 1:
            raise FormatError("%s: not a version-1 window record" % where)
        if flags & ~3 or zero:
            raise FormatError("%s: unknown flags %#x or reserved bits set" % (where, flags))
        slim = bool(flags & 2)
        if slim != self.slim:  # slim records go only into slim shards, and only slim ones
            raise FormatError("%s: a %s record in a %s shard" % (where, "slim" if slim else "full",
                                                                  "slim" if self.slim else "full"))
        try:
            params = zstandard.get_frame_parameters(val[FRAME.size:])
            if params.content_size != nbody:
                raise FormatError("%s: zstd frame of %d bytes, the record says %d" % (where, params.content_size, nbody))
            body = self._dctx.decompress(val[FRAME.size:], max_output_size=nbody)
        except zstandard.ZstdError as e:
            raise ChecksumError("%s: damaged record (zstd: %s)" % (where, e)) from None
        if len(body) != nbody or zlib.crc32(body) != crc:
            raise ChecksumError("%s: CRC-32 mismatch: the record is damaged" % where)
        if nbody < BODY.size:
            raise FormatError("%s: body of %d bytes" % (where, nbody))
        f = BODY.unpack_from(body)
        w = Window(video_id=f[0], video_ordinal=f[1], window_index=f[2], first_frame=f[3],
                   **dict(zip(("t", "h", "w", "pt", "ph", "pw", "t0", "h0", "w0", "lt", "lh", "lw"), f[4:16])),
                   fps=f[16], elbo_mean=np.float32(f[17]), strategy=f[18], rate=np.float32(f[20]), kept=f[21])
        if f[19] != bytes(3):
            raise FormatError("%s: reserved bytes are not zero" % where)
        if (w.video_ordinal, w.window_index) != (ordinal, index):
            raise FormatError("%s: the body says video %d window %d" % (where, w.video_ordinal, w.window_index))
        if video_id is not None and w.video_id != video_id:
            raise FormatError("%s: video id %016x, the video's is %016x" % (where, w.video_id, video_id))
        nt = check_geometry(w, where)
        if f[22] != nt:
            raise FormatError("%s: NT %d, the latent grid has %d tokens" % (where, f[22], nt))
        if bool(flags & 1) != bool(w.strategy):
            raise FormatError("%s: mask flag %d with strategy %s" % (where, flags & 1, STRATEGIES[w.strategy]))
        # stored tokens: all NT of a full record; a slim one's kept tokens (all without a rate)
        ns = w.kept if slim and w.strategy else nt
        want = BODY.size + (2 * ns if slim else 6 * nt) + ((nt + 7) // 8 if w.strategy else 0)
        if nbody != want:
            raise FormatError("%s: body of %d bytes, %d expected" % (where, nbody, want))
        p = BODY.size
        if slim:
            return self._slim_window(w, body, p, nt, ns, where)
        planes = np.frombuffer(body, np.uint8, 2 * nt, p).reshape(2, nt)
        w.indices = planes[0].astype(np.uint16) | (planes[1].astype(np.uint16) << 8)
        p += 2 * nt
        w.elbo = np.ascontiguousarray(np.frombuffer(body, np.uint8, 4 * nt, p).reshape(4, nt).T).view("<f4") \
            .reshape(nt).astype(np.float32)
        p += 4 * nt
        if w.strategy:
            w.keep = unpack_mask(body[p:], nt, where)
        check_arrays(w, where)
        return w

    @staticmethod
    def _slim_window(w, body, p, nt, ns, where):
        """The rest of a slim body: ns stored indices (byte planes), then the mask. Indices at
        dropped positions read as 0, like the C reader's; no ELBO map (w.elbo is None)."""
        planes = np.frombuffer(body, np.uint8, 2 * ns, p).reshape(2, ns)
        stored = planes[0].astype(np.uint16) | (planes[1].astype(np.uint16) << 8)
        p += 2 * ns
        if w.strategy:
            w.keep = unpack_mask(body[p:], nt, where)
            if int(np.count_nonzero(w.keep)) != ns:  # the mask must keep exactly the stored tokens
                raise FormatError("%s: the mask keeps %d tokens, the record stores kept=%d"
                                  % (where, int(np.count_nonzero(w.keep)), ns))
            w.indices = np.zeros(nt, np.uint16)
            w.indices[w.keep] = stored
        else:
            w.indices = stored
        check_arrays(w, where)
        return w

    def windows(self, ordinal):
        """Every window of a video, in order."""
        v = self.video(ordinal)
        return [self.window(ordinal, i, v["id"]) for i in range(v["windows"])]

    def find(self, video_id):
        """Ordinals of the videos with this id (an int or 16 hex digits), ascending."""
        if isinstance(video_id, str):
            video_id = int(video_id, 16)
        if self._pid != os.getpid():
            self._open()
        out = []
        with self._txn.cursor(db=self._db["id"]) as cur:
            if cur.set_range(struct.pack(">QI", video_id, 0)):
                for k in cur.iternext(values=False):
                    if len(k) != 12:
                        raise FormatError("%s: id table key of %d bytes" % (self.path, len(k)))
                    vid, ordinal = struct.unpack(">QI", k)
                    if vid != video_id:
                        break
                    out.append(ordinal)
        return out

    def records(self):
        """The records of the stream the shard was made from, in order, as read_stream()
        yields them: HEADER, VIDEO, WINDOW..., VIDEO_END per video, ALLOCATION when the
        shard has one, END."""
        yield "HEADER", self.header
        failed = total = 0
        for o in range(self.nvideos):
            v = self.video(o)
            yield "VIDEO", v["video"]
            for i in range(v["windows"]):
                yield "WINDOW", self.window(o, i, v["id"])
            total += v["windows"]
            failed += v["end"]["status"] == "error"
            yield "VIDEO_END", v["end"]
        if total != self.nwindows:
            raise FormatError("%s: %d windows, the completion marker says %d" % (self.path, total, self.nwindows))
        if self._alloc is not None:
            yield "ALLOCATION", self._alloc
        yield "END", {"videos": self.nvideos, "failed": failed, "windows": total}

    def verify(self):
        """The full check: the data's CRC-32 and every record."""
        check_trailer(self.path, full=True)
        for _ in self.records():
            pass


def read_records(path):
    """Records of a stream or a shard, told apart by their first bytes (like the tools)."""
    from .stream import read_stream
    if is_shard(path):
        with Shard(path) as s:
            yield from s.records()
    else:
        yield from read_stream(path)
