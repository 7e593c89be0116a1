#!/usr/bin/env bash
# The host code paths a GPU takes, on a machine without one: every stage of the chain, and the
# commands around it, on the guarded device (--device guard, src/cpu/guard.c: the CPU's kernels,
# but memory that only backend ops may touch, and a device that is not the host's). A command that
# reads device memory on the host aborts there with a backtrace, as it would crash on CUDA; one that
# hands an op a host array fails naming it.
#   - the tiny demo chain on the guarded device and on the CPU: the same embeddings and clusters bit
#     for bit, the recommender's metrics within 0.01 (training may sum in another order there);
#   - the recommender's other towers and losses, update, the bandits' ridge models, classify, and
#     bf16 pretraining and embedding, on the guarded device;
#   - no source file calls a backend op without LT_CALL (the guard would not see it as an op).
# usage: test_guard.sh path/to/longtail path/to/h5_reldiff
set -euo pipefail
lt=$1
reldiff=$2
src=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/lt_guard_XXXXXX)
trap '[ -n "${LT_KEEP:-}" ] || rm -rf "$dir"' EXIT
fail() { echo "test_guard: FAIL: $*" >&2; exit 1; }
# a failed command's gist: the guard's report when it aborted, else its last lines
why() { grep -m1 -A3 "guarded device:" "$1" || tail -5 "$1"; }
export LONGTAIL_LOG=warn OMP_WAIT_POLICY=passive
tiny=(--synth.items=600 --synth.users=500 --vocab.size=500 --bert.layers=1 --bert.hidden=32 --pretrain.steps=20
      --pretrain.contrastive_steps=6 --pretrain.batch=16 --pretrain.pair_batch=8 --cluster.k=10 --cluster.tsne=200
      --train.epochs=2 --train.batch=32 --train.dim=32 --train.hidden=32 --eval.als_iters=2
      --run.stages=synth,import,vocab,pretrain,embed,cluster,train,eval,recommend,similar)
# every call into a backend's table goes through LT_CALL (backend_impl.h), or the guard cannot tell
# an op from host code (memory and lifetime slots excepted; c->ops is the communicator's table)
bad=$(grep -rnE "ops->[a-z_0-9]+\(" "$src/src" --include=*.c | grep -vE "ops->(alloc|free|host_alloc|host_free|sync|release)\(" |
      grep -v "c->ops->" || true)
[ -z "$bad" ] || fail "a backend op called without LT_CALL: $bad"

guard=() cpu=()
for s in pretrain embed cluster train eval recommend similar; do guard+=(--$s.device=guard) cpu+=(--$s.device=cpu); done

"$lt" run -c "$src/configs/demo.ini" --dir "$dir/g" "${tiny[@]}" "${guard[@]}" > "$dir/out" 2> "$dir/err" ||
  fail "the chain on the guarded device: $(why "$dir/err")"
grep -q "on guard" <(LONGTAIL_LOG=info "$lt" embed --data "$dir/g/data" --model "$dir/g/model" --out "$dir/e1" --device guard 2>&1) ||
  fail "embed --device guard did not run on the guarded device"
"$lt" run -c "$src/configs/demo.ini" --dir "$dir/c" "${tiny[@]}" "${cpu[@]}" > "$dir/out" 2> "$dir/err" ||
  fail "the chain on the CPU: $(why "$dir/err")"
"$reldiff" "$dir/g/emb/emb-00000.h5" "$dir/c/emb/emb-00000.h5" 0 > "$dir/out" || fail "embeddings differ: $(cat "$dir/out")"
"$reldiff" "$dir/g/cluster/cluster.h5" "$dir/c/cluster/cluster.h5" 0 > "$dir/out" || fail "clusters differ: $(cat "$dir/out")"
metric() { grep -o "\"rec\": {\"recall@10\": [0-9.e-]*, \"recall@20\": [0-9.e-]*, \"ndcg@10\": [0-9.e-]*" "$1" | grep -o "[0-9.e-]*$"; }
g=$(metric "$dir/g/eval/metrics.json") c=$(metric "$dir/c/eval/metrics.json")
[ -n "$g" ] && [ -n "$c" ] || fail "no NDCG@10 in the metrics"
awk -v g="$g" -v c="$c" 'BEGIN { d = g - c; exit !(d < 0.01 && d > -0.01) }' || fail "NDCG@10 $g on the guarded device, $c on the CPU"

# the rest of the recommender and the commands around the chain
for v in "--tower transformer --heads 2" "--cell gru --loss sampled --negatives 64" "--loss sampled --sampler inbatch" \
         "--no-text --accum 2"; do
  # shellcheck disable=SC2086
  "$lt" train --data "$dir/g/data" --emb "$dir/g/emb" --out "$dir/t" --device guard --epochs 1 --batch 32 --dim 32 \
    --hidden 32 --max-len 10 $v > /dev/null 2> "$dir/err" || fail "train $v: $(why "$dir/err")"
  rm -rf "$dir/t"
done
"$lt" update --data "$dir/g/data" --model "$dir/g/rec" --out "$dir/u" --batch 64 --epochs 1 --device guard > /dev/null 2> "$dir/err" ||
  fail "update: $(why "$dir/err")"
"$lt" bandit --data "$dir/g/data" --emb "$dir/g/emb" --truth "$dir/g/raw/synth.ini" --rounds 500 --pool 100 --candidates 10 \
  --mode sim --policies linucb/shared,linucb/item --device guard > /dev/null 2> "$dir/err" || fail "bandit: $(why "$dir/err")"
"$lt" classify --data "$dir/g/data" --emb "$dir/g/emb" --out "$dir/k" --device guard > /dev/null 2> "$dir/err" ||
  fail "classify: $(why "$dir/err")"
"$lt" pretrain --data "$dir/g/data" --out "$dir/p16" --layers 1 --hidden 32 --heads 2 --batch 16 --steps 4 --math bf16 \
  --device guard > /dev/null 2> "$dir/err" || fail "pretrain in bf16: $(why "$dir/err")"
"$lt" embed --data "$dir/g/data" --model "$dir/g/model" --out "$dir/e16" --math bf16 --device guard > /dev/null 2> "$dir/err" ||
  fail "embed in bf16: $(why "$dir/err")"
echo "test_guard: all checks passed"
