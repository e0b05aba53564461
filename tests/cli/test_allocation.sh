#!/bin/sh
# test_allocation: one allocation policy (infotok(7), RATE ALLOCATION) in every tool. For
# full-rate streams, for shard sets packed apart, and for a shard that was allocated over a
# larger corpus (its ALLOCATION record names that corpus), the masks agree between it-encode,
# it-pack, it-decode (its frames equal the frames of it-pack's re-allocated shard) and
# it-stats (PSNR, SSIM and actual rate equal those of the re-allocated shard), and the Python
# package (python/, written from the man pages) re-allocating the same inputs.
. "$top_srcdir/tests/cli/lib.sh"
need_gen
need_opencv
V=$GEN/videos
ENC="it-encode -q --crop 48x48"
cd "$TMP" || hard "no temp dir"
for f in h264.mp4 vp9.webm long.mkv; do ln -s "$V/$f" "$f" || hard "cannot link $f"; done
# real footage: its windows' ELBO differs from the synthetic clips', so the corpus statistic
# of a part differs from the whole's and a tool taking the wrong one shows
ln -s "$OPENCV/tree.avi" tree.avi || hard "cannot link tree.avi"
masks() { it-pack dump "$@" | grep -E '^(VIDEO	|TOKENS|KEEP)' | sed 's/"ordinal":[0-9]*,//'; }
# every video's frames, in id order (it-decode writes one file per video into a directory)
frames() { d=$1; shift; it-decode -q --format raw -o "$d/" "$@" && cat "$d"/*; }
# it-stats' quality rows without the strategy/rate columns (stored masks vs re-allocated)
quality() { it-stats -q --psnr "$@" | grep -E '^(PS|PV)' | cut -f 4-; }
# the Python package's dump (Debian's python3 with numpy, lmdb, zstandard); its window lines
# equal it-pack dump's, compared without the ordinals (a set's differ from its inputs')
PY=/usr/bin/python3
pydump() { PYTHONPATH=$top_srcdir/python PYTHONDONTWRITEBYTECODE=1 $PY -m infotok dump "$@"; }
wmasks() { grep -E '^(WINDOW|TOKENS|KEEP)' | sed 's/^WINDOW	video=[0-9]* /WINDOW	/'; }
have_py=0
PYTHONPATH=$top_srcdir/python $PY -c 'import infotok' 2>/dev/null && have_py=1 ||
  echo "python3-numpy/lmdb/zstandard missing: the Python package's masks are not compared" >&2

$ENC --full-rate -o a.itok h264.mp4 vp9.webm || hard "it-encode failed"
$ENC --full-rate -o b.itok long.mkv tree.avi || hard "it-encode failed"
it-pack -q -o s/a a.itok && it-pack -q -o s/b b.itok || hard "it-pack failed"

# check NAME R INPUTS...: it-pack's global_elbo re-allocation of INPUTS at rate R is the
# reference; it-decode and it-stats re-allocating the same INPUTS must match it.
check() {
  name=$1 r=$2; shift 2
  it-pack -q -o "ref-$name" --avg-rate "$r" "$@" || { fail "$name: it-pack failed"; return; }
  ref=ref-$name-00000.itshard
  frames "d-$name-want" "$ref" >"$name.want" || fail "$name: decoding the reference failed"
  frames "d-$name-got" --avg-rate "$r" "$@" >"$name.got" || fail "$name: it-decode --avg-rate failed"
  [ -s "$name.want" ] && cmp -s "$name.want" "$name.got" || fail "$name: it-decode's masks differ from it-pack's"
  quality "$ref" >"$name.qwant" || fail "$name: it-stats on the reference failed"
  quality --rates "$r" --strategy global_elbo "$@" >"$name.qgot" || fail "$name: it-stats --rates failed"
  [ -s "$name.qwant" ] && cmp -s "$name.qwant" "$name.qgot" || fail "$name: it-stats' masks differ from it-pack's"
  if [ $have_py = 1 ]; then
    it-pack dump "$ref" | wmasks >"$name.pwant"
    pydump --avg-rate "$r" "$@" | wmasks >"$name.pgot" || fail "$name: python3 -m infotok dump failed"
    [ -s "$name.pwant" ] && cmp -s "$name.pwant" "$name.pgot" || fail "$name: the Python package's masks differ from it-pack's"
  fi
}

# 1. Full-rate streams: the statistic of their windows, as it-encode computes it.
$ENC --strategy global_elbo --avg-rate 0.5 -o g.itok h264.mp4 vp9.webm long.mkv tree.avi || hard "it-encode failed"
it-pack -q -o ref-enc --avg-rate 0.5 a.itok b.itok || fail "it-pack failed"
masks ref-enc-00000.itshard >enc.want
masks g.itok | cmp -s - enc.want || fail "it-pack's global_elbo differs from it-encode's"
check streams 0.5 a.itok b.itok
if [ $have_py = 1 ]; then
  # the stored masks of it-encode's stream (with its ALLOCATION record), read by Python
  it-pack dump g.itok | wmasks >g.want
  pydump g.itok | wmasks | cmp -s - g.want || fail "the Python reader's masks of it-encode's stream differ"
  pydump --avg-rate 0.5 a.itok b.itok | wmasks | cmp -s - g.want || fail "Python's global_elbo differs from it-encode's"
  # rate 1 puts the bound on the map's minimum: ties with the bound are dropped by everyone
  it-pack -q -o p1 --avg-rate 1 --strategy static a.itok || fail "it-pack --avg-rate 1 failed"
  it-pack dump p1-00000.itshard | wmasks >p1.want
  pydump --avg-rate 1 --strategy static a.itok | wmasks | cmp -s - p1.want || fail "Python's masks at rate 1 differ"
fi

# 2. A shard set packed apart, without ALLOCATION records: their stored sums.
check shards 0.25 s/a-00000.itshard s/b-00000.itshard

# 3. Shards allocated over the whole corpus, then one of them alone: every tool takes the
# statistic from its ALLOCATION record (the corpus), none from its own windows.
it-pack elbo-stat a.itok b.itok >all.json || fail "elbo-stat failed"
it-pack -q -o s/ga --avg-rate 0.5 --elbo-stat all.json s/a-00000.itshard || fail "allocation of set a failed"
check one-of-many 0.25 s/ga-00000.itshard
it-pack -q -o own --avg-rate 0.25 --elbo-stat all.json s/a-00000.itshard || fail "it-pack --elbo-stat failed"
masks own-00000.itshard >own.m
masks ref-one-of-many-00000.itshard | cmp -s - own.m || fail "a shard's ALLOCATION record did not stand for its corpus"
it-pack elbo-stat s/a-00000.itshard >part.json && it-pack -q -o part --avg-rate 0.25 --elbo-stat part.json s/a-00000.itshard ||
  fail "allocation over the shard's own windows failed"
masks part-00000.itshard | cmp -s - own.m && fail "the test is blind: the shard's own statistic gives the corpus's masks"
# ... and packing it again without options keeps its masks
it-pack -q -o again s/ga-00000.itshard || fail "re-packing an allocated shard failed"
masks s/ga-00000.itshard >ga.m
masks again-00000.itshard | cmp -s - ga.m || fail "re-packing an allocated shard changed its masks"

# 4. Inputs that disagree are refused by every tool, naming them.
expect_status 3 it-pack -q -o bad --avg-rate 0.5 s/ga-00000.itshard b.itok 2>err.pack
expect_status 3 it-decode -q -o bad.raw --format raw --avg-rate 0.5 s/ga-00000.itshard b.itok 2>err.decode
expect_status 3 it-stats -q --psnr --rates 0.5 --strategy global_elbo s/ga-00000.itshard b.itok >/dev/null 2>err.stats
for t in pack decode stats; do
  grep -q 'ga-00000.itshard' "err.$t" && grep -q 'elbo-stat' "err.$t" || fail "it-$t: a mixture was not refused by name"
done
if [ $have_py = 1 ]; then
  expect_status 3 pydump --avg-rate 0.5 s/ga-00000.itshard b.itok >/dev/null 2>err.py
  grep -q 'ga-00000.itshard' err.py && grep -q 'elbo_stat' err.py || fail "Python: a mixture was not refused by name"
fi
ls | grep -q '^bad' && fail "a refused run left files"
finish
