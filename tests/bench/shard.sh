#!/bin/sh
# shard.sh: it-pack's benchmarks on a real full-rate stream (results in tests/bench/RESULTS.md).
#   tests/bench/shard.sh BUILDDIR STREAM.itok [WORKDIR]
# 1. record layouts and zstd levels (shard-layout.py); 2. pack throughput against zstd on the
# same stream, side by side; 3. random-read latency, shard against the Megatron export.
set -eu
b=$1; stream=$2; work=${3:-shard-bench.work}
src=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$work"
/usr/bin/python3 "$src/tests/bench/shard-layout.py" "$stream" 0.5
echo
mb=$(($(wc -c <"$stream") / 1048576))
t() { s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
for i in 1 2 3; do
  rm -rf "$work/p"
  tp=$(t "$b/it-pack" -q -o "$work/p/x" "$stream")
  tz=$(t zstd -q -9 -T1 -f -o "$work/z.zst" "$stream")
  ta=$(t "$b/it-pack" -q -o "$work/p/r" --strategy static --avg-rate 0.5 "$work/p/x-00000.itshard")
  echo "pack run $i: it-pack ${tp}s, zstd -9 ${tz}s on the same ${mb} MiB stream (ratio $(echo "scale=2; $tp / $tz" | bc)); re-allocate shard->shard ${ta}s"
done
ls -l "$work/p/x-00000.itshard" "$work/z.zst" "$stream" | awk '{print $5, $9}'
"$b/it-pack" export -q --format megatron -o "$work/m" "$work/p/r-00000.itshard"
"$b/tests/bench/bench_shard" "$work/p/r-00000.itshard" "$work/m" 21
