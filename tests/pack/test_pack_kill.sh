#!/bin/sh
# test_pack_kill: it-pack killed with SIGKILL at many points leaves only shards that verify
# (plus at most one recognisably unfinished .partial file), and --resume then completes the
# run with every video present exactly once: the same records as an uninterrupted run.
# The input lists the same two streams many times, so resume must count duplicate videos.
. "$top_srcdir/tests/cli/lib.sh"
need_gen
V=$GEN/videos
cd "$TMP" || hard "no temp dir"
it-encode -q --crop 48x48 --full-rate -o a.itok "$V/h264.mp4" "$V/vp9.webm" || hard "it-encode failed"
it-encode -q --crop 48x48 --full-rate -o b.itok "$V/long.mkv" "$V/mpeg4.avi" || hard "it-encode failed"
set --
for i in $(seq 40); do set -- "$@" a.itok b.itok; done
PACK="it-pack -q --shard-size 1K --level 19"
tokens() { it-pack dump "$@" | grep -E '^(TOKENS|KEEP)'; }

$PACK -o clean/x "$@" || hard "uninterrupted run failed"
tokens clean/x-*.itshard >want.txt
nvideos=$(it-pack list clean/x-*.itshard | grep -c '	ok	')
[ "$nvideos" = 160 ] || fail "uninterrupted run holds $nvideos videos, expected 160"

killed=0
for delay in 0.01 0.03 0.06 0.1 0.15 0.2 0.3 0.45; do
  rm -rf run
  $PACK -o run/x "$@" 2>/dev/null &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null
  wait "$pid"; st=$?
  [ "$st" = 137 ] && killed=$((killed + 1))
  # what is left: finished shards that verify, at most one unfinished file
  for f in run/x-*.itshard; do
    [ -e "$f" ] || continue
    it-pack verify "$f" >/dev/null || fail "delay $delay: $f left behind does not verify"
  done
  partial=$(ls run 2>/dev/null | grep -c -E '\.(partial|tmp)$')
  [ "$partial" -le 2 ] || fail "delay $delay: $partial unfinished files"
  # a .partial file has no trailer yet (a .tmp one may be whole, killed before its rename)
  ls run 2>/dev/null | grep -E '\.partial$' | while read -r f; do
    it-pack verify "run/$f" >/dev/null 2>&1 && echo "FAIL: delay $delay: unfinished $f verifies" >&2
  done
  $PACK --resume -o run/x "$@" || { fail "delay $delay: --resume failed"; continue; }
  ls run | grep -q -E '\.(partial|tmp)$' && fail "delay $delay: --resume left unfinished files"
  tokens run/x-*.itshard | cmp -s - want.txt || fail "delay $delay: resumed run differs from the uninterrupted one"
  n=$(it-pack list run/x-*.itshard | grep -c '	ok	')
  [ "$n" = 160 ] || fail "delay $delay: $n videos after resume, expected 160"
done
echo "killed $killed of 8 runs part-way"
[ "$killed" -ge 3 ] || fail "only $killed runs were killed part-way: the test did not test"
finish
