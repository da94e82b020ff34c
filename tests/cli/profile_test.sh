#!/usr/bin/env bash
# `hae profile`: the bytes a decode step reads equal the decoder's tensors as config.json sizes
# them, the bound is those bytes (and the cache's) over the bandwidth measured in the same run
# (the median of samples taken before and during decoding),
# and bad flags are refused without leaving files behind.
set -u
hae=$1 data=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }
model="$data/models/tiny-llava"
image="$data/preprocess/images/rose.png"

"$hae" profile --model "$model" --prompt-tokens 20 --decode-tokens 3 --json "$work/text.json" >"$work/text.out" 2>&1
check "profile of a text prompt exits 0: $(cat "$work/text.out")" "[ $? -eq 0 ]"
"$hae" profile --model "$model" --image "$image" --prompt-tokens 20 --decode-tokens 3 --json "$work/image.json" >"$work/image.out" 2>&1
check "profile with an image exits 0: $(cat "$work/image.out")" "[ $? -eq 0 ]"
check "the summary names the bound" "grep -q 'x the bound' '$work/text.out'"

verdict=$(python3 - "$model/config.json" "$work/text.json" "$work/image.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
t = c["text_config"]
h, i, L, V = t["hidden_size"], t["intermediate_size"], t["num_hidden_layers"], t["vocab_size"]
nh, kvh = t["num_attention_heads"], t["num_key_value_heads"]
hd = t.get("head_dim") or h // nh
per_layer = h * nh * hd + 2 * h * kvh * hd + nh * hd * h + 3 * h * i + 2 * h
expected = 4 * (L * per_layer + h + V * h)  # fp32; lm_head (untied) or the embedding when tied
text, image = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
problems = []
if text["decode_weight_bytes"] != expected:
    problems.append(f"weights {text['decode_weight_bytes']} != {expected}")
if text["prompt_tokens"] != 20 or text["visual_tokens"] != 0:
    problems.append(f"text prompt {text['prompt_tokens']} tokens, {text['visual_tokens']} visual")
if image["visual_tokens"] != c.get("image_seq_length", 16) or image["prompt_tokens"] <= 20 + image["visual_tokens"]:
    problems.append(f"image prompt {image['prompt_tokens']} tokens, {image['visual_tokens']} visual")
kv = text["decode_kv_bytes_mean"]
per_token = 2 * L * kvh * hd * 4
if not (20 * per_token <= kv <= 23 * per_token):
    problems.append(f"cache bytes {kv} not those of 20-23 tokens ({per_token} each)")
bound = (text["decode_weight_bytes"] + kv) / (text["read_gbps"] * 1e9) * 1e3
if abs(bound - text["bound_ms"]) > 1e-9 * bound or text["read_gbps"] <= 0:
    problems.append(f"bound {text['bound_ms']} != {bound}")
samples = sorted(text["read_gbps_samples"])  # before loading, every 8 decode steps, after
if len(samples) != 2 + (text["decode_tokens"] - 1) // 8 or min(samples) <= 0:
    problems.append(f"bandwidth samples {samples} for {text['decode_tokens']} decode steps")
elif abs(text["read_gbps"] - (samples[len(samples) // 2] + samples[(len(samples) - 1) // 2]) / 2) > 1e-9:
    problems.append(f"read_gbps {text['read_gbps']} is not the median of {samples}")
if abs(text["ratio_to_bound"] - text["decode_ms_mean"] / text["bound_ms"]) > 1e-9:
    problems.append("ratio is not decode / bound")
if image["vision_s"] <= 0 or image["vision_s"] >= image["prefill_s"]:
    problems.append(f"vision {image['vision_s']} s of a {image['prefill_s']} s prefill")
print("; ".join(problems) or "ok")
PY
)
check "figures consistent: $verdict" "[ '$verdict' = ok ]"

"$hae" profile --model "$model" --prompt-tokens 0 >/dev/null 2>"$work/err"
check "--prompt-tokens 0 is a usage error" "[ $? -eq 2 ] && grep -q 'prompt-tokens' '$work/err'"
"$hae" -q profile --model "$model" --prompt-tokens 4 --decode-tokens 1 --json "$work/missing/out.json" >/dev/null 2>"$work/err"
check "an unwritable --json path fails in one line" "[ $? -eq 1 ] && [ \$(wc -l <'$work/err') -eq 1 ]"
check "and leaves no file" "[ ! -e '$work/missing' ]"
exit $fail
