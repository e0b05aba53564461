#!/bin/sh
# test_export: it-pack export on real clips (opencv-doc, 40 frames at 48x48): every format,
# sharded with brace-expandable names, turns back into video (export -> it-pack import ->
# it-decode gives the frames it-decode gives for the exported shard, byte for byte); the
# dtype follows the largest id; BOS/EOD/window-separator ids sit where it-pack(1) says;
# manifest keys the tools do not own travel into the records and every export; webdataset
# tars read with 4 DataLoader workers (each sample once, default collate).
. "$top_srcdir/tests/cli/lib.sh"
need_opencv
need_ffmpeg
PY=/usr/bin/python3
$PY -c 'import numpy' 2>/dev/null || skip "python3-numpy not installed (scripts/setup-deps.sh)"
cd "$TMP" || hard "no temp dir"
for f in vtest tree Megamind; do
  "${FFMPEG:-ffmpeg}" -v error -i "$OPENCV/$f.avi" -frames:v 40 -an -c:v mpeg4 -q:v 3 "$f.avi" || hard "cannot cut $f.avi"
done
it-scan -q vtest.avi tree.avi Megamind.avi >m0.jsonl || hard "it-scan failed"
# keys no tool owns: a caption (differs per video), a license, a source URL
$PY - m0.jsonl >m.jsonl <<'EOF' || hard "cannot write the manifest"
import json, sys
for i, line in enumerate(open(sys.argv[1])):
    o = json.loads(line)
    o["caption"] = "clip %d: %s, \"quoted\"" % (i, o["path"])
    o["license"] = "CC-BY-4.0"
    o["source_url"] = "https://example.org/v/%d" % i
    print(json.dumps(o))
EOF
it-encode -q --crop 48x48 --avg-rate 0.5 -o a.itok m.jsonl || hard "it-encode failed"
it-pack -q -o s/a a.itok || hard "it-pack failed"
SHARD=s/a-00000.itshard
frames() { d=$1; shift; it-decode -q --format raw -o "$d/" "$@" && cat "$d"/*; }
frames d-want $SHARD >want.raw || hard "it-decode of the shard failed"
[ -s want.raw ] || hard "no frames decoded"

# 1. Round trip, every format, sharded (one video a shard) and with every special id.
SPECIAL="--bos 64000 --eod 64001 --window-sep 64002"
for fmt in megatron npy wds; do
  it-pack export -q --format $fmt $SPECIAL --shard-size 1 -o ex/$fmt $SHARD || { fail "$fmt export failed"; continue; }
  ext=; [ $fmt = wds ] && ext=.tar
  pattern=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["pattern"])' ex/$fmt.export.json)
  [ "$pattern" = "$fmt-{000000..000002}$ext" ] || fail "$fmt: pattern '$pattern', expected $fmt-{000000..000002}$ext"
  # the pattern expands (bash brace expansion) to exactly the files written
  for n in 000000 000001 000002; do
    case $fmt in
      megatron) want="bin idx keep.bin keep.idx videos.jsonl" ;;
      npy) want="tokens.npy offsets.npy keep.npy keep_offsets.npy videos.jsonl" ;;
      wds) want="tar" ;;
    esac
    for e in $want; do [ -f "ex/$fmt-$n.$e" ] || fail "$fmt: ex/$fmt-$n.$e missing"; done
  done
  [ -e ex/$fmt-000003$ext ] || [ -e ex/$fmt-000003.bin ] && fail "$fmt: a fourth shard"
  if command -v bash >/dev/null; then
    files=$pattern; [ $fmt = wds ] || files=$pattern.videos.jsonl
    n=$(cd ex && bash -c "ls $files" 2>/dev/null | wc -l)
    [ "$n" = 3 ] || fail "$fmt: the pattern expands to $n files"
  fi
  it-pack import -q -o im/$fmt ex/$fmt.export.json || { fail "$fmt import failed"; continue; }
  frames d-$fmt im/$fmt-00000.itshard >$fmt.raw || fail "$fmt: it-decode of the import failed"
  cmp -s want.raw $fmt.raw || fail "$fmt: export -> import -> it-decode differs from it-decode of the shard"
done
ls ex | grep -q 'tmp' && fail "an export left temporary files"
# unsharded, no specials, an offset: one file set named PREFIX
it-pack export -q --format npy --vocab-offset 100 -o ex/one $SHARD || fail "unsharded export failed"
[ -f ex/one.tokens.npy ] && [ -f ex/one.keep.npy ] || fail "unsharded export: PREFIX.tokens.npy/keep.npy missing"
it-pack import -q -o im/one ex/one.export.json && frames d-one im/one-00000.itshard >one.raw &&
  cmp -s want.raw one.raw || fail "npy (unsharded, offset) round trip differs"
# an export that does not match its description is refused, naming the file
cp ex/one.export.json bad.export.json
$PY - bad.export.json ex/one.tokens.npy <<'EOF' || hard "cannot damage"
import json, sys
d = json.load(open(sys.argv[1])); d["bos"] = 64000; d["shards"] = ["ex/one"]
json.dump(d, open(sys.argv[1], "w"))
EOF
expect_status 3 it-pack import -q -o im/bad bad.export.json 2>err.txt
grep -q 'not a file name' err.txt || fail "a shard path outside the export was not refused: $(cat err.txt)"
sed 's|"ex/one"|"one"|' bad.export.json >ex/bad.export.json
expect_status 3 it-pack import -q -o im/bad2 ex/bad.export.json 2>err.txt
grep -q 'one.videos.jsonl line 1: the ids do not start with --bos' err.txt ||
  fail "a description that does not match the files was not refused by name: $(cat err.txt)"
# damaged data files (import maps them read-only): an empty token array and a truncated
# Megatron data file are refused, naming the file, and leave no shard
mkdir -p dmg && cp ex/npy-000000.* ex/npy.export.json dmg/ && cp ex/megatron-000000.* ex/megatron.export.json dmg/
: >dmg/npy-000000.tokens.npy
expect_status 3 it-pack import -q -o im/bad3 dmg/npy.export.json 2>err.txt
grep -q 'npy-000000.tokens.npy: not a .npy file' err.txt || fail "an empty tokens.npy was not refused by name: $(cat err.txt)"
size=$(wc -c <dmg/megatron-000000.bin)
head -c $((size - 2)) ex/megatron-000000.bin >dmg/megatron-000000.bin
expect_status 3 it-pack import -q -o im/bad4 dmg/megatron.export.json 2>err.txt
grep -q 'megatron-000000: sequence .* is outside the data file' err.txt ||
  fail "a truncated Megatron .bin was not refused by name: $(cat err.txt)"
ls im | grep -q bad && fail "a refused import left a shard"

# 2. dtype: uint16 while the largest id fits, else int32 (Megatron codes 8 and 4).
dtype() { $PY -c 'import numpy as np,sys; print(np.load(sys.argv[1]).dtype)' "$1"; }
it-pack export -q --format npy --vocab-offset 1536 -o ex/u16 $SHARD && [ "$(dtype ex/u16.tokens.npy)" = uint16 ] ||
  fail "offset 1536 (largest id 65535): not uint16"
it-pack export -q --format npy --vocab-offset 1537 -o ex/i32 $SHARD && [ "$(dtype ex/i32.tokens.npy)" = int32 ] ||
  fail "offset 1537 (largest id 65536): not int32"
it-pack export -q --format npy --eod 65536 -o ex/eod32 $SHARD && [ "$(dtype ex/eod32.tokens.npy)" = int32 ] ||
  fail "--eod 65536: not int32"
it-pack export -q --format megatron --vocab-offset 1537 -o ex/m32 $SHARD || fail "megatron int32 export failed"
$PY "$top_srcdir/tests/pack/read_megatron.py" ex/m32 >m32.txt || fail "Megatron reader failed on int32"
$PY - ex/m32.idx ex/u16.tokens.npy ex/i32.tokens.npy m32.txt <<'EOF' || fail "ids differ between offsets"
import sys
import numpy as np
assert open(sys.argv[1], "rb").read()[17] == 4, "megatron dtype code is not 4 (int32)"
a, b = np.load(sys.argv[2]).astype(np.int64), np.load(sys.argv[3]).astype(np.int64)
assert a.min() >= 1536 and np.array_equal(a + 1, b), "the offset is not added to every token"
m = np.array([int(x) for line in open(sys.argv[4]) for x in line.split()])
assert np.array_equal(m, b), "megatron int32 ids differ from npy's"
EOF
expect_status 2 it-pack export -q --format npy --bos 5 -o ex/bad $SHARD 2>err.txt
grep -q 'is a token id' err.txt || fail "a special id inside the token range was not refused"
expect_status 2 it-pack export -q --format npy --bos 64000 --eod 64000 -o ex/bad $SHARD 2>/dev/null
expect_status 2 it-pack export -q --format npy --vocab-offset 2147483000 -o ex/bad $SHARD 2>/dev/null

# 3. Where the specials go, against it-pack dump (the shard's own kept tokens, per window).
it-pack dump $SHARD >dump.txt || fail "dump failed"
# (the classic layout: specials 0, 1, 2 below the tokens)
it-pack export -q --format npy --bos 0 --eod 1 --window-sep 2 --vocab-offset 3 -o ex/sp $SHARD ||
  fail "export with specials failed"
$PY - dump.txt ex/sp <<'EOF' || fail "specials are misplaced"
import json, sys
import numpy as np
videos = []
for line in open(sys.argv[1]):
    tag, _, rest = line.rstrip("\n").partition("\t")
    if tag == "VIDEO":
        videos.append([])
    elif tag == "TOKENS":
        tok = np.array(rest.split(), dtype=np.int64)
    elif tag == "KEEP":
        videos[-1].append(tok[np.frombuffer(rest.encode(), np.uint8) == ord("1")] + 3)
ids, off = np.load(sys.argv[2] + ".tokens.npy"), np.load(sys.argv[2] + ".offsets.npy")
keep, koff = np.load(sys.argv[2] + ".keep.npy"), np.load(sys.argv[2] + ".keep_offsets.npy")
recs = [json.loads(l) for l in open(sys.argv[2] + ".videos.jsonl")]
assert len(off) == len(videos) + 1 == len(recs) + 1
for v, wins in enumerate(videos):
    seq = ids[off[v]:off[v + 1]].astype(np.int64)
    want = [0]
    for i, w in enumerate(wins):
        want += ([2] if i else []) + list(w)
    want.append(1)
    assert list(seq) == want, "video %d: %s" % (v, seq[:12])
    assert recs[v]["ids"] == len(seq) and len(recs[v]["windows"]) == len(wins)
    grid = sum(int(np.prod(w["latent"])) for w in recs[v]["windows"])
    assert koff[v + 1] - koff[v] == grid and keep[koff[v]:koff[v + 1]].sum() == sum(len(w) for w in wins)
EOF

# 4. Passthrough: the manifest's own keys in the records, the shard, and every export.
grep '^VIDEO' dump.txt | grep -q '"caption":"clip [0-9]: vtest.avi, \\"quoted\\"","license":"CC-BY-4.0"' ||
  fail "the shard's VIDEO records lost the manifest's keys"
$PY - m.jsonl ex/npy-000000.videos.jsonl ex/megatron-000001.videos.jsonl ex/wds-000002.tar <<'EOF' || fail "passthrough keys lost"
import io, json, sys, tarfile
man = {json.loads(l)["id"]: json.loads(l) for l in open(sys.argv[1])}
keys = ("caption", "license", "source_url")
def same(o, where):
    m = man[o["id"]]
    for k in keys:
        assert o.get(k) == m[k], "%s: %s is %r, the manifest says %r" % (where, k, o.get(k), m[k])
for f in sys.argv[2:4]:
    for line in open(f):
        same(json.loads(line), f)
with tarfile.open(sys.argv[4]) as t:
    names = t.getnames()
    js = [n for n in names if n.endswith(".json")]
    assert len(js) == 1, names
    o = json.loads(t.extractfile(js[0]).read())
    same(o, js[0])
    txt = t.extractfile(js[0][:-5] + ".txt").read().decode()
    assert txt == o["caption"], "wds .txt is not the caption"
EOF

# 5. A webdataset read with 4 DataLoader workers over the shard list: every sample once,
# through torch's default collate (tokens are int32, keep masks uint8).
it-pack export -q --format wds --shard-size 1 -o wds/c $SHARD $SHARD || fail "wds export of 6 videos failed"
[ "$(ls wds/c-*.tar | wc -l)" = 6 ] || fail "expected 6 tars"
if $PY -c 'import torch' 2>/dev/null; then
  $PY - wds/c.export.json <<'EOF' || fail "4-worker DataLoader over the tars failed"
import io, json, os, sys, tarfile
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

desc = json.load(open(sys.argv[1]))
tars = [os.path.join(os.path.dirname(sys.argv[1]), s) for s in desc["shards"]]

class Tars(IterableDataset):
    def __iter__(self):
        w = get_worker_info()
        for path in tars[w.id::w.num_workers]:
            sample = {}
            with tarfile.open(path) as t:
                for m in t.getmembers():
                    key, ext = m.name.split(".", 1)
                    data = t.extractfile(m).read()
                    if sample and sample["__key__"] != key:
                        yield sample
                        sample = {}
                    sample["__key__"] = key
                    sample["worker"] = w.id
                    if ext.endswith("npy"):
                        sample[ext[:-4]] = np.load(io.BytesIO(data))
                    elif ext == "json":
                        sample["n_windows"] = len(json.loads(data)["windows"])
            if sample:
                yield sample

seen, workers = [], set()
for b in DataLoader(Tars(), num_workers=4, batch_size=1):
    assert b["tokens"].dtype == torch.int32 and b["keep"].dtype == torch.uint8, (b["tokens"].dtype, b["keep"].dtype)
    assert int(b["keep"].sum()) == b["tokens"].shape[1]
    seen.append(b["__key__"][0])
    workers.add(int(b["worker"][0]))
assert sorted(seen) == sorted(set(seen)) and len(seen) == desc["videos"] == 6, seen
assert len(workers) == 4, workers
EOF
else
  echo "python3-torch missing: the DataLoader read is not tested" >&2
fi
finish
