#!/bin/sh
# prepare.sh DIR: on a Debian 12 machine with network (here, not the GPU machine), put into
# DIR what tests/gpu/check.sh needs on a GPU machine that has a CUDA toolkit, a C compiler
# and make but neither network nor this project's build dependencies:
#   DIR/root/     the Debian -dev packages of configure's dependencies and the libraries they
#                 need that a CUDA image may lack, unpacked with dpkg -x (never installed);
#   DIR/env.sh    the variables that point the build at DIR/root (sourced by check.sh);
#   DIR/autotools/ configure and the other generated autotools files (the GPU machine has no
#                 autoreconf; the source tree that travels holds only tracked files);
#   DIR/*.rgb     real frames as raw rgb24 (opencv-doc's vtest.avi, else samples/vtest.mp4):
#                 the official window of official_io.py and check.sh's 17x256x256 clip.
# The total is reported and must stay under 60 MB (the issue's budget).
set -eu
[ $# -eq 1 ] || { echo "usage: tests/gpu/prepare.sh DIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)
debs=$dir/debs
mkdir -p "$debs" "$dir/root" "$dir/autotools"

# Build dependencies only: the -dev packages and the libraries they link against, not those
# libraries' own dependencies (FFmpeg's closure is over 250 MB). The build links with
# --as-needed and --allow-shlib-undefined (env.sh): the GPU programs of check.sh (gpu_ops,
# test_model, bench_gpu, clip_gpu) use no media code, so they never load FFmpeg; what they do
# load (libarchive, jansson, zstd) comes from here, and those libraries' own dependencies
# (libxml2, nettle, lz4: common in any image) from the GPU machine. The tools are built but
# not run there: their FFmpeg dependencies are absent.
pkgs="libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libswresample-dev \
libavformat59 libavcodec59 libavutil57 libswscale6 libswresample4 \
libzstd-dev libarchive-dev libarchive13 libjansson-dev libjansson4 liblmdb-dev liblmdb0 \
pkgconf pkgconf-bin libpkgconf3"
(cd "$debs" && apt-get download $pkgs >/dev/null 2>&1) || { echo "prepare.sh: apt-get download failed" >&2; exit 1; }
for f in "$debs"/*.deb; do dpkg -x "$f" "$dir/root"; done
rm -rf "$debs"
# A -dev package's libX.so may point at a runtime library left out above (every system has
# it): such a dangling link becomes a linker script naming the soname, which ld then finds on
# the GPU machine's own library path.
for l in "$dir"/root/usr/lib/x86_64-linux-gnu/*.so; do
  { [ -L "$l" ] && [ ! -e "$l" ]; } || continue
  so=$(basename "$(readlink "$l")" | sed -E 's/^(lib[^.]*\.so\.[0-9]+).*/\1/')
  rm "$l" && echo "INPUT($so)" >"$l"
done
rm -rf "$dir/root/usr/share/doc" "$dir/root/usr/share/man" "$dir/root/usr/share/lintian"
find "$dir/root" -name '*.a' -delete # static archives: the build links shared libraries

# generated autotools files, from a scratch copy of the tracked tree
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$src" && git ls-files -z | xargs -0 cp --parents -t "$tmp")
(cd "$tmp" && autoreconf -fi >/dev/null 2>&1)
(cd "$tmp" && cp -r configure config.h.in aclocal.m4 build-aux m4 "$dir/autotools/" &&
  find . -name Makefile.in -exec cp --parents -t "$dir/autotools" {} +)

vtest=/usr/share/doc/opencv-doc/examples/data/vtest.avi
if [ -f "$vtest" ]; then
  # the official window of tests/model/official_io.py, as raw frames (no ffmpeg over there)
  ffmpeg -nostdin -v error -i "$vtest" -fps_mode passthrough -vf 'select=gte(n\,100),scale=64:48:flags=area' \
    -frames:v 9 -f rawvideo -pix_fmt rgb24 - >"$dir/official_9x48x64.rgb"
fi
# check.sh's clip: 17 frames, 256x256 (the bundled model's window size), raw rgb24
clip=$vtest
[ -f "$clip" ] || clip=$src/samples/vtest.mp4
ffmpeg -nostdin -v error -i "$clip" -vf 'scale=-2:256:flags=area,crop=256:256' -frames:v 17 \
  -f rawvideo -pix_fmt rgb24 - >"$dir/clip_17x256x256.rgb"
rm -rf "$dir/clip"

cat >"$dir/env.sh" <<EOF
# sourced by tests/gpu/check.sh: build against the packages unpacked under $dir/root
P=\$(cd "\$(dirname "\${IT_PREP_ENV:-\$0}")" 2>/dev/null && pwd)
[ -d "\$P/root" ] || P=$dir
R=\$P/root
export PKG_CONFIG="\$R/usr/bin/pkgconf"
export PKG_CONFIG_SYSROOT_DIR="\$R"
export PKG_CONFIG_LIBDIR="\$R/usr/lib/x86_64-linux-gnu/pkgconfig:\$R/usr/share/pkgconfig"
export LD_LIBRARY_PATH="\$R/usr/lib/x86_64-linux-gnu:\$R/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export CPPFLAGS="-I\$R/usr/include -I\$R/usr/include/x86_64-linux-gnu \${CPPFLAGS:-}"
export LDFLAGS="-L\$R/usr/lib/x86_64-linux-gnu -Wl,--as-needed -Wl,--allow-shlib-undefined \${LDFLAGS:-}"
EOF
size=$(du -sm "$dir" | cut -f1)
echo "prepare.sh: $(echo $pkgs | wc -w) packages unpacked; $dir holds ${size} MB"
[ "$size" -lt 60 ] || { echo "prepare.sh: over the 60 MB budget" >&2; exit 1; }
