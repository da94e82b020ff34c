#!/usr/bin/env bash
# `hae bench` end to end on the llava-medium fixture: two demo questions x (full + hae), run as two
# shards and merged; resume, refusal to overwrite, and bad input each give one line and a non-zero
# exit. Usage: bench_test.sh HAE TEST_DATA_DIR WORK_DIR
set -u
hae=$1
data=$2
work=$3
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

rm -rf "$work" && mkdir -p "$work"
common=(--model "$data/models/llava-medium" --demo 2 --policy hae --budget 0.5 --max-new-tokens 3)

"$hae" -q --threads 2 bench "${common[@]}" --shard 1/2 --out "$work/s1" 2>"$work/s1.err"
check "shard 1/2 exits 0 ($(head -c 300 "$work/s1.err"))" "[ $? -eq 0 ]"
# Not quiet and not a terminal: progress comes as plain lines with an ETA.
"$hae" --threads 2 bench "${common[@]}" --shard 2/2 --out "$work/s2" 2>"$work/s2.err"
check "shard 2/2 exits 0 ($(head -c 300 "$work/s2.err"))" "[ $? -eq 0 ]"
check "progress with ETA on stderr" "grep -q 'ETA' '$work/s2.err'"
for s in s1 s2; do
  check "$s: one case x 2 cells" "[ $(lines "$work/$s/results.jsonl") -eq 2 ]"
  check "$s: summaries" "[ -s '$work/$s/summary.csv' ] && [ -s '$work/$s/summary.json' ] && [ -s '$work/$s/summary.md' ]"
done
check "shards hold different cases" \
  "[ \"\$(grep -o '\"case\":\"[^\"]*\"' '$work/s1/results.jsonl' | sort -u)\" != \"\$(grep -o '\"case\":\"[^\"]*\"' '$work/s2/results.jsonl' | sort -u)\" ]"

"$hae" -q bench merge "$work/s1" "$work/s2" --out "$work/merged" 2>"$work/merge.err"
check "merge exits 0 ($(head -c 300 "$work/merge.err"))" "[ $? -eq 0 ]"
check "merged: 2 cases x 2 cells" "[ $(lines "$work/merged/results.jsonl") -eq 4 ]"
check "merged csv: header + 2 cells" "[ $(lines "$work/merged/summary.csv") -eq 3 ]"
check "csv header" "head -1 '$work/merged/summary.csv' | grep -q '^cell,policy,budget,knobs,cases,'"
check "csv full row covers both cases" "grep -q '^full,full,,,2,2,' '$work/merged/summary.csv'"
check "csv hae row" "grep -q '^hae b=0.5,hae,0.5,,2,2,' '$work/merged/summary.csv'"
check "json schema" "grep -q '\"schema\": \"hae-studio/bench-summary\"' '$work/merged/summary.json'"
check "markdown table" "grep -q '^| full | 2 |' '$work/merged/summary.md' && grep -q '^| hae b=0.5 | 2 |' '$work/merged/summary.md'"
check "every line has the full cache's output" "[ \$(grep -c '\"full_output\"' '$work/merged/results.jsonl') -eq 4 ]"
check "no temporary files left" "[ -z \"\$(ls -A '$work/merged' | grep '^\\.')\" ]"

# Resume: nothing left to run, nothing appended.
"$hae" -q --threads 2 bench "${common[@]}" --shard 1/2 --out "$work/s1" --resume 2>"$work/resume.err"
check "resume exits 0 ($(head -c 300 "$work/resume.err"))" "[ $? -eq 0 ]"
check "resume appends nothing" "[ $(lines "$work/s1/results.jsonl") -eq 2 ]"

# Bad input: one line on stderr naming the culprit, non-zero exit, before any model runs.
expect_error() {  # name, expected text, hae args...
  local name=$1 text=$2
  shift 2
  local err rc
  err=$("$hae" -q "$@" 2>&1 >/dev/null)
  rc=$?
  check "$name exits non-zero" "[ $rc -ne 0 ]"
  check "$name: one line naming '$text' (got: $err)" \
    "[ \$(printf '%s\n' \"\$err\" | wc -l) -eq 1 ] && grep -qF -- \"$text\" <<<\"\$err\""
}
expect_error "existing results without --resume" "already holds results" bench "${common[@]}" --shard 1/2 --out "$work/s1"
expect_error "unknown policy" "unknown policy 'nosuch'" bench --demo 1 --policy nosuch --out "$work/bad"
expect_error "unknown knob" "ddes.nope" bench --demo 1 --policy hae --set hae:ddes.nope=1 --out "$work/bad"
expect_error "budget out of range" "--budget 1.5" bench --demo 1 --policy hae --budget 1.5 --out "$work/bad"
expect_error "missing data file" "$work/missing.jsonl" bench --data "$work/missing.jsonl" --policy hae --out "$work/bad"
printf 'x' >"$work/x.png"
printf '{"image": "x.png", "question": "q", "answer": "a"}\n{broken\n' >"$work/bad.jsonl"
expect_error "malformed data line" "bad.jsonl:2: malformed JSON line" bench --data "$work/bad.jsonl" --policy hae --out "$work/bad"
printf '{"question": "q", "answer": "a"}\n' >"$work/noimage.jsonl"
expect_error "data line without image" "noimage.jsonl:1: missing" bench --data "$work/noimage.jsonl" --policy hae --out "$work/bad"
expect_error "bad shard" "--shard 3/2" bench --demo 1 --policy hae --shard 3/2 --out "$work/bad"
check "bad input wrote nothing" "[ ! -e '$work/bad/results.jsonl' ]"

# --resume on a folder whose run.json is gone: the settings cannot be checked, so it is refused
# (here with another answer length, which would otherwise be mixed in).
cp -r "$work/s1" "$work/s1_norun"
rm "$work/s1_norun/run.json"
expect_error "resume without run.json" "--resume: $work/s1_norun holds results but no run.json" \
  bench --model "$data/models/llava-medium" --demo 2 --policy hae --budget 0.5 --max-new-tokens 5 \
  --shard 1/2 --out "$work/s1_norun" --resume
check "refused resume appended nothing" "[ $(lines "$work/s1_norun/results.jsonl") -eq 2 ]"
# Shards run with different answer lengths are not merged.
cp -r "$work/s2" "$work/s2_long"
sed -i 's/"max_new_tokens": "3"/"max_new_tokens": "16"/' "$work/s2_long/run.json"
expect_error "merge of differing shards" \
  "max_new_tokens is '3' in $work/s1/run.json but '16' in $work/s2_long/run.json" \
  bench merge "$work/s1" "$work/s2_long" --out "$work/merged_bad"
check "refused merge wrote nothing" "[ ! -e '$work/merged_bad/results.jsonl' ]"

# The preset expands without running anything.
out=$("$hae" -q bench --preset paper --demo 4 --dry-run)
check "paper preset dry run lists its cells" "grep -q 'hae b=0.59 ddes.bin=16' <<<\"\$out\" && grep -q 'streaming b=0.59' <<<\"\$out\""
exit $fail
