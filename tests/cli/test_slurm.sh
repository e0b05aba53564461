#!/bin/sh
# test_slurm: the examples' pipelines give the same tokens, masks and rates as one process.
#  1. examples/parallel/pipeline.sh (GNU parallel, 4 tasks) against a single-process run.
#  2. A one-node Slurm cluster started here (munged, slurmctld, slurmd from Debian, with a
#     generated config under the test's temporary directory; stopped at the end) runs
#     examples/slurm/pipeline.sh as 4-task arrays; then submits it again over the finished
#     work (nothing may be redone); then runs it once more with one encode task killed
#     part-way (SIGKILL), that task resubmitted alone (ARRAY=I), and the result compared.
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
# skip the Slurm part, unless the parallel part failed
skip_slurm() {
  [ "$failures" = 0 ] || finish
  skip "Slurm part: $*"
}
[ -z "$why" ] || skip_slurm "$why"
PATH=$PATH:/usr/sbin
S=$TMP/slurm
mkdir -p "$S/state" "$S/spool" "$S/log" "$S/run"
stop_all() {
  # jobs first, so that no slurmstepd or tool outlives the test
  if [ -f "$S/run/slurmctld.pid" ]; then
    scancel -p test 2>/dev/null
    k=0
    while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ $k -lt 20 ]; do sleep 0.25; k=$((k + 1)); done
  fi
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
  --log-file="$S/log/munged.log" --seed-file="$S/run/munge.seed" || skip_slurm "munged does not start here"
host=$(hostname -s)
# two free ports, from the kernel (bound at once, so distinct); else a guess from the pid
ports=$(python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])' 2>/dev/null) || ports="$((20000 + $$ % 20000)) $((20001 + $$ % 20000))"
# shellcheck disable=SC2086
set -- $ports
cat >"$S/slurm.conf" <<EOF
ClusterName=ittest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$1
SlurmdPort=$2
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
# start dependent jobs as soon as they can run (the default waits up to 3 s each time)
SchedulerParameters=batch_sched_delay=0
MailProg=/bin/true
# the configured size, whatever the machine has (no drain for too few CPUs; 2 tasks at once)
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$S/slurm.conf"
slurmctld -f "$SLURM_CONF" -i || skip_slurm "slurmctld does not start here: $(tail -2 "$S/log/slurmctld.log")"
slurmd -f "$SLURM_CONF" || skip_slurm "slurmd does not start here: $(tail -2 "$S/log/slurmd.log")"
i=0
until sinfo -h -o %t 2>/dev/null | grep -q idle; do
  i=$((i + 1))
  [ $i -lt 60 ] || skip_slurm "the Slurm node never became idle: $(tail -2 "$S/log/slurmd.log")"
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

# 2b. the same pipeline submitted again over finished work: it ends the same and rewrites
# nothing (the manifest, streams and shards keep their times)
touch run1/before-rerun
# shellcheck disable=SC2086
TASKS=4 ENCODE_OPTS="$OPTS" IT_BIN="$top_builddir" "$top_srcdir/examples/slurm/pipeline.sh" run1 $VIDEOS >submit1b.txt ||
  fail "submitting the pipeline again failed"
wait_queue 300
redone=$(find run1/manifest.jsonl run1/enc run1/full run1/rate -type f -newer run1/before-rerun)
[ -z "$redone" ] || fail "a rerun over finished work rewrote: $redone"
[ -n "$(find run1/stats.txt -newer run1/before-rerun)" ] || fail "the rerun did not reach its last step: $(tail -n 3 run1/logs/* | tail -20)"
summary run1/rate/task-*.itshard | cmp -s - want.txt || fail "after a rerun, the result differs"

# 2c. an encode task killed part-way: the steps after it are cancelled; that task alone is
# resubmitted (ARRAY=I: encode and pack task I, then the reduce, allocate and stats)
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
[ -n "$killed" ] || hard "no encode task was caught running"
wait_queue 300
[ -s run2/stats.txt ] && fail "the pipeline finished although encode task $killed was killed"
[ -e "run2/full/task-$killed.done" ] && fail "pack task $killed ran although its encode task was killed"
# the reduce refuses a corpus with a task missing (run here, outside Slurm, as the job would)
if IT_EXAMPLES=$top_srcdir/examples/slurm IT_WORK=$TMP/run2 IT_TASKS=4 IT_BIN=$top_builddir \
  sh "$top_srcdir/examples/slurm/reduce.sbatch" >reduce.txt 2>&1; then
  fail "the reduce ran without the shards of task $killed"
fi
grep -q "task(s) $killed are not complete" reduce.txt || fail "the reduce did not name task $killed: $(cat reduce.txt)"
[ -e run2/corpus-elbo.json ] && fail "the reduce wrote a statistic without task $killed"
# shellcheck disable=SC2086
ARRAY=$killed TASKS=4 ENCODE_OPTS="$OPTS" IT_BIN="$top_builddir" "$top_srcdir/examples/slurm/pipeline.sh" run2 $VIDEOS >submit3.txt ||
  fail "resubmitting the killed task failed"
enc3=$(sed -n 's/.*encode \([0-9]*\),.*/\1/p' submit3.txt)
wait_queue 300
if [ -s run2/stats.txt ]; then
  summary run2/rate/task-*.itshard | cmp -s - want.txt || fail "after a killed task resubmitted alone, the result differs"
  grep -q BAD run2/verify.txt && fail "after a killed task resubmitted alone, the shards do not verify"
else
  fail "the resubmitted task's pipeline did not finish: $(tail -n 3 run2/logs/* 2>/dev/null | tail -20)"
fi
# the resubmitted array held that task only
set -- run2/logs/encode."$enc3"_*.txt
if [ "$#" != 1 ] || [ "$1" != "run2/logs/encode.${enc3}_$killed.txt" ]; then
  fail "ARRAY=$killed ran encode tasks: $*"
fi
kept=$(sed -n 's/.*resuming after \([0-9]*\) complete videos.*/\1/p' "run2/logs/encode.${enc3}_$killed.txt")
echo "encode task $killed killed (its stream held ${kept:-no} complete videos) and resubmitted alone" >&2
finish
