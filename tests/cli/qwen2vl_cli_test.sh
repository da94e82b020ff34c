#!/usr/bin/env bash
# `hae run` and `hae inspect` on tiny-qwen2vl and tiny-qwen25vl with a real image (the dump's numbers
# are checked by test_qwen2vl): the processor's token count at the default pixel bounds and with
# --image-max-pixels, evicting policies of every stage, and pos.mode=renumber refused in one line.
# Usage: qwen2vl_cli_test.sh HAE TEST_DATA_DIR WORK_DIR
set -u
hae=$1
data=$2
work=$3
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }

rm -rf "$work" && mkdir -p "$work"
image="$data/preprocess/images/wizard.png"
for family in tiny-qwen2vl tiny-qwen25vl; do
  model="$data/qwen2vl/$family"
  for policy in full hae snapkv uniform; do
    out="$work/$family-$policy"
    "$hae" -q --threads 2 run --model "$model" --image "$image" --prompt "what is this" \
      --policy "$policy" --max-new-tokens 4 --report "$out.json" >"$out.txt" 2>"$out.err"
    rc=$?
    check "$family --policy $policy exits 0 (stderr: $(head -c 300 "$out.err"))" "[ $rc -eq 0 ]"
    # wizard.png (480x640) at the class defaults (max_pixels 1003520): 476x644, grid 34x46, 17x23
    # merged tokens; <|vision_start|> and <|vision_end|> are separators.
    check "$family $policy: 391 visual tokens" "grep -q '\"visual_tokens\": 391' '$out.json'"
    check "$family $policy: 2 separators" "[ \$(grep -c '\"modality\": \"separator\"' '$out.json') -eq 2 ]"
  done
  "$hae" -q --threads 2 run --model "$model" --image "$image" --prompt "what is this" \
    --image-max-pixels 200704 --max-new-tokens 2 --report "$work/$family-small.json" >/dev/null 2>"$work/small.err"
  check "$family --image-max-pixels 200704 exits 0 ($(head -c 300 "$work/small.err"))" "[ $? -eq 0 ]"
  check "$family max_pixels 200704: 234 visual tokens" "grep -q '\"visual_tokens\": 234' '$work/$family-small.json'"
  "$hae" -q --threads 2 run --model "$model" --image "$image" --prompt "what is this" --policy uniform \
    --set pos.mode=renumber --max-new-tokens 2 >/dev/null 2>"$work/renumber.err"
  rc=$?
  check "$family renumber refused (rc $rc)" "[ $rc -eq 1 ]"
  check "$family renumber message ($(cat "$work/renumber.err"))" \
    "grep -q 'pos.mode=renumber is not defined for M-RoPE' '$work/renumber.err' && [ \$(wc -l < '$work/renumber.err') -eq 1 ]"
done

out=$("$hae" -q inspect --model "$data/qwen2vl/tiny-qwen25vl" 2>&1)
check "inspect names the family (got: $out)" "echo \"\$out\" | grep -q 'qwen2_5_vl' && echo \"\$out\" | grep -q 'full attention in blocks 1, 3'"
exit $fail
