#!/bin/sh
# test_official: the full official configuration (123M parameters) through the C loader and
# engine, against the PyTorch reference: a deterministic random-weight checkpoint in the
# official .pt layout (bf16, with EMA decoys), generated here and never committed, and one
# window of real footage. Needs Debian's python3-torch; skips (77) without it.
. "$top_srcdir/tests/cli/lib.sh"
PY=/usr/bin/python3
"$PY" -c 'import torch' 2>/dev/null || skip "python3-torch not installed (scripts/setup-deps.sh --torch)"
[ -f "$OPENCV/vtest.avi" ] || skip "opencv-doc not installed"
"$PY" "$top_srcdir/tests/model/make_official_pt.py" "$TMP/official.pt" >/dev/null || hard "make_official_pt.py failed"
"$PY" "$top_srcdir/tests/model/official_io.py" "$TMP/official.pt" "$TMP/io.safetensors" || hard "official_io.py failed"
"$top_builddir/tests/model/test_model" "$TMP/official.pt" "$TMP/io.safetensors" cpu || fail "engine differs from the reference"
finish
