#!/bin/sh
# fuzz.sh: build tests/stream/fuzz_stream.c with clang's libFuzzer (ASan + UBSan) and run it
# for a bounded time, seeded with the streams test_stream writes (golden, realistic, no rate)
# and their truncations.
#   tests/stream/fuzz.sh [SRCDIR [WORKDIR]]     FUZZ_SECONDS=60 by default
# Crashes are left in WORKDIR as crash-*; exit 1 if any. Exit 77 without clang.
set -eu
src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
work=${2:-fuzz-stream.work}
secs=${FUZZ_SECONDS:-60}
cc=${CLANG:-clang}
command -v "$cc" >/dev/null 2>&1 || { echo "fuzz.sh: $cc not found (apt-get install clang)"; exit 77; }
mkdir -p "$work/seeds" "$work/corpus"
lib="$src/src/error.c $src/formats/tokstream.c $src/formats/crc32.c"
flags="-g -O1 -fno-sanitize-recover=undefined -D_GNU_SOURCE -I$src/src -I$src $(pkg-config --cflags jansson)"
libs="$(pkg-config --libs jansson) -lm -lpthread"

echo "fuzz.sh: building $work/fuzz_stream"
# shellcheck disable=SC2086
"$cc" $flags -fsanitize=fuzzer,address,undefined "$src/tests/stream/fuzz_stream.c" $lib $libs \
    -o "$work/fuzz_stream"
# The seed writer is the test program itself (its --seeds mode), built the same way.
# shellcheck disable=SC2086
"$cc" $flags -fsanitize=address,undefined "$src/tests/stream/test_stream.c" $lib $libs \
    -o "$work/test_stream"
"$work/test_stream" --seeds "$work/seeds"
# Truncations reach the "incomplete" paths at once.
for f in "$work"/seeds/*.itok; do
    n=$(wc -c <"$f")
    for cut in 8 16 30 100 200 $((n / 2)) $((n - 1)); do
        [ "$cut" -lt "$n" ] && head -c "$cut" "$f" >"$f.cut$cut"
    done
done

echo "fuzz.sh: $(ls "$work/seeds" | wc -l) seeds, ${secs}s"
status=0
( cd "$work" && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    ./fuzz_stream -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 corpus seeds ) >"$work/fuzz.log" 2>&1 || status=1
grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE|ERROR|SUMMARY|fuzz_stream:" "$work/fuzz.log" || true
ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null && status=1
echo "fuzz.sh: corpus of $(ls "$work/corpus" | wc -l) inputs; status $status"
exit $status
