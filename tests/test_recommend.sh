#!/usr/bin/env bash
# tests/test_recommend: `longtail recommend`, `longtail similar` and eval's tail-boost curve end to end
# on a small synthetic shop, as a user runs them:
#   - recommend writes recommendations.h5 and .csv with the right shapes, and never an item the user
#     has already seen; --users keeps the list's order and an unknown id fails naming file, line, id;
#   - the tail boost moves recommendations to less popular items, and in eval's curve it raises
#     APLT@10; MMR gives K distinct items;
#   - similar for one item and for all, by text, model and blend, never the item itself;
#   - bad input is refused with a message that names it.
# usage: test_recommend.sh path/to/longtail path/to/tfidf-embed
set -euo pipefail
lt=$1
tfidf=$2
dir=$(mktemp -d /tmp/lt_recommend_XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "test_recommend: FAIL: $*" >&2; exit 1; }
export LONGTAIL_LOG=warn

"$lt" synth --out "$dir/raw" --items 500 --users 1200 --seed 4 --quiet > /dev/null
"$lt" import --in "$dir/raw" --out "$dir/data" > /dev/null
"$tfidf" --data "$dir/data" --out "$dir/emb" > /dev/null
"$lt" train --data "$dir/data" --emb "$dir/emb" --out "$dir/m1" --dim 32 --hidden 48 --epochs 3 --batch 64 --lr 5e-3 \
  --warmup 10 --max-len 20 --chunk 128 --seed 2 > /dev/null

# ---- recommend: files, shapes, no seen item, sorted scores
"$lt" recommend --data "$dir/data" --model "$dir/m1" --out "$dir/r0" --k 7 > /dev/null 2>&1 || fail "recommend failed"
[ -f "$dir/r0/recommendations.h5" ] && [ -f "$dir/r0/recommendations.csv" ] || fail "recommend did not write both files"
[ -z "$(ls -A "$dir/r0" | grep -v '^recommendations\.\(h5\|csv\)$' || true)" ] || fail "recommend left other files: $(ls -A "$dir/r0")"
"$lt" info "$dir/r0/recommendations.h5" > "$dir/info"
grep -q "recommendations/1" "$dir/info" || fail "no recommendations/1 schema: $(cat "$dir/info")"
for shape in "items *i32\[1200,7\]" "scores *f32\[1200,7\]" "users *i64\[1200\]" "item_id/offsets *i64\[8401\]" "user_id/offsets *i64\[1201\]"; do
  grep -q "$shape" "$dir/info" || fail "recommendations.h5 lacks $shape: $(cat "$dir/info")"
done
rows=$(($(wc -l < "$dir/r0/recommendations.csv") - 1))
[ "$rows" -eq 8400 ] || fail "recommendations.csv has $rows rows, expected 1200 x 7"
head -1 "$dir/r0/recommendations.csv" | grep -q '^user_id,rank,item_id,score$' || fail "CSV header"
seen=$(awk -F'[\t,]' 'NR==FNR { if (FNR > 1) s[$1 "|" $2] = 1; next } FNR > 1 && (($1 "|" $3) in s) { n++ } END { print n + 0 }' \
  "$dir/raw/events.tsv" "$dir/r0/recommendations.csv")
[ "$seen" -eq 0 ] || fail "$seen recommendations are items the user has already seen"
awk -F, 'FNR > 1 { if ($1 == u && ($2 != r + 1 || $4 > s + 1e-6)) bad++; if ($1 != u && $2 != 1) bad++; u = $1; r = $2; s = $4 }
  END { exit bad > 0 }' "$dir/r0/recommendations.csv" || fail "ranks or scores out of order"

# ---- --users: the list's order; an unknown id names file, line and id
printf 'U0000007\n\nU0000003\n' > "$dir/users.txt"
"$lt" recommend --data "$dir/data" --model "$dir/m1" --out "$dir/r1" --k 5 --users "$dir/users.txt" > /dev/null 2>&1 || fail "--users failed"
[ "$(awk -F, 'FNR > 1 && $2 == 1 { printf "%s ", $1 }' "$dir/r1/recommendations.csv")" = "U0000007 U0000003 " ] ||
  fail "--users order: $(cat "$dir/r1/recommendations.csv")"
printf 'U0000007\nNOBODY-42\n' > "$dir/bad_users.txt"
if "$lt" recommend --data "$dir/data" --model "$dir/m1" --out "$dir/r2" --users "$dir/bad_users.txt" > /dev/null 2> "$dir/err"; then
  fail "an unknown user id was accepted"; fi
grep -q "bad_users.txt:2: unknown user id 'NOBODY-42'" "$dir/err" || fail "unclear message: $(cat "$dir/err")"

# ---- the tail boost: less popular items; MMR: K distinct items
"$lt" recommend --data "$dir/data" --model "$dir/m1" --out "$dir/r3" --k 7 --tail-boost 1 > /dev/null 2>&1 || fail "--tail-boost failed"
mean_pop() { awk -F'[\t,]' 'NR==FNR { if (FNR > 1) f[$2]++; next } FNR > 1 { s += f[$3]; n++ } END { printf "%.3f", s / n }' "$dir/raw/events.tsv" "$1"; }
p0=$(mean_pop "$dir/r0/recommendations.csv")
p1=$(mean_pop "$dir/r3/recommendations.csv")
awk -v a="$p0" -v b="$p1" 'BEGIN { exit !(b < 0.8 * a) }' || fail "the tail boost did not lower the popularity of what is recommended ($p0 -> $p1)"
"$lt" recommend --data "$dir/data" --model "$dir/m1" --out "$dir/r4" --k 7 --mmr 0.5 --no-csv > /dev/null 2>&1 || fail "--mmr failed"
"$lt" recommend --data "$dir/data" --model "$dir/m1" --out "$dir/r4" --k 7 --mmr 0.5 --candidates 30 > /dev/null 2>&1 || fail "--mmr failed"
dup=$(awk -F, 'FNR > 1 { if (seen[$1 "|" $3]++) d++ } END { print d + 0 }' "$dir/r4/recommendations.csv")
[ "$dup" -eq 0 ] && [ "$(($(wc -l < "$dir/r4/recommendations.csv") - 1))" -eq 8400 ] || fail "MMR: $dup repeated items"

# ---- eval's curve: APLT@10 rises with the boost
"$lt" eval --data "$dir/data" --model "$dir/m1" --baselines none --tail-boost-curve 0,0.5 --plot "$dir/curve.svg" --json > "$dir/eval.json"
grep -q '"m1@beta=0": {' "$dir/eval.json" && grep -q '"m1@beta=0.5": {' "$dir/eval.json" || fail "no curve members: $(cat "$dir/eval.json")"
grep -q '<polyline' "$dir/curve.svg" || fail "no curve plot"
aplt() { sed "s/.*\"m1@beta=$1\": {[^}]*\"aplt@10\": \([0-9.e-]*\).*/\1/" "$dir/eval.json"; }
a0=$(aplt 0)
a5=$(aplt 0.5)
awk -v a="$a0" -v b="$a5" 'BEGIN { exit !(b > a + 0.05) }' || fail "the tail boost did not raise APLT@10 ($a0 -> $a5)"
"$lt" eval --data "$dir/data" --model "$dir/m1" --baselines none --tail-boost-curve 0,0.2 --plot "$dir/curve2.svg" | grep -q "^m1 .* 0.2 " ||
  fail "no curve table"

# ---- similar: one item, every item; text, model, blend; never the item itself
"$lt" similar --data "$dir/data" --emb "$dir/emb" --item I0000042 --k 6 --out "$dir/s1" > /dev/null 2>&1 || fail "similar --item failed"
[ "$(($(wc -l < "$dir/s1/similar.csv") - 1))" -eq 6 ] || fail "similar --item: $(cat "$dir/s1/similar.csv")"
grep -q ',I0000042,' "$dir/s1/similar.csv" && fail "similar returned the item itself"
"$lt" similar --data "$dir/data" --model "$dir/m1" --by blend --alpha 0.3 --k 4 --out "$dir/s2" > /dev/null 2>&1 || fail "similar --by blend failed"
"$lt" info "$dir/s2/similar.h5" | grep -q "similar *i32\[500,4\]" || fail "similar.h5 shape: $("$lt" info "$dir/s2/similar.h5")"
self=$(awk -F, 'FNR > 1 && $1 == $3 { n++ } END { print n + 0 }' "$dir/s2/similar.csv")
[ "$self" -eq 0 ] && [ "$(($(wc -l < "$dir/s2/similar.csv") - 1))" -eq 2000 ] || fail "similar for every item: $self self matches"
"$lt" similar --data "$dir/data" --model "$dir/m1" --by model --item I0000001,I0000002 --out "$dir/s3" > /dev/null 2>&1 || fail "similar --by model"

# ---- bad input
bad() { # expected message, then the command
  local want=$1; shift
  if "$@" > /dev/null 2> "$dir/err"; then fail "accepted: $*"; fi
  grep -q -- "$want" "$dir/err" || fail "unclear message for $*: $(cat "$dir/err")"
}
bad "unknown item id 'NOPE'" "$lt" similar --data "$dir/data" --emb "$dir/emb" --item NOPE --out "$dir/s4"
bad "needs --model" "$lt" similar --data "$dir/data" --by blend --out "$dir/s4"
bad "expected text, model or blend" "$lt" similar --data "$dir/data" --by words --emb "$dir/emb" --out "$dir/s4"
bad "recommend.mmr" "$lt" recommend --data "$dir/data" --model "$dir/m1" --out "$dir/r5" --mmr 1.5
bad "recommend.k" "$lt" recommend --data "$dir/data" --model "$dir/m1" --out "$dir/r5" --k 0
bad "did you mean --recommend.k" "$lt" recommend --data "$dir/data" --model "$dir/m1" --out "$dir/r5" --recommend.kk=3
"$lt" synth --out "$dir/raw2" --items 300 --users 100 --seed 5 --quiet > /dev/null
"$lt" import --in "$dir/raw2" --out "$dir/data2" > /dev/null
bad "catalog of 500 items" "$lt" recommend --data "$dir/data2" --model "$dir/m1" --out "$dir/r5"
bad "embeddings of 500 items, the catalog has 300" "$lt" similar --data "$dir/data2" --emb "$dir/emb" --out "$dir/s5"
echo "test_recommend: 0 failed: shapes, no seen item, --users, tail boost (popularity $p0 -> $p1, APLT@10 $a0 -> $a5), MMR, similar, bad input refused"
