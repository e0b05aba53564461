#!/bin/sh
# test_manpages: for every installed tool, each long option its --help lists is documented in
# its man page, and every option the man page documents is in --help.
. "$top_srcdir/tests/cli/lib.sh"
for bin in "$top_builddir"/it-*; do
  [ -x "$bin" ] && [ -f "$bin" ] || continue
  tool=${bin##*/}
  case $tool in *.*) continue ;; esac
  page=$top_srcdir/man/$tool.1
  [ -f "$page" ] || { fail "$tool: no man page"; continue; }
  "$bin" --help | grep -o -- '--[a-z][a-z0-9-]*' | sort -u >"$TMP/help"
  sed 's/\\-/-/g' "$page" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u >"$TMP/man"
  comm -23 "$TMP/help" "$TMP/man" | while read -r opt; do echo "FAIL: $tool: $opt not in the man page" >&2; done
  comm -13 "$TMP/help" "$TMP/man" | while read -r opt; do echo "FAIL: $tool: $opt not in --help" >&2; done
  cmp -s "$TMP/help" "$TMP/man" || fail "$tool: --help and man page disagree"
done
finish
