#!/usr/bin/env bash
# The CLI's contract with its users: help lists the subcommands, --version names LibTorch, and
# bad input gives exactly one line on stderr and a non-zero exit code.
set -u
hae=$1
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }

out=$("$hae" --help); rc=$?
check "--help exits 0" "[ $rc -eq 0 ]"
check "--help lists info" "grep -q 'info' <<<\"\$out\""

out=$("$hae" --version); rc=$?
check "--version exits 0" "[ $rc -eq 0 ]"
check "--version names LibTorch" "grep -Eq 'hae [0-9]+\.[0-9]+\.[0-9]+ \(LibTorch [0-9.]+' <<<\"\$out\""

for bad in "frobnicate" "--threads abc info" "--threads -3 info" "info --nonsense" ""; do
  err=$("$hae" $bad 2>&1 >/dev/null); rc=$?
  check "'hae $bad' exits non-zero" "[ $rc -ne 0 ]"
  check "'hae $bad' prints one line" "[ \$(printf '%s\n' \"\$err\" | wc -l) -eq 1 ]"
done

out=$("$hae" --threads 2 info); rc=$?
check "info exits 0" "[ $rc -eq 0 ]"
check "--threads reaches LibTorch" "grep -q 'Threads:   2 of' <<<\"\$out\""
check "both threads join the decode kernels" "grep -q '; 2 join the decode kernels' <<<\"\$out\""
out=$("$hae" policies); rc=$?
check "policies exits 0" "[ $rc -eq 0 ]"
for p in full hae random streaming h2o tova snapkv pyramidkv adakv fastv mustdrop uniform \
  divprune fastervlm visionzip cdpruner dart pyramiddrop sparsevlm; do
  check "policies lists $p" "grep -q '^$p\$' <<<\"\$out\""
done
check "policies shows each one's stage" "grep -A1 '^fastv\$' <<<\"\$out\" | grep -q 'stage P:' && grep -A1 '^visionzip\$' <<<\"\$out\" | grep -q 'stage V:' && grep -A1 '^sparsevlm\$' <<<\"\$out\" | grep -q 'stage P:'"
check "policies shows knob ranges and defaults" "grep -q 'ddes.bin .*int in \[0, 1000000000\] *default 64' <<<\"\$out\""

exit $fail
