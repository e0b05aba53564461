#!/bin/sh
# test_decode: it-decode on real clips through it-encode with the bundled model: outputs have
# the source's frame count, size and rate; lossless formats agree byte for byte; shards decode
# like streams; re-allocation equals decoding what it-encode allocated (global_elbo with the
# statistic of the corpus a shard was allocated in); output patterns; selection; errors.
. "$top_srcdir/tests/cli/lib.sh"
need_gen
need_ffmpeg
FFMPEG=${FFMPEG:-ffmpeg}
FFPROBE=${FFPROBE:-ffprobe}
V=$GEN/videos
cd "$TMP" || hard "no temp dir"
it-encode -q --full-rate --crop 48x48 -o full.itok "$V/long.mkv" "$V/h264.mp4" || hard "it-encode failed"
it-encode -q --strategy static --avg-rate 0.5 --crop 48x48 -o st.itok "$V/long.mkv" "$V/h264.mp4" || hard "it-encode failed"
it-encode -q --strategy global_elbo --avg-rate 0.5 --crop 48x48 -o g.itok "$V/long.mkv" "$V/h264.mp4" || hard "it-encode failed"
LONG=$(it-pack list full.itok | awk -F'\t' '$2 == 0 {print $3}')
H264=$(it-pack list full.itok | awk -F'\t' '$2 == 1 {print $3}')
[ -n "$LONG" ] && [ -n "$H264" ] || hard "no ids"

probe() { "$FFPROBE" -v error -count_frames -select_streams v -show_entries stream=width,height,nb_read_frames,r_frame_rate -of csv=p=0 "$1"; }

# 1. A directory: one lossless file per video, the source's frames, size and rate.
mkdir out
expect_status 0 it-decode -q -o out full.itok
[ "$(probe "out/$LONG.mkv")" = "48,48,25/1,45" ] || fail "long: $(probe "out/$LONG.mkv")"
[ "$(probe "out/$H264.mkv")" = "48,48,25/1,20" ] || fail "h264: $(probe "out/$H264.mkv")"
ls out | grep -q tmp && fail "temporary files left"

# 2. Lossless outputs agree byte for byte: FFV1 (decoded by ffmpeg), raw, PNG frames.
it-decode -q --format raw -o long.rgb --video "$LONG" full.itok || fail "raw output failed"
[ "$(wc -c <long.rgb)" = $((45 * 48 * 48 * 3)) ] || fail "raw output has $(wc -c <long.rgb) bytes"
"$FFMPEG" -v error -i "out/$LONG.mkv" -f rawvideo -pix_fmt rgb24 - >ffv1.rgb
cmp -s long.rgb ffv1.rgb || fail "FFV1 output is not the raw frames"
it-decode -q --format png -o pngs --video "$LONG" full.itok || fail "png output failed"
[ "$(ls pngs | wc -l)" = 45 ] || fail "$(ls pngs | wc -l) PNG frames, expected 45"
"$FFMPEG" -v error -i pngs/%06d.png -f rawvideo -pix_fmt rgb24 - >png.rgb
cmp -s long.rgb png.rgb || fail "PNG frames are not the raw frames"
it-decode -q --format raw -o - --range 0:1 full.itok | cmp -s - long.rgb || fail "stdout output differs"

# Y4M (4:4:4, limited range): the source's frames and rate, only rounding away from the RGB.
it-decode -q --format y4m -o long.y4m --video "$LONG" full.itok || fail "y4m output failed"
[ "$(probe long.y4m)" = "48,48,25/1,45" ] || fail "y4m file: $(probe long.y4m)"
head -c 9 long.y4m | grep -q YUV4MPEG2 || fail "not a Y4M file"
psnr=$("$FFMPEG" -v info -i long.y4m -f rawvideo -pix_fmt rgb24 -s 48x48 -i long.rgb \
  -lavfi "[0:v]format=rgb24[a];[a][1:v]psnr" -f null - 2>&1 | sed -n 's/.*PSNR.* average:\([0-9.inf]*\).*/\1/p')
awk -v p="$psnr" 'BEGIN { exit !(p == "inf" || p + 0 > 45) }' || fail "y4m is only $psnr dB from the lossless frames"
it-decode -q --format y4m -o - --video "$LONG" full.itok | cmp -s - long.y4m || fail "y4m on stdout differs"

# 3. H.264 at a chosen quality: right frames and rate; close to the lossless frames.
it-decode -q --format h264 --crf 10 -o long.mp4 --video "$LONG" full.itok || fail "h264 output failed"
[ "$(probe long.mp4)" = "48,48,25/1,45" ] || fail "h264 file: $(probe long.mp4)"
psnr=$("$FFMPEG" -v info -i long.mp4 -f rawvideo -pix_fmt rgb24 -s 48x48 -i long.rgb \
  -lavfi "[0:v]format=rgb24[a];[a][1:v]psnr" -f null - 2>&1 | sed -n 's/.*PSNR.* average:\([0-9.inf]*\).*/\1/p')
awk -v p="$psnr" 'BEGIN { exit !(p == "inf" || p + 0 > 35) }' || fail "h264 at crf 10 is only $psnr dB from the lossless frames"

# 4. Shards decode like streams.
it-pack -q -o s/full full.itok || hard "it-pack failed"
it-decode -q --format raw -o shard.rgb --video "$LONG" s/full-00000.itshard || fail "decoding a shard failed"
cmp -s shard.rgb long.rgb || fail "a shard decodes differently from its stream"

# 5. Re-allocation equals decoding what it-encode allocated (static and global_elbo).
it-decode -q --format raw -o st.rgb --video "$LONG" st.itok || fail "decoding a rated stream failed"
it-decode -q --format raw -o re.rgb --video "$LONG" --avg-rate 0.5 --strategy static full.itok || fail "re-allocation failed"
cmp -s st.rgb re.rgb || fail "static re-allocation decodes differently from it-encode's allocation"
cmp -s st.rgb long.rgb && fail "rate 0.5 decodes like full rate: the mask was not applied"
it-decode -q --format raw -o g.rgb --video "$LONG" g.itok || fail "decoding a global_elbo stream failed"
it-decode -q --format raw -o gre.rgb --video "$LONG" --avg-rate 0.5 full.itok || fail "global re-allocation failed"
cmp -s g.rgb gre.rgb || fail "global_elbo re-allocation decodes differently from it-encode's"
it-decode -q --format raw -o gf.rgb --video "$LONG" --full-rate g.itok || fail "--full-rate failed"
cmp -s gf.rgb long.rgb || fail "--full-rate does not decode every token"

# A shard alone is re-allocated with the statistic of the corpus it was allocated in (its
# ALLOCATION record), as the whole corpus would be, not with its own windows' (a grey clip
# makes the corpus mean differ from the long clip's).
it-encode -q --full-rate --crop 48x48 -o f3.itok "$V/long.mkv" "$V/grey.mkv" || hard "it-encode failed"
it-pack -q --shard-size 1K --avg-rate 0.5 -o sg/g f3.itok || hard "it-pack failed"
it-pack -q --shard-size 1K -o sf/f f3.itok || hard "it-pack failed"
[ -f sg/g-00001.itshard ] && [ -f sf/f-00001.itshard ] || hard "it-pack made one shard"
it-decode -q --format raw -o q.rgb --video "$LONG" --avg-rate 0.125 f3.itok || fail "global re-allocation failed"
it-decode -q --format raw -o qs.rgb --avg-rate 0.125 sg/g-00000.itshard || fail "decoding a global_elbo shard failed"
cmp -s q.rgb qs.rgb || fail "a global_elbo shard alone is re-allocated with another statistic than its corpus"
it-decode -q --format raw -o ql.rgb --avg-rate 0.125 sf/f-00000.itshard || fail "decoding a full-rate shard failed"
cmp -s ql.rgb q.rgb && fail "the corpus statistic made no difference: the shard test shows nothing"
# stdin: the statistic must be given
expect_status 3 it-decode -q --format raw -o - --avg-rate 0.25 - <full.itok >/dev/null 2>err.txt
grep -q -- '--elbo-stat' err.txt || fail "global_elbo from stdin without a statistic: $(cat err.txt)"
it-pack elbo-stat full.itok >stat.json || hard "it-pack elbo-stat failed"
it-decode -q --format raw -o q25.rgb --video "$LONG" --avg-rate 0.25 full.itok || fail "global re-allocation failed"
it-decode -q --format raw -o - --video "$LONG" --avg-rate 0.25 --elbo-stat stat.json - <full.itok | cmp -s - q25.rgb ||
  fail "global_elbo from stdin with --elbo-stat differs"

# Output patterns and directories that do not exist yet.
it-decode -q -o 'pat/{ordinal}-{id}.mkv' full.itok || fail "a pattern failed"
[ -f "pat/0-$LONG.mkv" ] && [ -f "pat/1-$H264.mkv" ] || fail "pattern made: $(ls pat)"
it-decode -q --format png -o new/dir/ --video "$H264" full.itok || fail "png into a new directory failed"
[ "$(ls "new/dir/$H264" | wc -l)" = 20 ] || fail "png frames: $(ls new/dir)"

# 6. Selection and errors.
rm -rf sel && mkdir sel
it-decode -q -o sel --range 1:2 full.itok && [ "$(ls sel)" = "$H264.mkv" ] || fail "--range 1:2 chose $(ls sel)"
expect_status 1 it-decode -q -o sel --video 0123456789abcdef full.itok 2>err.txt
grep -q 'no video matched' err.txt || fail "an unknown id is not reported"
expect_status 3 it-decode -q -o one.mkv full.itok 2>err.txt
grep -q 'several videos' err.txt || fail "two videos into one file not refused: $(cat err.txt)"
[ -e one.mkv ] || [ -e one.mkv.tmp ] && fail "refusing two videos for one file left a file"
# A video that failed to encode has nothing to decode: said, exit 1, the others written.
it-encode -q --full-rate --crop 48x48 -o bad.itok "$V/h264.mp4" "$GEN/broken/text.mp4" 2>/dev/null
rm -rf badout
expect_status 1 it-decode -q -o badout/ bad.itok 2>err.txt
grep -q 'failed to encode' err.txt || fail "a failed video is not reported: $(cat err.txt)"
[ "$(ls badout | wc -l)" = 1 ] || fail "the good video of a stream with a failed one: $(ls badout)"
if ! it-decode -q --device cuda -o sel full.itok 2>err.txt; then
  grep -q 'CUDA' err.txt || fail "--device cuda without CUDA: $(cat err.txt)"
fi
# the CUDA module is loaded on first use: a missing one is named, with the loader's reason
expect_status 3 env INFOTOK_CUDA_MODULE="$TMP/none.so" it-decode -q --device cuda:1 -o sel full.itok 2>err.txt
grep -q "cannot load $TMP/none.so" err.txt || fail "a missing CUDA module is not explained: $(cat err.txt)"
head -c 3000 full.itok >cut.itok
expect_status 3 it-decode -q -o sel cut.itok 2>err.txt
grep -q 'cut.itok' err.txt || fail "a truncated stream is not named: $(cat err.txt)"
ls sel | grep -q tmp && fail "a failed run left temporary files"
if [ -f "$top_srcdir/tests/model/fixtures/small2.safetensors" ]; then
  expect_status 3 it-decode -q -o sel --checkpoint "$top_srcdir/tests/model/fixtures/small2.safetensors" full.itok 2>err.txt
  grep -q 'hash' err.txt && grep -q 'small2.safetensors' err.txt || fail "a model mismatch is not explained: $(cat err.txt)"
fi
expect_status 2 it-decode --format gif full.itok 2>/dev/null
expect_status 2 it-decode --full-rate --avg-rate 0.5 full.itok 2>/dev/null
expect_status 2 it-decode --format png -o - full.itok 2>/dev/null
finish
