"""python3 -m infotok: small command-line uses of the package.

  python3 -m infotok dump [--elbo] [--avg-rate R [--strategy S] [--elbo-stat FILE] | --full-rate] INPUT...
      Every window of streams or shards in it-pack dump's WINDOW/TOKENS/KEEP(/ELBO) line format
      (VIDEO, VIDEO_END and END as compact JSON), re-allocated when asked: the lines of the
      windows equal it-pack dump's, byte for byte, for the same records and allocation.
  python3 -m infotok verify SHARD...
      The full check of shards (data CRC-32 and every record) or streams.
  python3 -m infotok elbo-stat INPUT...
      The corpus statistic of the inputs' own windows, as it-pack elbo-stat prints it.
"""

import argparse
import json
import sys

from .dataset import resolve_allocation
from .errors import InfotokError
from .rate import ElboStat, apply, input_stat
from .records import STRATEGIES
from .shard import Shard, is_shard, read_records


def window_lines(w, elbo=False):
    nt = w.nt
    out = ["WINDOW\tvideo=%d window=%d first_frame=%d thw=%dx%dx%d padded=%dx%dx%d origin=%d,%d,%d "
           "latent=%dx%dx%d fps=%.9g elbo_mean=%.9g strategy=%s rate=%.9g kept=%d"
           % (w.video_ordinal, w.window_index, w.first_frame, w.t, w.h, w.w, w.pt, w.ph, w.pw, w.t0, w.h0, w.w0,
              w.lt, w.lh, w.lw, w.fps, float(w.elbo_mean), STRATEGIES[w.strategy], float(w.rate),
              w.kept if w.strategy else nt),
           "TOKENS\t" + " ".join(map(str, w.indices.tolist()))]
    if w.keep is not None:
        out.append("KEEP\t" + "".join("1" if k else "0" for k in w.keep.tolist()))
    if elbo and w.elbo is None:
        out.append("ELBO\tnone")  # a slim shard's record, as it-pack dump --elbo prints it
    elif elbo:
        out.append("ELBO\t" + " ".join("%.9g" % x for x in w.elbo.tolist()))
    return out


def alloc_line(a):
    return ("ALLOCATION\tstrategy=%s avg_rate=%.9g elbo_count=%d elbo_sum_fixed=%d"
            % (a.strategy_name, float(a.avg_rate), a.stat.count, a.stat.sum_fixed))


def _j(d):
    return json.dumps(d, separators=(",", ":"))


def dump(args):
    alloc = resolve_allocation(args.inputs, args.avg_rate, args.strategy, args.elbo_stat, args.full_rate)
    for path in args.inputs:
        for kind, rec in read_records(path):
            if kind == "WINDOW":
                print("\n".join(window_lines(apply(rec, alloc) if alloc else rec, args.elbo)))
            elif kind == "ALLOCATION":
                if alloc is None:  # re-allocated: the allocation's own record replaces it (below)
                    print(alloc_line(rec))
            else:
                if kind == "END" and alloc is not None and alloc.strategy == 3 and alloc.stat.count:
                    print(alloc_line(alloc))
                print("%s\t%s" % (kind, _j(rec)))


def verify(args):
    bad = 0
    for path in args.inputs:
        try:
            if is_shard(path):
                Shard(path).verify()
            else:
                for _ in read_records(path):
                    pass
            print("%s\tok" % path)
        except InfotokError as e:
            print("python3 -m infotok: %s" % e, file=sys.stderr)
            bad += 1
    return 1 if bad else 0


def elbo_stat(args):
    total = ElboStat()
    for path in args.inputs:
        total.merge(input_stat(path)[0])
    print(total.to_json())


def main(argv=None):
    p = argparse.ArgumentParser(prog="python3 -m infotok", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump", help="windows as it-pack dump prints them")
    d.add_argument("--elbo", action="store_true")
    d.add_argument("--avg-rate", type=float)
    d.add_argument("--strategy", default="global_elbo", choices=STRATEGIES[1:])
    d.add_argument("--elbo-stat")
    d.add_argument("--full-rate", action="store_true")
    d.add_argument("inputs", nargs="+")
    v = sub.add_parser("verify", help="full check of shards and streams")
    v.add_argument("inputs", nargs="+")
    e = sub.add_parser("elbo-stat", help="the corpus statistic of the inputs' own windows")
    e.add_argument("inputs", nargs="+")
    args = p.parse_args(argv)
    try:
        return {"dump": dump, "verify": verify, "elbo-stat": elbo_stat}[args.cmd](args) or 0
    except InfotokError as e:
        print("python3 -m infotok: %s" % e, file=sys.stderr)
        return 3
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
