#!/bin/sh
# pipeline.sh: the Slurm pipeline of examples/slurm/ on one machine with GNU parallel: the same
# steps, the same task slices (--shard I/N), the same result.
#   examples/parallel/pipeline.sh WORKDIR VIDEO_DIR_OR_FILES...
# Environment: TASKS (4), JOBS (tasks run at once: 2), RATE (0.5), BALANCE (duration),
# ENCODE_OPTS. Rerunning it skips finished work.
# GPUs: one process per GPU on a node with G of them is JOBS=G and, in ENCODE_OPTS,
# --device 'cuda:{=$_=slot()-1=}' (no spaces: GNU parallel makes it cuda:0..G-1 from the
# slot of each running job).
set -eu
work=$1; shift
TASKS=${TASKS:-4}; JOBS=${JOBS:-2}; RATE=${RATE:-0.5}; BALANCE=${BALANCE:-duration}
ENCODE_OPTS=${ENCODE_OPTS:-}
mkdir -p "$work/enc" "$work/full" "$work/rate"
[ -s "$work/manifest.jsonl" ] || { it-scan -q --count-frames "$@" >"$work/manifest.jsonl.tmp" &&
  mv "$work/manifest.jsonl.tmp" "$work/manifest.jsonl"; }
tasks=$(seq 0 $((TASKS - 1)))
# shellcheck disable=SC2086
printf '%s\n' $tasks | parallel --halt now,fail=1 -j "$JOBS" \
  it-encode -q --full-rate --shard {}/"$TASKS" --balance "$BALANCE" --resume $ENCODE_OPTS \
  -o "$work/enc/task-{}.itok" "$work/manifest.jsonl"
printf '%s\n' $tasks | parallel --halt now,fail=1 -j "$JOBS" \
  "[ -e $work/full/task-{}.done ] || { it-pack -q --resume -o $work/full/task-{} $work/enc/task-{}.itok && touch $work/full/task-{}.done; }"
it-pack elbo-stat "$work"/full/task-*.itshard >"$work/corpus-elbo.json"
printf '%s\n' $tasks | parallel --halt now,fail=1 -j "$JOBS" \
  "ls $work/full/task-{}-*.itshard >/dev/null 2>&1 || exit 0; [ -e $work/rate/task-{}.done ] ||
   { it-pack -q --resume -o $work/rate/task-{} --avg-rate $RATE --strategy global_elbo \
     --elbo-stat $work/corpus-elbo.json $work/full/task-{}-*.itshard && touch $work/rate/task-{}.done; }"
it-pack verify "$work"/rate/task-*.itshard >"$work/verify.txt"
# the index over all shards: video id -> shard and ordinal
it-pack list "$work"/rate/task-*.itshard >"$work/index.tsv"
it-stats "$work"/rate/task-*.itshard >"$work/stats.txt"
echo "results: $work/rate/ (shards), $work/stats.txt"
