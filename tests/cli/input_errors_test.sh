#!/usr/bin/env bash
# Bad input to `hae` gives one line on stderr naming the file and the flag, key or tensor at
# fault, exit code 2 for a usage error and 1 otherwise, within seconds, and never a LibTorch trace
# or a decoder's own output. Usage: input_errors_test.sh HAE TEST_DATA_DIR WORK_DIR DEMO_MODEL_DIR
set -u
hae=$1
data=$2
work=$3
demo=$4
fail=0
check() { if ! eval "$2"; then echo "FAIL: $1"; fail=1; fi; }

rm -rf "$work" && mkdir -p "$work"

# expect NAME RC TEXT hae-args...: exit code RC, exactly one line on stderr containing TEXT,
# nothing on stdout, within 20 s (a model load included).
expect() {
  local name=$1 want=$2 text=$3
  shift 3
  local out err rc start
  start=$(date +%s)
  local pre=(--threads 2)
  [ "$1" = "--threads" ] && pre=()
  out=$(timeout 20 "$hae" "${pre[@]}" "$@" 2>"$work/err.txt")
  rc=$?
  err=$(cat "$work/err.txt")
  check "$name: exit $want (got $rc)" "[ $rc -eq $want ]"
  check "$name: one line on stderr (got: $err)" "[ \$(printf '%s\n' \"\$err\" | wc -l) -eq 1 ]"
  check "$name: names '$text' (got: $err)" "grep -qF -- \"\$text\" <<<\"\$err\""
  check "$name: no trace (got: $err)" "! grep -qE 'Exception raised from|frame #|OpenCV\(|libpng' <<<\"\$err\""
  check "$name: nothing on stdout (got: $out)" "[ -z \"\$out\" ]"
}

img=$data/preprocess/images/rose.png

# 1. Sampling flags: NaN passed CLI::Range's comparisons.
for v in nan inf -inf 1e999; do
  expect "--temperature $v" 2 "--temperature: '$v' is not a finite number in [0, 100]" \
    run --image "$img" --prompt q --temperature "$v"
done
expect "--top-p nan" 2 "--top-p: 'nan' is not a finite number in [0, 1]" run --image "$img" --prompt q --top-p nan
expect "--threads above the limit" 2 "--threads" --threads 100000 info

# 8. --out naming an existing file (or a folder where a file is wanted).
printf 'x' >"$work/taken"
expect "bench --out FILE" 1 "--out $work/taken: exists and is not a folder" \
  bench --demo 1 --policy hae --out "$work/taken"
expect "bench merge --out FILE" 1 "--out $work/taken: exists and is not a folder" \
  bench merge "$work" --out "$work/taken"
expect "train-demo --out FILE" 1 "--out $work/taken: exists and is not a folder" \
  train-demo --out "$work/taken" --steps 1
expect "bench --out below a file" 1 "--out $work/taken/sub: $work/taken is not a folder" \
  bench --demo 1 --policy hae --out "$work/taken/sub"
model=$data/models/tiny-llava
expect "dump --out FOLDER" 1 "--out $work: is a folder" \
  dump --model "$model" --inputs "$model/expected.safetensors" --out "$work"

# 6. `hae dump` inputs of the wrong dtype or shape: named before any tensor op.
write_st() {  # FILE NAME:DTYPE:SHAPE(comma separated)... ; zero-filled data
  python3 - "$@" <<'EOF'
import json, struct, sys
sizes = {"I64": 8, "I32": 4, "F32": 4}
header, blobs, off = {}, b"", 0
for spec in sys.argv[2:]:
    name, dtype, shape = spec.split(":")
    dims = [int(x) for x in shape.split(",") if x != ""]
    n = sizes[dtype]
    for d in dims: n *= d
    header[name] = {"dtype": dtype, "shape": dims, "data_offsets": [off, off + n]}
    blobs += b"\0" * n
    off += n
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + blobs)
EOF
}
write_st "$work/ids_i32.safetensors" input_ids:I32:1,3
write_st "$work/ids_f32.safetensors" input_ids:F32:1,3
write_st "$work/ids_empty.safetensors" input_ids:I64:1,0
write_st "$work/pixels.safetensors" input_ids:I64:1,3 pixel_values:F32:1,3,10,10
for f in ids_i32:"input_ids is I32 [1, 3]; expected I64 token ids of shape [1, S]" \
         ids_f32:"input_ids is F32 [1, 3]; expected I64" \
         ids_empty:"input_ids is I64 [1, 0]; expected I64 token ids of shape [1, S] with S >= 1" \
         pixels:"pixel_values is F32 [1, 3, 10, 10]; expected a float tensor of shape [images, 3, 56, 56]"; do
  name=${f%%:*}
  expect "dump $name" 1 "$work/$name.safetensors: ${f#*:}" \
    dump --model "$model" --inputs "$work/$name.safetensors" --out "$work/out.safetensors"
done
check "bad dump inputs wrote nothing" "[ ! -e '$work/out.safetensors' ]"

# 7. A tokenizer id beyond config.json's vocab_size: named as the tokenizer's, not as input_ids.
mkdir -p "$work/badtok"
for f in "$demo"/*; do ln -s "$f" "$work/badtok/"; done
rm "$work/badtok/tokenizer.json"
python3 - "$demo/tokenizer.json" "$work/badtok/tokenizer.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
t["model"]["vocab"]["zzzq"] = 200
json.dump(t, open(sys.argv[2], "w"))
EOF
expect "tokenizer id beyond vocab_size" 1 \
  "$work/badtok/tokenizer.json maps 'zzzq' to id 200, but $work/badtok/config.json's vocab_size is 121" \
  run --model "$work/badtok" --image "$img" --prompt "zzzq"

# 3. Damaged images: the reason and the file in one line, nothing from libpng / libjpeg / OpenCV.
head -c 20000 "$img" >"$work/half.png"
expect "truncated png" 1 "cannot decode image file '$work/half.png'" run --image "$work/half.png" --prompt q
jpg=$data/preprocess/images/rose.jpg
head -c $(( $(stat -c %s "$jpg") - 2 )) "$jpg" >"$work/no_eoi.jpg"
expect "jpeg without EOI" 1 "'$work/no_eoi.jpg': JPEG data ends before its end-of-image marker" \
  run --image "$work/no_eoi.jpg" --prompt q
printf 'P5\n64 64\n255\n0123456789' >"$work/short.pgm"
expect "truncated pgm" 1 "'$work/short.pgm': PNM raster needs 4096 bytes" run --image "$work/short.pgm" --prompt q

exit $fail
