#!/usr/bin/env bash
# `hae bench` end to end on the llava-medium fixture: two demo questions x (full + hae), run as two
# shards and merged; then a VLMEvalKit TSV of demo scenes on the demo model with token budgets and
# visual-token pruners (shards, merge, resume, plots); resume, refusal to overwrite, and bad input
# (budgets, TSV files) each give one line and a non-zero exit. Usage: bench_test.sh HAE TEST_DATA_DIR WORK_DIR
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

# The preset expands without running anything, the visual-token pruners beside the KV methods.
out=$("$hae" -q bench --preset paper --demo 4 --dry-run)
check "paper preset dry run lists its cells" "grep -q 'hae b=0.59 ddes.bin=16' <<<\"\$out\" && grep -q 'streaming b=0.59' <<<\"\$out\""
for p in random uniform divprune fastervlm visionzip cdpruner dart pyramiddrop sparsevlm; do
  check "paper preset has $p" "grep -q '^  $p b=0.59 ' <<<\"\$out\""
done
out=$("$hae" -q bench --preset paper --demo 4 --budget 0.5,64t --dry-run)
check "paper preset with a token budget" "grep -q '^  uniform b=64t  *keep=0 ratio=0.555556' <<<\"\$out\" && grep -q '^  uniform b=0.5 ' <<<\"\$out\""

# Budgets: a ratio or a token count; anything else is refused naming the flag.
expect_error "budget with a bad unit" "--budget '64x'" bench --demo 1 --policy hae --budget 64x --out "$work/bad"
expect_error "negative budget" "--budget -1" bench --demo 1 --policy hae --budget=-1 --out "$work/bad"
expect_error "zero tokens" "--budget 0t" bench --demo 1 --policy hae --budget 0t --out "$work/bad"

# A VLMEvalKit TSV (demo scenes, multiple choice and open questions) on the demo model, with a
# token budget and the new pruners: two shards, merged, resumed.
tsv="$data/bench/demo_scenes.tsv"
tcommon=(--data "$tsv" --policy uniform --policy divprune --policy snapkv --budget 64t --max-new-tokens 3)
"$hae" -q --threads 2 bench "${tcommon[@]}" --shard 1/2 --out "$work/t1" 2>"$work/t1.err"
check "tsv shard 1/2 exits 0 ($(head -c 300 "$work/t1.err"))" "[ $? -eq 0 ]"
"$hae" -q --threads 2 bench "${tcommon[@]}" --shard 2/2 --out "$work/t2" 2>"$work/t2.err"
check "tsv shard 2/2 exits 0 ($(head -c 300 "$work/t2.err"))" "[ $? -eq 0 ]"
check "tsv shard 1: 3 rows x 4 cells" "[ $(lines "$work/t1/results.jsonl") -eq 12 ]"
check "tsv images written from base64" "[ \$(ls '$work/t1/images' | grep -c '^tsv_demo_scenes.tsv_.*\.png$') -eq 3 ]"
check "multiple-choice prompt as VLMEvalKit's" "grep -q 'Please select the correct answer from the options above' '$work/t1/results.jsonl'"
"$hae" -q bench merge "$work/t1" "$work/t2" --out "$work/tm" 2>"$work/tm.err"
check "tsv merge exits 0 ($(head -c 300 "$work/tm.err"))" "[ $? -eq 0 ]"
check "tsv merged: 6 rows x 4 cells" "[ $(lines "$work/tm/results.jsonl") -eq 24 ]"
check "tsv merged csv rows" "grep -q '^uniform b=64t,uniform,64t,,6,6,' '$work/tm/summary.csv' && grep -q '^divprune b=64t,divprune,64t,,6,' '$work/tm/summary.csv'"
for f in tradeoff_kv.svg tradeoff_prefill.svg tradeoff_decode.svg; do
  check "$f: one point per cell" "[ \$(grep -o 'class=\"cell\"' '$work/tm/$f' | wc -l) -eq 4 ]"
  check "$f: the Pareto front" "[ \$(grep -o 'class=\"pareto\"' '$work/tm/$f' | wc -l) -eq 1 ]"
done
check "summary.html holds the three plots" "[ \$(grep -o '<svg' '$work/tm/summary.html' | wc -l) -eq 3 ]"
check "summary.html stage-coloured points" "grep -q 'data-cell=\"uniform b=64t\" data-stage=\"V\"' '$work/tm/summary.html'"
"$hae" -q --threads 2 bench "${tcommon[@]}" --shard 2/2 --out "$work/t2" --resume 2>"$work/tr.err"
check "tsv resume exits 0 ($(head -c 300 "$work/tr.err"))" "[ $? -eq 0 ]"
check "tsv resume appends nothing" "[ $(lines "$work/t2/results.jsonl") -eq 12 ]"
# An interrupted TSV run: cut the last line in half, resume redoes just that pair.
head -c -20 "$work/t1/results.jsonl" >"$work/t1/cut" && mv "$work/t1/cut" "$work/t1/results.jsonl"
"$hae" -q --threads 2 bench "${tcommon[@]}" --shard 1/2 --out "$work/t1" --resume 2>"$work/tc.err"
check "tsv resume after a cut exits 0 ($(head -c 300 "$work/tc.err"))" "[ $? -eq 0 ]"
check "tsv resume redid the cut pair" "[ $(lines "$work/t1/results.jsonl") -eq 12 ]"

# Bad TSV files: one line naming the file, line and column; nothing written.
b64=$(sed -n 2p "$tsv" | awk -F'\t' '{print $NF}' | tr -d '"')
printf 'index\tquestion\tanswer\timage\n1\tq\tyes\t%s\n2\tq\tno\t%s%%%%\n' "$b64" "${b64:0:200}" >"$work/badb64.tsv"
expect_error "tsv bad base64" "badb64.tsv:3: column 'image': not valid base64" bench --data "$work/badb64.tsv" --policy hae --out "$work/badtsv"
printf 'index\tanswer\timage\n1\tyes\t%s\n' "$b64" >"$work/nocol.tsv"
expect_error "tsv missing column" "nocol.tsv:1: missing column 'question'" bench --data "$work/nocol.tsv" --policy hae --out "$work/badtsv"
printf 'index\tquestion\tanswer\timage\n1\tq\tyes\t%s\n' "$(head -c 120 /dev/zero | tr '\0' 'a' | base64 -w0)" >"$work/noimg.tsv"
expect_error "tsv payload not an image" "noimg.tsv:2: column 'image': the decoded 120 bytes are not an image" bench --data "$work/noimg.tsv" --policy hae --out "$work/badtsv"
check "bad tsv wrote nothing" "[ ! -e '$work/badtsv' ]"
exit $fail
