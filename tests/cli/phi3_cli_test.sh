#!/usr/bin/env bash
# `hae dump` and `hae run` on the Phi-3 fixtures: the dump writes the fixtures' tensor names (the
# numbers themselves are checked by test_phi3 through the same engine), and a Phi-3.5-V run under
# evicting policies types image tokens as visual and the sub_GN/glb_GN rows as separators.
# Usage: phi3_cli_test.sh HAE TEST_DATA_DIR WORK_DIR
set -u
hae=$1
data=$2
work=$3
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }

rm -rf "$work" && mkdir -p "$work"
for pair in tiny-phi3:expected_cross tiny-phi3v:expected_two_images; do
  model=${pair%%:*}
  inputs=${pair##*:}
  "$hae" -q --threads 2 dump --model "$data/models/$model" --inputs "$data/models/$model/$inputs.safetensors" \
    --out "$work/$model.safetensors" --greedy 16 2>"$work/$model.err"
  rc=$?
  check "hae dump $model exits 0 (stderr: $(head -c 300 "$work/$model.err"))" "[ $rc -eq 0 ]"
  for name in logits inputs_embeds hidden_states.1 last_layer_output_prenorm gen_ids gen_logits; do
    check "$model dump holds $name" "head -c 65536 '$work/$model.safetensors' | grep -aq '\"$name\"'"
  done
done
check "tiny-phi3v dump holds image_embeds" "head -c 65536 '$work/tiny-phi3v.safetensors' | grep -aq '\"image_embeds\"'"

for policy in hae h2o; do
  "$hae" -q --threads 2 run --model "$data/models/tiny-phi3v" --image "$data/preprocess/images/rose.png" \
    --prompt "what is this" --policy "$policy" --max-new-tokens 4 --report "$work/$policy.json" \
    >"$work/$policy.txt" 2>"$work/$policy.err"
  rc=$?
  check "hae run --policy $policy exits 0 (stderr: $(head -c 300 "$work/$policy.err"))" "[ $rc -eq 0 ]"
  # rose.png at num_crops 4: a 2x2 grid, 5 x 144 visual tokens and 2*12 + 12 + 1 separators.
  check "$policy: 720 visual tokens" "[ \$(grep -c '\"modality\": \"visual\"' '$work/$policy.json') -ge 720 ]"
  check "$policy: 37 separators" "[ \$(grep -c '\"modality\": \"separator\"' '$work/$policy.json') -ge 37 ]"
done

"$hae" -q --threads 2 run --model "$data/models/tiny-phi3v" --image "$data/preprocess/images/wizard.png" \
  --prompt "what is this" --num-crops 16 --max-new-tokens 2 --report "$work/nc16.json" >/dev/null 2>"$work/nc16.err"
rc=$?
check "hae run --num-crops 16 exits 0 (stderr: $(head -c 300 "$work/nc16.err"))" "[ $rc -eq 0 ]"
# wizard.png (480x640) at num_crops 16: a 4x3 grid, 13 x 144 visual tokens.
check "num-crops 16: 1872 visual tokens" "[ \$(grep -c '\"modality\": \"visual\"' '$work/nc16.json') -ge 1872 ]"

out=$("$hae" -q inspect --model "$data/models/tiny-phi3v" 2>&1)
check "inspect names the family and LongRoPE (got: $out)" "echo \"\$out\" | grep -q 'phi3_v' && echo \"\$out\" | grep -q 'LongRoPE'"
exit $fail
