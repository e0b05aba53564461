#!/bin/sh
# test_scan: it-scan over the generated corpus and opencv-doc's real footage: the manifest
# (volatile fields stripped), error lines for bad inputs, exit statuses, threads and shards
# giving the same lines, stdin lists, atomic -o, and the standard options.
. "$top_srcdir/tests/cli/lib.sh"
need_gen; need_jq
SCAN=$top_builddir/it-scan
cd "$GEN" || hard "cd $GEN"
# Byte sizes and bit rates depend on the encoder build; the rest must not change.
strip() { jq -c 'del(.size, .bit_rate)'; }
set -- videos broken archives broken/missing.mp4 broken/audio_only.m4a 'videos/*.mkv' \
  videos/readme.txt 'nothing/*.mp4'

"$SCAN" -q -c "$@" >"$TMP/scan" 2>"$TMP/err"; st=$?
[ "$st" = 1 ] || fail "exit status $st with failed inputs, expected 1"
grep -q '^it-scan: 8 of 30 inputs failed$' "$TMP/err" || fail "summary: $(cat "$TMP/err")"
strip <"$TMP/scan" >"$TMP/scan.stripped"
compare_text scan-gen.jsonl "$TMP/scan.stripped"

# Each line is one video with a stable id; the order is sorted by (path, member).
jq -r '[.path, .member // ""] | @tsv' "$TMP/scan" >"$TMP/keys"
LC_ALL=C sort -c "$TMP/keys" || fail "manifest is not sorted"
[ "$(jq -r .id "$TMP/scan" | sort -u | wc -l)" = "$(wc -l <"$TMP/scan")" ] || fail "ids not unique"

# Threads do not change a byte; shards concatenate to the whole.
"$SCAN" -q -c -@ 3 "$@" >"$TMP/scan3" 2>/dev/null
cmp -s "$TMP/scan" "$TMP/scan3" || fail "-@ 3 output differs from -@ 1"
: >"$TMP/shards"
for i in 0 1 2; do "$SCAN" -q -c --shard $i/3 "$@" >>"$TMP/shards" 2>/dev/null; done
cmp -s "$TMP/scan" "$TMP/shards" || fail "shards 0..2 of 3 do not concatenate to the whole"

# --shard auto: the slice comes from a Slurm job array (which may start at 1) or a
# Kubernetes indexed job (auto/N); the tasks' outputs concatenate to the whole.
: >"$TMP/slurm"
for i in 1 2 3; do
  SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_MIN=1 SLURM_ARRAY_TASK_COUNT=3 "$SCAN" -q -c --shard auto "$@" >>"$TMP/slurm" 2>/dev/null
done
cmp -s "$TMP/scan" "$TMP/slurm" || fail "Slurm array tasks 1..3 do not concatenate to the whole"
: >"$TMP/k8s"
for i in 0 1; do JOB_COMPLETION_INDEX=$i "$SCAN" -q -c --shard auto/2 "$@" >>"$TMP/k8s" 2>/dev/null; done
cmp -s "$TMP/scan" "$TMP/k8s" || fail "Kubernetes indexed tasks 0..1 do not concatenate to the whole"
expect_status 2 env -u SLURM_ARRAY_TASK_ID -u JOB_COMPLETION_INDEX "$SCAN" --shard auto videos 2>/dev/null
JOB_COMPLETION_INDEX=0 "$SCAN" --shard auto videos 2>"$TMP/err" && fail "auto without a count under Kubernetes"
grep -q 'use --shard auto/N' "$TMP/err" || fail "auto message: $(cat "$TMP/err")"

# Lists on stdin, newline- and NUL-separated, equal the same inputs as arguments.
printf '%s\n' "$@" | "$SCAN" -q -c - >"$TMP/stdin" 2>/dev/null
cmp -s "$TMP/scan" "$TMP/stdin" || fail "newline list on stdin differs"
printf '%s\0' "$@" | "$SCAN" -q -c -0 - >"$TMP/stdin0" 2>/dev/null
cmp -s "$TMP/scan" "$TMP/stdin0" || fail "NUL list on stdin differs"

# -o writes the whole manifest or nothing.
"$SCAN" -q -o "$TMP/out.jsonl" videos/h264.mp4 || fail "-o failed"
[ "$(wc -l <"$TMP/out.jsonl")" = 1 ] || fail "-o wrote $(wc -l <"$TMP/out.jsonl") lines"
expect_status 3 "$SCAN" -q -o "$TMP/no/such/dir/out.jsonl" videos/h264.mp4 2>/dev/null
ls "$TMP" | grep -q tmp && fail "a temporary file was left behind"

# All good inputs: exit 0. Frame counts without -c come from the container (webm has none).
expect_status 0 "$SCAN" -q videos/h264.mp4 archives/clips.zip >"$TMP/ok"
[ "$(jq -r '"\(.frames) \(.frames_exact)"' "$TMP/ok" | sort -u)" = "$(printf '1 false\n20 false\nnull false')" ] ||
  fail "container frame counts: $(jq -c . "$TMP/ok")"

# The progress bar appears on a terminal only (script(1) gives the tool one).
if command -v script >/dev/null 2>&1; then
  script -qec "$SCAN -o $TMP/tty.jsonl videos" /dev/null >"$TMP/tty.txt" 2>&1
  grep -q 'videos' "$TMP/tty.txt" || fail "no progress bar on a terminal: $(cat "$TMP/tty.txt")"
  "$SCAN" -o "$TMP/notty.jsonl" videos 2>"$TMP/notty.txt"
  [ ! -s "$TMP/notty.txt" ] || fail "output on stderr without a terminal: $(cat "$TMP/notty.txt")"
fi

# Standard options.
"$SCAN" --help >"$TMP/help" || fail "--help exit status"
grep -q '^Usage: it-scan' "$TMP/help" || fail "--help text"
"$SCAN" --version | grep -q 'libavformat' || fail "--version lacks the FFmpeg versions"
expect_status 2 "$SCAN" 2>/dev/null
expect_status 2 "$SCAN" --bogus videos 2>/dev/null
expect_status 2 "$SCAN" --shard 3/3 videos 2>/dev/null
expect_status 2 "$SCAN" -@ 0 videos 2>/dev/null

# Real footage from opencv-doc, every field (the package's files do not change).
if [ -f "$OPENCV/vtest.avi" ]; then
  (cd "$OPENCV" && "$SCAN" -q -c -@ 2 .) >"$TMP/opencv" || fail "opencv-doc scan failed"
  compare_text scan-opencv.jsonl "$TMP/opencv"
fi
finish
