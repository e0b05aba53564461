#!/bin/sh
# report.sh: quality of one or more weight files, measured with the toolkit itself at four
# rates, beside x264 at the same bits per pixel. Held-out clips: those of train/data.py (never
# used in training; written losslessly at 256x256) or, with -m, the videos of an it-scan
# manifest of your own held-out clips (post-training: measure before and after).
#   train/report.sh [-m MANIFEST] [-x] BUILDDIR OUTDIR [WEIGHTS ...]
# Per weight file (none given: the bundled model), in OUTDIR/LABEL/ (LABEL: bundled, or the
# file's name without .safetensors/.pt, numbered if two are alike):
#   it-encode --full-rate -> heldout.itok, speed.txt (frames/s at the clips' size, -@ nproc),
#   it-stats --psnr --rates 1,0.75,0.5,0.25 --strategy static,global_elbo -> stats.txt, figures/;
# once: OUTDIR/x264.json (train/rd_report.py: x264 two-pass at the first file's bits per pixel
# at each rate; -x skips it), OUTDIR/summary.md (all files and the x264 line, one table) and,
# on the built-in clips, OUTDIR/strip.png (the first file's reconstructions and masks).
set -eu
manifest=""; x264=1
while getopts m:x o; do
  case $o in
    m) manifest=$OPTARG ;;
    x) x264=0 ;;
    *) echo "usage: report.sh [-m MANIFEST] [-x] BUILDDIR OUTDIR [WEIGHTS ...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || { echo "usage: report.sh [-m MANIFEST] [-x] BUILDDIR OUTDIR [WEIGHTS ...]" >&2; exit 2; }
b=$(cd "$1" && pwd); out=$2; shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
if [ -n "$manifest" ]; then
  [ -r "$manifest" ] || { echo "report.sh: $manifest: cannot read the manifest" >&2; exit 2; }
  cp "$manifest" "$out/manifest.jsonl"
else
  mkdir -p "$out/clips"
  /usr/bin/python3 "$src/train/heldout.py" "$out/clips" >/dev/null 2>&1
  "$b/it-scan" -q --count-frames "$out/clips" >"$out/manifest.jsonl"
fi
threads=$(nproc 2>/dev/null || echo 2)
frames=$(awk -F'"frames":' '{split($2, a, ","); s += a[1]} END {print s}' "$out/manifest.jsonl")
[ $# -gt 0 ] || set -- ""
labels=""; tables=""; first=""; n=0

for weights in "$@"; do
n=$((n + 1))
if [ -z "$weights" ]; then label=bundled; ck=""; else
  label=$(basename "$weights"); label=${label%.safetensors}; label=${label%.pt}
  [ -r "$weights" ] || { echo "report.sh: $weights: cannot read the weights" >&2; exit 2; }
  ck="--checkpoint $weights"
fi
case " $labels " in *" $label "*) label=$n-$label ;; esac
labels="$labels $label"
d=$out/$label; mkdir -p "$d"
[ -n "$first" ] || first=$d

# it-encode speed (encode + full-rate decode + ELBO map per window)
start=$(date +%s.%N)
# shellcheck disable=SC2086
"$b/it-encode" -q -@ "$threads" $ck --full-rate -o "$d/heldout.itok" "$out/manifest.jsonl"
end=$(date +%s.%N)
awk -v f="$frames" -v s="$start" -v e="$end" -v t="$threads" -v l="$label" \
  'BEGIN { printf "%s: it-encode: %d frames in %.1f s with %d threads: %.1f frames/s\n", l, f, e - s, t, f / (e - s) }' \
  | tee "$d/speed.txt"

# quality at four rates, two strategies, from the same records
# shellcheck disable=SC2086
"$b/it-stats" -q -@ "$threads" $ck --psnr --rates 1,0.75,0.5,0.25 --strategy static,global_elbo \
  --plot "$d/figures" "$d/heldout.itok" >"$d/stats.txt"
grep -E '^PS' "$d/stats.txt" | sed "s/^/$label /"
tables="$tables $label=$d/stats.txt"
done

x=""
if [ "$x264" = 1 ]; then
  /usr/bin/python3 "$src/train/rd_report.py" x264 "$first/stats.txt" "$out/x264.json"
  x="--x264 $out/x264.json"
fi
# shellcheck disable=SC2086
/usr/bin/python3 "$src/train/rd_report.py" table "$out/summary.md" $tables $x >/dev/null

if [ -n "$manifest" ]; then
  echo "report: $out/summary.md, $out/*/stats.txt"
  exit 0
fi

# the frame strip: one frame of a held-out clip; source, then reconstructions at rates 1,
# 0.5 and 0.25 (global_elbo), each above the keep mask of its window (white = kept token)
clip=$(cd "$out/clips" && for f in *vtest*; do echo "$f"; break; done)
id=$(grep "$clip" "$out/manifest.jsonl" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
frame=40
ck=""
[ -z "$1" ] || ck="--checkpoint $1"
rm -rf "$out/strip.work" && mkdir -p "$out/strip.work"
w=$out/strip.work
ffmpeg -v error -i "$out/clips/$clip" -vf "select=eq(n\,$frame)" -frames:v 1 "$w/src.png"
tiles="$w/src.png"
masks=""
for r in 1 0.5 0.25; do
  # shellcheck disable=SC2086
  "$b/it-decode" -q $ck --video "$id" --avg-rate "$r" --format png -o "$w/r$r" "$first/heldout.itok"
  cp "$w/r$r/$(printf %06d $frame).png" "$w/rec$r.png"
  tiles="$tiles $w/rec$r.png"
  "$b/it-pack" -q -o "$w/p$r" --avg-rate "$r" "$first/heldout.itok"
  "$b/it-pack" dump --video "$id" "$w/p$r-00000.itshard" >"$w/dump$r.txt"
  /usr/bin/python3 - "$w/dump$r.txt" "$frame" "$w/mask$r.pgm" <<'EOF'
import sys
lines = open(sys.argv[1]).read().split("\n")
frame, best = int(sys.argv[2]), None
for i, l in enumerate(lines):
    if l.startswith("WINDOW"):
        f = dict(kv.split("=") for kv in l.split("\t")[1].split())
        first, t = int(f["first_frame"]), int(f["thw"].split("x")[0])
        if first <= frame < first + t and best is None:
            lt, lh, lw = map(int, f["latent"].split("x"))
            keep = next(x for x in lines[i:] if x.startswith("KEEP")).split("\t")[1]
            # the latent frame of this source frame (4x causal: frame 0 alone, then groups of 4)
            lf = 0 if frame - first + int(f["origin"].split(",")[0]) == 0 else 1 + (frame - first + int(f["origin"].split(",")[0]) - 1) // 4
            best = (lh, lw, keep[lf * lh * lw:(lf + 1) * lh * lw])
lh, lw, bits = best
with open(sys.argv[3], "wb") as o:
    o.write(b"P5 %d %d 255\n" % (lw, lh) + bytes(255 if c == "1" else 40 for c in bits))
EOF
  ffmpeg -v error -y -i "$w/mask$r.pgm" -vf "scale=256:256:flags=neighbor,format=rgb24" "$w/mask$r.png"
  masks="$masks $w/mask$r.png"
done
ffmpeg -v error -y -f lavfi -i "color=c=0x282828:s=256x256" -frames:v 1 "$w/blank.png"
# shellcheck disable=SC2086
set -- $tiles $w/blank.png $masks
ffmpeg -v error -y -i "$1" -i "$2" -i "$3" -i "$4" -i "$5" -i "$6" -i "$7" -i "$8" -filter_complex \
  "[0][1][2][3]hstack=4[top];[4][5][6][7]hstack=4[bot];[top][bot]vstack,format=rgb24" -frames:v 1 "$out/strip.png"
rm -rf "$w"
echo "report: $out/summary.md, $out/*/stats.txt, $out/*/figures/, $out/strip.png"
