#!/usr/bin/env bash
# tests/test_run: `longtail run -c configs/demo.ini` on a tiny shop, as a new user runs it:
#   - every stage runs, ends with the summary table (stages, the model against the baselines) and
#     RUN/report/index.html;
#   - a second run skips every stage (up to date); a changed setting reruns that stage and the
#     stages that read its output, not the others;
#   - a run killed inside pretraining, or inside training, resumes there (the stages before it are
#     not run again) and ends like an uninterrupted run;
#   - the report opens in headless Chromium with every image loaded and no console or script
#     error, and a screenshot is taken (skipped, with a message, when chromium is not installed).
# usage: test_run.sh path/to/longtail
set -euo pipefail
lt=$1
src=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/lt_run_XXXXXX)
trap '[ -n "${LT_KEEP:-}" ] || rm -rf "$dir"' EXIT
fail() { echo "test_run: FAIL: $*" >&2; exit 1; }
export LONGTAIL_LOG=warn OMP_WAIT_POLICY=passive
tiny=(--synth.items=800 --synth.users=600 --vocab.size=600 --bert.layers=1 --bert.hidden=32 --pretrain.steps=40
      --pretrain.contrastive_steps=10 --pretrain.batch=16 --pretrain.pair_batch=8 --pretrain.ckpt_every=5 --cluster.k=12
      --cluster.tsne=300 --train.epochs=3 --train.batch=32 --train.dim=32 --train.hidden=32 --train.ckpt_every=4
      --eval.als_iters=3)

"$lt" run -c "$src/configs/demo.ini" --dir "$dir/r" "${tiny[@]}" > "$dir/out1" 2> "$dir/err1" || fail "run failed: $(tail -5 "$dir/err1")"
for s in synth import vocab pretrain embed cluster train eval recommend similar report; do
  grep -q "^\[[0-9]*/11\] $s *done in" "$dir/out1" || fail "stage $s did not report done: $(cat "$dir/out1")"
done
grep -q "== longtail run: summary" "$dir/out1" || fail "no summary table"
for m in rec popularity implicit-als "rec@beta=0.2"; do  # 0.2: demo.ini's [recommend] tail_boost
  grep -q "^$m " "$dir/out1" || fail "the summary has no row for $m: $(sed -n '/summary/,$p' "$dir/out1")"
done
grep -q "report: $dir/r/report/index.html" "$dir/out1" || fail "the summary does not name the report"
[ -f "$dir/r/eval/metrics.json" ] && [ -f "$dir/r/recommend/recommendations.csv" ] && [ -f "$dir/r/similar/similar.csv" ] ||
  fail "missing outputs: $(ls -R "$dir/r" | head -40)"

# up to date: nothing runs again; a changed setting of train reruns train and what follows it
"$lt" run -c "$src/configs/demo.ini" --dir "$dir/r" "${tiny[@]}" > "$dir/out2" 2> "$dir/err2" || fail "second run failed"
[ "$(grep -c "up to date (.*), skipped" "$dir/out2")" -eq 10 ] || fail "a second run did not skip every stage: $(grep '^\[' "$dir/out2")"
"$lt" run -c "$src/configs/demo.ini" --dir "$dir/r" "${tiny[@]}" --train.epochs=2 > "$dir/out3" 2> "$dir/err3" || fail "third run failed"
# (similar goes by text in the demo: it does not read the recommender)
for s in synth import vocab pretrain embed cluster similar; do grep -q "\] $s *up to date" "$dir/out3" || fail "$s ran again after a change of [train]"; done
for s in train eval recommend; do grep -q "\] $s *done in" "$dir/out3" || fail "$s did not run again after a change of [train]"; done

# killed inside pretraining: the next run resumes it, and the model is the one an uninterrupted run made
"$lt" run -c "$src/configs/demo.ini" --dir "$dir/k" "${tiny[@]}" --stages=synth,import,vocab,pretrain > /dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [ -f "$dir/k/model/pretrain.ckpt.h5" ] && break; sleep 0.1; done
kill -9 "$pid" 2> /dev/null || true
wait "$pid" 2> /dev/null || true
[ ! -f "$dir/k/model/model.safetensors" ] || echo "test_run: note: pretraining finished before the kill"
"$lt" run -c "$src/configs/demo.ini" --dir "$dir/k" "${tiny[@]}" --stages=synth,import,vocab,pretrain > "$dir/out4" 2> "$dir/err4" ||
  fail "the run after a kill failed: $(tail -5 "$dir/err4")"
for s in synth import vocab; do grep -q "\] $s *up to date" "$dir/out4" || fail "$s ran again after the kill: $(cat "$dir/out4")"; done
grep -Eq "\] pretrain *(resuming|up to date)" "$dir/out4" || fail "pretrain did not resume: $(cat "$dir/out4")"
cmp -s "$dir/k/model/model.safetensors" "$dir/r/model/model.safetensors" || fail "the resumed pretraining differs from the uninterrupted one"
# killed inside training: resumed from its checkpoint, the model evaluates exactly as the uninterrupted one
# (r's last run: --train.epochs=2)
"$lt" run -c "$src/configs/demo.ini" --dir "$dir/k" "${tiny[@]}" --train.epochs=2 --stages=embed,train,eval > /dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [ -f "$dir/k/rec/train.ckpt.h5" ] && break; sleep 0.05; done
kill -9 "$pid" 2> /dev/null || true
wait "$pid" 2> /dev/null || true
[ ! -f "$dir/k/rec/.run-train" ] || grep -q running "$dir/k/rec/.run-train" || echo "test_run: note: training finished before the kill"
"$lt" run -c "$src/configs/demo.ini" --dir "$dir/k" "${tiny[@]}" --train.epochs=2 --stages=embed,train,eval > "$dir/out5" 2> "$dir/err5" ||
  fail "the run after a kill in training failed: $(tail -5 "$dir/err5")"
grep -Eq "\] train *(resuming|up to date)" "$dir/out5" || fail "train did not resume: $(cat "$dir/out5")"
strip() { sed 's/"seconds": [0-9.e+-]*//g' "$1"; }
[ "$(strip "$dir/k/eval/metrics.json")" = "$(strip "$dir/r/eval/metrics.json")" ] ||
  fail "the resumed training evaluates differently: $(strip "$dir/k/eval/metrics.json" | head -c 300)"

# the report: self-contained (every image a file beside it), and it renders in a browser
page="$dir/r/report/index.html"
grep -q "http" <(grep -o 'src="[^"]*"' "$page") && fail "the report loads something from a network"
for img in $(grep -o 'src="[^"]*"' "$page" | sed 's/src="//; s/"$//'); do [ -s "$dir/r/report/$img" ] || fail "the report's image $img is missing"; done
[ "$(grep -o '<img' "$page" | wc -l)" -ge 6 ] || fail "the report has fewer than 6 plots"
for want in 'class="tail"' 'recommended next' 'related to their last item' '± ' 'named by its titles'; do
  grep -q "$want" "$page" || fail "the report lacks '$want'"
done
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "test_run: skipped the browser check: chromium not installed (bash tools/install-deps.sh installs it)"
else
  flags=(--headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars --user-data-dir="$dir/chrome" --virtual-time-budget=10000)
  timeout 120 "$browser" "${flags[@]}" --enable-logging=stderr --v=0 --dump-dom "file://$page" > "$dir/dom.html" 2> "$dir/chrome.err" ||
    fail "chromium failed: $(tail -5 "$dir/chrome.err")"
  check=$(grep -o 'id="check">report-check: [^<]*' "$dir/dom.html" | sed 's/.*>//' || true)
  n=$(grep -o '<img' "$page" | wc -l)
  [ "$check" = "report-check: images $n/$n, errors 0" ] || fail "in chromium: '$check' (expected images $n/$n, errors 0)"
  if grep "CONSOLE" "$dir/chrome.err" > "$dir/console"; then fail "console messages: $(head -5 "$dir/console")"; fi
  timeout 120 "$browser" "${flags[@]}" --window-size=1200,3000 --screenshot="$dir/shot.png" "file://$page" > /dev/null 2>&1 ||
    fail "chromium could not take a screenshot"
  [ "$(stat -c %s "$dir/shot.png")" -gt 20000 ] || fail "the screenshot is nearly empty"
  echo "test_run: the report renders in chromium: $check"
fi
echo "test_run: run end to end, up-to-date skips, a changed setting, a kill and resume, the report: ok"
