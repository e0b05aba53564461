#!/bin/sh
# test_decode.sh: runs tests/unit/test_decode on the generated corpus and a moving grey
# pattern (smooth enough for the small bundled model, sharp enough that a frame or two pixels
# off measure clearly worse).
. "$top_srcdir/tests/cli/lib.sh"
need_gen
need_ffmpeg
v="128+90*sin(X/4+N/2)*cos(Y/4-N/3)"
"${FFMPEG:-ffmpeg}" -nostdin -v error -f lavfi -i "color=c=gray:s=67x45:r=25,format=rgb24,geq=r='$v':g='$v':b='$v'" \
  -frames:v 25 -threads 1 -fflags +bitexact -flags +bitexact -c:v ffv1 "$TMP/pattern.mkv" || hard "ffmpeg failed"
"$top_builddir/tests/unit/test_decode" "$GEN/videos" "$TMP/pattern.mkv" || fail "test_decode"
finish
