#!/bin/sh
# report.sh: the bundled model's quality report, measured with the toolkit itself on the
# held-out clips of train/data.py (never used in training), at 256x256:
#   it-scan -> it-encode --full-rate -> it-stats --psnr at rates 1, 0.75, 0.5, 0.25 for static
#   and global_elbo (re-allocated from the same full-rate records) -> a frame strip of source
#   against reconstructions with the token masks, and it-encode's speed at 256x256.
#   train/report.sh BUILDDIR OUTDIR [WEIGHTS]
# Writes OUTDIR/stats.txt, OUTDIR/figures/*.svg, OUTDIR/strip.png, OUTDIR/speed.txt.
set -eu
b=$(cd "$1" && pwd); out=$2; weights=${3:-}
src=$(cd "$(dirname "$0")/.." && pwd)
ck=""
[ -n "$weights" ] && ck="--checkpoint $weights"
mkdir -p "$out/clips"
/usr/bin/python3 "$src/train/heldout.py" "$out/clips" >/dev/null 2>&1
"$b/it-scan" -q --count-frames "$out/clips" >"$out/manifest.jsonl"
threads=$(nproc 2>/dev/null || echo 2)

# it-encode speed at 256x256 (encode + full-rate decode + ELBO map per window)
frames=$(awk -F'"frames":' '{split($2, a, ","); s += a[1]} END {print s}' "$out/manifest.jsonl")
start=$(date +%s.%N)
# shellcheck disable=SC2086
"$b/it-encode" -q -@ "$threads" $ck --full-rate -o "$out/heldout.itok" "$out/manifest.jsonl"
end=$(date +%s.%N)
awk -v f="$frames" -v s="$start" -v e="$end" -v t="$threads" \
  'BEGIN { printf "it-encode: %d frames at 256x256 in %.1f s with %d threads: %.1f frames/s\n", f, e - s, t, f / (e - s) }' \
  | tee "$out/speed.txt"

# quality at four rates, two strategies, from the same records
# shellcheck disable=SC2086
"$b/it-stats" -q -@ "$threads" $ck --psnr --rates 1,0.75,0.5,0.25 --strategy static,global_elbo \
  --plot "$out/figures" "$out/heldout.itok" >"$out/stats.txt"
grep -E '^PS' "$out/stats.txt"

# the frame strip: one frame of a held-out clip; source, then reconstructions at rates 1,
# 0.5 and 0.25 (global_elbo), each above the keep mask of its window (white = kept token)
clip=$(ls "$out/clips" | grep vtest | head -1)
id=$(grep "$clip" "$out/manifest.jsonl" | sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p')
frame=40
rm -rf "$out/strip.work" && mkdir -p "$out/strip.work"
w=$out/strip.work
ffmpeg -v error -i "$out/clips/$clip" -vf "select=eq(n\,$frame)" -frames:v 1 "$w/src.png"
tiles="$w/src.png"
masks=""
for r in 1 0.5 0.25; do
  # shellcheck disable=SC2086
  "$b/it-decode" -q $ck --video "$id" --avg-rate "$r" --format png -o "$w/r$r" "$out/heldout.itok"
  cp "$w/r$r/$(printf %06d $frame).png" "$w/rec$r.png"
  tiles="$tiles $w/rec$r.png"
  "$b/it-pack" -q -o "$w/p$r" --avg-rate "$r" "$out/heldout.itok"
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
echo "report: $out/stats.txt, $out/figures/, $out/strip.png"
