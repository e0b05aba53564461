#!/bin/sh
# it-convert on the committed checkpoints: a good conversion (and its round trip through f32),
# refusals with exit 3 and a message naming the tensor or global, usage errors with exit 2.
set -u
: "${top_srcdir:=.}"
fx="$top_srcdir/tests/formats/fixtures"
cfg="$top_srcdir/tests/formats/tiny_config.json"
command -v it-convert >/dev/null 2>&1 || { echo "it-convert not built"; exit 99; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/it-convert.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0

# expect STATUS PATTERN CMD...: run CMD, check its exit status and that stderr matches PATTERN.
expect() {
    want=$1 pat=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -ne "$want" ] || { [ -n "$pat" ] && ! grep -q -- "$pat" "$tmp/err"; }; then
        echo "FAILED: $* -> exit $got (want $want), stderr:"; cat "$tmp/err"; echo "(wanted /$pat/)"
        fail=1
    fi
}

expect 0 "" it-convert --help
grep -q "^Usage: it-convert" "$tmp/out" || { echo "FAILED: --help output"; fail=1; }
expect 0 "" it-convert --version
expect 2 "expected IN and OUT" it-convert "$fx/tiny_model.pt"
expect 2 "dtype must be f32 or bf16" it-convert -t f64 "$fx/tiny_model.pt" "$tmp/x"
expect 2 "OUT must be a file" it-convert "$fx/tiny_model.pt" -
expect 2 "needs KEY=VALUE" it-convert -m novalue "$fx/tiny_model.pt" "$tmp/x"

# A good conversion: bf16 as in the checkpoint, then through f32 and back, bit for bit.
expect 0 "wrote 263 tensors (263 BF16)" it-convert -c "$cfg" "$fx/tiny_model.pt" "$tmp/a.st"
expect 0 "all as the config stored in the input requires" it-convert -n "$tmp/a.st"
expect 0 "263 F32" it-convert -t f32 "$tmp/a.st" "$tmp/b.st"
expect 0 "263 BF16" it-convert -t bf16 "$tmp/b.st" "$tmp/c.st"
cmp -s "$tmp/a.st" "$tmp/c.st" || { echo "FAILED: bf16 -> f32 -> bf16 changed the file"; fail=1; }
expect 0 "wrote 267 tensors (2 F32, 263 BF16, 2 I32)" it-convert -b -m training=test -c "$cfg" "$fx/tiny_model.pt" "$tmp/d.st"
expect 0 "" it-convert -n -c "$cfg" "$tmp/d.st"
grep -q '"training":"test"' "$tmp/d.st" || { echo "FAILED: --meta not stored"; fail=1; }

# Refusals: nothing is written.
expect 3 "tensor 'decoder.conv_out.1.conv3d.bias' is missing" it-convert -c "$cfg" "$fx/tiny_missing.pt" "$tmp/e.st"
expect 3 "unexpected tensor 'decoder.conv_out.2.conv3d.bias'" it-convert -c "$cfg" "$fx/tiny_extra.pt" "$tmp/e.st"
expect 3 "tensor 'encoder.conv_in.0.conv3d.weight' has shape \[4,24,1,3,2\], expected \[4,24,1,3,3\]" \
    it-convert -c "$cfg" "$fx/tiny_shape.pt" "$tmp/e.st"
expect 3 "global 'os.system', which is not allowed" it-convert "$fx/evil_os_system.pt" "$tmp/e.st"
expect 3 "expected \[128,24,1,3,3\]" it-convert "$fx/tiny_model.pt" "$tmp/e.st"
sed 's/"vit_intermediate":16/"vit_intermediate":32/' "$cfg" >"$tmp/other.json"
expect 3 "holds a different config" it-convert -c "$tmp/other.json" -t f32 "$tmp/a.st" "$tmp/e.st"
[ ! -e "$tmp/e.st" ] || { echo "FAILED: a refused conversion left $tmp/e.st"; fail=1; }
expect 3 "No such file" it-convert "$tmp/absent.pt" "$tmp/e.st"
expect 3 "cannot create a temporary file" it-convert -c "$cfg" "$fx/tiny_model.pt" "$tmp/no/dir.st"
ls "$tmp" | grep -q '\.tmp\.' && { echo "FAILED: temporary files left"; fail=1; }

[ "$fail" -eq 0 ] && exit 0 || exit 99
