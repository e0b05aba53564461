#!/bin/sh
# setup-deps.sh: install what infotok needs to build and test, from Debian's packages.
# Idempotent: packages already present are left as they are. Run as root (or through sudo).
#   scripts/setup-deps.sh            build + test dependencies
#   scripts/setup-deps.sh --torch    python3-torch (now always installed: the Python package's tests)
#   scripts/setup-deps.sh --browser  also chromium, to render it-stats' figures in a test
set -eu

build="build-essential autoconf automake libtool pkg-config
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  liblmdb-dev libzstd-dev libarchive-dev libjansson-dev"
# Tests: real footage (opencv-doc), the ffmpeg CLI to make more, archive and JSON tools,
# the shard readers' Python modules, the Python package's tests (pytest; torch for its
# DataLoader tests; venv, pip, setuptools and wheel for its offline install), and GNU
# parallel + a one-node Slurm for the examples.
test="ffmpeg opencv-doc libarchive-tools jq lmdb-utils zstd python3 python3-numpy python3-lmdb python3-zstandard
  python3-pytest python3-torch python3-venv python3-pip python3-setuptools python3-wheel
  parallel slurmd slurmctld slurm-client munge"
extra=""
for arg in "$@"; do
  case "$arg" in
    --torch) extra="$extra python3-torch" ;;
    --browser) extra="$extra chromium" ;;
    *) echo "setup-deps.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

pkgs="$build $test $extra"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "setup-deps.sh: all dependencies are installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "setup-deps.sh: installing$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
