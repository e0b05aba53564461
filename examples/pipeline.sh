#!/bin/sh
# pipeline.sh VIDEO_DIR OUT_DIR: the toolkit's main job on one machine, as shell commands.
#   1. probe every video into a manifest (errors recorded, the run goes on);
#   2. tokenize with the bundled model: full-rate records, so any rate can be chosen later;
#   3. a second stream at average rate 0.5 spread by ELBO over the whole corpus.
set -eu
videos=$1
out=$2
threads=$(nproc 2>/dev/null || echo 2)
mkdir -p "$out"
it-scan -@ "$threads" "$videos" >"$out/manifest.jsonl" || [ $? = 1 ]   # 1: some inputs failed
it-encode -@ "$threads" --full-rate -o "$out/full.itok" "$out/manifest.jsonl" || [ $? = 1 ]
it-encode -@ "$threads" --strategy global_elbo --avg-rate 0.5 -o "$out/rate-0.5.itok" \
  "$out/manifest.jsonl" || [ $? = 1 ]
python3 "$(dirname "$0")/read_stream.py" "$out/rate-0.5.itok"
