# lib.sh: shared by the shell tests. Exit 0 pass, 77 skip, 99 hard error.
set -u
: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}"
GEN=$top_builddir/tests/data/gen
OPENCV=/usr/share/doc/opencv-doc/examples/data
EXPECTED=$top_srcdir/tests/cli/expected
DUMP=$top_builddir/tests/helpers/dump_frames
failures=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/it-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
skip() { echo "SKIP: $*" >&2; exit 77; }
hard() { echo "ERROR: $*" >&2; exit 99; }
need_ffmpeg() { command -v "${FFMPEG:-ffmpeg}" >/dev/null 2>&1 || skip "ffmpeg CLI not installed"; }
need_gen() {
  [ -f "$GEN/videos/h264.mp4" ] && return
  command -v "${FFMPEG:-ffmpeg}" >/dev/null 2>&1 || skip "ffmpeg CLI not installed: no generated videos"
  hard "generated test videos missing ($GEN)"
}
need_opencv() { [ -f "$OPENCV/vtest.avi" ] || skip "opencv-doc is not installed (scripts/setup-deps.sh)"; }
need_jq() { command -v jq >/dev/null 2>&1 || skip "jq not installed"; }

# expect_status WANT CMD...: run CMD, check its exit status.
expect_status() {
  want=$1; shift
  "$@"; got=$?
  [ "$got" = "$want" ] || fail "exit status $got, expected $want: $*"
}

# compare_text NAME ACTUAL: compare with tests/cli/expected/NAME; IT_REGEN=1 rewrites it.
compare_text() {
  if [ "${IT_REGEN:-0}" = 1 ]; then
    cp "$2" "$EXPECTED/$1"; echo "regenerated $1"; return
  fi
  diff -u "$EXPECTED/$1" "$2" >&2 || fail "output differs from expected/$1"
}

finish() {
  [ "$failures" = 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
  exit 0
}
