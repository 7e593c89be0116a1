#!/usr/bin/env bash
# tests/test_rec: the recommender end to end on a small synthetic shop, as a user runs it:
# synth -> import -> tfidf-embed -> train (LSTM, text + id) -> eval against the baselines, then
#   - a model that learns: its Recall@10 must clearly beat popularity's in the same run;
#   - training stopped midway and started again ends with the same weights, byte for byte;
#   - the GRU tower, the transformer tower and the id-only model train too; bad input is refused naming the file.
# usage: test_rec.sh path/to/longtail path/to/tfidf-embed
set -euo pipefail
lt=$1
tfidf=$2
dir=$(mktemp -d /tmp/lt_rec_XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "test_rec: FAIL: $*" >&2; exit 1; }
export LONGTAIL_LOG=warn

"$lt" synth --out "$dir/raw" --items 500 --users 1200 --seed 4 --quiet > /dev/null
"$lt" import --in "$dir/raw" --out "$dir/data" > /dev/null
"$tfidf" --data "$dir/data" --out "$dir/emb" > /dev/null

small=(--dim 32 --hidden 48 --epochs 6 --batch 64 --lr 5e-3 --warmup 10 --max-len 20 --chunk 128 --log-every 10 --ckpt-every 15 --seed 2)
"$lt" train --data "$dir/data" --emb "$dir/emb" --out "$dir/m1" "${small[@]}" > /dev/null
[ -f "$dir/m1/rec.h5" ] || fail "no model written"
[ -f "$dir/m1/train_loss.svg" ] || fail "no loss plot"
first=$(awk -F'\t' '$1=="train"{print $3; exit}' "$dir/m1/train_log.tsv")
last=$(awk -F'\t' '$1=="train"{v=$3} END{print v}' "$dir/m1/train_log.tsv")
awk -v a="$first" -v b="$last" 'BEGIN{exit !(b < 0.9 * a)}' || fail "training loss did not fall ($first -> $last)"

"$lt" eval --data "$dir/data" --model "$dir/m1" --baselines popularity,als --als-iters 5 --json > "$dir/eval.json"
/bin/sh -c "cat $dir/eval.json" | grep -q '"m1": {"recall@10"' || fail "no member for the model: $(cat "$dir/eval.json")"
for key in recall@10 recall@20 ndcg@10 ndcg@20 mrr tail_recall@10 aplt@10 coverage@10 gini@10; do
  grep -q "\"$key\"" "$dir/eval.json" || fail "eval --json lacks $key"
done
model_r=$(sed 's/.*"m1": {"recall@10": \([0-9.e-]*\).*/\1/' "$dir/eval.json")
pop_r=$(sed 's/.*"popularity": {"recall@10": \([0-9.e-]*\).*/\1/' "$dir/eval.json")
awk -v m="$model_r" -v p="$pop_r" 'BEGIN{exit !(m > 1.5 * p && m > 0.05)}' || fail "the model does not learn: recall@10 $model_r vs popularity $pop_r"

# stopped and resumed = straight, byte for byte
"$lt" train --data "$dir/data" --emb "$dir/emb" --out "$dir/m2" "${small[@]}" --train.stop_after=40 > /dev/null
[ ! -f "$dir/m2/rec.h5" ] || fail "a stopped run must not write the final model"
"$lt" train --data "$dir/data" --emb "$dir/emb" --out "$dir/m2" "${small[@]}" > /dev/null
cmp -s "$dir/m1/rec.h5" "$dir/m2/rec.h5" || fail "resumed training differs from an uninterrupted run"

# the GRU tower, the transformer tower, the id-only model, and cold items
"$lt" train --data "$dir/data" --emb "$dir/emb" --out "$dir/gru" "${small[@]}" --cell gru --epochs 2 > /dev/null
"$lt" train --data "$dir/data" --emb "$dir/emb" --out "$dir/tf" "${small[@]}" --tower transformer --layers 2 --heads 2 --epochs 2 > /dev/null
"$lt" train --data "$dir/data" --no-text --out "$dir/idonly" "${small[@]}" --epochs 2 --cold-items 0.1 > /dev/null
# the sampled softmax (popularity negatives with log-Q) learns too
"$lt" train --data "$dir/data" --emb "$dir/emb" --out "$dir/sampled" "${small[@]}" --loss sampled --negatives 64 > /dev/null
"$lt" eval --data "$dir/data" --model "$dir/sampled" --baselines popularity --json > "$dir/eval3.json"
sr=$(sed 's/.*"sampled": {"recall@10": \([0-9.e-]*\).*/\1/' "$dir/eval3.json")
awk -v m="$sr" -v p="$pop_r" 'BEGIN{exit !(m > 1.5 * p)}' || fail "the sampled loss does not learn: recall@10 $sr vs popularity $pop_r"
"$lt" eval --data "$dir/data" --model "$dir/gru,$dir/idonly,$dir/tf" --baselines none --cold-items 0.1 --json > "$dir/eval2.json"
grep -q '"idonly": {' "$dir/eval2.json" && grep -q '"cold_recall@20"' "$dir/eval2.json" || fail "eval of gru/id-only/cold: $(cat "$dir/eval2.json")"
grep -q '"tf": {' "$dir/eval2.json" || fail "eval of the transformer tower: $(cat "$dir/eval2.json")"

# bad input: embeddings that do not cover the catalog
"$lt" synth --out "$dir/raw2" --items 300 --users 100 --seed 5 --quiet > /dev/null
"$lt" import --in "$dir/raw2" --out "$dir/data2" > /dev/null
if "$lt" train --data "$dir/data2" --emb "$dir/emb" --out "$dir/bad" "${small[@]}" 2> "$dir/err"; then fail "embeddings of another catalog accepted"; fi
grep -q "embeddings of 500 items, the catalog has 300" "$dir/err" || fail "unclear message: $(cat "$dir/err")"
if "$lt" eval --data "$dir/data2" --model "$dir/m1" 2> "$dir/err"; then fail "a model of another catalog accepted"; fi
grep -q "catalog of 500 items" "$dir/err" || fail "unclear message: $(cat "$dir/err")"
echo "test_rec: 0 failed: learns (recall@10 $model_r, sampled loss $sr, vs popularity $pop_r), resumes byte for byte, gru, transformer, id-only, cold items, bad input refused"
