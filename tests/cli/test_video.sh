#!/bin/sh
# test_video: frames decoded by the library equal the ffmpeg CLI's, byte for byte (every
# decoded frame once, as -fps_mode passthrough gives them), for every codec and pixel format
# of the corpus, archive members, rotation, resize + center crop; timestamps are kept.
. "$top_srcdir/tests/cli/lib.sh"
need_ffmpeg; need_gen
ff() { "$FFMPEG" -nostdin -v error "$@"; }
sum_lib() { "$DUMP" "$@" 2>/dev/null | md5sum; }
sum_cli() { f=$1; shift; ff -i "$f" -fps_mode passthrough "$@" -f rawvideo -pix_fmt rgb24 - | md5sum; }

for f in "$GEN"/videos/*.mp4 "$GEN"/videos/*.h264 "$GEN"/videos/*.mkv "$GEN"/videos/*.webm "$GEN"/videos/*.avi \
         "$GEN"/videos/sub/ffv1.mkv; do
  [ "$(sum_lib "$f")" = "$(sum_cli "$f")" ] || fail "frames differ from ffmpeg: $f"
done
if [ -f "$OPENCV/vtest.avi" ]; then
  for f in "$OPENCV"/*.avi; do
    [ "$(sum_lib "$f")" = "$(sum_cli "$f")" ] || fail "frames differ from ffmpeg: $f"
  done
fi

# Rotation: a 64x48 stream with a 90 degree display matrix comes out upright, 48x64.
"$DUMP" "$GEN/videos/rotated.mp4" 2>"$TMP/size" >/dev/null
grep -q '^size 48x64$' "$TMP/size" || fail "rotated video size: $(cat "$TMP/size")"

# Archive members decode exactly like the files they were made from, including an mp4
# whose index is at the end (a backward seek inside the archive) and a gzip'ed tar.
[ "$(sum_lib -m h264.mp4 "$GEN/archives/clips.tar")" = "$(sum_lib "$GEN/videos/h264.mp4")" ] ||
  fail "tar member h264.mp4 differs from the file"
[ "$(sum_lib -m sub/ffv1.mkv "$GEN/archives/clips.tar")" = "$(sum_lib "$GEN/videos/sub/ffv1.mkv")" ] ||
  fail "tar member sub/ffv1.mkv differs from the file"
[ "$(sum_lib -m vp9.webm "$GEN/archives/clips.zip")" = "$(sum_lib "$GEN/videos/vp9.webm")" ] ||
  fail "zip member vp9.webm differs from the file"
[ "$(sum_lib -m rotated.mp4 "$GEN/archives/clips.tar.gz")" = "$(sum_lib "$GEN/videos/rotated.mp4")" ] ||
  fail "tar.gz member rotated.mp4 differs from the file"
"$DUMP" -m nope.mp4 "$GEN/archives/clips.tar" >/dev/null 2>"$TMP/err" && fail "a missing member opened"
grep -q "no member 'nope.mp4'" "$TMP/err" || fail "missing member message: $(cat "$TMP/err")"

# Resize the short side to 32 (bicubic, like the CLI's scale filter), then center-crop.
[ "$(sum_lib -s 32 "$GEN/videos/long.mkv")" = "$(sum_cli "$GEN/videos/long.mkv" -vf scale=53:32:flags=bicubic)" ] ||
  fail "resize differs from ffmpeg's scale"
[ "$(sum_lib -s 32 -c 32x32 "$GEN/videos/long.mkv")" = \
  "$(sum_cli "$GEN/videos/long.mkv" -vf scale=53:32:flags=bicubic,crop=32:32:10:0)" ] ||
  fail "resize + crop differs from ffmpeg's scale + crop"
"$DUMP" -c 100x100 "$GEN/videos/h264.mp4" >/dev/null 2>"$TMP/err" && fail "an oversized crop was accepted"
grep -q "crop 100x100 is larger than the frame" "$TMP/err" || fail "crop message: $(cat "$TMP/err")"

# Variable frame rate: each frame keeps its own timestamp.
"$DUMP" -t "$GEN/videos/vfr.mkv" 2>/dev/null >"$TMP/pts"
printf '%s\n' 0.000000 0.040000 0.080000 0.120000 0.160000 0.200000 0.240000 0.280000 0.320000 \
  0.360000 0.520000 0.640000 0.760000 0.880000 1.000000 1.120000 1.240000 1.360000 1.480000 \
  1.600000 >"$TMP/pts.want"
diff -u "$TMP/pts.want" "$TMP/pts" >&2 || fail "vfr timestamps"
"${FFPROBE:-ffprobe}" -v error -select_streams v -show_entries frame=best_effort_timestamp_time \
  -of csv=p=0 "$GEN/videos/vfr.mkv" | awk '{ printf "%.6f\n", $1 }' >"$TMP/pts.ffprobe"
diff -u "$TMP/pts.ffprobe" "$TMP/pts" >&2 || fail "vfr timestamps differ from ffprobe's"

# A file cut mid-stream decodes what it has; a damaged packet stream is concealed as the
# CLI conceals it (Megamind_bugy.avi is opencv-doc's deliberately damaged file).
n=$("$DUMP" "$GEN/broken/cut.mkv" 2>/dev/null | wc -c)
[ "$n" -gt 0 ] && [ $((n % (80 * 48 * 3))) = 0 ] || fail "cut.mkv: $n bytes"
n=$("$DUMP" "$GEN/broken/corrupt_middle.mkv" 2>/dev/null | wc -c)
frames=$((n / (80 * 48 * 3)))
[ $((n % (80 * 48 * 3))) = 0 ] && [ "$frames" -gt 20 ] && [ "$frames" -lt 45 ] ||
  fail "corrupt_middle.mkv: $n bytes ($frames frames; the damaged ones are skipped, the rest decode)"
[ "$(sum_lib "$GEN/broken/corrupt_middle.mkv")" = "$(sum_cli "$GEN/broken/corrupt_middle.mkv")" ] ||
  fail "corrupt_middle.mkv: frames differ from ffmpeg's"
finish
