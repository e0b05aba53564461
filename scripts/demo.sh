#!/bin/sh
# demo.sh: set up, build, and run the main job on the bundled sample video.
# Outputs go to out/demo/. Today the pipeline is: it-scan (probe) -> manifest; the
# tokenizer stages (it-encode, it-pack, it-decode, it-stats) join as they land.
set -eu
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
[ -x configure ] || autoreconf -fi
mkdir -p build/release
if [ ! -f build/release/Makefile ]; then (cd build/release && ../../configure -q); fi
make -C build/release -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
mkdir -p out/demo
bin=build/release
"$bin/it-scan" -q --count-frames samples/vtest.mp4 >out/demo/manifest.jsonl
echo "demo: manifest of samples/vtest.mp4:"
cat out/demo/manifest.jsonl
echo "demo: outputs are in $(pwd)/out/demo/ (manifest.jsonl)"
