#!/usr/bin/env bash
# `hae run --report` end to end: one run writes every requested format, each file parses back
# enough to show it is whole. Usage: report_test.sh HAE TEST_DATA_DIR WORK_DIR [pdf]
set -u
hae=$1
data=$2
work=$3
with_pdf=${4:-}
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }

rm -rf "$work" && mkdir -p "$work"
reports=(--report "$work/out.json" --report "$work/out.html" --report "$work/out.trace.json" --report "$work/out.csv")
[ -n "$with_pdf" ] && reports+=(--report "$work/out.pdf")
# No display on purpose: the CLI must fall back to Qt's offscreen platform for the PDF by itself.
env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM "$hae" -q --threads 2 run \
  --model "$data/models/llava-medium" --image "$data/preprocess/images/rose.png" \
  --prompt "what is this" --max-new-tokens 4 "${reports[@]}" >"$work/answer.txt" 2>"$work/stderr.txt"
rc=$?
check "hae run --report exits 0 (stderr: $(head -c 300 "$work/stderr.txt"))" "[ $rc -eq 0 ]"
for f in out.json out.html out.trace.json out.csv; do
  check "$f written" "[ -s '$work/$f' ]"
done
check "json names its schema" "grep -q '\"schema\": \"hae-studio/run-report\"' '$work/out.json'"
check "trace has events" "grep -q '\"traceEvents\"' '$work/out.trace.json'"
check "csv header" "head -1 '$work/out.csv' | grep -q '^step,layer,token_id,token,'"
# Prefill + up to 4 decode steps, one row per layer each, plus the header.
check "csv has rows" "[ \$(wc -l <'$work/out.csv') -gt 2 ]"
check "html has the plots" "grep -q '<svg id=\"plot-latency\"' '$work/out.html'"
check "html has the overlay" "grep -q 'src=\"data:image/png;base64,' '$work/out.html'"
if [ -n "$with_pdf" ]; then
  check "pdf written" "[ \"\$(head -c 5 '$work/out.pdf')\" = '%PDF-' ]"
fi
check "no temporary files left" "[ -z \"\$(ls -A '$work' | grep '^\\.')\" ]"

# A bad ending fails before the model runs, naming the file, on one line.
err=$("$hae" -q run --model "$data/models/llava-medium" --image "$data/preprocess/images/rose.png" \
  --prompt "x" --max-new-tokens 1 --report "$work/out.docx" 2>&1 >/dev/null)
rc=$?
check "unknown report ending exits 1" "[ $rc -eq 1 ]"
check "unknown report ending names the file" "grep -q 'out.docx: unknown report format' <<<\"\$err\""
err=$("$hae" -q run --model "$data/models/llava-medium" --image "$data/preprocess/images/rose.png" \
  --prompt "x" --max-new-tokens 1 --report "$work/missing/out.json" 2>&1 >/dev/null)
rc=$?
check "missing report folder exits 1" "[ $rc -eq 1 ]"
check "missing report folder is one line naming the file" \
  "[ \$(printf '%s\n' \"\$err\" | wc -l) -eq 1 ] && grep -q 'missing/out.json: cannot write here' <<<\"\$err\""
exit $fail
