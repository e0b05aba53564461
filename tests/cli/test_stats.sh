#!/bin/sh
# test_stats: it-stats on real clips through it-encode with the bundled model: the report
# against an expected file (volatile and build-dependent fields stripped); the token checksum
# ignores input order and sees a changed token; shards report like streams; --check; JSON;
# --psnr against ffmpeg's psnr filter and SSIM against an independent numpy implementation;
# --plot figures that parse and, where Debian's chromium is installed, render to a picture.
. "$top_srcdir/tests/cli/lib.sh"
need_gen
need_ffmpeg
PY=/usr/bin/python3
V=$GEN/videos
cd "$TMP" || hard "no temp dir"
# Video ids hash the path as given: links under relative names keep them (and the expected
# report) independent of where the build directory is.
for f in long.mkv h264.mp4 vp9.webm; do ln -s "$V/$f" "$f" || hard "cannot link $f"; done
it-encode -q --full-rate --crop 48x48 -o a.itok long.mkv h264.mp4 || hard "it-encode failed"
it-encode -q --full-rate --crop 48x48 -o b.itok vp9.webm || hard "it-encode failed"

# 1. The report. Stripped: the version and command line, sizes (streams hold command lines),
# paths, and everything computed from ELBO maps, whose last bits differ between builds.
it-stats a.itok b.itok >report.txt || fail "it-stats failed"
grep -v -E '^# (This file|The command)|archive bytes|ELBO|^EL|^RE' report.txt |
  sed -E 's|^(VD\t.*\t)[^\t]*/([^/]*)$|\1\2|' >report.cmp
compare_text stats-report.txt report.cmp
grep -q '^SN	codebook size:	64000$' report.txt || fail "the codebook size is not stated"

# 2. The checksum: order-free, and one token's difference shows.
sum() { it-stats "$@" | sed -n 's/^SN	token checksum:	//p'; }
s1=$(sum a.itok b.itok); s2=$(sum b.itok a.itok)
[ -n "$s1" ] && [ "$s1" = "$s2" ] || fail "checksum depends on input order: $s1 $s2"
it-pack -q -o p/one --strategy static --avg-rate 1 a.itok || hard "it-pack failed"
s3=$(sum p/one-00000.itshard b.itok)
[ "$s3" != "$s1" ] || fail "a re-allocation that dropped tokens kept the checksum"
# ... and it is the checksum it-stats(1) defines, recomputed here from the man page's words
# over it-pack's text dump of the records (masked and full-rate ones)
manpage_sum() {
  it-pack dump "$@" | $PY -c '
import json, struct, sys
M = (1 << 64) - 1
def fnv(h, b):
    for c in b:
        h = ((h ^ c) * 1099511628211) & M
    return h
windows = []  # [video id, window index, tokens, keep or None]
for line in sys.stdin:
    kind, _, rest = line.rstrip("\n").partition("\t")
    if kind == "VIDEO":
        vid = int(json.loads(rest)["id"], 16)
    elif kind == "WINDOW":
        f = dict(kv.split("=") for kv in rest.split())
        windows.append([vid, int(f["window"]), None, None])
    elif kind == "TOKENS":
        windows[-1][2] = [int(t) for t in rest.split()]
    elif kind == "KEEP":
        windows[-1][3] = rest
total = 0
for vid, index, tokens, keep in windows:
    h = fnv(14695981039346656037, struct.pack("<QI", vid, index))
    for pos, tok in enumerate(tokens):
        if keep is None or keep[pos] == "1":
            h = fnv(h, struct.pack("<IH", pos, tok))
    total = (total + h) & M
print("%016x" % total)'
}
[ "$(manpage_sum a.itok b.itok)" = "$s1" ] || fail "the checksum is not the one it-stats(1) defines"
[ "$(manpage_sum p/one-00000.itshard b.itok)" = "$s3" ] || fail "the checksum of masked records is not the man page's"
# one token index changed in a valid stream (its record's CRC recomputed), per
# infotok-stream(5): the first WINDOW's indices follow its 96-byte fixed part
$PY - b.itok edit.itok <<'EOF2' || hard "cannot edit the stream"
import struct, sys, zlib
d = bytearray(open(sys.argv[1], "rb").read())
p = 16
while True:
    rtype, _, n = struct.unpack_from("<HHI", d, p + 4)
    if rtype == 3:
        i = p + 12 + struct.calcsize("<QIIq12idfBBHfI") + 2 * 7  # the 8th token
        struct.pack_into("<H", d, i, (struct.unpack_from("<H", d, i)[0] + 1) % 64000)
        struct.pack_into("<I", d, p + 12 + n, zlib.crc32(bytes(d[p + 4:p + 12 + n])))
        break
    p += 16 + n
open(sys.argv[2], "wb").write(d)
EOF2
expect_status 0 it-stats --check edit.itok >/dev/null
s4=$(sum a.itok edit.itok)
[ -n "$s4" ] && [ "$s4" != "$s1" ] || fail "a changed token kept the checksum"
[ "$(it-stats a.itok edit.itok | grep -c -E '^SN	(tokens kept|codes used):	')" = 2 ] || fail "edited stream unreadable"
# 3. Shards report like the streams they hold.
it-pack -q -o p/full a.itok b.itok || hard "it-pack failed"
[ "$(sum p/full-00000.itshard)" = "$s1" ] || fail "a shard's checksum differs from its streams'"
it-stats p/full-00000.itshard | grep -E '^(SN	(videos|windows|frames|tokens|codes)|WL|VL|CU)' >shard.txt
grep -E '^(SN	(videos|windows|frames|tokens|codes)|WL|VL|CU)' report.txt | cmp -s - shard.txt || fail "shard stats differ"

# 3b. Per-task statistics merge into the whole corpus's (all but the quantiles, which do not
# merge): the reduce step of a sharded run.
it-stats --partial pa.json a.itok >/dev/null && it-stats --partial pb.json b.itok >/dev/null || fail "--partial failed"
it-stats --merge pa.json pb.json >merged.txt || fail "--merge failed"
grep -v -E '^#|^DQ' report.txt >direct.cmp
grep -v -E '^#|^DQ' merged.txt | cmp -s - direct.cmp || fail "merged statistics differ from the direct ones"
grep -q '^DQ' merged.txt && fail "merged statistics claim quantiles"
echo '{"format":"something else"}' >junk.json
expect_status 3 it-stats --merge junk.json 2>err.txt
grep -q 'junk.json' err.txt || fail "a bad partial file is not named"

# 4. --check
head -c 2000 a.itok >cut.itok
cp a.itok flip.itok && printf '\001' | dd of=flip.itok bs=1 seek=900 conv=notrunc 2>/dev/null
it-stats --check a.itok cut.itok flip.itok p/full-00000.itshard >check.txt; st=$?
[ "$st" = 1 ] || fail "--check exit status $st with bad inputs"
[ "$(grep -c '^ok' check.txt)" = 2 ] && [ "$(grep -c '^BAD' check.txt)" = 2 ] || fail "--check: $(cat check.txt)"
grep -q 'BAD	cut.itok	.*truncated\|BAD	cut.itok	.*ends' check.txt || fail "--check does not say why: $(cat check.txt)"
expect_status 0 it-stats --check a.itok >/dev/null

# 5. JSON: the same summary.
if command -v jq >/dev/null 2>&1; then
  it-stats --format json a.itok b.itok >r.json || fail "--format json failed"
  [ "$(jq -r '.summary["tokens kept"]' r.json)" = "$(sed -n 's/^SN	tokens kept:	//p' report.txt)" ] ||
    fail "JSON and TSV disagree on tokens kept"
  [ "$(jq -r '.summary["token checksum"]' r.json)" = "$s1" ] || fail "JSON checksum differs"
fi

# 6. --psnr of one video against ffmpeg and numpy on the same frame pairs.
it-encode -q --full-rate --crop 48x48 -o one.itok "$V/long.mkv" || hard "it-encode failed"
it-stats --psnr one.itok >q.txt || fail "--psnr failed"
ours=$(awk -F'\t' '$1 == "PV" {print $5}' q.txt); ours_ssim=$(awk -F'\t' '$1 == "PV" {print $6}' q.txt)
it-decode -q --format raw -o dec.rgb one.itok || hard "it-decode failed"
"$FFMPEG" -v error -i "$V/long.mkv" -vf crop=48:48 -f rawvideo -pix_fmt rgb24 - >src.rgb
ff=$("$FFMPEG" -v info -f rawvideo -pix_fmt rgb24 -s 48x48 -i dec.rgb -f rawvideo -pix_fmt rgb24 -s 48x48 -i src.rgb \
  -lavfi psnr -f null - 2>&1 | sed -n 's/.*PSNR.* average:\([0-9.]*\).*/\1/p')
# ffmpeg's average is 10 log10(255^2 / mean MSE over frames and planes): the TokenBench video PSNR
awk -v a="$ours" -v b="$ff" 'BEGIN { d = a - b; exit !(b != "" && d < 0.006 && d > -0.006) }' ||
  fail "PSNR $ours differs from ffmpeg's $ff (printed to 2 decimals)"
$PY - dec.rgb src.rgb "$ours" "$ours_ssim" <<'EOF' || fail "PSNR/SSIM differ from the numpy computation"
import sys
import numpy as np
a = np.fromfile(sys.argv[1], np.uint8).reshape(-1, 48, 48, 3).astype(np.float64)
b = np.fromfile(sys.argv[2], np.uint8).reshape(-1, 48, 48, 3).astype(np.float64)
psnr = 10 * np.log10(255.0 ** 2 / np.mean((a - b) ** 2))
g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2)); g /= g.sum()
def filt(x):  # 'valid' separable Gaussian over the last two axes of [..., H, W]
    x = np.apply_along_axis(lambda r: np.convolve(r, g, "valid"), -1, x)
    return np.apply_along_axis(lambda c: np.convolve(c, g, "valid"), -2, x)
C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
x, y = a.transpose(0, 3, 1, 2), b.transpose(0, 3, 1, 2)
mx, my = filt(x), filt(y)
vx, vy, cxy = filt(x * x) - mx ** 2, filt(y * y) - my ** 2, filt(x * y) - mx * my
ssim = ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx ** 2 + my ** 2 + C1) * (vx + vy + C2))
ssim = ssim.mean(axis=(1, 2, 3)).mean()
ok = abs(psnr - float(sys.argv[3])) < 1e-3 and abs(ssim - float(sys.argv[4])) < 1e-4
print("numpy PSNR %.5f SSIM %.6f; it-stats %s %s" % (psnr, ssim, sys.argv[3], sys.argv[4]), file=sys.stderr)
sys.exit(0 if ok else 1)
EOF
# 6b. Identical frames: the same stream pointed at its own lossless decoding (the VIDEO
# record's path rewritten, the record's length and CRC redone) has PSNR inf, which makes the
# mean over videos inf while the pooled PSNR stays finite; JSON says "inf", never NaN.
it-decode -q -o dec.mkv one.itok || hard "it-decode failed"
$PY - one.itok same.itok dec.mkv <<'EOF2' || hard "cannot rewrite the stream"
import json, struct, sys, zlib
d = open(sys.argv[1], "rb").read()
out, p = [d[:16]], 16
while p < len(d):
    rtype, z, n = struct.unpack_from("<HHI", d, p + 4)
    body = d[p + 12:p + 12 + n]
    if rtype == 2:
        o = json.loads(body)
        o["path"] = sys.argv[3]
        body = json.dumps(o).encode()
    head = struct.pack("<HHI", rtype, z, len(body))
    out.append(b"ITRC" + head + body + struct.pack("<I", zlib.crc32(head + body)))
    p += 16 + n
open(sys.argv[2], "wb").write(b"".join(out))
EOF2
it-stats --psnr same.itok b.itok >inf.txt || fail "--psnr on identical frames failed"
awk -F'\t' '$1 == "PS" { exit !($6 == "inf" && $7 + 0 > 5 && $7 != "inf" && $8 < 1) }' inf.txt ||
  fail "identical frames: expected mean inf, pooled finite: $(grep ^PS inf.txt)"
[ "$(awk -F'\t' '$1 == "PV" && $5 == "inf" && $6 == "1.00000"' inf.txt | wc -l)" = 1 ] ||
  fail "identical frames: expected one PV row with inf and SSIM 1: $(grep ^PV inf.txt)"
grep -q -i nan inf.txt && fail "NaN in the report"
if command -v jq >/dev/null 2>&1; then
  [ "$(it-stats --format json --psnr same.itok | jq -r '.quality[0].psnr_mean, .quality[0].per_video[0].psnr')" = \
    "$(printf 'inf\ninf')" ] || fail "JSON does not say inf"
fi

# 7. Rates and strategies in one run, and figures.
it-stats --psnr --no-ssim --rates 1,0.5 --rates 0.25 --strategy static --strategy global_elbo --plot figs \
  a.itok b.itok >rd.txt ||
  fail "--rates failed"
[ "$(grep -c '^PS' rd.txt)" = 6 ] || fail "expected 6 quality rows: $(grep '^PS' rd.txt)"
awk -F'\t' '$1 == "PS" && $2 == "static" && $3 == "0.5" { exit !($4 > 0.45 && $4 <= 0.5) }' rd.txt ||
  fail "static 0.5 did not keep about half the tokens"
# re-allocation inside it-stats is it-pack's: a shard packed at global_elbo 0.5 measures the same
it-pack -q -o p/half --strategy global_elbo --avg-rate 0.5 a.itok b.itok || hard "it-pack failed"
want=$(awk -F'\t' '$1 == "PS" && $2 == "global_elbo" && $3 == "0.5" { print $4, $5, $6, $7 }' rd.txt)
got=$(it-stats --psnr --no-ssim p/half-00000.itshard | awk -F'\t' '$1 == "PS" { print $4, $5, $6, $7 }')
[ -n "$want" ] && [ "$got" = "$want" ] || fail "stored global_elbo 0.5 ($got) differs from --rates 0.5 ($want)"
for f in token-lengths rate-vs-elbo psnr-vs-rate; do
  [ -s "figs/$f.svg" ] || { fail "figs/$f.svg missing"; continue; }
  $PY -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "figs/$f.svg" || fail "$f.svg is not XML"
done
ls figs | grep -q tmp && fail "temporary figure files left"
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$CHROME" ]; then
  for f in token-lengths psnr-vs-rate; do
    timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=720,440 \
      --screenshot="$TMP/$f.png" "file://$TMP/figs/$f.svg" >/dev/null 2>&1
    $PY - "$TMP/$f.png" <<'EOF' || fail "$f.svg did not render to a chart"
import sys, zlib, struct
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
w, h = struct.unpack(">II", data[16:24]); depth, ctype = data[24], data[25]
raw, p = b"", 8
while p < len(data):
    n = struct.unpack(">I", data[p:p + 4])[0]; tag = data[p + 4:p + 8]
    if tag == b"IDAT": raw += data[p + 8:p + 8 + n]
    p += 12 + n
px = zlib.decompress(raw); bpp = {2: 3, 6: 4}[ctype]; stride = w * bpp
assert depth == 8
rows, prev = [], bytearray(stride)
for y in range(h):  # undo the PNG row filters (none, sub, up, average, Paeth)
    f, line = px[y * (stride + 1)], bytearray(px[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(line); prev = line
dark = coloured = 0
for y in range(0, h, 2):
    row = rows[y]
    for x in range(0, stride, bpp * 2):
        r, g, b = row[x], row[x + 1], row[x + 2]
        dark += r < 100 and g < 100 and b < 100
        coloured += b > 150 and r < 120
print(sys.argv[1], w, h, "dark", dark, "coloured", coloured, file=sys.stderr)
sys.exit(0 if dark > 200 and coloured > 50 else 1)
EOF
  done
else
  echo "chromium not installed: figures checked as XML only" >&2
fi

# 8. A video whose source is gone is reported and left out (exit 1), the others measured; stdin,
# which cannot be read twice, is refused with --psnr.
rm h264.mp4
it-stats --psnr --no-ssim a.itok >gone.txt 2>gone.err; st=$?
[ "$st" = 1 ] || fail "--psnr with a missing source: exit status $st"
grep -q "$(sed -n 's/^VD	\([0-9a-f]*\)	.*h264.mp4$/\1/p' report.txt).*h264.mp4" gone.err ||
  fail "the failed video is not named: $(cat gone.err)"
awk -F'\t' '$1 == "PS" { exit !($5 == 1) }' gone.txt || fail "the other video was not measured: $(grep ^PS gone.txt)"
[ "$(grep -c '^PV' gone.txt)" = 1 ] || fail "expected one PV row"
expect_status 2 it-stats --psnr - <a.itok
finish
