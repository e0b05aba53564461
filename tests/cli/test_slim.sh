#!/bin/sh
# test_slim: it-pack --slim on real clips (opencv-doc, 40 frames at 64x64): slim shards are
# smaller, hold the same kept tokens and masks, decode to the same frames at their stored
# rates, refuse re-allocation in every tool with an error naming the shard, say version 2 (a
# version-1 reader refuses them), read in examples/read_shard.py as in it-pack dump, and merge
# only into slim shards.
. "$top_srcdir/tests/cli/lib.sh"
need_opencv
need_ffmpeg
PY=/usr/bin/python3
cd "$TMP" || hard "no temp dir"
for f in vtest tree; do
  "${FFMPEG:-ffmpeg}" -v error -i "$OPENCV/$f.avi" -frames:v 40 -an -c:v mpeg4 -q:v 3 "$f.avi" || hard "cannot cut $f.avi"
done
it-encode -q --crop 64x64 --full-rate -o a.itok vtest.avi tree.avi || hard "it-encode failed"
it-pack -q -o full --avg-rate 0.5 a.itok || hard "it-pack failed"
expect_status 0 it-pack -q --slim -o slim full-00000.itshard
expect_status 0 it-pack verify slim-00000.itshard >/dev/null

# smaller: the ELBO map is most of a record (formats/SHARD-LAYOUT.md)
fs=$(wc -c <full-00000.itshard) ss=$(wc -c <slim-00000.itshard)
[ "$ss" -lt "$fs" ] || fail "slim shard ($ss bytes) is not smaller than the full one ($fs)"
echo "full $fs bytes, slim $ss bytes" >&2

# the same kept tokens and masks; no ELBO maps
kept() { it-pack dump "$@" | $PY -c '
import sys
for line in sys.stdin:
    tag, _, rest = line.rstrip("\n").partition("\t")
    if tag == "TOKENS":
        tok = rest.split()
    elif tag == "KEEP":
        print(rest, " ".join(t for t, k in zip(tok, rest) if k == "1"))
'; }
kept full-00000.itshard >full.kept
kept slim-00000.itshard >slim.kept
[ -s full.kept ] && cmp -s full.kept slim.kept || fail "the slim shard's kept tokens or masks differ"
it-pack dump --elbo slim-00000.itshard | grep '^ELBO' | sort -u >elbo.txt
[ "$(cat elbo.txt)" = "$(printf 'ELBO\tnone')" ] || fail "a slim shard printed ELBO maps: $(head -c 100 elbo.txt)"

# decoding at the stored rates: the same frames
it-decode -q --format raw -o dfull/ full-00000.itshard && it-decode -q --format raw -o dslim/ slim-00000.itshard ||
  fail "it-decode failed"
cat dfull/* >full.raw; cat dslim/* >slim.raw
[ -s full.raw ] && cmp -s full.raw slim.raw || fail "the slim shard decodes to other frames"

# re-allocation is refused by every tool, naming the shard
expect_status 3 it-pack -q -o x --avg-rate 0.3 slim-00000.itshard 2>err.pack
expect_status 3 it-pack -q -o y --full-rate slim-00000.itshard 2>err.full
expect_status 3 it-decode -q --format raw -o dx/ --avg-rate 0.3 slim-00000.itshard 2>err.decode
expect_status 3 it-stats -q --psnr --rates 0.3 --strategy global_elbo slim-00000.itshard >/dev/null 2>err.stats
for t in pack full decode stats; do
  grep -q 'slim-00000.itshard: a slim shard .* cannot be re-allocated' "err.$t" ||
    fail "$t: no clear refusal: $(cat "err.$t")"
done
ls | grep -q '^[xy]-' && fail "a refused run left a shard"

# a reader written for version 1 refuses it rather than misreading it (the format entry says
# version 2, checked below); the example reader, which knows slim shards, prints the TOKENS
# and KEEP lines of it-pack dump (dropped positions as 0)
if $PY -c 'import lmdb, zstandard, numpy' 2>/dev/null; then
  it-pack dump slim-00000.itshard | grep -E '^(TOKENS|KEEP)' >slim.tk
  $PY "$top_srcdir/examples/read_shard.py" --check slim-00000.itshard >slim.ex 2>err.ex ||
    fail "examples/read_shard.py cannot read a slim shard: $(cat err.ex)"
  [ -s slim.tk ] && cmp -s slim.tk slim.ex || fail "examples/read_shard.py reads a slim shard unlike it-pack dump"
  $PY - slim-00000.itshard <<'EOF' || fail "the format entry does not say slim"
import json, lmdb, sys
env = lmdb.open(sys.argv[1], subdir=False, readonly=True, lock=False, max_dbs=4)
with env.begin() as t:
    fmt = json.loads(t.get(b"format", db=env.open_db(b"meta", txn=t)).rstrip(b"\0"))
assert fmt == {"format": "infotok-shard", "version": 2, "slim": True}, fmt
EOF
  # the records themselves: the ELBO map (4 bytes a token) and dropped tokens are gone
  $PY - full-00000.itshard slim-00000.itshard <<'EOF' || fail "slim records are not much smaller"
import json, lmdb, sys
b = []
for p in sys.argv[1:]:
    env = lmdb.open(p, subdir=False, readonly=True, lock=False, max_dbs=4)
    with env.begin() as t:
        b.append(json.loads(t.get(b"stats", db=env.open_db(b"meta", txn=t)).rstrip(b"\0"))["record_bytes"])
print("record bytes: full %d, slim %d (%.0f%%)" % (b[0], b[1], 100.0 * b[1] / b[0]), file=sys.stderr)
assert b[1] < 0.5 * b[0], b
EOF
fi

# merging: slim into slim; a full shard refuses slim records, saying why
expect_status 0 it-pack merge -q --slim -o m full-00000.itshard slim-00000.itshard
expect_status 3 it-pack merge -q -o n slim-00000.itshard 2>err.merge
grep -q 'it can only go into a slim shard (--slim)' err.merge || fail "merge into a full shard: $(cat err.merge)"
kept m-00000.itshard >m.kept
cat full.kept slim.kept | cmp -s - m.kept || fail "the merged slim shard differs"
finish
