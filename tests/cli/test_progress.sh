#!/bin/sh
# test_progress: --progress (lines when stderr is not a terminal, as under Slurm or CI; the
# interval shortened with IT_PROGRESS_INTERVAL, which exists for tests) and it-scan --id
# content (ids that survive moves and renames, and differ for different bytes).
. "$top_srcdir/tests/cli/lib.sh"
need_opencv
need_ffmpeg
cd "$TMP" || hard "no temp dir"
for f in vtest tree; do
  "${FFMPEG:-ffmpeg}" -v error -i "$OPENCV/$f.avi" -frames:v 12 -an -c:v mpeg4 -q:v 3 "$f.avi" || hard "cannot cut $f.avi"
done

# 1. Progress lines: stderr here is a file, never a terminal.
IT_PROGRESS_INTERVAL=0 it-encode --progress=lines --crop 32x32 --full-rate -o a.itok vtest.avi tree.avi 2>enc.err ||
  fail "it-encode --progress=lines failed"
grep -q '^it-encode: progress 1/2 videos (50%), [0-9.]*/s, elapsed 00:00:[0-9][0-9], ETA [0-9:]*$' enc.err ||
  fail "no progress line after the first video: $(cat enc.err)"
tail -1 enc.err | grep -q '^it-encode: progress 2/2 videos (100%)' || fail "the last line is not the final count"
grep -q "$(printf '\r')" enc.err && fail "lines mode drew a bar (carriage returns)"
# auto: lines when stderr is not a terminal, none with -q; none: nothing
IT_PROGRESS_INTERVAL=0 it-pack -o s/a a.itok a.itok 2>auto.err || fail "it-pack failed"
grep -q '^it-pack: progress 1/2 inputs' auto.err || fail "auto did not print lines to a file: $(cat auto.err)"
IT_PROGRESS_INTERVAL=0 it-pack -q -o s/b a.itok 2>q.err || fail "it-pack -q failed"
grep -q 'progress' q.err && fail "-q printed progress"
IT_PROGRESS_INTERVAL=0 it-pack --progress=none -o s/c a.itok 2>none.err || fail "it-pack --progress=none failed"
grep -q 'progress' none.err && fail "--progress=none printed progress"
# with the default interval (30 s), a short job prints only the final line when asked for lines
it-pack export --progress=lines -q --format npy -o ex/n s/a-00000.itshard 2>lines.err || fail "export failed"
[ "$(grep -c progress lines.err)" = 1 ] || fail "expected one final line: $(cat lines.err)"
IT_PROGRESS_INTERVAL=0 it-scan --progress lines vtest.avi tree.avi >/dev/null 2>scan.err || fail "it-scan failed"
grep -q '^it-scan: progress 2/2 videos' scan.err || fail "it-scan printed no lines: $(cat scan.err)"
expect_status 2 it-pack --progress=sometimes -o s/d a.itok 2>/dev/null
expect_status 2 it-decode --progress=bars -o x.raw a.itok 2>/dev/null

# 2. it-scan --id content: the same bytes under any name, path or archive give one id.
mkdir -p data/sub other
cp vtest.avi data/a.avi
id_of() { it-scan -q "$@" | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/'; }
p1=$(id_of data/a.avi) p2=$(id_of ./data/a.avi) p3=$(id_of "$PWD/data/a.avi")
[ "$p1" != "$p2" ] && [ "$p2" != "$p3" ] || fail "path ids do not depend on the path as written (the test is blind)"
c1=$(id_of --id content data/a.avi) c2=$(id_of --id content ./data/a.avi) c3=$(id_of --id content "$PWD/data/a.avi")
mv data/a.avi other/renamed.avi
c4=$(id_of --id content other/renamed.avi)
tar -cf clips.tar -C other renamed.avi
c5=$(it-scan -q --id content clips.tar | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/')
[ -n "$c1" ] && [ "$c1" = "$c2" ] && [ "$c2" = "$c3" ] && [ "$c3" = "$c4" ] && [ "$c4" = "$c5" ] ||
  fail "content ids differ: $c1 $c2 $c3 $c4 $c5"
[ "$c1" != "$p1" ] || fail "the content id equals the path id"
c6=$(id_of --id content tree.avi)
[ -n "$c6" ] && [ "$c6" != "$c1" ] || fail "different bytes gave the same content id"
# the FNV-1a 64 of the bytes, computed independently
want=$(/usr/bin/python3 -c '
import sys
h = 0xcbf29ce484222325
for b in open(sys.argv[1], "rb").read():
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print("%016x" % h)' tree.avi)
[ "$c6" = "$want" ] || fail "content id $c6, FNV-1a 64 of the bytes is $want"
# the manifest's id is the video's id through it-encode and it-pack
it-scan -q --id content other/renamed.avi >m.jsonl || fail "it-scan failed"
it-encode -q --crop 32x32 --full-rate -o m.itok m.jsonl && it-pack -q -o s/m m.itok || fail "encode/pack failed"
it-pack dump s/m-00000.itshard | grep '^VIDEO	' | grep -q "\"id\":\"$c1\"" || fail "the content id did not reach the shard"
expect_status 2 it-scan --id inode vtest.avi 2>/dev/null
# a manifest with a malformed id is refused, naming the line
sed 's/"id":"[0-9a-f]*"/"id":"XYZ"/' m.jsonl >bad.jsonl
expect_status 3 it-encode -q --crop 32x32 -o bad.itok bad.jsonl 2>err.txt
grep -q 'bad.jsonl:1: "id" is not 16 lowercase hex digits' err.txt || fail "a malformed id was not refused: $(cat err.txt)"
finish
