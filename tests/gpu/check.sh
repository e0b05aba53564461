#!/bin/bash
# check.sh PREP_DIR REPORT_DIR: the CUDA backend on a real GPU, in one run (budget: 8 minutes
# on one H200-class GPU). Run from the source tree on a machine with nvcc, cuBLAS, a C/C++
# compiler, make and python3 with torch; PREP_DIR comes from tests/gpu/prepare.sh (build
# dependencies, generated autotools files, a clip). Steps, each with a time limit, each a line
# in REPORT_DIR/report.txt and an entry of REPORT_DIR/report.json:
#   build   configure --enable-cuda=yes and make, out of tree, in REPORT_DIR/build
#   ops     tests/gpu/gpu_ops: every op of the cuda backend against ref (the oracle the cpu
#           backend is held to) on tests/ops/test_ops.c's awkward sizes, fp32 and bf16, with
#           its tolerances (fp32: relative L2 and max error 2e-5 for GEMMs and attention, 2e-6
#           per element, bit-exact for data movement, Haar, pooling, ELBO, FSQ and pixels;
#           bf16: at most 1 bf16 ulp on at most 2% of elements, exact ops exact)
#   official  the official configuration (random weights, official .pt layout) through
#           tests/model/test_model on cuda, fp32, against the PyTorch reference's outputs on a
#           real window: the checks and tolerances the cpu backend passes in
#           tests/model/test_official.sh
#   clips   the bundled model on a real clip (17 frames, 256x256, raw frames from prepare.sh):
#           tests/gpu/clip_gpu tokenizes on cpu and cuda, fp32 and bf16; identical indices
#           >= 99% in fp32 and >= 90% in bf16, identical keep flags (rate 0.5) reported
#   bench   frames/s of tokenize (encode + ELBO decode) and detokenize, cuda bf16, official
#           configuration, 256x256 and 480x640 (480p at 4:3: RoPE's 96-token limit excludes
#           854 wide) x 17 frames, batch 1 and 8, beside the PyTorch reference in bf16 on the
#           same GPU (tests/gpu/bench_torch_gpu.py)
# Exit status: 0 when every step passed, 1 otherwise (the report says which).
set -u
set -a # every variable below reaches the steps, which run as bash -c under timeout
[ $# -eq 2 ] || { echo "usage: tests/gpu/check.sh PREP_DIR REPORT_DIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")/../.." && pwd)
prep=$(cd "$1" && pwd) || exit 2
mkdir -p "$2" && out=$(cd "$2" && pwd) || exit 2
PY=${PYTHON3:-python3}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
start=$(date +%s)
: >"$out/steps.tsv"

note() { # step status seconds detail
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$out/steps.tsv"
  printf '%-9s %-5s %4ss  %s\n' "$1" "$2" "$3" "$4"
}
step() { # name limit command...: runs with a time limit, output to REPORT_DIR/NAME.log
  name=$1 limit=$2
  shift 2
  t0=$(date +%s)
  export -f "$1"
  timeout "$limit" bash -c "$*" >"$out/$name.log" 2>&1
  rc=$?
  dt=$(($(date +%s) - t0))
  [ $rc -eq 124 ] && detail="timed out after ${limit}s" || detail="exit $rc"
  [ $rc -eq 0 ] && st=pass || st=FAIL
  return $rc
}

# ---- build ----
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
cuda=$(dirname "$(dirname "$NVCC")")
build() {
  IT_PREP_ENV=$prep/env.sh; . "$prep/env.sh"
  rm -rf "$out/src" "$out/build" && mkdir -p "$out/src" "$out/build" &&
    (cd "$src" && tar cf - --exclude=./build --exclude=./.git .) | (cd "$out/src" && tar xf -) &&
    cp -r "$prep/autotools/." "$out/src/" &&
    (cd "$out/src" && touch aclocal.m4 && sleep 1 && touch configure config.h.in && sleep 1 &&
      find . -name Makefile.in -exec touch {} +) && # generated files newer than their sources: no autotools here
    cd "$out/build" && "$out/src/configure" --enable-cuda=yes --with-cuda="$cuda" NVCC="$NVCC" \
      PYTHON3="$(command -v "$PY")" >configure.out &&
    make -j"$JOBS" && make -j"$JOBS" tests/ops/test_ops tests/model/test_model
}
step build "${IT_BUILD_LIMIT:-300}" build
note build $st $dt "$detail; $NVCC, $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
B=$out/build
IT_PREP_ENV=$prep/env.sh; . "$prep/env.sh"

# ---- libraries: prepare.sh brings the build dependencies and their direct libraries only;
# what those need in turn (libavutil: libva, libvdpau, libX11, libmfx, OpenCL; libarchive:
# libxml2) must come from the GPU machine. A missing one is named here, before the steps fail.
missing=
for p in gpu_ops bench_gpu clip_gpu; do
  [ -x "$B/tests/gpu/$p" ] && missing="$missing $(ldd "$B/tests/gpu/$p" 2>/dev/null | awk '/not found/{print $1}')"
done
[ -x "$B/tests/model/test_model" ] && missing="$missing $(ldd "$B/tests/model/test_model" 2>/dev/null | awk '/not found/{print $1}')"
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ -n "${missing// /}" ]; then
  note libs FAIL 0 "not found on this machine: $missing(extend tests/gpu/prepare.sh's list)"
else
  note libs pass 0 "every library of the GPU programs found"
fi

# ---- ops ----
if [ -x "$B/tests/gpu/gpu_ops" ]; then
  step ops 120 "$B/tests/gpu/gpu_ops"
  note ops $st $dt "$detail; $(tail -1 "$out/ops.log")"
fi

# ---- official configuration vs the PyTorch reference ----
official() {
  T=$out/official && mkdir -p "$T" &&
    "$PY" "$src/tests/model/make_official_pt.py" "$T/official.pt" >/dev/null &&
    IT_OFFICIAL_RAW=$prep/official_9x48x64.rgb "$PY" "$src/tests/model/official_io.py" "$T/official.pt" "$T/io.safetensors" &&
    "$B/tests/model/test_model" "$T/official.pt" "$T/io.safetensors" cuda
}
if [ -x "$B/tests/model/test_model" ]; then
  step official 180 official
  note official $st $dt "$detail; $(grep -c FAIL "$out/official.log") failed checks"
fi

# ---- the bundled model on a real clip: cpu vs cuda ----
clips() {
  for p in fp32 bf16; do
    "$B/tests/gpu/clip_gpu" "$src/models/infotok-small.safetensors" "$prep/clip_17x256x256.rgb" 17 256 256 $p ||
      return 1
  done
}
if [ -x "$B/tests/gpu/clip_gpu" ] && [ -f "$prep/clip_17x256x256.rgb" ]; then
  step clips 150 clips
  note clips $st $dt "$detail; $(grep identical "$out/clips.log" | tr '\n' ' ')"
fi

# ---- benchmark: engine (cuda, bf16) beside PyTorch (bf16) on the same GPU ----
bench() {
  W=$out/official/official.pt
  [ -f "$W" ] || "$PY" "$src/tests/model/make_official_pt.py" "$W" >/dev/null || return 1
  for size in "256 256" "480 640"; do
    for n in 1 8; do
      set -- $size
      "$B/tests/gpu/bench_gpu" "$W" cuda bf16 17 $1 $2 $n 3 || echo '{"backend": "cuda", "error": "failed"}'
      "$PY" "$src/tests/gpu/bench_torch_gpu.py" "$W" 17 $1 $2 $n 3 || echo '{"peer": "torch", "error": "failed"}'
    done
  done
}
if [ -x "$B/tests/gpu/bench_gpu" ]; then
  step bench 240 bench
  note bench $st $dt "$detail; $(grep -c frames_per_s "$out/bench.log") timings"
fi

# ---- report ----
"$PY" - "$out" "$(($(date +%s) - start))" <<'EOF'
import json, os, sys
out, total = sys.argv[1], int(sys.argv[2])
steps = []
for line in open(os.path.join(out, "steps.tsv")):
    name, status, secs, detail = line.rstrip("\n").split("\t", 3)
    steps.append({"step": name, "status": status, "seconds": int(secs), "detail": detail})
bench = []
p = os.path.join(out, "bench.log")
if os.path.exists(p):
    for line in open(p):
        if line.startswith("{"):
            try:
                bench.append(json.loads(line))
            except ValueError:
                pass
ratios = []
for c in bench:
    if c.get("backend") == "cuda" and "tokenize_frames_per_s" in c:
        peer = [t for t in bench if t.get("peer") == "torch" and
                all(t.get(k) == c.get(k) for k in ("T", "H", "W", "batch"))]
        if peer and "tokenize_frames_per_s" in peer[0]:
            ratios.append({"H": c["H"], "W": c["W"], "batch": c["batch"],
                           "engine_fps": c["tokenize_frames_per_s"], "torch_fps": peer[0]["tokenize_frames_per_s"],
                           "ratio": round(c["tokenize_frames_per_s"] / peer[0]["tokenize_frames_per_s"], 3)})
ok = bool(steps) and all(s["status"] == "pass" for s in steps)
rep = {"passed": ok, "seconds": total, "steps": steps, "bench": bench, "tokenize_vs_torch": ratios}
json.dump(rep, open(os.path.join(out, "report.json"), "w"), indent=1)
with open(os.path.join(out, "report.txt"), "w") as f:
    f.write("infotok CUDA check: %s in %d s\n\n" % ("PASSED" if ok else "FAILED", total))
    for s in steps:
        f.write("%-9s %-5s %4ds  %s\n" % (s["step"], s["status"], s["seconds"], s["detail"]))
    if ratios:
        f.write("\ntokenize (encode + ELBO decode), bf16, 17 frames: frames/s\n")
        for r in ratios:
            f.write("  %4dx%-4d batch %d: engine %8.2f  torch %8.2f  ratio %.3f\n"
                    % (r["H"], r["W"], r["batch"], r["engine_fps"], r["torch_fps"], r["ratio"]))
print(open(os.path.join(out, "report.txt")).read())
sys.exit(0 if ok else 1)
EOF
