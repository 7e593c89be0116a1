#!/usr/bin/env bash
# tests/test_pretrain_resume: pretraining stopped midway (in the MLM phase and in the contrastive
# phase) and started again ends with the same weights, byte for byte, as an uninterrupted run, on
# the device given (test_pipeline.sh checks the same on the CPU among much else; bench/gpu-check.sh
# runs this with cuda). Extra arguments go to every pretrain call (e.g. --pretrain.math=bf16).
# usage: test_pretrain_resume.sh path/to/longtail cpu|cuda [pretrain options...]
set -euo pipefail
lt=$1 device=$2
shift 2
dir=$(mktemp -d /tmp/lt_resume_XXXXXX)
trap '[ -n "${LT_KEEP:-}" ] || rm -rf "$dir"' EXIT
fail() { echo "test_pretrain_resume ($device): FAIL: $*" >&2; exit 1; }
export LONGTAIL_LOG=warn

"$lt" synth --out "$dir/raw" --items 600 --users 400 --seed 3 --quiet > /dev/null
"$lt" import --in "$dir/raw" --out "$dir/data" > /dev/null
"$lt" vocab --data "$dir/data" --train --size 600 --max-len 24 --items-per-shard 250 > /dev/null
model=(--layers 2 --hidden 64 --heads 2 --batch 16 --steps 24 --contrastive-steps 6 --pair-batch 8 --ckpt-every 4
       --log-every 4 --seed 5 --pretrain.device="$device" "$@")
"$lt" pretrain --data "$dir/data" --out "$dir/m1" "${model[@]}" > /dev/null
for stop in 10 27; do  # inside the MLM phase, inside the contrastive phase
  "$lt" pretrain --data "$dir/data" --out "$dir/s$stop" "${model[@]}" --pretrain.stop_after=$stop > /dev/null
  "$lt" pretrain --data "$dir/data" --out "$dir/s$stop" "${model[@]}" > /dev/null
  cmp -s "$dir/m1/model.safetensors" "$dir/s$stop/model.safetensors" ||
    fail "stopped after step $stop and resumed: the weights differ from an uninterrupted run"
done
first=$(awk -F'\t' '$1=="mlm"{print $3; exit}' "$dir/m1/pretrain_log.tsv")
last=$(awk -F'\t' '$1=="mlm"{v=$3} END{print v}' "$dir/m1/pretrain_log.tsv")
echo "test_pretrain_resume ($device): stopped at steps 10 and 27, resumed byte-identical; MLM loss $first -> $last"
