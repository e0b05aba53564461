#!/bin/sh
# engine-vs-torch.sh BUILDDIR [THREADS]: the C engine (bench_model) against the PyTorch
# reference (bench_torch.py) on the same weights and window sizes, run alternately in the
# same session (shared machines are noisy: only the ratios mean much). Needs python3-torch.
#   - the official configuration (123M parameters, random weights in the official .pt layout)
#   - the bundled small model, at 33x256x256 (it-encode's default window)
set -eu
build=${1:-build/release}
threads=${2:-1}
here=$(cd "$(dirname "$0")" && pwd)
tmp=${TMPDIR:-/tmp}/it-bench-torch
mkdir -p "$tmp"
[ -f "$tmp/official.pt" ] || /usr/bin/python3 "$here/../model/make_official_pt.py" "$tmp/official.pt" >/dev/null
make -C "$build" tests/bench/bench_model >/dev/null
run() { # weights T H W reps
  echo "## $1 ${2}x${3}x${4}, $threads threads"
  for rep in 1 2; do
    "$build/tests/bench/bench_model" "$1" "$2" "$3" "$4" "$threads" "$5" | sed "s/^/C rep$rep: /"
    /usr/bin/python3 "$here/bench_torch.py" "$1" "$2" "$3" "$4" "$threads" "$5" | sed "s/^/torch rep$rep: /"
  done
}
run "$tmp/official.pt" 9 64 64 2
run "$tmp/official.pt" 17 128 128 1
model=$here/../../models/infotok-small.safetensors
[ -f "$model" ] && run "$model" 33 256 256 2
exit 0
