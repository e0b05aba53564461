#!/bin/sh
# test_manpages: every long option a tool's --help lists is documented in its man page,
# and every option the man page documents is in --help.
. "$top_srcdir/tests/cli/lib.sh"
for tool in it-scan it-encode; do
  page=$top_srcdir/man/$tool.1
  [ -f "$page" ] || { fail "$tool: no man page"; continue; }
  "$top_builddir/$tool" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u >"$TMP/help"
  sed 's/\\-/-/g' "$page" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u >"$TMP/man"
  comm -23 "$TMP/help" "$TMP/man" | while read -r opt; do echo "FAIL: $tool: $opt not in the man page" >&2; done
  comm -13 "$TMP/help" "$TMP/man" | while read -r opt; do echo "FAIL: $tool: $opt not in --help" >&2; done
  cmp -s "$TMP/help" "$TMP/man" || fail "$tool: --help and man page disagree"
done
finish
