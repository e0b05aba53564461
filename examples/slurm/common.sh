# common.sh: sourced by the .sbatch scripts: the tools' location and the work layout.
set -eu
[ -n "${IT_BIN:-}" ] && PATH=$IT_BIN:$PATH
work=$IT_WORK
id=${SLURM_ARRAY_TASK_ID:-0}
