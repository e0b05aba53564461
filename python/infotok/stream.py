"""Reader of token streams (infotok-stream(5), .itok), written from the man page.

    for kind, rec in infotok.read_stream("corpus.itok"):
        # kind: "HEADER" | "VIDEO" | "VIDEO_END" | "END" (rec: dict from the JSON),
        #       "WINDOW" (rec: Window), "ALLOCATION" (rec: Allocation)

Every rule of the page is checked (CRC-32 of every record, the record sequence, the JSON
keys that are required, every WINDOW invariant, END's counts, nothing after END); a stream
cut short raises IncompleteError, never passes for a shorter complete one.
"""

import json
import struct
import sys
import zlib

import numpy as np

from .errors import ChecksumError, FormatError, IncompleteError
from .records import ALLOC, Allocation, Window, check_arrays, check_geometry, unpack_mask, STRATEGIES

MAGIC = b"ITOKSTRM"
MAX_PAYLOAD = 256 << 20
TYPES = {1: "HEADER", 2: "VIDEO", 3: "WINDOW", 4: "VIDEO_END", 5: "ALLOCATION", 6: "END"}
WINDOW_HEAD = struct.Struct("<QIIq12idfBBHfI")  # the 96-byte fixed part of a WINDOW payload
_FRAME = struct.Struct("<4sHHI")


def _no_dups(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError("duplicate key %r" % k)
        d[k] = v
    return d


def _bad_constant(name):
    raise ValueError("%s is not JSON" % name)


def _has_nul(v):
    if isinstance(v, str):
        return "\0" in v
    if isinstance(v, dict):
        return any("\0" in k or _has_nul(x) for k, x in v.items())
    if isinstance(v, list):
        return any(_has_nul(x) for x in v)
    return False


def parse_json(payload, where):
    """One JSON object, UTF-8, no NUL byte or \\u0000, no duplicate keys."""
    try:
        if b"\0" in payload:
            raise ValueError("a NUL byte")
        obj = json.loads(payload.decode("utf-8"), object_pairs_hook=_no_dups, parse_constant=_bad_constant)
        if not isinstance(obj, dict):
            raise ValueError("not an object")
        if _has_nul(obj):
            raise ValueError("a \\u0000 escape")
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError("%s: bad JSON: %s" % (where, e)) from None
    return obj


def _int(obj, key, where, kind):
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        raise FormatError("%s: %s without an integer %s" % (where, kind, key))
    return v


def _id(obj, where, kind):
    v = obj.get("id")
    if not (isinstance(v, str) and len(v) == 16 and all(c in "0123456789abcdef" for c in v)):
        raise FormatError("%s: %s without an id of 16 lowercase hex digits" % (where, kind))
    return int(v, 16)


def parse_window(payload, where, with_copy=True):
    """A WINDOW payload -> Window, every rule checked (with_copy: the stream's kept_tokens copy
    follows the mask)."""
    if len(payload) < WINDOW_HEAD.size:
        raise FormatError("%s: WINDOW payload of %d bytes, less than %d" % (where, len(payload), WINDOW_HEAD.size))
    f = WINDOW_HEAD.unpack_from(payload)
    w = Window(video_id=f[0], video_ordinal=f[1], window_index=f[2], first_frame=f[3],
               **dict(zip(("t", "h", "w", "pt", "ph", "pw", "t0", "h0", "w0", "lt", "lh", "lw"), f[4:16])),
               fps=f[16], elbo_mean=np.float32(f[17]), strategy=f[18], rate=np.float32(f[21]), kept=f[22])
    if f[19] or f[20]:
        raise FormatError("%s: reserved bytes are not zero" % where)
    nt = check_geometry(w, where)
    want = 96 + 6 * nt + ((nt + 7) // 8 + 2 * w.kept if w.strategy else 0)
    if len(payload) != want:
        raise FormatError("%s: WINDOW payload of %d bytes, %d expected for %d tokens (strategy %s, kept %d)"
                          % (where, len(payload), want, nt, STRATEGIES[w.strategy], w.kept))
    w.indices = np.frombuffer(payload, "<u2", nt, 96).astype(np.uint16)
    w.elbo = np.frombuffer(payload, "<f4", nt, 96 + 2 * nt).astype(np.float32)
    if w.strategy:
        p = 96 + 6 * nt
        w.keep = unpack_mask(payload[p:p + (nt + 7) // 8], nt, where)
    check_arrays(w, where)
    if w.strategy:
        p += (nt + 7) // 8
        copy = np.frombuffer(payload, "<u2", w.kept, p)
        if not np.array_equal(copy, w.indices[w.keep]):
            raise FormatError("%s: kept_tokens disagree with the indices at the kept positions" % where)
    return w


def parse_allocation(payload, where):
    from .rate import ElboStat
    if len(payload) != ALLOC.size:
        raise FormatError("%s: ALLOCATION payload of %d bytes, 24 expected" % (where, len(payload)))
    strategy, z1, z2, avg, count, sum_fixed = ALLOC.unpack(payload)
    if z1 or z2:
        raise FormatError("%s: reserved bytes are not zero" % where)
    if strategy not in (1, 2, 3):
        raise FormatError("%s: ALLOCATION with strategy %d" % (where, strategy))
    if not (0.0625 <= avg <= 1.0):
        raise FormatError("%s: avg_rate %r outside [0.0625, 1]" % (where, avg))
    if count == 0 or sum_fixed < 0:
        raise FormatError("%s: elbo_count %d, elbo_sum_fixed %d (need > 0 and >= 0)" % (where, count, sum_fixed))
    return Allocation(strategy, avg, ElboStat(count, sum_fixed))


class _Source:
    """Reads exactly n bytes, in pieces, so that a lying length costs only the data present."""

    def __init__(self, f):
        self.f = f
        self.off = 0

    def read(self, n):
        parts, left = [], n
        while left:
            b = self.f.read(min(left, 1 << 20))
            if not b:
                break
            parts.append(b)
            left -= len(b)
        b = b"".join(parts)
        self.off += len(b)
        return b


def _open(src):
    if src == "-" or src is None:
        return sys.stdin.buffer, "stdin", False
    if isinstance(src, (str, bytes)) or hasattr(src, "__fspath__"):
        return open(src, "rb"), str(src), True
    return src, getattr(src, "name", "stream"), False


def read_stream(src, name=None):
    """Yield (kind, record) for every record of the stream src (a path, "-" for stdin, or a
    binary file object). Raises FormatError, ChecksumError or IncompleteError naming the
    stream and the 1-based record number."""
    f, fname, close = _open(src)
    name = name or fname
    try:
        yield from _records(_Source(f), name)
    finally:
        if close:
            f.close()


def _records(src, name):
    head = src.read(16)
    if len(head) < 8 or head[:8] != MAGIC:
        if MAGIC.startswith(head):
            raise IncompleteError("%s: truncated before the end of the file header (the stream is incomplete)" % name)
        raise FormatError("%s: not a token stream (no ITOKSTRM magic)" % name)
    if len(head) < 16:
        raise IncompleteError("%s: truncated in the file header (the stream is incomplete)" % name)
    version, flags = struct.unpack_from("<II", head, 8)
    if version != 1 or flags != 0:
        raise FormatError("%s: version %d, flags %#x: only version 1 without flags is known" % (name, version, flags))
    n = 0
    state = "start"          # start, between (no video open), video (open), alloc, end
    video = None             # (ordinal, id, windows so far)
    videos = failed = windows = 0
    while True:
        frame = src.read(12)
        n += 1
        where = "%s: record %d" % (name, n)
        if not frame:
            raise IncompleteError("%s: ends after record %d without its END record (the stream is incomplete)"
                                  % (name, n - 1))
        if len(frame) < 12:
            raise IncompleteError("%s: truncated (the stream is incomplete)" % where)
        magic, typ, zero, length = _FRAME.unpack(frame)
        if magic != b"ITRC":
            raise FormatError("%s: no ITRC record magic at byte %d" % (where, src.off - 12))
        if zero:
            raise FormatError("%s: reserved field is %d, not 0" % (where, zero))
        if typ not in TYPES:
            raise FormatError("%s: unknown record type %d" % (where, typ))
        if length > MAX_PAYLOAD:
            raise FormatError("%s: payload length %d above the limit %d" % (where, length, MAX_PAYLOAD))
        payload = src.read(length)
        tail = src.read(4)
        if len(payload) < length or len(tail) < 4:
            raise IncompleteError("%s: truncated inside the record (the stream is incomplete)" % where)
        crc, = struct.unpack("<I", tail)
        if zlib.crc32(payload, zlib.crc32(frame[4:])) != crc:
            raise ChecksumError("%s: CRC-32 mismatch: the record is damaged" % where)
        kind = TYPES[typ]
        where = "%s (%s)" % (where, kind)
        if state == "start" and kind != "HEADER":
            raise FormatError("%s: the first record must be HEADER" % where)
        if kind == "HEADER":
            if state != "start":
                raise FormatError("%s: a second HEADER" % where)
            rec = parse_json(payload, where)
            state = "between"
        elif kind == "VIDEO":
            if state != "between":
                raise FormatError("%s: VIDEO %s" % (where, "inside an open video" if state == "video" else
                                                    "after the ALLOCATION record"))
            rec = parse_json(payload, where)
            o, vid = _int(rec, "ordinal", where, "VIDEO"), _id(rec, where, "VIDEO")
            if o != videos:
                raise FormatError("%s: ordinal %d, expected %d" % (where, o, videos))
            video, state = [o, vid, 0], "video"
            videos += 1
        elif kind == "WINDOW":
            if state != "video":
                raise FormatError("%s: WINDOW outside a video" % where)
            rec = parse_window(payload, where)
            if rec.video_ordinal != video[0] or rec.video_id != video[1] or rec.window_index != video[2]:
                raise FormatError("%s: window %d of video %d (%016x), expected window %d of video %d (%016x)"
                                  % (where, rec.window_index, rec.video_ordinal, rec.video_id, video[2], video[0],
                                     video[1]))
            video[2] += 1
            windows += 1
        elif kind == "VIDEO_END":
            if state != "video":
                raise FormatError("%s: VIDEO_END without an open video" % where)
            rec = parse_json(payload, where)
            o, vid = _int(rec, "ordinal", where, "VIDEO_END"), _id(rec, where, "VIDEO_END")
            if (o, vid) != (video[0], video[1]):
                raise FormatError("%s: closes video %d (%016x), the open one is %d (%016x)"
                                  % (where, o, vid, video[0], video[1]))
            status = rec.get("status")
            if status not in ("ok", "error"):
                raise FormatError("%s: status %r (expected \"ok\" or \"error\")" % (where, status))
            if status == "error":
                failed += 1
                if not isinstance(rec.get("error"), str):
                    raise FormatError("%s: status error without an error message" % where)
            if _int(rec, "windows", where, "VIDEO_END") != video[2]:
                raise FormatError("%s: windows %d, the video had %d" % (where, rec["windows"], video[2]))
            if _int(rec, "frames", where, "VIDEO_END") < 0:
                raise FormatError("%s: frames %d < 0" % (where, rec["frames"]))
            state = "between"
        elif kind == "ALLOCATION":
            if state != "between":
                raise FormatError("%s: ALLOCATION %s" % (where, "inside an open video" if state == "video" else
                                                         "twice"))
            rec = parse_allocation(payload, where)
            state = "alloc"
        else:  # END
            if state == "video":
                raise FormatError("%s: END inside an open video" % where)
            rec = parse_json(payload, where)
            for key, have in (("videos", videos), ("failed", failed), ("windows", windows)):
                if _int(rec, key, where, "END") != have:
                    raise FormatError("%s: %s %d, the stream has %d" % (where, key, rec[key], have))
            state = "end"
        if state == "end":
            if src.read(1):
                raise FormatError("%s: bytes after the END record" % name)
            yield kind, rec
            return
        yield kind, rec


class Stream:
    """A whole stream in memory, grouped: header, videos (list of dicts with "video", "end",
    "windows"), allocation (Allocation or None) and end (dict). For big streams iterate
    read_stream() instead."""

    def __init__(self, src, name=None):
        self.header, self.videos, self.allocation, self.end = None, [], None, None
        for kind, rec in read_stream(src, name):
            if kind == "HEADER":
                self.header = rec
            elif kind == "VIDEO":
                self.videos.append({"video": rec, "windows": [], "end": None})
            elif kind == "WINDOW":
                self.videos[-1]["windows"].append(rec)
            elif kind == "VIDEO_END":
                self.videos[-1]["end"] = rec
            elif kind == "ALLOCATION":
                self.allocation = rec
            else:
                self.end = rec


def is_stream(path):
    with open(path, "rb") as f:
        return f.read(8) == MAGIC
