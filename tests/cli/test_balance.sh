#!/bin/sh
# test_balance: --balance duration cuts a manifest of very unequal videos into slices of about
# equal duration, contiguous and complete: every video in exactly one task, in order.
. "$top_srcdir/tests/cli/lib.sh"
need_gen
need_jq
cd "$TMP" || hard "no temp dir"
V=$GEN/videos
it-scan -q "$V/h264.mp4" "$V/vp9.webm" "$V/mpeg4.avi" "$V/long.mkv" "$V/grey.mkv" "$V/yuva.mkv" >scan.jsonl ||
  hard "it-scan failed"
# durations 100, 1, 1, 1, 1, 1 seconds (the metadata is what --balance reads)
n=0
while read -r line; do
  d=1; [ $n = 0 ] && d=100
  printf '%s\n' "$line" | jq -c --argjson d "$d" '.duration = $d'
  n=$((n + 1))
done <scan.jsonl >m.jsonl
ids() { it-pack list "$1" | awk -F'\t' 'NR > 1 {print $3}'; }
it-encode -q --full-rate --crop 48x48 -o all.itok m.jsonl || hard "it-encode failed"
ids all.itok >all.ids
for N in 2 3; do
  : >joined.ids
  i=0
  while [ $i -lt $N ]; do
    it-encode -q --full-rate --crop 48x48 --shard $i/$N --balance duration -o t$i.itok m.jsonl || fail "task $i/$N failed"
    ids t$i.itok >t$i.ids
    cat t$i.ids >>joined.ids
    i=$((i + 1))
  done
  cmp -s joined.ids all.ids || fail "N=$N: the tasks' videos joined are not the manifest's"
  # the 100 s video alone in the task its middle falls in (50/105 of the total: task 0 of 2,
  # task 1 of 3, task 0 then empty); the five 1 s videos after it
  counts=$(i=0; while [ $i -lt $N ]; do printf '%s ' "$(wc -l <t$i.ids)"; i=$((i + 1)); done)
  case $N in
    2) [ "$counts" = "1 5 " ] || fail "N=2: tasks hold $counts videos, expected 1 5" ;;
    3) [ "$counts" = "0 1 5 " ] || fail "N=3: tasks hold $counts videos, expected 0 1 5" ;;
  esac
done
# absurd durations from a manifest (1e308 s twice: the sum overflows) are clamped, not
# allowed to make every slice but the first empty
jq -c 'if input_line_number <= 2 then .duration = 1e308 else . end' m.jsonl >huge.jsonl
i=0
counts=""
while [ $i -lt 2 ]; do
  it-encode -q --full-rate --crop 48x48 --shard $i/2 --balance duration -o h$i.itok huge.jsonl || fail "huge durations: task $i failed"
  counts="$counts$(ids h$i.itok | wc -l) "
  i=$((i + 1))
done
[ "$counts" = "1 5 " ] || fail "huge durations: tasks hold $counts videos, expected 1 5"
# --balance count: three and three
it-encode -q --full-rate --crop 48x48 --shard 0/2 --balance count -o c0.itok m.jsonl || fail "count balance failed"
[ "$(ids c0.itok | wc -l)" = 3 ] || fail "--balance count: task 0 has $(ids c0.itok | wc -l) videos"
expect_status 2 it-encode --balance size m.jsonl 2>/dev/null
finish
