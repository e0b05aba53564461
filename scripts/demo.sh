#!/bin/sh
# demo.sh: set up, build, and run the main job on the bundled sample video with the bundled
# model: scan -> encode -> pack -> decode -> stats. Outputs go to out/demo/.
set -eu
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
[ -x configure ] || autoreconf -fi
# IT_DEMO_BUILD and IT_DEMO_JOBS let the test script run this from a fresh build directory
# with more jobs than cores (the build must hold up under any -j).
bin=${IT_DEMO_BUILD:-build/release}
mkdir -p "$bin"
root=$(pwd)
if [ ! -f "$bin/Makefile" ]; then (cd "$bin" && "$root/configure" -q); fi
# One goal per make run: automake's "all" re-invokes make, so a second goal given beside it
# would build the library's objects in two makes at once (a fresh clone once failed so:
# "libtool: error: '...shard_read.lo' is not a valid libtool object").
make -C "$bin" -j"${IT_DEMO_JOBS:-$(nproc 2>/dev/null || echo 2)}" all >/dev/null
out=out/demo
mkdir -p "$out"
threads=$(nproc 2>/dev/null || echo 2)

echo "demo: it-scan samples/vtest.mp4"
"$bin/it-scan" -q --count-frames samples/vtest.mp4 >"$out/manifest.jsonl"
cat "$out/manifest.jsonl"

echo "demo: it-encode (bundled model, 256x256 center crop, global_elbo at rate 0.5)"
start=$(date +%s.%N)
"$bin/it-encode" -q -@ "$threads" --short-side 256 --crop 256x256 --avg-rate 0.5 \
  -o "$out/tokens.itok" "$out/manifest.jsonl"
end=$(date +%s.%N)
frames=$(sed -n 's/.*"frames":\([0-9]*\).*/\1/p' "$out/manifest.jsonl")
echo "demo: $frames frames in $(awk "BEGIN { printf \"%.1f\", $end - $start }") s"

echo "demo: it-pack (zstd-compressed LMDB shard), verify, list, export for Megatron-LM"
rm -f "$out"/shards-*.itshard
"$bin/it-pack" -q -o "$out/shards" "$out/tokens.itok"
"$bin/it-pack" verify "$out"/shards-*.itshard
"$bin/it-pack" list "$out"/shards-*.itshard
"$bin/it-pack" export -q --format megatron -o "$out/megatron" "$out"/shards-*.itshard
echo "demo: stream $(wc -c <"$out/tokens.itok") bytes, shard $(cat "$out"/shards-*.itshard | wc -c) bytes," \
  "Megatron tokens $(wc -c <"$out/megatron.bin") bytes"
echo "demo: it-decode (the reconstruction at the allocated rate, lossless FFV1)"
rm -rf "$out/decoded" && mkdir -p "$out/decoded"
"$bin/it-decode" -q -@ "$threads" -o "$out/decoded/" "$out"/shards-*.itshard
ls "$out/decoded"

echo "demo: it-stats (PSNR/SSIM against the source at rates 1, 0.5, 0.25; figures in $out/figures/)"
"$bin/it-stats" -q -@ "$threads" --psnr --rates 1,0.5,0.25 --strategy static,global_elbo --plot "$out/figures" \
  "$out"/shards-*.itshard >"$out/stats.txt"
grep -E '^SN	(videos|frames|tokens|average rate|bits per pixel|token checksum)' "$out/stats.txt"
grep '^# Quality\.' "$out/stats.txt"
grep '^PS' "$out/stats.txt"

echo "demo: outputs are in $(pwd)/$out/:"
ls -l "$out"
