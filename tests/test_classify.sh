#!/usr/bin/env bash
# tests/test_classify_cli: `longtail classify` end to end on a synthetic shop whose popularity partly
# follows the brand in each title (synth --brand-pull 0.8; without it popularity is independent of the
# text and nothing could learn it), as a user runs it: synth -> import -> vocab -> tfidf-embed -> classify.
#   - the default network (exactly the specified one) must beat the majority class: held-out ROC AUC
#     clearly above the majority's 0.5; with --class-weight balanced its balanced accuracy clearly above
#     0.5; the logistic regression on the embeddings is reported beside it;
#   - a training run stopped midway and started again writes the same classify.h5, byte for byte;
#   - --model predicts every item of a catalog into predictions.h5 + .csv; a catalog tokenized with
#     another vocabulary is refused; a mistyped setting is refused naming the closest one.
# usage: test_classify.sh path/to/longtail path/to/tfidf-embed
set -euo pipefail
lt=$1
tfidf=$2
dir=$(mktemp -d /tmp/lt_classify_XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "test_classify: FAIL: $*" >&2; exit 1; }
export LONGTAIL_LOG=warn OMP_WAIT_POLICY=passive

"$lt" synth --out "$dir/raw" --items 3000 --users 3000 --seed 4 --brand-pull 0.8 --quiet > /dev/null
"$lt" import --in "$dir/raw" --out "$dir/data" > /dev/null
"$lt" vocab --data "$dir/data" --train --size 2000 > /dev/null 2>&1
"$tfidf" --data "$dir/data" --out "$dir/emb" > /dev/null

member() { # member FILE MODEL KEY -> the number
  sed -n "s/.*\"$2\": {.*\"$3\": \([0-9.e+-]*\).*/\1/p" "$1"
}

# ---- the default network against the majority class and the logistic regression
"$lt" classify --data "$dir/data" --out "$dir/m1" --emb "$dir/emb" --json > "$dir/r1.json"
for m in majority logreg lstm; do grep -q "\"$m\": {\"accuracy\"" "$dir/r1.json" || fail "no $m member: $(cat "$dir/r1.json")"; done
auc=$(member "$dir/r1.json" lstm auc)
maj_auc=$(member "$dir/r1.json" majority auc)
maj_acc=$(member "$dir/r1.json" majority accuracy)
awk -v a="$auc" -v m="$maj_auc" 'BEGIN{exit !(a > 0.6 && a > m + 0.08)}' || fail "no better than the majority class: AUC $auc vs $maj_auc"
awk -v a="$maj_acc" 'BEGIN{exit !(a > 0.7 && a < 0.9)}' || fail "the majority class should be right on ~80% (tail): $maj_acc"
for f in classify.h5 vocab.txt predictions.h5 predictions.csv classify_log.tsv classify_loss.svg; do
  [ -f "$dir/m1/$f" ] || fail "classify did not write $f"
done
[ "$(wc -l < "$dir/m1/predictions.csv")" = 601 ] || fail "predictions.csv: expected 600 held-out items + header"
head -1 "$dir/m1/predictions.csv" | grep -q '^item_id,p_tail,predicted,label$' || fail "predictions.csv header"
"$lt" info "$dir/m1/predictions.h5" | grep -q "tail_predictions/1" || fail "no tail_predictions/1 schema"

# ---- class weights: the balanced accuracy must rise clearly above a constant answer's 0.5
"$lt" classify --data "$dir/data" --out "$dir/m2" --class-weight balanced --json > "$dir/r2.json"
bal=$(member "$dir/r2.json" lstm balanced_accuracy)
awk -v b="$bal" 'BEGIN{exit !(b > 0.58)}' || fail "balanced classes: balanced accuracy $bal"
grep -q '"logreg"' "$dir/r2.json" && fail "logreg reported without --emb"

# ---- stopped and resumed = straight, byte for byte (a small network: this is about the trainer's state)
small=(--embed 16 --hidden 12 --hidden2 8 --epochs 2 --ckpt-every 25 --valid 0.1)
"$lt" classify --data "$dir/data" --out "$dir/s1" "${small[@]}" > /dev/null
"$lt" classify --data "$dir/data" --out "$dir/s2" "${small[@]}" --classify.stop_after=70 > /dev/null
[ ! -f "$dir/s2/classify.h5" ] || fail "a stopped run must not write the final model"
"$lt" classify --data "$dir/data" --out "$dir/s2" "${small[@]}" > /dev/null
cmp -s "$dir/s1/classify.h5" "$dir/s2/classify.h5" || fail "resumed training differs from an uninterrupted run"

# ---- prediction with a trained model: every item of a catalog
"$lt" classify --data "$dir/data" --model "$dir/m1" --out "$dir/p1" > "$dir/p1.txt"
[ "$(wc -l < "$dir/p1/predictions.csv")" = 3001 ] || fail "prediction: expected 3000 items + header"
grep -q "predicted 3000 items" "$dir/p1.txt" || fail "prediction summary: $(cat "$dir/p1.txt")"
# new items tokenized with the model's vocabulary are predicted; another vocabulary is refused
"$lt" synth --out "$dir/raw2" --items 200 --users 50 --seed 9 --quiet > /dev/null
"$lt" import --in "$dir/raw2" --out "$dir/new" > /dev/null
"$lt" vocab --data "$dir/new" --train --size 500 > /dev/null 2>&1
if "$lt" classify --data "$dir/new" --model "$dir/m1" --out "$dir/p2" 2> "$dir/err"; then fail "another vocabulary accepted"; fi
grep -q "vocab" "$dir/err" || fail "unclear message: $(cat "$dir/err")"
"$lt" vocab --data "$dir/new" --bert-vocab "$dir/m1/vocab.txt" > /dev/null 2>&1
"$lt" classify --data "$dir/new" --model "$dir/m1" --out "$dir/p2" > /dev/null || fail "new items not predicted"
[ "$(wc -l < "$dir/p2/predictions.csv")" = 201 ] || fail "new items: expected 200 + header"

# ---- settings
if "$lt" classify --data "$dir/data" --out "$dir/x" --classify.epoch=3 2> "$dir/err"; then fail "mistyped setting accepted"; fi
grep -q "did you mean --classify.epochs" "$dir/err" || fail "unclear message: $(cat "$dir/err")"
if "$lt" classify --data "$dir/data" --out "$dir/x" --class-weight auto 2> "$dir/err"; then fail "bad class_weight accepted"; fi
grep -q "classify.class_weight" "$dir/err" || fail "unclear message: $(cat "$dir/err")"
echo "test_classify: default AUC $auc (majority $maj_auc), balanced accuracy with class weights $bal; resume, predict, vocab and settings ok"
