#!/bin/sh
# prepare.sh DIR: on a Debian 12 machine with network (here, not the GPU machine), put into
# DIR what tests/gpu/check.sh needs on a GPU machine that has a CUDA toolkit, a C compiler
# and make but neither network nor this project's build dependencies:
#   DIR/root/     the Debian -dev packages of configure's dependencies and the libraries they
#                 need that a CUDA image may lack, unpacked with dpkg -x (never installed);
#   DIR/env.sh    the variables that point the build at DIR/root (sourced by check.sh);
#   DIR/autotools/ configure and the other generated autotools files (the GPU machine has no
#                 autoreconf; the source tree that travels holds only tracked files);
#   DIR/clip/     one real clip (opencv-doc's vtest.avi, or samples/vtest.mp4).
# Packages every Linux system has (Priority required/important, the C and C++ runtimes)
# are left out; the total is reported and must stay under 60 MB (the issue's budget).
set -eu
[ $# -eq 1 ] || { echo "usage: tests/gpu/prepare.sh DIR" >&2; exit 2; }
src=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
dir=$(cd "$1" && pwd)
debs=$dir/debs
mkdir -p "$debs" "$dir/root" "$dir/autotools" "$dir/clip"

want="libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libzstd-dev libarchive-dev \
libjansson-dev liblmdb-dev pkgconf libpkgconf3"
# the closure of their dependencies (no recommends), then minus what every system has
all=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances $want | grep -E '^[a-z0-9]' | sort -u)
skip_re='^(libc6|libc-dev-bin|libc6-dev|linux-libc-dev|libgcc-s1|libstdc\+\+6|libcrypt1|libcrypt-dev|gcc-.*-base|debconf.*|perl-base|dpkg|tar|libselinux1|zlib1g|libzstd1|liblzma5|libbz2-1.0|libssl3|libgnutls30|libnettle8|libhogweed6|libgmp10|libp11-kit0|libtasn1-6|libidn2-0|libunistring2|libffi8|libpcre2-8-0|libnsl.*|libtirpc.*|libsystemd0|libudev1|libcap2|libgcrypt20|libgpg-error0|liblz4-1|libdb5.3|libpam.*|libaudit.*|libacl1|libattr1|libmd0|libxxhash0|libsemanage.*|libsepol.*|libtinfo6|libncursesw6|libkrb5.*|libk5crypto3|libcom-err2|libkeyutils1|libgssapi-krb5-2|libsqlite3-0|libexpat1)$'
pkgs=
for p in $all; do
  echo "$p" | grep -Eq "$skip_re" && continue
  # virtual packages and important/required ones are skipped
  pri=$(apt-cache show --no-all-versions "$p" 2>/dev/null | sed -n 's/^Priority: //p' | head -1)
  [ -n "$pri" ] || continue
  case $pri in required|important) continue ;; esac
  pkgs="$pkgs $p"
done
(cd "$debs" && apt-get download $pkgs >/dev/null 2>&1) || { echo "prepare.sh: apt-get download failed" >&2; exit 1; }
for f in "$debs"/*.deb; do dpkg -x "$f" "$dir/root"; done
rm -rf "$debs"
rm -rf "$dir/root/usr/share/doc" "$dir/root/usr/share/man" "$dir/root/usr/share/lintian"

# generated autotools files, from a scratch copy of the tracked tree
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$src" && git ls-files -z | xargs -0 cp --parents -t "$tmp")
(cd "$tmp" && autoreconf -fi >/dev/null 2>&1)
(cd "$tmp" && cp -r configure config.h.in aclocal.m4 build-aux m4 "$dir/autotools/" &&
  find . -name Makefile.in -exec cp --parents -t "$dir/autotools" {} +)

vtest=/usr/share/doc/opencv-doc/examples/data/vtest.avi
if [ -f "$vtest" ]; then
  cp "$vtest" "$dir/clip/"
  # the official window of tests/model/official_io.py, as raw frames (no ffmpeg over there)
  ffmpeg -nostdin -v error -i "$vtest" -fps_mode passthrough -vf 'select=gte(n\,100),scale=64:48:flags=area' \
    -frames:v 9 -f rawvideo -pix_fmt rgb24 - >"$dir/official_9x48x64.rgb"
fi
cp "$src/samples/vtest.mp4" "$dir/clip/" 2>/dev/null || true

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
export LDFLAGS="-L\$R/usr/lib/x86_64-linux-gnu -Wl,-rpath-link,\$R/usr/lib/x86_64-linux-gnu:\$R/lib/x86_64-linux-gnu \${LDFLAGS:-}"
EOF
size=$(du -sm "$dir" | cut -f1)
echo "prepare.sh: $(echo $pkgs | wc -w) packages unpacked; $dir holds ${size} MB"
[ "$size" -lt 60 ] || { echo "prepare.sh: over the 60 MB budget" >&2; exit 1; }
