#!/usr/bin/env python3
"""Read an infotok token stream (infotok-stream(5)) in Python with numpy only: every record's
CRC is checked, the stream must end with its END record, and each window's tokens come out
as numpy arrays. A trainer's data loader can start from `videos()`.

    python3 examples/read_stream.py STREAM.itok      # one line per video: id, windows, tokens

Written from the format's man page, independently of the C reader (the test suite compares
the two)."""
import json
import struct
import sys
import zlib

import numpy as np

REC = {1: "HEADER", 2: "VIDEO", 3: "WINDOW", 4: "VIDEO_END", 5: "ALLOCATION", 6: "END"}
WINDOW_HEAD = struct.Struct("<QIIq12idfBBHfI")  # fixed part of a WINDOW payload


class StreamError(Exception):
    pass


def records(f):
    """Yield (type name, payload bytes); raise StreamError on damage or an incomplete stream."""
    head = f.read(16)
    if len(head) < 16 or head[:8] != b"ITOKSTRM":
        raise StreamError("not a token stream")
    version, flags = struct.unpack("<II", head[8:])
    if version != 1 or flags != 0:
        raise StreamError("unsupported version %d flags %d" % (version, flags))
    n = 0
    while True:
        frame = f.read(12)
        if not frame:
            raise StreamError("the stream is incomplete: no END record after %d records" % n)
        if len(frame) < 12 or frame[:4] != b"ITRC":
            raise StreamError("record %d: bad frame" % (n + 1))
        rtype, zero, length = struct.unpack("<HHI", frame[4:])
        payload = f.read(length)
        crc = f.read(4)
        if len(payload) < length or len(crc) < 4:
            raise StreamError("record %d: truncated: the stream is incomplete" % (n + 1))
        if zlib.crc32(frame[4:] + payload) != struct.unpack("<I", crc)[0]:
            raise StreamError("record %d: checksum mismatch" % (n + 1))
        n += 1
        name = REC.get(rtype)
        if name is None or zero:
            raise StreamError("record %d: unknown type %d" % (n, rtype))
        yield name, payload
        if name == "END":
            if f.read(1):
                raise StreamError("bytes after END")
            return


def parse_window(p):
    (video_id, ordinal, index, first, t, h, w, pt, ph, pw, t0, h0, w0, lt, lh, lw, fps, elbo_mean,
     strategy, _r0, _r1, rate, kept) = WINDOW_HEAD.unpack_from(p)
    nt = lt * lh * lw
    off = WINDOW_HEAD.size
    indices = np.frombuffer(p, "<u2", nt, off).reshape(lt, lh, lw)
    off += 2 * nt
    elbo = np.frombuffer(p, "<f4", nt, off).reshape(lt, lh, lw)
    off += 4 * nt
    win = dict(video_ordinal=ordinal, index=index, first_frame=first, frames=t, fps=fps,
               latent=(lt, lh, lw), crop=(t0, h0, w0, t, h, w), padded=(pt, ph, pw),
               indices=indices, elbo=elbo, elbo_mean=elbo_mean, strategy=strategy)
    if strategy:
        bits = np.frombuffer(p, np.uint8, (nt + 7) // 8, off)
        keep = np.unpackbits(bits, bitorder="little")[:nt].astype(bool).reshape(lt, lh, lw)
        off += (nt + 7) // 8
        tokens = np.frombuffer(p, "<u2", kept, off)
        if not np.array_equal(tokens, indices[keep]):
            raise StreamError("window %d: kept tokens differ from the indices under the mask" % index)
        win.update(rate=rate, keep=keep, tokens=tokens)
    else:
        win.update(rate=1.0, keep=np.ones((lt, lh, lw), bool), tokens=indices.reshape(-1))
    return win


def videos(f):
    """Yield (VIDEO json, VIDEO_END json, [windows]) per video, in stream order."""
    video, wins = None, []
    for name, p in records(f):
        if name == "VIDEO":
            video, wins = json.loads(p), []
        elif name == "WINDOW":
            wins.append(parse_window(p))
        elif name == "VIDEO_END":
            yield video, json.loads(p), wins


def main():
    with open(sys.argv[1], "rb") as f:
        for video, end, wins in videos(f):
            tokens = sum(int(w["tokens"].size) for w in wins)
            print("%s %s windows %d tokens %d" % (video["id"], end["status"], len(wins), tokens))


if __name__ == "__main__":
    try:
        main()
    except StreamError as e:
        sys.exit("read_stream.py: %s: %s" % (sys.argv[1], e))
