#!/bin/sh
# test_slurm: the examples' pipelines give the same tokens, masks and rates as one process.
#  1. examples/parallel/pipeline.sh (GNU parallel, 4 tasks) against a single-process run.
#  2. A one-node Slurm cluster started here (munged, slurmctld, slurmd from Debian, with a
#     generated config under the test's temporary directory; stopped at the end) runs
#     examples/slurm/pipeline.sh as 4-task arrays; then again with one encode task killed
#     part-way (SIGKILL), the pipeline resubmitted, and the result compared once more.
# Skips (77) what the machine cannot run, saying why.
. "$top_srcdir/tests/cli/lib.sh"
need_gen
need_opencv
V=$GEN/videos
D=$OPENCV
cd "$TMP" || hard "no temp dir"
VIDEOS="$V/h264.mp4 $V/long.mkv $V/vp9.webm $V/mpeg4.avi $D/tree.avi $D/Megamind.avi"
OPTS="--crop 48x48"
# the same bits any way: tokens, masks, and which video they belong to (ordinals are per shard)
summary() { it-pack dump "$@" | grep -E '^(TOKENS|KEEP|VIDEO	)' | sed 's/"ordinal":[0-9]*,*//'; }

# The single-process reference: one stream, global_elbo over all of it.
# shellcheck disable=SC2086
it-scan -q --count-frames $VIDEOS >manifest.jsonl || hard "it-scan failed"
# shellcheck disable=SC2086
it-encode -q --full-rate $OPTS -o single.itok manifest.jsonl || hard "it-encode failed"
it-pack -q -o single/s --avg-rate 0.5 --strategy global_elbo single.itok || hard "it-pack failed"
summary single/s-*.itshard >want.txt
[ "$(grep -c '^VIDEO' want.txt)" = 6 ] || hard "the reference holds $(grep -c '^VIDEO' want.txt) videos"

# 1. GNU parallel
if command -v parallel >/dev/null 2>&1; then
  # shellcheck disable=SC2086
  TASKS=4 JOBS=2 ENCODE_OPTS="$OPTS" "$top_srcdir/examples/parallel/pipeline.sh" par $VIDEOS >par.log 2>&1 ||
    fail "the parallel pipeline failed: $(tail -3 par.log)"
  summary par/rate/task-*.itshard | cmp -s - want.txt || fail "the parallel pipeline differs from one process"
  grep -q BAD par/verify.txt && fail "the parallel pipeline's shards do not verify"
else
  echo "GNU parallel not installed: its pipeline not run" >&2
fi

# 2. Slurm
why=""
[ "$(id -u)" = 0 ] || why="not root (the test runs slurmd, which starts jobs as their users)"
for b in munged slurmctld slurmd sbatch squeue; do
  command -v "$b" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin command -v "$b" >/dev/null 2>&1 || why="$b not installed"
done
if [ -n "$why" ]; then
  [ "$failures" = 0 ] || finish
  skip "Slurm part: $why"
fi
PATH=$PATH:/usr/sbin
S=$TMP/slurm
mkdir -p "$S/state" "$S/spool" "$S/log" "$S/run"
stop_all() {
  for p in slurmd slurmctld munged; do
    [ -f "$S/run/$p.pid" ] && kill "$(cat "$S/run/$p.pid")" 2>/dev/null
  done
  sleep 1
  for p in slurmd slurmctld munged; do
    [ -f "$S/run/$p.pid" ] && kill -9 "$(cat "$S/run/$p.pid")" 2>/dev/null
  done
  [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap stop_all EXIT
dd if=/dev/urandom of="$S/munge.key" bs=1024 count=1 2>/dev/null && chmod 400 "$S/munge.key"
munged --force --key-file="$S/munge.key" --socket="$S/run/munge.sock" --pid-file="$S/run/munged.pid" \
  --log-file="$S/log/munged.log" --seed-file="$S/run/munge.seed" || skip "munged does not start here"
host=$(hostname -s)
port=$((20000 + $$ % 20000))
cat >"$S/slurm.conf" <<EOF
ClusterName=ittest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$S/run/munge.sock
CredType=cred/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerParameters=defer_batch
NodeName=$host CPUs=2 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$S/slurm.conf"
slurmctld -f "$SLURM_CONF" -i || skip "slurmctld does not start here: $(tail -2 "$S/log/slurmctld.log")"
slurmd -f "$SLURM_CONF" || skip "slurmd does not start here: $(tail -2 "$S/log/slurmd.log")"
i=0
until sinfo -h -o %t 2>/dev/null | grep -q idle; do
  i=$((i + 1))
  [ $i -lt 60 ] || skip "the Slurm node never became idle: $(tail -2 "$S/log/slurmd.log")"
  sleep 0.5
done

# wait_queue: until no job is left, at most $1 seconds
wait_queue() {
  n=0
  while [ -n "$(squeue -h -o %i 2>/dev/null)" ]; do
    n=$((n + 1))
    [ $n -lt $(($1 * 4)) ] || { fail "jobs still queued after $1 s: $(squeue -h)"; return 1; }
    sleep 0.25
  done
}

# 2a. the whole pipeline as arrays of 4
# shellcheck disable=SC2086
TASKS=4 ENCODE_OPTS="$OPTS" IT_BIN="$top_builddir" "$top_srcdir/examples/slurm/pipeline.sh" run1 $VIDEOS >submit1.txt ||
  fail "submitting the pipeline failed"
wait_queue 300
if [ -s run1/stats.txt ]; then
  summary run1/rate/task-*.itshard | cmp -s - want.txt || fail "the Slurm pipeline differs from one process"
  grep -q BAD run1/verify.txt && fail "the Slurm pipeline's shards do not verify"
  # the reduce merged the tasks' statistics: equal to statistics over all the shards at once
  it-stats run1/rate/task-*.itshard | grep -v -E '^#|^DQ' >direct.txt
  grep -v -E '^#|^DQ' run1/stats.txt | cmp -s - direct.txt || fail "merged statistics differ from direct ones"
else
  fail "the Slurm pipeline did not finish: $(tail -n 3 run1/logs/* 2>/dev/null | tail -20)"
fi

# 2b. an encode task killed part-way, then the pipeline submitted again
# shellcheck disable=SC2086
TASKS=4 ENCODE_OPTS="$OPTS" IT_BIN="$top_builddir" "$top_srcdir/examples/slurm/pipeline.sh" run2 $VIDEOS >submit2.txt ||
  fail "submitting the pipeline failed"
enc=$(sed -n 's/.*encode \([0-9]*\),.*/\1/p' submit2.txt)
killed=""
n=0
while [ -z "$killed" ] && [ $n -lt 1200 ]; do
  for f in run2/enc/task-*.itok.partial; do
    [ -e "$f" ] || continue
    t=${f#run2/enc/task-}; t=${t%.itok.partial}
    scancel -s KILL "${enc}_$t" 2>/dev/null && killed=$t && break
  done
  n=$((n + 1))
  sleep 0.05
done
[ -n "$killed" ] || fail "no encode task was caught running"
wait_queue 300
[ -s run2/stats.txt ] && fail "the pipeline finished although encode task $killed was killed"
# shellcheck disable=SC2086
TASKS=4 ENCODE_OPTS="$OPTS" IT_BIN="$top_builddir" "$top_srcdir/examples/slurm/pipeline.sh" run2 $VIDEOS >submit3.txt ||
  fail "resubmitting the pipeline failed"
wait_queue 300
if [ -s run2/stats.txt ]; then
  summary run2/rate/task-*.itshard | cmp -s - want.txt || fail "after a killed task and a resubmission, the result differs"
else
  fail "the resubmitted pipeline did not finish: $(tail -n 3 run2/logs/* 2>/dev/null | tail -20)"
fi
echo "encode task $killed killed and resubmitted" >&2
finish
