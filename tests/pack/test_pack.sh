#!/bin/sh
# test_pack: it-pack on real clips (the generated corpus through it-encode with the bundled
# model): shards hold exactly the stream's records, re-allocation equals it-encode's bit for
# bit (also global_elbo reduced over separately packed shard sets), merge, exports read back
# by independent readers, the Python reader (also from worker processes), damage detection.
. "$top_srcdir/tests/cli/lib.sh"
need_gen
PY=/usr/bin/python3
V=$GEN/videos
ENC="it-encode -q --crop 48x48"
cd "$TMP" || hard "no temp dir"

# Two streams, full rate, over four real clips.
$ENC --full-rate -o a.itok "$V/h264.mp4" "$V/vp9.webm" || hard "it-encode failed"
$ENC --full-rate -o b.itok "$V/long.mkv" "$V/mpeg4.avi" || hard "it-encode failed"
nohead() { grep -v '^HEADER' "$@"; }

# 1. A shard is the stream it was made from (every record, field and token).
expect_status 0 it-pack -q -o s/a a.itok
[ -f s/a-00000.itshard ] && [ ! -e s/a-00000.itshard.partial ] || fail "no finished shard"
it-pack dump a.itok >a.dump && it-pack dump --elbo s/a-00000.itshard >s.dump.elbo && it-pack dump s/a-00000.itshard >s.dump \
  || fail "dump failed"
cmp -s a.dump s.dump || fail "shard dump differs from the stream dump"
it-pack dump --elbo a.itok | cmp -s - s.dump.elbo || fail "ELBO maps differ between shard and stream"
it-pack verify s/a-00000.itshard >v.txt || fail "verify refused a good shard"
grep -q '^ok' v.txt || fail "verify did not say ok"
it-pack list s/a-00000.itshard >list.txt || fail "list failed"
[ "$(grep -c '	ok	' list.txt)" = 2 ] || fail "list: expected 2 videos: $(cat list.txt)"

# 2. Re-allocation equals it-encode's allocation (static and global_elbo).
$ENC --strategy static --avg-rate 0.5 -o st.itok "$V/h264.mp4" "$V/vp9.webm" || hard "it-encode failed"
it-pack -q -o s/st --strategy static --avg-rate 0.5 s/a-00000.itshard || fail "re-allocation failed"
it-pack dump st.itok | nohead >st.dump
it-pack dump s/st-00000.itshard | nohead | cmp -s - st.dump || fail "static re-allocation differs from it-encode's"
$ENC --strategy global_elbo --avg-rate 0.5 -o g.itok "$V/h264.mp4" "$V/vp9.webm" "$V/long.mkv" "$V/mpeg4.avi" \
  || hard "it-encode failed"
it-pack dump g.itok | nohead >g.dump
# ... reduced over two shard sets packed apart (the sharded pipeline)
expect_status 0 it-pack -q -o s/b b.itok
it-pack elbo-stat s/a-00000.itshard s/b-00000.itshard >stat.json || fail "elbo-stat failed"
it-pack elbo-stat a.itok b.itok | cmp -s - stat.json || fail "elbo-stat from shards differs from the streams'"
it-pack -q -o s/ga --avg-rate 0.5 --elbo-stat stat.json s/a-00000.itshard || fail "allocation of set a failed"
it-pack -q -o s/gb --avg-rate 0.5 --elbo-stat stat.json s/b-00000.itshard || fail "allocation of set b failed"
it-pack merge -q -o s/gm s/ga-00000.itshard s/gb-00000.itshard || fail "merge failed"
it-pack dump s/gm-00000.itshard | nohead | cmp -s - g.dump || fail "sharded global_elbo differs from it-encode's"
# ... and computed from the inputs when no statistic is given
it-pack -q -o s/g2 --avg-rate 0.5 a.itok b.itok || fail "global_elbo over two streams failed"
it-pack dump s/g2-00000.itshard | nohead | cmp -s - g.dump || fail "global_elbo over streams differs"
# a global_elbo stream packs as it is (re-allocated over the same corpus: the same masks) ...
it-pack -q -o s/asis g.itok || fail "packing a global_elbo stream failed"
it-pack dump s/asis-00000.itshard | nohead | cmp -s - g.dump || fail "a global_elbo stream packed as is differs"
# ... but not from stdin (its statistic is at its end), nor with inputs of another corpus
expect_status 3 it-pack -q -o s/bad - <g.itok 2>err.txt
grep -q 'global_elbo' err.txt || fail "no reason given for refusing a global_elbo stream on stdin"
# (inputs allocated over the same corpus keep their masks: two copies of one stream)
it-pack -q -o s/twice g.itok g.itok || fail "packing two copies of a global_elbo stream failed"
it-pack dump g.itok g.itok | nohead | grep -E '^(TOKENS|KEEP)' >twice.want
it-pack dump s/twice-00000.itshard | nohead | grep -E '^(TOKENS|KEEP)' | cmp -s - twice.want ||
  fail "copies of a global_elbo stream lost their masks"
$ENC --strategy global_elbo --avg-rate 0.5 -o g3.itok "$V/h264.mp4" || hard "it-encode failed"
expect_status 3 it-pack -q --shard-size 1K -o s/bad g.itok g3.itok 2>err.txt
grep -q 'different corpora' err.txt || fail "no reason given for refusing streams allocated over other corpora"
ls s | grep -q '^bad' && fail "a refused run left files"

# 3. Small shards: several files, whole videos each; merging them back gives one.
it-pack -q -o s/small --shard-size 1K a.itok b.itok || fail "small shards failed"
n=$(ls s/small-*.itshard | wc -l)
[ "$n" -ge 2 ] || fail "--shard-size 1K made $n shard(s)"
it-pack merge -q -o s/back s/small-*.itshard || fail "merge of small shards failed"
# (ordinals are the shard's own, so compare the records' contents)
tokens() { it-pack dump --elbo "$@" | grep -E '^(TOKENS|KEEP|ELBO)'; }
tokens a.itok b.itok >ab.want
tokens s/back-00000.itshard | cmp -s - ab.want || fail "merged small shards differ from the streams"
[ "$(it-pack list s/back-00000.itshard | grep -c '	ok	')" = 4 ] || fail "merged shard: expected 4 videos"
expect_status 3 it-pack -q -o s/small a.itok 2>err.txt
grep -q 'exists' err.txt || fail "overwriting existing shards was not refused"

# 4. Exports, read back by readers written from the formats' documentation.
it-pack export -q --format megatron -o ex/m s/gm-00000.itshard || fail "megatron export failed"
it-pack export -q --format npy -o ex/n s/gm-00000.itshard || fail "npy export failed"
it-pack export -q --format wds -o ex/w s/gm-00000.itshard || fail "wds export failed"
ls ex | grep -q 'tmp' && fail "an export left temporary files"
$PY "$top_srcdir/tests/pack/read_megatron.py" ex/m >m.txt || fail "Megatron reader failed"
$PY - ex/n ex/w.tar s/gm-00000.itshard "$top_srcdir/examples" >other.txt <<'EOF' || fail "npy/wds readers failed"
import io, sys, tarfile
import numpy as np
sys.path.insert(0, sys.argv[4])
import read_shard
npy, tar, shard = sys.argv[1:4]
tok, off = np.load(npy + ".tokens.npy"), np.load(npy + ".offsets.npy")
s = read_shard.Shard(shard)
want = []
for o, _v, _e, n in s.videos():
    ws = [s.window(o, i) for i in range(n)]
    want.append(np.concatenate([w["indices"][w["keep"]] for w in ws]))
assert len(off) == len(want) + 1 and off[0] == 0
for i, w in enumerate(want):
    assert np.array_equal(tok[off[i]:off[i + 1]], w), "npy video %d" % i
members = {m.name: m for m in tarfile.open(tar).getmembers()}
with tarfile.open(tar) as t:
    keys = sorted({n.split(".")[0] for n in members}, key=lambda k: k.split("-")[1])
    assert len(keys) == len(want), keys
    for i, k in enumerate(keys):
        got = np.load(io.BytesIO(t.extractfile(k + ".tokens.npy").read()))
        keep = np.load(io.BytesIO(t.extractfile(k + ".keep.npy").read()))
        assert np.array_equal(got, want[i]) and int(keep.sum()) == len(want[i]), "wds " + k
for w in want:
    print(" ".join(str(int(x)) for x in w))
EOF
cmp -s m.txt other.txt || fail "Megatron export differs from the shard's kept tokens"

# 5. The Python reader (python3-lmdb, python3-zstandard), also from worker processes.
if $PY -c 'import lmdb, zstandard' 2>/dev/null; then
  it-pack dump s/gm-00000.itshard s/a-00000.itshard | grep -E '^(TOKENS|KEEP)' >tk.want
  $PY "$top_srcdir/examples/read_shard.py" --check s/gm-00000.itshard s/a-00000.itshard | cmp -s - tk.want \
    || fail "Python reader differs from it-pack dump"
  $PY "$top_srcdir/examples/read_shard.py" --workers 2 s/gm-00000.itshard s/a-00000.itshard | cmp -s - tk.want \
    || fail "Python reader with 2 worker processes differs"
else
  echo "python3-lmdb/python3-zstandard missing: Python reader not tested" >&2
fi

# 6. Damage: flipped bytes anywhere and truncations are reported, never crash.
size=$(wc -c <s/gm-00000.itshard)
for pos in 0 100 4096 5000 $((size / 2)) $((size - 40)) $((size - 20)) $((size - 1)); do
  cp s/gm-00000.itshard bad.itshard
  printf '\377' | dd of=bad.itshard bs=1 seek="$pos" conv=notrunc 2>/dev/null
  it-pack verify bad.itshard >v.txt 2>&1; st=$?
  [ "$st" = 1 ] && grep -q '^BAD' v.txt || fail "flip at $pos: verify exit $st: $(cat v.txt)"
  it-pack dump bad.itshard >/dev/null 2>err.txt; st=$?
  [ "$st" = 1 ] && [ -s err.txt ] || fail "flip at $pos: dump exit $st"
  if $PY -c 'import lmdb' 2>/dev/null; then
    $PY "$top_srcdir/examples/read_shard.py" --check bad.itshard >/dev/null 2>err.txt; st=$?
    [ "$st" = 1 ] || fail "flip at $pos: Python reader exit $st: $(tail -1 err.txt)"
  fi
done
for len in 0 10 4096 $((size - 32)) $((size - 1)); do
  head -c "$len" s/gm-00000.itshard >cut.itshard
  it-pack verify cut.itshard >v.txt 2>&1; st=$?
  [ "$st" = 1 ] && grep -q 'BAD' v.txt || fail "truncated to $len: verify exit $st: $(cat v.txt)"
done
grep -q 'trailer\|truncated' v.txt || fail "truncation reason not given: $(cat v.txt)"

finish
