#!/bin/sh
# scan-vs-ffprobe.sh [N] [BUILDDIR]: it-scan over a directory of N generated videos, against
# ffprobe run once per file over the same files, in the same run (shared machines are
# noisy: only the ratio means something). Prints a Markdown table row set.
set -eu
n=${1:-300}
build=${2:-build/release}
scan=$build/it-scan
[ -x "$scan" ] || { echo "build it first: $scan missing" >&2; exit 2; }
dir=${TMPDIR:-/tmp}/it-scan-bench-$n
if [ ! -f "$dir/.done" ]; then
  rm -rf "$dir" && mkdir -p "$dir"
  i=0
  while [ $i -lt "$n" ]; do
    case $((i % 3)) in
      0) ext=mp4; codec="-c:v libx264 -preset ultrafast" ;;
      1) ext=mkv; codec="-c:v ffv1" ;;
      2) ext=avi; codec="-c:v mpeg4" ;;
    esac
    ffmpeg -nostdin -v error -f lavfi -i "testsrc2=size=96x64:rate=25" -frames:v $((10 + i % 20)) \
      $codec -pix_fmt yuv420p "$dir/v$i.$ext"
    i=$((i + 1))
  done
  touch "$dir/.done"
fi
t() { s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); echo "$e - $s" | bc; }
probe_each() { for f in "$dir"/v*; do ffprobe -v error -show_format -show_streams -of json "$f"; done; }
probe_each_count() { for f in "$dir"/v*; do ffprobe -v error -count_frames -show_format -show_streams -of json "$f"; done; }
# Warm the page cache once so neither side pays for the first read.
cat "$dir"/v* >/dev/null
for rep in 1 2 3; do
  a=$(t probe_each); b=$(t "$scan" -q "$dir"); c=$(t "$scan" -q -@ 2 "$dir")
  d=$(t probe_each_count); e=$(t "$scan" -q -c "$dir")
  printf '| %d | %d | %.2f | %.2f | %.2f | %.1fx | %.1fx | %.2f | %.2f | %.1fx |\n' "$rep" "$n" "$a" "$b" "$c" \
    "$(echo "$a / $b" | bc -l)" "$(echo "$a / $c" | bc -l)" "$d" "$e" "$(echo "$d / $e" | bc -l)"
done
