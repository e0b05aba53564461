#!/usr/bin/python3
"""Read InfoTok token shards (infotok-shard(5)) from Python, with Debian's python3-lmdb,
python3-zstandard and python3-numpy; written from the man page, independent of the C code.

    shard = Shard("shards/full-00000.itshard")       # checks trailer, format, completion
    for ordinal, video, end, nwin in shard.videos():  # VIDEO / VIDEO_END records as dicts
        for i in range(nwin):
            w = shard.window(ordinal, i)              # dict: geometry, indices, keep, elbo
                                                      # (None in a slim shard, it-pack --slim)
            kept = w["indices"][w["keep"]]            # kept tokens, raster order
    shard.find(0x81bd72350aeb08af)                    # ordinals of a video id

Open one Shard per process (an LMDB environment must not cross a fork): the example's
--workers N reads the videos of every shard in N worker processes.

    python3 read_shard.py [--check] [--workers N] SHARD...
prints, per window, the kept tokens and the keep mask in it-pack dump's TOKENS/KEEP format.
"""

import json
import multiprocessing
import struct
import sys
import zlib

import lmdb
import numpy as np
import zstandard

TRAILER = struct.Struct(">8sQIII4x")  # magic, data length, file CRC, version, trailer CRC; 32 bytes
BODY = struct.Struct("<QIIq12idfB3xfII")  # the 100-byte fixed part of a window record


class ShardError(Exception):
    pass


class Shard:
    def __init__(self, path, check_file=False):
        self.path = path
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            if size < TRAILER.size:
                raise ShardError("%s: no trailer: incomplete or not a shard" % path)
            f.seek(size - TRAILER.size)
            raw = f.read(TRAILER.size)
            magic, length, crc, version, tcrc = TRAILER.unpack(raw)
            if magic != b"ITSHARD1" or zlib.crc32(raw[:24]) != tcrc or raw[28:] != bytes(4):
                raise ShardError("%s: no valid trailer: incomplete or damaged shard" % path)
            if version != 1 or length + TRAILER.size != size:
                raise ShardError("%s: trailer says %d data bytes, file has %d" % (path, length, size - TRAILER.size))
            if check_file:
                f.seek(0)
                c, left = 0, length
                while left:
                    chunk = f.read(min(left, 1 << 20))
                    if not chunk:
                        raise ShardError("%s: truncated" % path)
                    c = zlib.crc32(chunk, c)
                    left -= len(chunk)
                if c != crc:
                    raise ShardError("%s: file CRC-32 mismatch" % path)
        self.env = lmdb.open(path, subdir=False, readonly=True, lock=False, readahead=False, max_dbs=4)
        self.db = {n: self.env.open_db(n.encode(), create=False) for n in ("meta", "video", "window", "id")}
        self.txn = self.env.begin()
        self.meta = {}
        for key in ("format", "header", "provenance", "stats", "complete", "alloc"):
            v = self.txn.get(key.encode(), db=self.db["meta"])
            if v is not None:
                self.meta[key] = json.loads(bytes(v).rstrip(b"\0"))
        fmt = self.meta.get("format", {})
        # version 1: a full shard; version 2 with "slim":true: a slim one (it-pack --slim)
        if fmt.get("format") != "infotok-shard" or (fmt.get("version"), fmt.get("slim", False)) not in (
                (1, False), (2, True)):
            raise ShardError("%s: not a token shard of version 1 (full) or 2 (slim): %r" % (path, fmt))
        self.slim = fmt["version"] == 2
        if "complete" not in self.meta:
            raise ShardError("%s: no completion marker" % path)
        self.dctx = zstandard.ZstdDecompressor()

    def videos(self):
        for ordinal in range(self.meta["complete"]["videos"]):
            v = bytes(self.txn.get(struct.pack(">I", ordinal), db=self.db["video"]))
            nwin, lv = struct.unpack_from("<II", v)
            video = json.loads(v[8 : 8 + lv - 1])
            end = json.loads(v[8 + lv : -1])
            yield ordinal, video, end, nwin

    def find(self, video_id):
        cur = self.txn.cursor(db=self.db["id"])
        out = []
        if cur.set_range(struct.pack(">QI", video_id, 0)):
            for k in cur.iternext(values=False):
                vid, ordinal = struct.unpack(">QI", bytes(k))
                if vid != video_id:
                    break
                out.append(ordinal)
        return out

    def window(self, ordinal, index):
        val = self.txn.get(struct.pack(">II", ordinal, index), db=self.db["window"])
        if val is None:
            raise ShardError("%s: no window %d of video %d" % (self.path, index, ordinal))
        val = bytes(val)
        if val[:4] != b"ITSW" or val[4] != 1 or val[5] & ~3:
            raise ShardError("%s: video %d window %d: not a version-1 record" % (self.path, ordinal, index))
        has_rate, slim = val[5] & 1, bool(val[5] & 2)
        if slim != self.slim:
            raise ShardError("%s: video %d window %d: a %s record in a %s shard" % (
                self.path, ordinal, index, "slim" if slim else "full", "slim" if self.slim else "full"))
        nbody, crc = struct.unpack_from("<II", val, 8)
        body = self.dctx.decompress(val[16:], max_output_size=nbody)
        if len(body) != nbody or zlib.crc32(body) != crc:
            raise ShardError("%s: video %d window %d: damaged record" % (self.path, ordinal, index))
        f = BODY.unpack_from(body)
        nt = f[-1]
        w = dict(video_id=f[0], video_ordinal=f[1], window_index=f[2], first_frame=f[3],
                 thw=f[4:7], padded=f[7:10], origin=f[10:13], latent=f[13:16], fps=f[16],
                 elbo_mean=f[17], strategy=f[18], rate=f[19], kept=f[20])
        # tokens stored: all NT (full record), or a slim record's kept ones (all without a rate)
        ns = w["kept"] if slim and has_rate else nt
        want = BODY.size + (2 * ns if slim else 6 * nt) + ((nt + 7) // 8 if has_rate else 0)
        if nbody != want or bool(has_rate) != bool(w["strategy"]):
            raise ShardError("%s: video %d window %d: body of %d bytes, %d expected" % (
                self.path, ordinal, index, nbody, want))
        p = BODY.size
        planes = np.frombuffer(body, np.uint8, 2 * ns, p).reshape(2, ns).astype(np.uint16)
        stored = planes[0] | (planes[1] << 8)
        p += 2 * ns
        w["elbo"] = None  # a slim record has no ELBO map
        if not slim:
            w["elbo"] = np.frombuffer(body, np.uint8, 4 * nt, p).reshape(4, nt).T.copy().view("<f4").reshape(nt)
            p += 4 * nt
        if has_rate:
            bits = np.frombuffer(body, np.uint8, (nt + 7) // 8, p)
            w["keep"] = np.unpackbits(bits, bitorder="little")[:nt].astype(bool)
        else:
            w["keep"] = np.ones(nt, bool)
        if slim:  # dropped positions read as 0, as it-pack dump prints them
            if int(w["keep"].sum()) != ns:
                raise ShardError("%s: video %d window %d: the mask keeps %d tokens, kept=%d" % (
                    self.path, ordinal, index, int(w["keep"].sum()), ns))
            w["indices"] = np.zeros(nt, np.uint16)
            w["indices"][w["keep"]] = stored
        else:
            w["indices"] = stored
        return w


def window_lines(shard, ordinal, nwin):
    """TOKENS/KEEP lines of one video's windows, as it-pack dump prints them."""
    out = []
    for i in range(nwin):
        w = shard.window(ordinal, i)
        out.append("TOKENS\t" + " ".join(str(int(x)) for x in w["indices"]))
        if w["strategy"]:
            out.append("KEEP\t" + "".join("1" if k else "0" for k in w["keep"]))
    return out


def dump_lines(path):
    """TOKENS/KEEP lines of every window of a shard."""
    s = Shard(path)
    return [line for ordinal, _v, _e, nwin in s.videos() for line in window_lines(s, ordinal, nwin)]


def _video_lines(args):
    path, ordinal = args
    s = Shard(path)  # one environment per worker process
    _o, _v, _e, nwin = next(x for x in s.videos() if x[0] == ordinal)
    return window_lines(s, ordinal, nwin)


def main(argv):
    workers, check, paths = 0, False, []
    it = iter(argv)
    for a in it:
        if a == "--workers":
            workers = int(next(it))
        elif a == "--check":
            check = True
        else:
            paths.append(a)
    if check:
        for p in paths:
            Shard(p, check_file=True)
    if workers:
        jobs = [(p, o) for p in paths for o, *_ in Shard(p).videos()]
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for lines in pool.map(_video_lines, jobs):
                print("\n".join(lines))
    else:
        for p in paths:
            print("\n".join(dump_lines(p)))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except ShardError as e:
        sys.exit("read_shard.py: %s" % e)
