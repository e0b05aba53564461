#!/bin/sh
# test_decode.sh: runs tests/unit/test_decode on the generated corpus.
. "$top_srcdir/tests/cli/lib.sh"
need_gen
"$top_builddir/tests/unit/test_decode" "$GEN/videos" || fail "test_decode"
finish
