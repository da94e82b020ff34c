#!/usr/bin/env bash
# hae-studio's scripted mode refuses what `hae run` refuses, with the same one-line messages:
# knob values out of range or not numbers (the GUI form would clamp them), and a thread count
# above the CLI's limit (which would spawn threads without end). Usage: studio_flags_test.sh STUDIO WORK_DIR
set -u
studio=$1
work=$2
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }
rm -rf "$work" && mkdir -p "$work"
# Qt warns on stderr when the runtime folder is unset (a CI container); that is not our output.
export XDG_RUNTIME_DIR=$work/runtime
mkdir -m 700 "$XDG_RUNTIME_DIR"

expect() {  # NAME RC TEXT studio-args...
  local name=$1 want=$2 text=$3
  shift 3
  local err rc
  timeout 20 "$studio" "$@" >/dev/null 2>"$work/err.txt"
  rc=$?
  err=$(cat "$work/err.txt")
  check "$name: exit $want (got $rc)" "[ $rc -eq $want ]"
  check "$name: one line naming '$text' (got: $err)" \
    "[ \$(printf '%s\n' \"\$err\" | wc -l) -eq 1 ] && grep -qF -- \"\$text\" <<<\"\$err\""
  check "$name: no screenshot" "[ ! -e '$work/shot.png' ]"
}

expect "--what-if-keep x" 2 "--what-if-keep expects visual token indices, got 'x'" \
  --screenshot "$work/shot.png" --what-if-keep 3,x
expect "--what-if-keep 999" 1 "--what-if-keep: the prompt has 144 visual tokens, not 1000" \
  --screenshot "$work/shot.png" --policy hae --steps 2 --what-if-keep 999
expect "--threads 100000" 2 "--threads must be an integer in [0, 1024]" --threads 100000 --screenshot "$work/shot.png"
expect "ddes.budget=nan" 1 "policy 'hae': knob 'ddes.budget' = 'nan' is not a number" \
  --screenshot "$work/shot.png" --policy hae --set ddes.budget=nan
expect "ddes.bin=-1" 1 "policy 'hae': knob 'ddes.bin' = '-1' is out of range; valid: int in [0, 1000000000]" \
  --screenshot "$work/shot.png" --policy hae --set ddes.bin=-1
expect "unknown knob" 1 "policy 'hae' has no knob 'ddes.nope'" \
  --screenshot "$work/shot.png" --policy hae --set ddes.nope=1
expect "--size 10x10" 2 "--size expects WIDTHxHEIGHT (320x240 to 8192x8192), got '10x10'" \
  --screenshot "$work/shot.png" --size 10x10
# Accepted by `hae run` (a C hex float) but not by the window's form: the scripted run fails
# rather than take a picture of other settings than asked for.
expect "dap.r=0x1p-3" 1 "refused knob values: dap.r: '0x1p-3' is not a number" \
  --screenshot "$work/shot.png" --policy hae --set dap.r=0x1p-3
expect "--compare nope" 1 "--compare: unknown policy 'nope'" --screenshot "$work/shot.png" --compare nope
exit $fail
