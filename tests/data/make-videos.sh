#!/bin/sh
# make-videos.sh OUTDIR: generate the test corpus with the ffmpeg CLI. Deterministic:
# lavfi sources with fixed seeds, single-threaded encoders, no timestamps in metadata.
# Covers what real corpora contain (codecs, pixel formats, sizes, rotation, variable frame
# rate, archives) and what breaks (empty, truncated, random, text, audio-only).
set -eu
mkdir -p "$(dirname "$1")"
out=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
FFMPEG=${FFMPEG:-ffmpeg}
rm -rf "$out.tmp" && mkdir -p "$out.tmp" && cd "$out.tmp"
ff() { "$FFMPEG" -nostdin -v error -y "$@"; }
src="testsrc2=size=64x48:rate=25"
det="-threads 1 -fflags +bitexact -flags +bitexact -map_metadata -1"

mkdir -p videos/sub broken archives
ff -f lavfi -i "$src" -frames:v 20 $det -c:v libx264 -preset ultrafast -pix_fmt yuv420p videos/h264.mp4
ff -f lavfi -i "$src" -f lavfi -i "sine=frequency=440:sample_rate=16000" -frames:v 20 -t 0.8 $det \
   -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest videos/h264_audio.mp4
ff -f lavfi -i "$src" -frames:v 20 $det -c:v libvpx-vp9 -deadline realtime -cpu-used 8 videos/vp9.webm
ff -f lavfi -i "$src" -frames:v 20 $det -c:v mpeg4 -q:v 4 videos/mpeg4.avi
ff -f lavfi -i "$src" -frames:v 20 $det -c:v ffv1 videos/sub/ffv1.mkv
ff -f lavfi -i "$src" -frames:v 12 $det -c:v ffv1 -pix_fmt gray videos/grey.mkv
ff -f lavfi -i "$src" -frames:v 12 $det -c:v ffv1 -pix_fmt yuva420p videos/yuva.mkv
ff -f lavfi -i "$src" -frames:v 12 $det -c:v ffv1 -pix_fmt yuv420p10le videos/ten_bit.mkv
ff -f lavfi -i "$src" -frames:v 13 $det -vf scale=67:45 -c:v ffv1 -pix_fmt yuv444p videos/odd_size.mkv
ff -f lavfi -i "$src" -frames:v 1 $det -c:v libx264 -preset ultrafast -pix_fmt yuv420p videos/one_frame.mp4
# Rotation is a display matrix in the container; the frames stay as coded (64x48).
ff -i videos/h264.mp4 -c copy -metadata:s:v:0 rotate=90 $det videos/rotated.mp4
# Variable frame rate: 10 frames 0.04 s apart, then 10 frames 0.12 s apart.
ff -f lavfi -i "$src" -frames:v 20 $det -vf "setpts='if(lt(N,10),N,13+(N-10)*3)'" \
   -fps_mode vfr -c:v ffv1 videos/vfr.mkv
# A raw H.264 elementary stream: no container, so no duration or frame count.
ff -f lavfi -i "$src" -frames:v 15 $det -c:v libx264 -preset ultrafast -pix_fmt yuv420p -f h264 videos/raw.h264
# Longer clip for window tests: 45 frames.
ff -f lavfi -i "testsrc2=size=80x48:rate=25" -frames:v 45 $det -c:v ffv1 videos/long.mkv
# Not a video: skipped in directories (no video extension), probed when named.
printf 'not a video\n' >videos/readme.txt

# Broken inputs.
: >broken/empty.mp4
head -c 3000 videos/h264.mp4 >broken/truncated.mp4
ff -f lavfi -i "anoisesrc=seed=7:sample_rate=8000" -t 0.5 -f s16le broken/random.mp4
printf 'this is text, not a video\n' >broken/text.mp4
ff -f lavfi -i "sine=frequency=440:sample_rate=16000" -t 0.5 $det -c:a aac broken/audio_only.m4a
# Cut mid-stream: the header is fine, the frames stop.
head -c 20000 videos/long.mkv >broken/cut.mkv
# Damaged in the middle: 4000 bytes of zeros over frames 17-19.
cp videos/long.mkv broken/corrupt_middle.mkv
dd if=/dev/zero of=broken/corrupt_middle.mkv bs=1000 seek=20 count=4 conv=notrunc 2>/dev/null

# Archives: members are streamed, never extracted. The mp4 members keep their index at
# the end, so reading them needs a backward seek inside the archive.
(cd videos && bsdtar -cf ../archives/clips.tar h264.mp4 mpeg4.avi sub/ffv1.mkv readme.txt)
(cd videos && bsdtar --format zip -cf ../archives/clips.zip vp9.webm one_frame.mp4)
(cd videos && bsdtar -czf ../archives/clips.tar.gz rotated.mp4)

cd / && rm -rf "$out" && mv "$out.tmp" "$out"
