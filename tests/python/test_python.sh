#!/bin/sh
# test_python: the Python package (python/, imported as infotok): its pytest suite (readers and
# re-allocation against the C tools' dumps on real shards, damaged inputs, the datasets with
# 2 DataLoader workers and a simulated 2-rank world, resume, packing), then an offline
# `pip install` of python/ into a venv that sees Debian's numpy, lmdb and zstandard.
. "$top_srcdir/tests/cli/lib.sh"
# Debian's python3 (where the python3-* packages install), not a pyenv shim on PATH.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=${PYTHON3:-python3}
$PY -c 'import numpy, lmdb, zstandard' 2>/dev/null ||
  skip "python3-numpy, python3-lmdb or python3-zstandard not installed (scripts/setup-deps.sh)"
$PY -c 'import pytest' 2>/dev/null || skip "python3-pytest not installed (scripts/setup-deps.sh)"
# the sources may be read-only (distcheck): no bytecode or pytest cache there, the package
# is built from a copy
export PYTHONDONTWRITEBYTECODE=1
INFOTOK_BUILDDIR=$top_builddir PYTHONPATH=$top_srcdir/python TMPDIR=$TMP \
  $PY -m pytest -q -p no:cacheprovider -o cache_dir="$TMP/.cache" "$top_srcdir/python/tests" >"$TMP/pytest.txt" 2>&1 ||
  fail "pytest python/tests failed: $(tail -40 "$TMP/pytest.txt")"
tail -1 "$TMP/pytest.txt"
grep -q ' passed' "$TMP/pytest.txt" || fail "pytest ran no test"

# Offline install: no network, no build isolation (setuptools and wheel from Debian), no
# index; the runtime dependencies come from the system site-packages.
if $PY -c 'import venv, setuptools, wheel' 2>/dev/null; then
  cp -R "$top_srcdir/python" "$TMP/src" && chmod -R u+w "$TMP/src" || hard "cannot copy python/"
  rm -rf "$TMP/src/tests"
  $PY -m venv --system-site-packages --without-pip "$TMP/venv" || hard "python3 -m venv failed"
  (cd "$TMP" && PYTHONPATH= "$TMP/venv/bin/python" -m pip install -q --no-build-isolation --no-index ./src) \
    >"$TMP/pip.txt" 2>&1 || fail "pip install ./python failed offline: $(cat "$TMP/pip.txt")"
  (cd / && PYTHONPATH= "$TMP/venv/bin/python" -c '
import sys, infotok
assert infotok.__file__.startswith(sys.prefix), infotok.__file__
print(infotok.__version__)') >"$TMP/v.txt" 2>&1 || fail "the installed package does not import: $(cat "$TMP/v.txt")"
  grep -qx '0.1.0' "$TMP/v.txt" || fail "installed version: $(cat "$TMP/v.txt")"
  # the installed command line on a real stream, against it-pack dump
  if [ -f "$OPENCV/tree.avi" ]; then
    it-encode -q --crop 32x32 --avg-rate 0.5 -o "$TMP/t.itok" "$OPENCV/tree.avi" || hard "it-encode failed"
    (cd / && PYTHONPATH= "$TMP/venv/bin/python" -m infotok dump "$TMP/t.itok") | grep -E '^(WINDOW|TOKENS|KEEP)' >"$TMP/py.txt"
    it-pack dump "$TMP/t.itok" | grep -E '^(WINDOW|TOKENS|KEEP)' >"$TMP/c.txt"
    [ -s "$TMP/c.txt" ] && cmp -s "$TMP/c.txt" "$TMP/py.txt" || fail "the installed package's dump differs from it-pack's"
  fi
else
  echo "python3-venv, python3-setuptools or python3-wheel missing: pip install not tested" >&2
fi
finish
