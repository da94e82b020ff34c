#!/usr/bin/env bash
# `hae dump` and `hae run` on tiny-idefics3: the dump writes the fixtures' tensor names (the numbers
# are checked by test_idefics3 through the same engine), and runs under evicting policies type the
# tiles' tokens as visual and the layout markers as separators, at the default tiling and with
# --image-longest-edge giving one tile.
# Usage: idefics3_cli_test.sh HAE TEST_DATA_DIR WORK_DIR
set -u
hae=$1
data=$2
work=$3
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }

rm -rf "$work" && mkdir -p "$work"
model="$data/models/tiny-idefics3"
"$hae" -q --threads 2 dump --model "$model" --inputs "$model/expected.safetensors" --out "$work/dump.safetensors" \
  --greedy 16 2>"$work/dump.err"
rc=$?
check "hae dump exits 0 (stderr: $(head -c 300 "$work/dump.err"))" "[ $rc -eq 0 ]"
for name in logits inputs_embeds hidden_states.3 last_layer_output_prenorm vision_features image_embeds gen_ids; do
  check "dump holds $name" "head -c 65536 '$work/dump.safetensors' | grep -aq '\"$name\"'"
done

for policy in hae snapkv; do
  "$hae" -q --threads 2 run --model "$model" --image "$data/preprocess/images/wizard.png" --prompt "what is this" \
    --policy "$policy" --max-new-tokens 4 --report "$work/$policy.json" >"$work/$policy.txt" 2>"$work/$policy.err"
  rc=$?
  check "hae run --policy $policy exits 0 (stderr: $(head -c 300 "$work/$policy.err"))" "[ $rc -eq 0 ]"
  # wizard.png (480x640) with 64 px tiles and longest edge 256: 4 rows x 3 columns + global =
  # 13 x 16 visual tokens; 12 tile headers of 2, 4 row newlines, 3 global-header and 1 closing marker.
  check "$policy: 208 visual tokens" "grep -q '\"visual_tokens\": 208' '$work/$policy.json'"
  check "$policy: 32 separators" "[ \$(grep -c '\"modality\": \"separator\"' '$work/$policy.json') -ge 32 ]"
done

"$hae" -q --threads 2 run --model "$model" --image "$data/preprocess/images/rose.png" --prompt "what is this" \
  --image-longest-edge 64 --max-new-tokens 2 --report "$work/one.json" >/dev/null 2>"$work/one.err"
rc=$?
check "hae run --image-longest-edge 64 exits 0 (stderr: $(head -c 300 "$work/one.err"))" "[ $rc -eq 0 ]"
check "one tile: 16 visual tokens" "grep -q '\"visual_tokens\": 16' '$work/one.json'"

out=$("$hae" -q inspect --model "$model" 2>&1)
check "inspect names the family (got: $out)" "echo \"\$out\" | grep -q 'idefics3' && echo \"\$out\" | grep -q 'pixel shuffle x4'"
exit $fail
