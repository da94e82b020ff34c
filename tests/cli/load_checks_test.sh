#!/usr/bin/env bash
# A wrong or hostile checkpoint is refused by `hae` within seconds, in one line naming the file
# and the key, before any module is allocated; a FIFO never blocks it; and the BLAS core type a
# user set is kept by the binary's re-exec.
set -u
hae=$1 data=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }
demo="$data/../../resources/demo/model"

# expect_refusal NAME NEEDLE CMD...: exit 1 within 20 s, one line on stderr holding NEEDLE.
expect_refusal() {
  local name=$1 needle=$2; shift 2
  err=$(timeout 20 "$@" 2>&1 >/dev/null); rc=$?
  check "$name exits 1 (got $rc)" "[ $rc -eq 1 ]"
  check "$name prints one line: $err" "[ \$(printf '%s\n' \"\$err\" | wc -l) -eq 1 ]"
  check "$name names '$needle': $err" "grep -qF -- \"$needle\" <<<\"\$err\""
}

# Only "model_type": the 7B defaults do not match the demo weights.
mkdir "$work/bare" && cp "$demo/model.safetensors" "$work/bare/"
echo '{"model_type": "llava"}' >"$work/bare/config.json"
expect_refusal "a config with only model_type" "config.json implies" \
  "$hae" run --model "$work/bare" --prompt "hi" --max-new-tokens 1

for key in '"hidden_size": 1000000000' '"vocab_size": 2000000000'; do
  echo "{\"model_type\": \"llava\", \"text_config\": {$key}}" >"$work/huge.json"
  expect_refusal "random-init with $key" "available" \
    "$hae" run --random-init "$work/huge.json" --prompt "hi" --max-new-tokens 1
  check "the message for $key names the key" "grep -q 'text_config.${key%%\"*}' <<<\"\$err\" || grep -q 'text_config.$(cut -d'\"' -f2 <<<"$key")' <<<\"\$err\""
done

# A FIFO named config.json or model.safetensors.
mkdir "$work/fifo" && mkfifo "$work/fifo/config.json"
expect_refusal "a FIFO config.json" "not a regular file" "$hae" run --model "$work/fifo" --prompt "hi"
mkdir "$work/fifo2" && cp "$demo/config.json" "$work/fifo2/" && mkfifo "$work/fifo2/model.safetensors"
expect_refusal "a FIFO model.safetensors" "not a regular file" "$hae" run --model "$work/fifo2" --prompt "hi"
mkdir "$work/folder" && mkdir "$work/folder/config.json"
expect_refusal "a folder named config.json" "is a folder, not a file" "$hae" run --model "$work/folder" --prompt "hi"

# Process set-up: a core type the user set is kept; with none set, hae measures each core type
# once, caches the table, and runs the fastest one that computed correctly.
out=$(OPENBLAS_CORETYPE=Haswell XDG_CACHE_HOME="$work/cache" "$hae" info)
check "a user's OPENBLAS_CORETYPE is kept: $out" "grep -q 'Haswell kernels; OPENBLAS_CORETYPE=Haswell from the environment' <<<\"\$out\""
check "a user's core type is not measured" "[ ! -e '$work/cache/hae/blas-coretype.json' ]"
out=$(env -u OPENBLAS_CORETYPE -u OMP_WAIT_POLICY XDG_CACHE_HOME="$work/cache" "$hae" info)
check "OpenMP's waiting chosen for where decoding runs: $out" "grep -Eq 'OMP_WAIT_POLICY=PASSIVE \(set by hae|OpenMP:    default waiting \(decoding runs on OpenMP' <<<\"\$out\""
cache="$work/cache/hae/blas-coretype.json"
check "the measurements are cached" "[ -s '$cache' ]"
if command -v python3 >/dev/null && [ -s "$cache" ]; then
  # The cached choice is the best correct entry, and it is what runs (OpenBLAS names it).
  verdict=$(python3 - "$cache" <<'PY'
import json, math, sys
c = json.load(open(sys.argv[1]))
ok = [m for m in c["measured"] if m["correct"]]
best = max(ok, key=lambda m: math.sqrt(m["gemm_gflops"] * m["gemv_gbps"]))
print(best["core_type"] == c["core_type"], best["runs_as"])
PY
)
  check "the cache holds the fastest correct core type: $verdict" "[ '${verdict%% *}' = True ]"
  check "that core type runs: $out" "grep -q \"OpenBLAS:  ${verdict#* } kernels\" <<<\"\$out\""
fi
out=$(env -u OPENBLAS_CORETYPE XDG_CACHE_HOME="$work/cache" "$hae" info)
check "the next start reads the cache: $out" "grep -q '(cached' <<<\"\$out\""

exit $fail
