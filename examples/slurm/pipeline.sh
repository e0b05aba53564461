#!/bin/sh
# pipeline.sh: a corpus through the infotok tools on a Slurm cluster, as dependent jobs:
#
#   scan (1 job) -> encode (array of N) -> pack (array of N, task i after encode task i)
#   -> reduce (1 job: the corpus ELBO statistic from the shards' stored sums; no model)
#   -> allocate (array of N: global_elbo rates, one shard set per task) -> stats (1 job)
#
# Every step can be rerun: finished work is kept and skipped (it-encode --resume,
# it-pack --resume, done markers), so after a failure, run this script again with the same
# arguments. A failed encode or pack task cancels the steps after it (--kill-on-invalid-dep);
# to rerun only that task and the steps after it, give its index: ARRAY=2 (or ARRAY=1,3).
# The result equals a single-process run over the same videos: each task's slice is fixed by
# its index, TASKS and BALANCE, and the global statistic is an exact, order-free sum.
#
#   examples/slurm/pipeline.sh WORKDIR VIDEO_DIR_OR_FILES...
# Environment: TASKS (4), ARRAY (the encode and pack tasks to submit: 0-(TASKS-1)), RATE (0.5),
# BALANCE (duration), ENCODE_OPTS (e.g. "--short-side 256 --crop 256x256"), SBATCH_OPTS (e.g.
# "--partition=gpu"), IT_BIN (where the it-* tools are; default: from PATH).
# GPUs: give the encode array a GPU per task in encode.sbatch (#SBATCH --gres=gpu:1) and set
# ENCODE_OPTS="--device cuda"; a node with G GPUs then runs G tasks at once, one process per
# GPU, each seeing only its own. Without Slurm's GPU binding, one process per GPU is
# --device cuda:N with N the GPU's index (see examples/parallel/pipeline.sh).
set -eu
work=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
TASKS=${TASKS:-4}; RATE=${RATE:-0.5}; BALANCE=${BALANCE:-duration}
mkdir -p "$work/logs"
work=$(cd "$work" && pwd)
export IT_EXAMPLES="$here" IT_WORK="$work" IT_TASKS="$TASKS" IT_RATE="$RATE" IT_BALANCE="$BALANCE" \
  IT_ENCODE_OPTS="${ENCODE_OPTS:-}" IT_BIN="${IT_BIN:-}" IT_INPUTS="$*"
last=$((TASKS - 1))
ARRAY=${ARRAY:-0-$last}
sb() { sbatch --parsable --export=ALL --kill-on-invalid-dep=yes ${SBATCH_OPTS:-} "$@"; }

scan=$(sb -J it-scan -o "$work/logs/scan.%j.txt" "$here/scan.sbatch")
enc=$(sb -J it-encode --array="$ARRAY" -d "afterok:$scan" -o "$work/logs/encode.%A_%a.txt" "$here/encode.sbatch")
pack=$(sb -J it-pack --array="$ARRAY" -d "aftercorr:$enc" -o "$work/logs/pack.%A_%a.txt" "$here/pack.sbatch")
reduce=$(sb -J it-reduce -d "afterok:$pack" -o "$work/logs/reduce.%j.txt" "$here/reduce.sbatch")
alloc=$(sb -J it-allocate --array=0-$last -d "afterok:$reduce" -o "$work/logs/allocate.%A_%a.txt" "$here/allocate.sbatch")
stats=$(sb -J it-stats -d "afterok:$alloc" -o "$work/logs/stats.%j.txt" "$here/stats.sbatch")
echo "submitted: scan $scan, encode $enc, pack $pack, reduce $reduce, allocate $alloc, stats $stats"
echo "results: $work/rate/ (shards), $work/stats.txt; logs: $work/logs/"
