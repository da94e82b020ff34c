#!/usr/bin/env bash
# hae-studio --screenshot FILE writes a real PNG and exits 0.
set -eu
studio=$1 png=$2
rm -f "$png"
"$studio" --screenshot "$png"
head -c 8 "$png" | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'
