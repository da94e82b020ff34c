#!/usr/bin/env bash
# `hae run --shadow` (issue 16) on the embedded demo model: the summary line after the answer, the
# shadow in the JSON and CSV reports, and bad values refused naming the flag.
set -euo pipefail
HAE=$1
SRC=$2
OUT=$3
mkdir -p "$OUT"
IMG="$SRC/resources/demo/samples/scene_1.png"
out=$("$HAE" --threads 2 -q run --image "$IMG" --prompt "describe the image" --policy streaming \
  --set sink=2 --set recent=8 --max-new-tokens 6 --shadow forced --report "$OUT/run.json" --report "$OUT/run.csv")
echo "$out"
grep -q '^shadow (forced): KL mean ' <<<"$out" || { echo "no shadow summary"; exit 1; }
grep -q '"shadow"' "$OUT/run.json" || { echo "no shadow in the JSON report"; exit 1; }
head -1 "$OUT/run.csv" | grep -q 'kl,top1_agree,missed_visual,missed_text' || { echo "no CSV columns"; exit 1; }
# Without --shadow: no summary line.
plain=$("$HAE" --threads 2 -q run --image "$IMG" --prompt "describe the image" --max-new-tokens 2)
if grep -q '^shadow' <<<"$plain"; then echo "shadow summary without --shadow"; exit 1; fi
for bad in "--shadow bogus" "--shadow-threshold 2" "--shadow-threshold nan" "--shadow-window -1"; do
  set +e
  err=$("$HAE" run --image "$IMG" --prompt x $bad 2>&1 >/dev/null)
  rc=$?
  set -e
  flag=${bad%% *}
  [ $rc -ne 0 ] || { echo "$bad accepted"; exit 1; }
  grep -q -- "$flag" <<<"$err" || { echo "$bad: message does not name $flag: $err"; exit 1; }
done
echo "shadow CLI ok"
