#!/bin/sh
# fuzz.sh: build tests/pack/fuzz_shard_record.c with clang's libFuzzer (ASan + UBSan) and run
# it for a bounded time, seeded with records made by the encoder.
#   tests/pack/fuzz.sh [SRCDIR [WORKDIR]]     FUZZ_SECONDS=60 by default
# Crashes are left in WORKDIR as crash-*; exit 1 if any. Exit 77 without clang.
set -eu
src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
work=${2:-fuzz-shard.work}
secs=${FUZZ_SECONDS:-60}
cc=${CLANG:-clang}
command -v "$cc" >/dev/null 2>&1 || { echo "fuzz.sh: $cc not found (apt-get install clang)"; exit 77; }
mkdir -p "$work/seeds" "$work/corpus"
lib="$src/src/error.c $src/formats/tokstream.c $src/formats/crc32.c $src/formats/shard_record.c"
flags="-g -O1 -fno-sanitize-recover=undefined -D_GNU_SOURCE -I$src/src -I$src $(pkg-config --cflags jansson libzstd)"
libs="$(pkg-config --libs jansson libzstd) -lm -lpthread"
# shellcheck disable=SC2086
"$cc" $flags -fsanitize=fuzzer,address,undefined "$src/tests/pack/fuzz_shard_record.c" $lib $libs \
    -o "$work/fuzz_shard_record"
# shellcheck disable=SC2086
"$cc" $flags -DFUZZ_SEEDS -fsanitize=fuzzer-no-link,address,undefined "$src/tests/pack/fuzz_shard_record.c" \
    $lib $libs -o "$work/seeds_shard_record"
"$work/seeds_shard_record" --seeds "$work/seeds"
echo "fuzz.sh: $(ls "$work/seeds" | wc -l) seeds, ${secs}s"
status=0
( cd "$work" && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    ./fuzz_shard_record -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 corpus seeds ) >"$work/fuzz.log" 2>&1 || status=1
grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE|ERROR|SUMMARY|fuzz_shard_record:" "$work/fuzz.log" || true
ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null && status=1
echo "fuzz.sh: corpus of $(ls "$work/corpus" | wc -l) inputs; status $status"
exit $status
