#!/bin/sh
# test_windows: real videos cut into windows: counts, overlap, padding and a checksum of
# the padded pixels, compared with expected output (IT_REGEN=1 regenerates it).
. "$top_srcdir/tests/cli/lib.sh"
need_gen
{
  # 45 frames of 80x48 in 17-frame windows overlapping by 5: windows at 0, 12, 24, 36.
  "$DUMP" -w 17 -o 5 "$GEN/videos/long.mkv"
  # No overlap, a short tail (45 = 2*17 + 11): 11 frames pad to 17, 3 in front.
  "$DUMP" -w 17 -o 0 "$GEN/videos/long.mkv"
  # A single frame is one window of one frame (T = 1 needs no temporal padding).
  "$DUMP" -w 17 -o 5 "$GEN/videos/one_frame.mp4"
  # Odd size 67x45: padded to 80x48.
  "$DUMP" -w 33 -o 5 "$GEN/videos/odd_size.mkv"
} >"$TMP/windows" 2>&1 || fail "dump_frames failed: $(cat "$TMP/windows")"
compare_text windows.txt "$TMP/windows"
if [ -f "$OPENCV/Megamind.avi" ]; then
  # The release's 81/3 windows over 270 frames: [0,81) [78,159) [156,237) [234,270).
  "$DUMP" -w 81 -o 3 "$OPENCV/Megamind.avi" | cut -d' ' -f1-14 >"$TMP/megamind" 2>&1
  compare_text megamind-81-3.txt "$TMP/megamind"
fi
finish
