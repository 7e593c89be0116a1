#!/usr/bin/env bash
# tests/test_bandit: longtail bandit on a small synthetic shop, as a user runs it:
# synth -> import -> tfidf-embed -> bandit (simulation against the shop's ground truth + replay), then
#   - the bar: a policy must reach 35 % of the oracle's expected CTR in the simulation and twice the
#     random CTR (2 / candidates) in the replay; random itself must FAIL both (so the bar can fail);
#   - every learning policy family (epsilon-greedy, LinUCB, Thompson; shared and per-item) runs;
#   - --json has every member, --out writes the plots and bandit.json; bad settings are refused;
#   - the same run on CUDA gives the same choices within rounding (skipped without a GPU).
# usage: test_bandit.sh path/to/longtail path/to/tfidf-embed
set -euo pipefail
lt=$1
tfidf=$2
dir=$(mktemp -d /tmp/lt_bandit_XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "test_bandit: FAIL: $*" >&2; exit 1; }
export LONGTAIL_LOG=warn OMP_WAIT_POLICY=passive

"$lt" synth --out "$dir/raw" --items 1000 --users 2000 --seed 7 --quiet > /dev/null
[ -f "$dir/raw/synth.ini" ] || fail "synth wrote no synth.ini"
"$lt" import --in "$dir/raw" --out "$dir/data" > /dev/null
"$tfidf" --data "$dir/data" --out "$dir/emb" > /dev/null

run=(--data "$dir/data" --emb "$dir/emb" --truth "$dir/raw/synth.ini" --rounds 8000 --pool 150 --candidates 10 --seed 3)
"$lt" bandit "${run[@]}" --json --out "$dir/out" > "$dir/b.json" 2> "$dir/err" || { cat "$dir/err"; fail "bandit failed"; }
[ -s "$dir/out/regret_sim.svg" ] && [ -s "$dir/out/regret_replay.svg" ] || fail "no regret plots"
cmp -s "$dir/b.json" "$dir/out/bandit.json" || fail "--out bandit.json differs from --json"
grep -q '^<svg' "$dir/out/regret_sim.svg" || fail "regret_sim.svg is not an SVG"

# one value of one policy from the JSON: field SECTION POLICY KEY
field() {
  python3 - "$dir/b.json" "$1" "$2" "$3" <<'PY' 2>/dev/null || sed -n "s/.*\"$1\": {.*\"$2\": {[^}]*\"$3\": \([0-9.e+-]*\).*/\1/p" "$dir/b.json"
import json, sys
print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]][sys.argv[4]])
PY
}
policies="random egreedy/shared egreedy/item linucb/shared linucb/item thompson/shared thompson/item"
for p in $policies; do
  for s in simulation replay; do
    for k in ctr regret tail_share new_share; do
      v=$(field "$s" "$p" "$k"); [ -n "$v" ] || fail "no $s $k for $p"
    done
  done
done

passes() { # POLICY -> exit 0 when it clears the bar
  local e o r
  e=$(field simulation "$1" expected_ctr); o=$(field simulation "$1" oracle_ctr); r=$(field replay "$1" ctr)
  echo "  $1: simulation E[CTR] $e of the oracle's $o, replay CTR $r" >&2
  awk -v e="$e" -v o="$o" -v r="$r" 'BEGIN{exit !(e >= 0.35 * o && r >= 2 * 0.1)}'
}
! passes random || fail "random clears the bar: the bar cannot tell learning from chance"
for p in linucb/shared thompson/shared egreedy/shared; do passes "$p" || fail "$p does not learn"; done
# the shared models learn from every item's features: they must beat the per-item models here
awk -v a="$(field simulation linucb/shared regret)" -v b="$(field simulation linucb/item regret)" 'BEGIN{exit !(a < b)}' \
  || fail "linucb/shared has no less regret than linucb/item"

# the table form from a config's [bandit] section, and errors that name the setting
printf '[bandit]\nmode = sim\npolicies = random,linucb/shared\nrounds = 500\n' > "$dir/b.ini"
"$lt" bandit -c "$dir/b.ini" --data "$dir/data" --emb "$dir/emb" --truth "$dir/raw/synth.ini" --candidates 10 > "$dir/t.txt" 2>/dev/null
grep -q "^linucb/shared  *500 " "$dir/t.txt" || fail "no table row from the config: $(cat "$dir/t.txt")"
! grep -q "^thompson\|^replay" "$dir/t.txt" || fail "the config's policies and mode were not used"
out=$("$lt" bandit "${run[@]}" --policies linucb 2>&1) && fail "policy without models accepted"
grep -q "bandit.policies" <<< "$out" || fail "bad policy error does not name the setting: $out"
out=$("$lt" bandit --data "$dir/data" --emb "$dir/emb" --mode sim 2>&1) && fail "sim without --truth accepted"
grep -q -- "--truth" <<< "$out" || fail "missing --truth error: $out"
out=$("$lt" bandit "${run[@]}" --bandit.alhpa=1 2>&1) && fail "a mistyped setting was accepted"
grep -q "alpha" <<< "$out" || fail "mistyped setting error does not suggest alpha: $out"

# CUDA: the ridge models on the device
if "$lt" bandit "${run[@]}" --device cuda --mode sim --policies linucb/shared,linucb/item --json > "$dir/c.json" 2> "$dir/cerr"; then
  for p in linucb/shared linucb/item; do
    a=$(field simulation "$p" regret); b=$(python3 -c "import json;print(json.load(open('$dir/c.json'))['simulation']['$p']['regret'])")
    awk -v a="$a" -v b="$b" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(d <= 0.05 * a)}' || fail "cuda $p regret $b vs cpu $a"
  done
  echo "test_bandit: cuda matches cpu"
elif grep -qi "cuda" "$dir/cerr"; then
  echo "test_bandit: cuda: skipped: no CUDA device"
else
  cat "$dir/cerr"; fail "bandit --device cuda failed"
fi
echo "test_bandit: ok"
