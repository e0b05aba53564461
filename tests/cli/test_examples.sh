#!/bin/sh
# test_examples: the examples run as documented: the shell pipeline over real videos, and the
# Python stream reader (written from the man page, numpy only) agreeing with the C reader on
# a stream with rates and on one without; both refuse a truncated stream.
. "$top_srcdir/tests/cli/lib.sh"
need_gen
# Debian's python3 (where python3-numpy installs) before any other on PATH.
PATH=/usr/bin:$PATH
python3 -c 'import numpy' 2>/dev/null || skip "python3-numpy not installed (scripts/setup-deps.sh)"
MODEL=$top_srcdir/tests/model/fixtures/tiny.safetensors
PY=$top_srcdir/examples/read_stream.py
C=$top_builddir/examples/read_stream
mkdir -p "$TMP/vids"
cp "$GEN/videos/h264.mp4" "$GEN/videos/long.mkv" "$GEN/videos/one_frame.mp4" "$TMP/vids/"
cp "$GEN/broken/text.mp4" "$TMP/vids/broken.mp4"
INFOTOK_MODEL=$MODEL PATH=$top_builddir:$PATH sh "$top_srcdir/examples/pipeline.sh" "$TMP/vids" "$TMP/out" \
  >"$TMP/pipe.txt" 2>"$TMP/pipe.err" || fail "pipeline.sh failed: $(cat "$TMP/pipe.err")"
[ "$(grep -c ' ok windows ' "$TMP/pipe.txt")" = 3 ] || fail "pipeline: $(cat "$TMP/pipe.txt")"
grep -q ' error windows 0 tokens 0$' "$TMP/pipe.txt" || fail "pipeline: no error line for the broken video"
for s in "$TMP/out/full.itok" "$TMP/out/rate-0.5.itok"; do
  python3 "$PY" "$s" >"$TMP/py.txt" || fail "read_stream.py failed on $s"
  "$C" "$s" >"$TMP/c.txt" || fail "read_stream (C) failed on $s"
  diff -u "$TMP/c.txt" "$TMP/py.txt" >&2 || fail "the Python and C readers disagree on $s"
done
head -c 5000 "$TMP/out/full.itok" >"$TMP/cut.itok"
python3 "$PY" "$TMP/cut.itok" >/dev/null 2>"$TMP/err" && fail "read_stream.py accepted a truncated stream"
grep -q 'incomplete' "$TMP/err" || fail "read_stream.py: $(cat "$TMP/err")"
"$C" "$TMP/cut.itok" >/dev/null 2>&1 && fail "read_stream (C) accepted a truncated stream"
finish
