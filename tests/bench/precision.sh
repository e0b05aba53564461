#!/bin/sh
# precision.sh BUILDDIR [WEIGHTS]: fp32 against bf16 on the cpu backend, side by side in the
# same session (bench_model, alternately), for the official configuration (123M parameters,
# deterministic random weights in the official .pt layout from tests/model/make_official_pt.py
# unless WEIGHTS is given), at 1 and 2 threads: frames/s, steady-state user and system CPU
# time per window, page faults, peak RSS. Each precision loads its own native file
# (it-convert -t f32 / -t bf16), which the engine uses in place from the mapping: the load
# time and the peak memory are then the engine's, not the .pt reader's. Then the bf16-vs-fp32 agreement (agree_model) on
# real footage (opencv-doc clips, cut with ffmpeg). Results: tests/bench/RESULTS.md and
# man/infotok-precision.7.
#   SIZES="17x128x128 33x256x256" REPS=1 THREADS="1 2" override the defaults.
# OMP_WAIT_POLICY=passive: on a shared machine spinning OpenMP threads would count their
# waits as user time; passive waits keep the CPU-time columns the work done.
set -eu
build=${1:-build/release}
here=$(cd "$(dirname "$0")" && pwd)
tmp=${TMPDIR:-/tmp}/it-bench-precision
mkdir -p "$tmp"
weights=${2:-$tmp/official.pt}
[ -f "$weights" ] || /usr/bin/python3 "$here/../model/make_official_pt.py" "$weights" >/dev/null
make -C "$build" tests/bench/bench_model tests/bench/agree_model it-convert >/dev/null
for dt in f32 bf16; do
  [ -f "$tmp/official-$dt.safetensors" ] ||
    "$build/it-convert" -q -t "$dt" "$weights" "$tmp/official-$dt.safetensors"
done
export OMP_WAIT_POLICY=passive
sizes=${SIZES:-"17x128x128 33x256x256"}
reps=${REPS:-1}
threads=${THREADS:-"1 2"}
for size in $sizes; do
  T=${size%%x*}; rest=${size#*x}; H=${rest%%x*}; W=${rest#*x}
  for th in $threads; do
    for prec in fp32 bf16; do
      echo "## $size threads $th $prec"
      dt=f32; [ "$prec" = bf16 ] && dt=bf16
      "$build/tests/bench/bench_model" "$tmp/official-$dt.safetensors" "$T" "$H" "$W" "$th" "$reps" "$prec" |
        grep -E '^(load_s|first_window_s|per_window_s|steady_|conv_s)'
    done
  done
done
# agreement on real footage: one window of each clip, 17x128x128
data=/usr/share/doc/opencv-doc/examples/data
clips=
for c in tree vtest; do
  [ -f "$data/$c.avi" ] || continue
  ffmpeg -loglevel error -y -ss 0 -i "$data/$c.avi" -frames:v 17 -vf "scale=-2:128,crop=128:128" \
    -f rawvideo -pix_fmt rgb24 "$tmp/$c.rgb"
  clips="$clips $tmp/$c.rgb"
done
[ -n "$clips" ] && "$build/tests/bench/agree_model" "$weights" 17 128 128 2 $clips
exit 0
