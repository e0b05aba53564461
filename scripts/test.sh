#!/bin/sh
# test.sh: set up, build (with ASan/UBSan) and run the whole test suite, then check the
# distribution tarball builds and passes too. This is what .ci/run and the README run.
set -eu
cd "$(dirname "$0")/.."
scripts/setup-deps.sh --browser
[ -x configure ] || autoreconf -fi
mkdir -p build/test && cd build/test
[ -f Makefile ] || ../../configure --enable-sanitizers
jobs=$(nproc 2>/dev/null || echo 2)
status=0
make -j"$jobs" check || status=$?
# One closing line for people and CI alike, from the harness's own summary.
if [ -f test-suite.log ]; then
  pass=$(sed -n 's/^# PASS: *//p' test-suite.log); fail=$(sed -n 's/^# FAIL: *//p' test-suite.log)
  skip=$(sed -n 's/^# SKIP: *//p' test-suite.log); err=$(sed -n 's/^# ERROR: *//p' test-suite.log)
  echo "tests: ${pass:-0} passed, $(( ${fail:-0} + ${err:-0} )) failed, ${skip:-0} skipped"
fi
[ "$status" = 0 ] || { cat test-suite.log 2>/dev/null | tail -100; exit "$status"; }
# The README's first command, as a fresh machine runs it: a new build directory, more make
# jobs than cores (the build must be race-free), then the whole demo job.
if [ "${IT_SKIP_DEMO:-0}" != 1 ]; then
  rm -rf ../ci-demo
  (cd ../.. && IT_DEMO_BUILD=build/ci-demo IT_DEMO_JOBS=$((jobs * 2)) scripts/demo.sh >build/test/demo.log 2>&1) ||
    { tail -40 demo.log; echo "demo: FAILED"; exit 1; }
  echo "demo: ok"
fi
if [ "${IT_SKIP_DISTCHECK:-0}" != 1 ]; then
  make -j"$jobs" distcheck >distcheck.log 2>&1 || { tail -60 distcheck.log; exit 1; }
  echo "distcheck: ok"
fi
