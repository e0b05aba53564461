#!/bin/sh
# test_public_api: the library as an outside program gets it. `make install` into a scratch
# root; the installed headers compile on their own (C and C++); libinfotok.so exports only
# it_ symbols, versioned; examples/tokenize_one.c, built against the installed library with
# pkg-config, does for one video what it-scan | it-encode | it-pack do (the same tokens, masks
# and allocation); and the installed library does not look for its model in the build tree.
. "$top_srcdir/tests/cli/lib.sh"
need_gen
command -v pkg-config >/dev/null 2>&1 || skip "pkg-config not installed"
DEST=$TMP/root
# a nested make of this build tree, outside the running make's job server
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" install DESTDIR="$DEST" >"$TMP/install.log" 2>&1 ||
  hard "make install failed: $(tail -5 "$TMP/install.log")"
pc=$(find "$DEST" -name infotok.pc | head -1)
[ -n "$pc" ] || hard "infotok.pc was not installed"
prefix=$(sed -n 's/^prefix=//p' "$pc")
PKG="pkg-config --define-variable=prefix=$DEST$prefix"
export PKG_CONFIG_PATH=$(dirname "$pc")
cflags=$($PKG --cflags infotok) && libs=$($PKG --libs infotok) || hard "pkg-config does not know infotok"
libdir=$($PKG --variable=libdir infotok)

# 1. Headers: each compiles alone, in C11 and in C++ (extern "C"), with nothing but them.
for h in "$DEST$prefix"/include/infotok/*.h; do
  n=$(basename "$h")
  printf '#include <infotok/%s>\n#include <infotok/%s>\nint main(void) { return 0; }\n' "$n" "$n" >"$TMP/h.c"
  ${CC:-cc} -std=c11 -Wall -Wextra -Werror $cflags -c "$TMP/h.c" -o "$TMP/h.o" || fail "infotok/$n does not compile alone"
  if command -v c++ >/dev/null 2>&1; then
    cp "$TMP/h.c" "$TMP/h.cc"
    c++ -Wall -Werror $cflags -c "$TMP/h.cc" -o "$TMP/h.o" || fail "infotok/$n does not compile as C++"
  fi
done
[ -e "$DEST$prefix/include/infotok/infotok.h" ] || fail "the umbrella header is not installed"

# 2. Exports: it_ symbols only, in version node INFOTOK_1, soname libinfotok.so.1.
so=$(ls "$libdir"/libinfotok.so.1.* | head -1)
nm -D --defined-only "$so" | awk '$3 != "INFOTOK_1" { print $3 }' >"$TMP/syms"
grep -v '^it_' "$TMP/syms" && fail "libinfotok exports symbols without the it_ prefix"
[ "$(objdump -T "$so" | grep -c ' INFOTOK_1 ')" -gt 100 ] || fail "the exports are not versioned INFOTOK_1"
objdump -p "$so" | grep -q 'SONAME *libinfotok.so.1$' || fail "soname: $(objdump -p "$so" | grep SONAME)"
for private in it_arena_begin it_shard_codec_new it_cpu_isa it_pickle_run; do
  grep -qx "$private" "$TMP/syms" && fail "an internal function is exported: $private"
done

# 3. An outside program through pkg-config does what the tools do.
${CC:-cc} -std=c11 -Wall -Wextra -Werror $SAN_CFLAGS $cflags "$top_srcdir/examples/tokenize_one.c" -o "$TMP/tok" \
  $libs -Wl,-rpath,"$libdir" || hard "examples/tokenize_one.c does not build against the installed library"
cd "$TMP" || hard "no temp dir"
cp "$GEN/videos/h264.mp4" clip.mp4
export INFOTOK_MODEL=$top_srcdir/tests/model/fixtures/tiny.safetensors
./tok clip.mp4 one.itshard || fail "tokenize_one failed"
# (global_elbo's corpus statistic is at the end of the stream: it-pack reads a file)
it-scan -q clip.mp4 | it-encode -q -o s.itok - && it-pack -q -o tools s.itok || fail "it-scan | it-encode, it-pack failed"
records() { it-pack dump "$1" | grep -E '^(WINDOW|TOKENS|KEEP|ALLOCATION)'; }
records tools-00000.itshard >tools.txt || fail "dump failed"
records one.itshard >one.txt || fail "dump failed"
[ -s tools.txt ] && cmp -s tools.txt one.txt || fail "the example's shard differs from the tools' ($(diff tools.txt one.txt | head -3))"
[ "$(it-pack dump one.itshard | sed -n 's/^VIDEO	//p' | jq -r .id)" = "$(it-scan -q clip.mp4 | jq -r .id)" ] ||
  fail "the example's video id differs from it-scan's"

# 4. The installed library looks for the bundled model where it was installed, never in the
# source tree of the build it came from.
where=$(env -u INFOTOK_MODEL ./tok --model-path)
case $where in
  "$prefix"/*) ;;
  *) fail "the installed library looks for its model at $where, not under $prefix" ;;
esac
finish
