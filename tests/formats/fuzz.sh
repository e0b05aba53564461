#!/bin/sh
# fuzz.sh: build tests/formats/fuzz_weights.c with clang's libFuzzer (ASan + UBSan) and run it
# for a bounded time on seeds made from the committed fixtures.
#   tests/formats/fuzz.sh [SRCDIR [WORKDIR]]     FUZZ_SECONDS=60 by default, per run
# Two runs share one corpus: one seeded with checkpoints and pickles, one with safetensors and
# configs. Crashes are left in WORKDIR as crash-*; exit 1 if any. Exit 77 without clang.
set -eu
src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
work=${2:-fuzz-weights.work}
secs=${FUZZ_SECONDS:-60}
cc=${CLANG:-clang}
command -v "$cc" >/dev/null 2>&1 || { echo "fuzz.sh: $cc not found (apt-get install clang)"; exit 77; }
py=/usr/bin/python3
mkdir -p "$work/seeds_pt" "$work/seeds_st" "$work/corpus"

echo "fuzz.sh: building $work/fuzz_weights"
# shellcheck disable=SC2046
"$cc" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -D_GNU_SOURCE -I"$src/src" -I"$src" $(pkg-config --cflags jansson libarchive) \
    "$src/tests/formats/fuzz_weights.c" "$src/src/error.c" \
    "$src/formats/dtype.c" "$src/formats/weights.c" "$src/formats/safetensors.c" \
    "$src/formats/config.c" "$src/formats/tensor_table.c" "$src/formats/pickle.c" \
    "$src/formats/torch_pt.c" \
    $(pkg-config --libs jansson libarchive) -lm -o "$work/fuzz_weights"

# Seeds: the small checkpoints, their pickles, small native files, configs.
for f in flat_f32 views_f16 wrapped_bf16 evil_os_system; do
    cp "$src/tests/formats/fixtures/$f.pt" "$work/seeds_pt/$f.pt"
done
$py - "$src/tests/formats" "$work" <<'PY'
import json, os, struct, sys, zipfile
src, work = sys.argv[1], sys.argv[2]
for f in ("flat_f32", "views_f16", "wrapped_bf16"):
    z = zipfile.ZipFile(os.path.join(src, "fixtures", f + ".pt"))
    for n in z.namelist():
        if n.endswith("data.pkl"):
            open(os.path.join(work, "seeds_pt", f + ".pkl"), "wb").write(z.read(n))
def st(name, tensors, meta):
    hdr, data = {"__metadata__": meta}, b""
    for k, (dt, shape, raw) in tensors.items():
        hdr[k] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(hdr, separators=(",", ":")).encode()
    open(os.path.join(work, "seeds_st", name), "wb").write(struct.pack("<Q", len(h)) + h + data)
cfg = open(os.path.join(src, "tiny_config.json")).read()
st("a.st", {"x": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
            "quantizer._levels": ("I32", [6], struct.pack("<6i", 8, 8, 8, 5, 5, 5)),
            "h": ("F16", [1], b"\x00\x3c"), "b": ("BF16", [2], b"\x80\x3f\x00\x40")},
   {"format": "infotok-weights", "format_version": "1", "config": cfg})
st("b.st", {"e": ("I64", [0, 3], b""), "u": ("U8", [3], b"abc")}, {})
open(os.path.join(work, "seeds_st", "tiny_config.json"), "w").write(cfg)
PY

status=0
for seeds in seeds_pt seeds_st; do
    echo "fuzz.sh: $seeds for ${secs}s"
    ( cd "$work" && ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
        ./fuzz_weights -max_total_time="$secs" -max_len=16384 -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 corpus "$seeds" ) >"$work/$seeds.log" 2>&1 || status=1
    grep -E "^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*DONE|ERROR|SUMMARY" "$work/$seeds.log" || true
done
ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null && status=1
echo "fuzz.sh: corpus of $(ls "$work/corpus" | wc -l) inputs; status $status"
exit $status
