#!/usr/bin/env bash
# tests/test_update: longtail update on a time split of a small synthetic shop, as a user runs it:
# synth -> import -> tfidf-embed -> train on the first half of every history (--time-split 0.5) ->
# update on the whole histories, then
#   - the bar: the updated model must beat the stale one on the new period (each user's last event)
#     by 3 % in NDCG@10 and in Recall@10; an "update" that cannot learn (--lr 0) must FAIL the bar;
#   - the updated model is a model: eval reads OUT/rec.h5; --retrain reports the cost fraction;
#   - bad input is refused naming the setting.
# usage: test_update.sh path/to/longtail path/to/tfidf-embed
set -euo pipefail
lt=$1
tfidf=$2
dir=$(mktemp -d /tmp/lt_update_XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "test_update: FAIL: $*" >&2; exit 1; }
export LONGTAIL_LOG=warn OMP_WAIT_POLICY=passive

"$lt" synth --out "$dir/raw" --items 1000 --users 2000 --seed 4 --quiet > /dev/null
"$lt" import --in "$dir/raw" --out "$dir/data" > /dev/null
"$tfidf" --data "$dir/data" --out "$dir/emb" > /dev/null

small=(--dim 32 --hidden 48 --batch 64 --max-len 20 --chunk 512 --seed 2)
"$lt" train --data "$dir/data" --emb "$dir/emb" --out "$dir/old" "${small[@]}" --epochs 8 --lr 5e-3 --warmup 10 \
  --time-split 0.5 > /dev/null
"$lt" update --data "$dir/data" --model "$dir/old" --out "$dir/new" --batch 64 --retrain --retrain-epochs 8 \
  --retrain-lr 5e-3 --json > "$dir/u.json"
[ -f "$dir/new/rec.h5" ] || fail "no updated model written"

get() { sed -n "s/.*\"$1\": {[^}]*\"$2\": \([0-9.e+-]*\).*/\1/p" "$3"; }
clears() { # FILE -> exit 0 when updated beats stale by 3 % in NDCG@10 and Recall@10
  local sn un sr ur
  sn=$(get stale ndcg@10 "$1"); un=$(get updated ndcg@10 "$1"); sr=$(get stale recall@10 "$1"); ur=$(get updated recall@10 "$1")
  echo "  stale N@10 $sn R@10 $sr, updated N@10 $un R@10 $ur" >&2
  awk -v a="$sn" -v b="$un" -v c="$sr" -v d="$ur" 'BEGIN{exit !(a > 0 && b >= 1.03 * a && d >= 1.03 * c)}'
}
clears "$dir/u.json" || fail "the update does not improve over the stale model"
frac=$(sed -n 's/.*"fraction": \([0-9.e+-]*\).*/\1/p' "$dir/u.json")
[ -n "$frac" ] || fail "no cost fraction with --retrain"
echo "  update costs $frac of a retrain" >&2
grep -q '"updated@new_items": {"cases": ' "$dir/u.json" || fail "no new-item member"

# the bar can fail: an update with a zero learning rate leaves the stale model as it was
"$lt" update --data "$dir/data" --model "$dir/old" --out "$dir/zero" --batch 64 --epochs 1 --lr 0 --json > "$dir/z.json"
! clears "$dir/z.json" || fail "an update that cannot learn clears the bar"

# the updated model serves like any other
"$lt" eval --data "$dir/data" --model "$dir/new" --baselines none --json | grep -q '"new": {"recall@10"' \
  || fail "eval cannot read the updated model"

out=$("$lt" update --data "$dir/data" --model "$dir/old" --out "$dir/x" --epochs 0 2>&1) && fail "epochs 0 accepted"
grep -q "epochs" <<< "$out" || fail "bad epochs error: $out"
out=$("$lt" update --data "$dir/data" --model "$dir/nothing" --out "$dir/y" 2>&1) && fail "a missing model accepted"
grep -q "nothing/rec.h5" <<< "$out" || fail "a missing model's error does not name the file: $out"
echo "test_update: ok"
