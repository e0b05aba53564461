#!/bin/sh
# test_encode: it-scan | it-encode on real videos with the tiny fixture model: window counts
# and geometry, rates and masks (encode-time allocation equals a later allocation of the
# full-rate records, bit for bit), failures recorded and the run going on, thread
# invariance, resume after an interrupted run, and the reader refusing damaged streams.
. "$top_srcdir/tests/cli/lib.sh"
need_gen
SCAN=$top_builddir/it-scan
ENC=$top_builddir/it-encode
DUMPS=$top_builddir/tests/helpers/dump_stream
MODEL=$top_srcdir/tests/model/fixtures/tiny.safetensors
cd "$GEN" || hard "cd $GEN"
enc() { "$ENC" -q --checkpoint "$MODEL" --temporal-window 17 --overlap-window 5 "$@"; }

# A manifest of three good videos and one that fails to decode.
"$SCAN" -q videos/long.mkv videos/h264.mp4 videos/one_frame.mp4 broken/text.mp4 >"$TMP/m.jsonl"
"$SCAN" -q videos/long.mkv videos/h264.mp4 videos/one_frame.mp4 >"$TMP/good.jsonl"

# static: every window at the same rate, masks inside.
enc --strategy static --avg-rate 0.5 "$TMP/m.jsonl" >"$TMP/static.itok" 2>"$TMP/err"; st=$?
[ "$st" = 1 ] || fail "exit status $st with a failed video, expected 1"
grep -q "broken/text.mp4: .*cannot open" "$TMP/err" || fail "failure message: $(cat "$TMP/err")"
"$DUMPS" "$TMP/static.itok" >"$TMP/static.txt" || fail "the stream does not read back"
compare_text encode-static.txt "$TMP/static.txt"
# Videos in manifest order (text.mp4 sorts first): 20 frames in 17/5 windows: 2; 45: 4; 1: 1.
[ "$(grep -c '^WINDOW video 1 ' "$TMP/static.txt")" = 2 ] || fail "h264.mp4 windows"
[ "$(grep -c '^WINDOW video 2 ' "$TMP/static.txt")" = 4 ] || fail "long.mkv windows"
[ "$(grep -c '^WINDOW video 3 ' "$TMP/static.txt")" = 1 ] || fail "one_frame.mp4 windows"
grep -q '^VIDEO_END .*"status":"error"' "$TMP/static.txt" || fail "no error record for the bad video"

# Encode-time allocation equals a later allocation of full-rate records, for each strategy.
enc --full-rate "$TMP/good.jsonl" >"$TMP/full.itok" || fail "--full-rate failed"
for s in static global_elbo; do
  for r in 0.25 0.5 1; do
    enc --strategy $s --avg-rate $r "$TMP/good.jsonl" >"$TMP/alloc-$s.itok" || fail "$s $r failed"
    "$DUMPS" "$TMP/alloc-$s.itok" | grep "^WINDOW" >"$TMP/a.txt"
    "$DUMPS" -r $s $r "$TMP/full.itok" | grep '^WINDOW' >"$TMP/b.txt"
    cmp -s "$TMP/a.txt" "$TMP/b.txt" || { diff "$TMP/a.txt" "$TMP/b.txt" | head -5 >&2; fail "$s $r: later allocation differs"; }
  done
done
# global_elbo: rates follow the window's ELBO, one ALLOCATION record before END.
enc --strategy global_elbo --avg-rate 0.5 "$TMP/good.jsonl" >"$TMP/g.itok"
"$DUMPS" "$TMP/g.itok" >"$TMP/g.txt"
[ "$(grep -c '^ALLOCATION strategy global_elbo avg_rate 0.5 windows 7 ' "$TMP/g.txt")" = 1 ] || fail "allocation record"
[ "$(grep '^WINDOW' "$TMP/g.txt" | awk '{print $23}' | sort -u | wc -l)" -gt 1 ] || fail "global_elbo gave one rate to all windows"
[ "$(tail -n 2 "$TMP/g.txt" | cut -d' ' -f1 | tr '\n' ' ')" = "ALLOCATION END " ] || fail "record order at the end"

# Threads do not change a record; the same output to a file as to stdout. (Streams are
# compared through dump_stream, which leaves out the header's command line.)
same() { "$DUMPS" "$1" >"$TMP/x1.txt"; "$DUMPS" "$2" >"$TMP/x2.txt"; diff "$TMP/x1.txt" "$TMP/x2.txt" | cut -c1-200 | head -4 >&2; cmp -s "$TMP/x1.txt" "$TMP/x2.txt"; }
enc -@ 2 --strategy static "$TMP/m.jsonl" >"$TMP/static2.itok" 2>/dev/null
same "$TMP/static.itok" "$TMP/static2.itok" || fail "-@ 2 output differs from -@ 1"
enc --strategy static -o "$TMP/static3.itok" "$TMP/m.jsonl" 2>/dev/null
same "$TMP/static.itok" "$TMP/static3.itok" || fail "-o output differs from stdout"
[ ! -e "$TMP/static3.itok.partial" ] || fail "a .partial file was left behind"

# A pipeline as users run it: scan | encode from stdin.
"$SCAN" -q videos/h264.mp4 | enc --strategy static - | "$DUMPS" - | grep -c '^WINDOW' >"$TMP/n"
[ "$(cat "$TMP/n")" = 2 ] || fail "scan | encode pipeline: $(cat "$TMP/n") windows"

# Resume: a run cut off in the middle of its third video (a truncated .partial) resumes to
# the same bytes as an uninterrupted run; a complete output is left alone.
enc --strategy global_elbo -o "$TMP/r.itok" "$TMP/good.jsonl" || fail "global_elbo -o"
enc --full-rate -o "$TMP/f.itok" "$TMP/good.jsonl" || fail "--full-rate -o"
size=$(wc -c <"$TMP/f.itok")
for cut in $((size - 40)) $((size * 2 / 3)) $((size / 3)) 100; do
  head -c "$cut" "$TMP/f.itok" >"$TMP/f2.itok.partial"
  enc --full-rate --resume -o "$TMP/f2.itok" "$TMP/good.jsonl" || fail "resume at byte $cut failed"
  same "$TMP/f.itok" "$TMP/f2.itok" || fail "resume at byte $cut: output differs"
  rm -f "$TMP/f2.itok" "$TMP/f2.itok.partial"
done
# A partial run that already holds a failed video resumes with it counted.
enc --full-rate -o "$TMP/mf.itok" "$TMP/m.jsonl" 2>/dev/null
head -c $(($(wc -c <"$TMP/mf.itok") / 2)) "$TMP/mf.itok" >"$TMP/mf2.itok.partial"
enc --full-rate --resume -o "$TMP/mf2.itok" "$TMP/m.jsonl" 2>/dev/null; st=$?
[ "$st" = 1 ] || fail "resume with a failed video: exit status $st"
same "$TMP/mf.itok" "$TMP/mf2.itok" || fail "resume with a failed video differs"
# global_elbo when every video fails: no windows, no allocation, still a complete stream.
enc --strategy global_elbo broken/text.mp4 >"$TMP/none.itok" 2>/dev/null
"$DUMPS" "$TMP/none.itok" | cut -d' ' -f1 | tr '\n' ' ' >"$TMP/kinds"
[ "$(cat "$TMP/kinds")" = "HEADER VIDEO VIDEO_END END " ] || fail "all-failed global_elbo stream: $(cat "$TMP/kinds")"
head -c $((size / 2)) "$TMP/f.itok" >"$TMP/g2.itok.partial"
enc --strategy global_elbo --resume -o "$TMP/g2.itok" "$TMP/good.jsonl" 2>"$TMP/err" &&
  fail "resumed a run made with other options"
grep -q "cannot resume" "$TMP/err" || fail "resume mismatch message: $(cat "$TMP/err")"
enc --full-rate --resume -o "$TMP/f.itok" "$TMP/good.jsonl" 2>/dev/null || fail "resume of a complete output"
# A real interruption: SIGKILL at several moments of a longer run, then resume.
"$SCAN" -q videos >"$TMP/all.jsonl"
enc --full-rate -o "$TMP/k2.itok" "$TMP/all.jsonl" 2>/dev/null
for delay in 0.2 0.5 1; do
  rm -f "$TMP/k.itok"
  # Not through enc(): a function in the background is a subshell, and SIGKILL would miss it-encode.
  "$ENC" -q --checkpoint "$MODEL" --temporal-window 17 --overlap-window 5 --full-rate -o "$TMP/k.itok" "$TMP/all.jsonl" 2>/dev/null & pid=$!
  sleep $delay; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  # Killed before it wrote anything, mid-way, or after it finished: resume copes with all three.
  [ -e "$TMP/k.itok" ] && echo "note: the run finished before SIGKILL at ${delay}s" >&2
  enc --full-rate --resume -o "$TMP/k.itok" "$TMP/all.jsonl" 2>"$TMP/err" || fail "resume after SIGKILL at ${delay}s: $(cat "$TMP/err")"
  same "$TMP/k.itok" "$TMP/k2.itok" || fail "resume after SIGKILL at ${delay}s differs from a clean run"
done

# Damaged streams: truncated anywhere, or a flipped byte, is refused, never taken as complete.
size=$(wc -c <"$TMP/static.itok")
for cut in 0 10 16 100 $((size / 2)) $((size - 1)); do
  head -c "$cut" "$TMP/static.itok" | "$DUMPS" - >/dev/null 2>"$TMP/err" && fail "truncated at $cut accepted"
  grep -qi "truncat\|incomplete\|header" "$TMP/err" || fail "truncated at $cut: $(cat "$TMP/err")"
done
cp "$TMP/static.itok" "$TMP/bad.itok"
printf 'X' | dd of="$TMP/bad.itok" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
"$DUMPS" "$TMP/bad.itok" >/dev/null 2>"$TMP/err" && fail "a flipped byte was accepted"

# Real footage from opencv-doc (cinepak, 68 decoded frames at 320x240), resized and cropped:
# 68 frames in 33/5 windows are 3 windows of 64x64.
if [ -f "$OPENCV/tree.avi" ]; then
  "$ENC" -q --checkpoint "$MODEL" --short-side 64 --crop 64x64 --strategy global_elbo "$OPENCV/tree.avi" >"$TMP/tree.itok" ||
    fail "tree.avi failed"
  "$DUMPS" "$TMP/tree.itok" | grep '^WINDOW' | cut -d' ' -f1-15 >"$TMP/tree.txt"
  printf '%s\n' "WINDOW video 0 window 0 first 0 t 33 pad 33x64x64 crop 0,0,0 latent 9x8x8" \
    "WINDOW video 0 window 1 first 28 t 33 pad 33x64x64 crop 0,0,0 latent 9x8x8" \
    "WINDOW video 0 window 2 first 56 t 12 pad 17x64x64 crop 2,0,0 latent 5x8x8" >"$TMP/tree.want"
  diff -u "$TMP/tree.want" "$TMP/tree.txt" >&2 || fail "tree.avi windows"
fi

# The progress bar appears on a terminal only (script(1) gives the tool one).
if command -v script >/dev/null 2>&1; then
  script -qec "$ENC --checkpoint $MODEL --full-rate -o $TMP/p.itok videos/h264.mp4" /dev/null >"$TMP/tty.txt" 2>&1
  grep -q 'videos' "$TMP/tty.txt" || fail "no progress bar on a terminal: $(cat "$TMP/tty.txt")"
  "$ENC" --checkpoint "$MODEL" --full-rate -o "$TMP/p.itok" videos/h264.mp4 2>"$TMP/notty.txt"
  [ ! -s "$TMP/notty.txt" ] || fail "output on stderr without a terminal: $(cat "$TMP/notty.txt")"
fi

# A malformed manifest is refused before any work, naming the line.
{ head -n 1 "$TMP/good.jsonl"; echo '{"path": 12}'; } >"$TMP/bad.jsonl"
"$ENC" -q --checkpoint "$MODEL" "$TMP/bad.jsonl" >"$TMP/bad.itok" 2>"$TMP/err"; st=$?
[ "$st" = 3 ] || fail "malformed manifest: exit status $st"
grep -q 'bad.jsonl:2: "path" is not a string' "$TMP/err" || fail "malformed manifest message: $(cat "$TMP/err")"
printf 'not json\n' | "$ENC" -q --checkpoint "$MODEL" - >/dev/null 2>"$TMP/err" && fail "a non-JSON manifest was accepted"
grep -q 'stdin:1: not JSON' "$TMP/err" || fail "non-JSON manifest message: $(cat "$TMP/err")"

# Usage errors.
expect_status 2 "$ENC" 2>/dev/null
expect_status 2 "$ENC" --temporal-window 17 --overlap-window 17 x.mp4 2>/dev/null
expect_status 2 "$ENC" --avg-rate 0.01 x.mp4 2>/dev/null
expect_status 2 "$ENC" --strategy uniform x.mp4 2>/dev/null
expect_status 2 "$ENC" --full-rate --avg-rate 0.5 x.mp4 2>/dev/null
expect_status 2 "$ENC" --resume x.mp4 2>/dev/null
expect_status 3 "$ENC" --checkpoint /nonexistent.safetensors videos/h264.mp4 2>/dev/null
"$ENC" --help | grep -q '^Usage: it-encode' || fail "--help"
finish
