#!/usr/bin/env bash
# tests/test_longtail: the synthetic shop plants a long tail and `longtail cluster` finds it.
# synth's niche categories (raw/planted.tsv) hold their share of the items but get a small share of
# the events; after import -> tfidf-embed -> cluster, every niche category must be the main category
# of a long-tail cluster (clusters.tsv), and most long-tail clusters must be niche categories.
# usage: test_longtail.sh path/to/longtail path/to/tfidf-embed
set -euo pipefail
lt=$1
tfidf=$2
dir=$(mktemp -d /tmp/lt_longtail_XXXXXX)
trap '[ -n "${LT_KEEP:-}" ] || rm -rf "$dir"' EXIT
fail() { echo "test_longtail: FAIL: $*" >&2; exit 1; }
export LONGTAIL_LOG=warn

"$lt" synth --out "$dir/raw" --items 4000 --users 3000 --seed 7 --niche 5 --quiet > "$dir/synth.out"
grep -q "niche categories" "$dir/synth.out" || fail "synth does not report its niche categories: $(cat "$dir/synth.out")"
planted="$dir/raw/planted.tsv"
[ "$(head -1 "$planted")" = "$(printf 'category\tniche\titems\tevents\titem_share\tevent_share')" ] || fail "planted.tsv header: $(head -1 "$planted")"
[ "$(awk -F'\t' 'NR > 1 && $2 == 1' "$planted" | wc -l)" -eq 5 ] || fail "expected 5 niche categories in planted.tsv"
# the niche categories as planted: each gets well under its share of the events, the rest of the shop more
awk -F'\t' 'NR > 1 && $2 == 1 && $6 > 0.5 * $5 {bad = bad $1 " "} END {if (bad) {print bad; exit 1}}' "$planted" ||
  fail "a niche category got its fair share of events"
awk -F'\t' 'NR > 1 {if ($2) {ni += $5; ne += $6} else {hi += $5; he += $6}} END {exit !(ne / ni < 0.4 && he / hi > 1.05)}' "$planted" ||
  fail "the niche categories as a group are not a long tail"
# synth --niche 0: no planted tail, the old shop
"$lt" synth --out "$dir/raw0" --items 300 --users 100 --seed 7 --niche 0 --quiet > /dev/null
[ "$(awk -F'\t' 'NR > 1 && $2 == 1' "$dir/raw0/planted.tsv" | wc -l)" -eq 0 ] || fail "--niche 0 planted niche categories"
if "$lt" synth --out "$dir/raw1" --items 300 --niche-attention 0 --quiet 2> "$dir/err"; then fail "synth accepted niche_attention 0"; fi
grep -q "niche_attention=0" "$dir/err" || fail "niche_attention 0: $(cat "$dir/err")"

"$lt" import --in "$dir/raw" --out "$dir/data" > /dev/null
"$tfidf" --data "$dir/data" --out "$dir/emb" > /dev/null
"$lt" cluster --data "$dir/data" --emb "$dir/emb" --out "$dir/c" --k 40 --metric cosine --quiet > /dev/null
tsv="$dir/c/clusters.tsv"
[ -f "$tsv" ] || fail "cluster wrote no clusters.tsv"
[ "$(wc -l < "$tsv")" -eq 41 ] || fail "clusters.tsv: expected 40 clusters and a header"
# the main category of each long-tail cluster ("Books > Fiction > Novels 97%" -> the path)
awk -F'\t' 'NR > 1 && $7 == 1 {sub(/ [0-9]+%$/, "", $9); print $9}' "$tsv" | sort -u > "$dir/found"
awk -F'\t' 'NR > 1 && $2 == 1 {print $1}' "$planted" | sort > "$dir/niche"
missed=$(comm -23 "$dir/niche" "$dir/found")
[ -z "$missed" ] || fail "cluster did not find these planted niche categories as long-tail clusters: $missed (found: $(tr '\n' ';' < "$dir/found"))"
lt_clusters=$(awk -F'\t' 'NR > 1 && $7 == 1' "$tsv" | wc -l)
in_niche=$(awk -F'\t' 'NR == FNR {if (FNR > 1 && $2 == 1) n[$1] = 1; next} FNR > 1 && $7 == 1 {sub(/ [0-9]+%$/, "", $9); k += ($9 in n)} END {print k + 0}' "$planted" "$tsv")
[ $((4 * in_niche)) -ge $((3 * lt_clusters)) ] || fail "only $in_niche of $lt_clusters long-tail clusters are planted niche categories"
# long-tail clusters are named by their titles' typical words
awk -F'\t' 'NR > 1 && $7 == 1 && $8 == "" {exit 1}' "$tsv" || fail "a long-tail cluster has no name"
grep -q "^| [0-9]* [a-z]" "$dir/c/report.md" || fail "report.md does not name its clusters"
echo "test_longtail: $lt_clusters long-tail clusters, $in_niche of them planted niche categories; all 5 niche categories found"
