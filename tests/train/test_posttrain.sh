#!/bin/sh
# test_posttrain: post-training on your own videos (train/train.py --init --manifest), on a
# tiny configuration for two steps: the exported native weight file loads in the C engine and
# its decode of a clip matches PyTorch's (train/check_export.py: within 1 level on every uint8
# value, at most 1% of values off by 1) and not the starting weights' decode; a run stopped
# after step 1 and resumed writes the same file as an uninterrupted one; an official-layout
# .pt is a starting point too, and a damaged one is refused with the tensor named.
. "$top_srcdir/tests/cli/lib.sh"
need_gen
need_ffmpeg
PY=/usr/bin/python3
$PY -c 'import torch, numpy' 2>/dev/null || skip "Debian's python3-torch/numpy not installed (scripts/setup-deps.sh --torch)"
TR=$top_srcdir/train
TINY=$top_srcdir/tests/model/fixtures/tiny.safetensors
export INFOTOK_DATA_CACHE="$TMP/cache"
cd "$TMP" || hard "no temp dir"
ln -s "$GEN/videos/long.mkv" long.mkv || hard "cannot link long.mkv"
it-scan -q long.mkv >m.jsonl || hard "it-scan failed"

train() {
  $PY "$TR/train.py" --manifest m.jsonl --steps 2 --frames 9 --size 32 --batch 1 --threads 1 \
    --warmup 1 --lr 1e-2 --ema 0.5 --ckpt-every 1 "$@" >>train.log 2>&1
}
train --init "$TINY" --ckpt a.ckpt --out a.safetensors || { cat train.log >&2; hard "post-training failed"; }
[ -s a.safetensors ] || fail "no exported weight file"
train --init "$TINY" --ckpt b.ckpt --stop-after 1 || fail "stopped run failed"
train --init "$TINY" --ckpt b.ckpt --resume --out b.safetensors || fail "resumed run failed"
cmp -s a.safetensors b.safetensors || fail "stopped and resumed run differs from an uninterrupted one"
grep -q "resumed from b.ckpt at step 1" train.log || fail "the resumed run did not start at step 1"

# The C engine reads the file; its decode matches PyTorch's and not the starting weights'.
# An RGB (bgr0 FFV1) clip, so the ffmpeg CLI and the library decode the same pixels.
"${FFMPEG:-ffmpeg}" -nostdin -v error -f lavfi -i "testsrc2=size=48x32:rate=25" -frames:v 11 \
  -c:v ffv1 -pix_fmt bgr0 clip.mkv || hard "ffmpeg failed"
it-encode -q --checkpoint a.safetensors --full-rate --temporal-window 9 --overlap-window 0 -o c.itok clip.mkv ||
  fail "it-encode does not take the exported weights"
it-decode -q --checkpoint a.safetensors --format raw -o c.rgb c.itok || fail "it-decode failed"
$PY "$TR/check_export.py" a.safetensors clip.mkv c.rgb --window 9 --differs-from "$TINY" ||
  fail "the engine's decode with the exported weights does not match PyTorch"

# An official-layout .pt (bf16, with EMA and optimizer entries) as the starting point.
cfg=$(cat "$top_srcdir/tests/formats/tiny_config.json")
train --init "$top_srcdir/tests/formats/fixtures/tiny_model.pt" --config "$cfg" --steps 1 \
  --ckpt p.ckpt --out p.safetensors || fail "post-training from an official .pt failed"
it-encode -q --checkpoint p.safetensors --full-rate --temporal-window 9 --overlap-window 0 -o p.itok clip.mkv || fail "it-encode refuses the .pt-based weights"
$PY "$TR/train.py" --init "$top_srcdir/tests/formats/fixtures/tiny_missing.pt" --config "$cfg" \
  --manifest m.jsonl --steps 1 --ckpt q.ckpt >q.log 2>&1 && fail "a .pt with a missing tensor was accepted"
grep -q "tiny_missing.pt: tensor .* missing" q.log || { cat q.log >&2; fail "the missing tensor is not named"; }
finish
