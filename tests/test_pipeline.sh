#!/usr/bin/env bash
# tests/test_pipeline: the longtail binary end to end on a tiny synthetic shop, as a user runs it:
# synth -> import -> vocab -> pretrain -> embed -> cluster, then the crash-safety promises:
#   - pretrain stopped midway and started again ends with the same weights, byte for byte, as an
#     uninterrupted run (checkpointed weights, moments, data cursor, masking and dropout streams);
#   - embed stopped after one shard and started again writes the same files as an uninterrupted run,
#     and keeps finished shards only when the model, the catalog and the stored type are the same;
#   - bf16 activations end to end (--math bf16): embeddings within cosine 0.9999 of fp32 for every
#     item, and a bf16 pretraining whose logged losses stay within 3 % of fp32's.
# and the malformed-input cases where longtail once said nothing and got the result wrong ("nothing
# silently wrong", numbered 1-5 below): truncated .gz input and --skip-bad/--max-bad; a model bound to
# its vocabulary; mistyped settings (with tests/corpus/config/) and run's preflight; config.json checked
# against the checkpoint, and --pooling; no leftover temporary files, --out onto a file, no HDF5 dumps.
# usage: test_pipeline.sh path/to/longtail path/to/h5_reldiff
set -euo pipefail
lt=$1
reldiff=$2
dir=$(mktemp -d /tmp/lt_pipeline_XXXXXX)
trap '[ -n "${LT_KEEP:-}" ] || rm -rf "$dir"' EXIT
fail() { echo "test_pipeline: FAIL: $*" >&2; exit 1; }
export LONGTAIL_LOG=warn

"$lt" synth --out "$dir/raw" --items 600 --users 400 --seed 3 --quiet > /dev/null
"$lt" import --in "$dir/raw" --out "$dir/data" > /dev/null

# ---- malformed input: nothing silently wrong --------------------------------------------------------
# 1. a .gz catalog cut short (trailer lost, or mid-line) fails naming the file and the byte offset,
#    with and without --skip-bad; --skip-bad fails when a file is mostly bad lines (--max-bad)
mkdir -p "$dir/gz"
cp "$dir/raw/events.tsv" "$dir/gz/"
gzip -c "$dir/raw/items.tsv" > "$dir/items.tsv.gz"
size=$(stat -c %s "$dir/items.tsv.gz")
for n in $((size - 8)) $((size / 2)); do
  head -c "$n" "$dir/items.tsv.gz" > "$dir/gz/items.tsv.gz"
  for skip in "" --skip-bad; do
    if "$lt" import --in "$dir/gz" --out "$dir/gzdata" $skip > /dev/null 2> "$dir/err"; then fail "import accepted a gzip file cut at byte $n $skip"; fi
    grep -q "items.tsv.gz: gzip stream cut short at byte $n" "$dir/err" || fail "truncated gzip: $(cat "$dir/err")"
  done
done
mkdir -p "$dir/bad"
cp "$dir/raw/events.tsv" "$dir/bad/"
awk -F'\t' 'NR == 1 || NR % 3 {print; next} {print $0 "\textra"}' "$dir/raw/items.tsv" > "$dir/bad/items.tsv"  # a third bad
if "$lt" import --in "$dir/bad" --out "$dir/baddata" --skip-bad > /dev/null 2> "$dir/err"; then fail "--skip-bad kept a file with a third of its lines bad"; fi
grep -q "more than --max-bad" "$dir/err" || fail "--max-bad: $(cat "$dir/err")"
"$lt" import --in "$dir/bad" --out "$dir/baddata" --skip-bad --max-bad 0.5 > "$dir/out" 2> /dev/null || fail "--max-bad 0.5 refused a third of bad lines"
grep -Eq "skipped [0-9]+ malformed lines" "$dir/out" || fail "--skip-bad did not report its count: $(cat "$dir/out")"

# 3. a mistyped setting is an error naming its file:line and the closest known key; x- extensions and the
#    sections of commands not built yet pass; every shipped config passes; run checks its stage list first
src=$(cd "$(dirname "$0")/.." && pwd)
for f in "$src"/configs/*.ini; do "$lt" info "$f" > /dev/null 2> "$dir/err" || fail "$f does not pass the settings check: $(cat "$dir/err")"; done
# tests/corpus/config/*.ini: the first line says what info must report ("# expect: ok" or a part of the error)
for f in "$src"/tests/corpus/config/*.ini; do
  want=$(head -1 "$f" | sed 's/^# expect: //')
  if [ "$want" = ok ]; then "$lt" info "$f" > /dev/null 2> "$dir/err" || fail "$f refused: $(cat "$dir/err")"; continue; fi
  if "$lt" info "$f" > /dev/null 2> "$dir/err"; then fail "$f accepted"; fi
  grep -qF "$want" "$dir/err" || fail "$f: expected '$want', got: $(cat "$dir/err")"
done
if "$lt" embed -c "$src/tests/corpus/config/typo_key.ini" --data "$dir/data" --model "$dir/m0" 2> "$dir/err"; then fail "embed accepted [embed] btach"; fi
grep -q "typo_key.ini:5: \[embed\] btach: unknown setting (did you mean batch?" "$dir/err" || fail "typo in a file: $(cat "$dir/err")"
if "$lt" embed --embed.btach=3 --data "$dir/data" --model "$dir/m0" 2> "$dir/err"; then fail "embed accepted --embed.btach"; fi
grep -q "command line: --embed.btach: unknown setting (did you mean --embed.batch?" "$dir/err" || fail "typo on the command line: $(cat "$dir/err")"
if "$lt" run -c "$src/configs/demo.ini" --dir "$dir/run1" --stages synth,imprt 2> "$dir/err" > /dev/null; then fail "run accepted the stage imprt"; fi
[ ! -e "$dir/run1" ] || fail "run started its stages before checking the stage list"
grep -q "'imprt' is not a stage" "$dir/err" || fail "bad stage: $(cat "$dir/err")"
if "$lt" run -c "$src/configs/demo.ini" --dir "$dir/run2" --cluster.k=many 2> "$dir/err" > /dev/null; then fail "run accepted cluster.k = many"; fi
[ ! -e "$dir/run2" ] || fail "run started its stages before checking the last stage's settings"
grep -q "cluster.k: expected an integer, got 'many'" "$dir/err" || fail "bad value of the last stage: $(cat "$dir/err")"

"$lt" vocab --data "$dir/data" --train --size 600 --max-len 24 --items-per-shard 250 > /dev/null
[ -f "$dir/data/tokens-00002.h5" ] || fail "expected 3 token shards"

model=(--layers 1 --hidden 32 --heads 2 --batch 16 --steps 24 --contrastive-steps 6 --pair-batch 8 --ckpt-every 4 --log-every 4 --seed 5)
"$lt" pretrain --data "$dir/data" --out "$dir/m1" "${model[@]}" > /dev/null
"$lt" pretrain --data "$dir/data" --out "$dir/m2" "${model[@]}" --pretrain.stop_after=10 > /dev/null
[ ! -f "$dir/m2/model.safetensors" ] || fail "a stopped run must not write the final model"
"$lt" pretrain --data "$dir/data" --out "$dir/m2" "${model[@]}" > /dev/null
cmp -s "$dir/m1/model.safetensors" "$dir/m2/model.safetensors" || fail "resumed pretraining differs from an uninterrupted run"
"$lt" pretrain --data "$dir/data" --out "$dir/m3" "${model[@]}" --pretrain.stop_after=27 > /dev/null  # inside the contrastive phase
"$lt" pretrain --data "$dir/data" --out "$dir/m3" "${model[@]}" > /dev/null
cmp -s "$dir/m1/model.safetensors" "$dir/m3/model.safetensors" || fail "resumed contrastive phase differs"
first=$(awk -F'\t' '$1=="mlm"{print $3; exit}' "$dir/m1/pretrain_log.tsv")
last=$(awk -F'\t' '$1=="mlm"{v=$3} END{print v}' "$dir/m1/pretrain_log.tsv")
awk -v a="$first" -v b="$last" 'BEGIN{exit !(b < a)}' || fail "masked-LM loss did not fall ($first -> $last)"
[ -f "$dir/m1/pretrain_loss.svg" ] || fail "no loss plot"

"$lt" embed --data "$dir/data" --model "$dir/m1" --out "$dir/e1" > /dev/null
"$lt" embed --data "$dir/data" --model "$dir/m1" --out "$dir/e2" --embed.stop_after=1 > /dev/null
[ -f "$dir/e2/emb-00000.h5" ] && [ ! -f "$dir/e2/emb-00001.h5" ] || fail "embed stop_after=1 should leave one shard"
"$lt" embed --data "$dir/data" --model "$dir/m1" --out "$dir/e2" > "$dir/out"
grep -q "2 shards written, 1 already done" "$dir/out" || fail "resumed embed: $(cat "$dir/out")"
for s in 0 1 2; do
  cmp -s "$dir/e1/emb-0000$s.h5" "$dir/e2/emb-0000$s.h5" || fail "resumed embedding shard $s differs"
done
# finished shards are kept only for the same encoder, catalog and storage type
cp -r "$dir/m1" "$dir/m4" && echo >> "$dir/m4/config.json"  # same model, other bytes: another fingerprint
"$lt" embed --data "$dir/data" --model "$dir/m4" --out "$dir/e2" > "$dir/out"
grep -q "3 shards written, 0 already done" "$dir/out" || fail "embed kept shards of another model: $(cat "$dir/out")"
"$lt" embed --data "$dir/data" --model "$dir/m4" --out "$dir/e2" --bf16 > "$dir/out"
grep -q "3 shards written, 0 already done" "$dir/out" || fail "embed kept f32 shards for --bf16: $(cat "$dir/out")"
"$lt" embed --data "$dir/data" --model "$dir/m4" --out "$dir/e2" --bf16 > "$dir/out"
grep -q "0 shards written, 3 already done" "$dir/out" || fail "embed redid finished shards: $(cat "$dir/out")"

# bf16 activations end to end (on a CPU without bf16 units: bf16 storage, fp32 products)
"$lt" embed --data "$dir/data" --model "$dir/m1" --out "$dir/e32" --math fp32 > /dev/null
"$lt" embed --data "$dir/data" --model "$dir/m1" --out "$dir/e16" --math bf16 > /dev/null 2>&1
for s in 0 1 2; do
  "$reldiff" "$dir/e16/emb-0000$s.h5" "$dir/e32/emb-0000$s.h5" cos=0.9999 > "$dir/out" ||
    fail "bf16 embeddings of shard $s: $(cat "$dir/out")"
done
cmp -s "$dir/e16/emb-00000.h5" "$dir/e32/emb-00000.h5" && fail "--math bf16 gave the fp32 embeddings bit for bit"
# the same through the oneDNN bf16 GEMMs, in their check mode where this CPU has no bf16 units
# (fp32 operands holding bf16 values: src/cpu/dnnl.c), when the build has oneDNN
LONGTAIL_DNNL_CHECK=1 LONGTAIL_LOG=info "$lt" embed --data "$dir/data" --model "$dir/m1" --out "$dir/e16d" --math bf16 > "$dir/out" 2>&1
if grep -q "bf16 math: oneDNN" "$dir/out"; then
  for s in 0 1 2; do
    "$reldiff" "$dir/e16d/emb-0000$s.h5" "$dir/e32/emb-0000$s.h5" cos=0.9999 > "$dir/out" ||
      fail "bf16 embeddings through oneDNN, shard $s: $(cat "$dir/out")"
  done
else
  echo "test_pipeline: the oneDNN bf16 GEMM check skipped: this build has no oneDNN"
fi
"$lt" pretrain --data "$dir/data" --out "$dir/p32" "${model[@]}" --math fp32 > /dev/null
"$lt" pretrain --data "$dir/data" --out "$dir/p16" "${model[@]}" --math bf16 > /dev/null 2>&1
paste "$dir/p32/pretrain_log.tsv" "$dir/p16/pretrain_log.tsv" |
  awk -F'\t' 'NR > 1 && $1 == "mlm" { d = ($3 - $10) / $3; if (d < 0) d = -d; if (d > w) w = d; n++ }
               END { printf "%d steps, worst %.4f\n", n, w; exit !(n >= 5 && w <= 0.03) }' > "$dir/out" ||
  fail "bf16 and fp32 masked-LM losses differ: $(cat "$dir/out")"

# 2. a model is bound to its vocabulary: pretrain keeps it (MODEL/vocab.txt); embed refuses token shards
#    made with another one, naming both (here: the catalog tokenized again with a newly trained vocabulary)
cmp -s "$dir/data/vocab.txt" "$dir/m1/vocab.txt" || fail "pretrain did not keep its vocabulary in the model folder"
mkdir -p "$dir/data2" && cp "$dir/data"/catalog-*.h5 "$dir/data"/events.h5 "$dir/data2/"
"$lt" vocab --data "$dir/data2" --train --size 500 --max-len 24 > /dev/null
if "$lt" embed --data "$dir/data2" --model "$dir/m1" --out "$dir/e5" 2> "$dir/err" > /dev/null; then fail "embed accepted token shards of another vocabulary"; fi
grep -q "data2/tokens-00000.h5 was made with another vocabulary" "$dir/err" && grep -q "m1/vocab.txt" "$dir/err" ||
  fail "the vocabulary error does not name both: $(cat "$dir/err")"
[ ! -e "$dir/e5/emb-00000.h5" ] || fail "embed wrote embeddings with the wrong vocabulary"
cp -r "$dir/m1" "$dir/m5" && rm "$dir/m5/vocab.txt"  # a model from before the binding: the size still counts
if "$lt" embed --data "$dir/data2" --model "$dir/m5" --out "$dir/e5" 2> "$dir/err" > /dev/null; then fail "embed accepted a vocabulary of another size"; fi
grep -q "vocab_size" "$dir/err" || fail "vocabulary size error: $(cat "$dir/err")"
if "$lt" pretrain --data "$dir/data2" --init "$dir/m1" --out "$dir/m6" --steps 1 --contrastive-steps 0 2> "$dir/err" > /dev/null; then
  fail "pretrain --init accepted token shards of another vocabulary"; fi

# 4. a checkpoint is checked against its config.json before anything is allocated; only BERT loads;
#    pooling is an embed option
for edit in 's/"num_hidden_layers": 1,/"num_hidden_layers": 100000,/' 's/"intermediate_size": [0-9]*,/"intermediate_size": 64,/' \
            's/"model_type": "bert"/"model_type": "gpt2"/'; do
  rm -rf "$dir/m7" && cp -r "$dir/m1" "$dir/m7" && sed -i "$edit" "$dir/m7/config.json"
  cmp -s "$dir/m1/config.json" "$dir/m7/config.json" && fail "the edit $edit changed nothing"
  if "$lt" embed --data "$dir/data" --model "$dir/m7" --out "$dir/e7" 2> "$dir/err" > /dev/null; then fail "embed loaded a model whose config.json disagrees ($edit)"; fi
  grep -Eq "holds 1 encoder layer$|intermediate_size x hidden_size = \[64, 32\], but .*model.safetensors has|model_type = \"gpt2\" is not supported" "$dir/err" ||
    fail "config.json against the checkpoint ($edit): $(cat "$dir/err")"
done
"$lt" embed --data "$dir/data" --model "$dir/m1" --out "$dir/e8" --pooling cls > /dev/null
cmp -s "$dir/e1/emb-00000.h5" "$dir/e8/emb-00000.h5" && fail "--pooling cls wrote the same embeddings as mean pooling"
"$lt" embed --data "$dir/data" --model "$dir/m1" --out "$dir/e8" --pooling mean > /dev/null
cmp -s "$dir/e1/emb-00000.h5" "$dir/e8/emb-00000.h5" || fail "--pooling mean differs from the model's default"
if "$lt" embed --data "$dir/data" --model "$dir/m1" --out "$dir/e8" --pooling max 2> "$dir/err" > /dev/null; then fail "embed accepted --pooling max"; fi

# 5. no leftovers: a killed writer's *.tmp-PID files go at the next run in the same folder (those of live
#    processes stay); an output folder that is a file fails before any work; no HDF5 dump reaches the user
dead=$(sh -c 'echo $$')  # a process that has exited
touch "$dir/e1/emb-00001.h5.tmp-$dead" "$dir/e1/keep.h5.tmp-$$"
"$lt" embed --data "$dir/data" --model "$dir/m1" --out "$dir/e1" > "$dir/out"
grep -q "0 shards written, 3 already done" "$dir/out" || fail "embed redid finished shards: $(cat "$dir/out")"
[ ! -e "$dir/e1/emb-00001.h5.tmp-$dead" ] || fail "embed left a killed writer's temporary file"
[ -e "$dir/e1/keep.h5.tmp-$$" ] || fail "embed removed the temporary file of a live process"
rm "$dir/e1/keep.h5.tmp-$$"
mkdir -p "$dir/m8" && touch "$dir/m8/model.safetensors.tmp-$dead" "$dir/m8/config.json.tmp-$dead"
"$lt" pretrain --data "$dir/data" --out "$dir/m8" "${model[@]}" --steps 2 --contrastive-steps 0 > /dev/null
[ -z "$(ls "$dir/m8" | grep "tmp-")" ] || fail "pretrain left temporary files: $(ls "$dir/m8")"
touch "$dir/file.h5"
if "$lt" embed --data "$dir/data" --model "$dir/m1" --out "$dir/file.h5" > "$dir/out" 2> "$dir/err"; then fail "embed wrote into a file"; fi
grep -q "embed.out: .*file.h5 exists and is not a folder" "$dir/err" || fail "embed --out FILE: $(cat "$dir/err")"
grep -q "embed" "$dir/out" && fail "embed worked before refusing its --out: $(cat "$dir/out")"
if [ -d /proc/self ]; then  # a folder where no file can be created: the writer thread's HDF5 error, reported by longtail
  if "$lt" embed --data "$dir/data" --model "$dir/m1" --out /proc/self > /dev/null 2> "$dir/err"; then fail "embed wrote into /proc/self"; fi
  grep -q "HDF5-DIAG" "$dir/err" && fail "an HDF5 diagnostics dump reached the user: $(head -5 "$dir/err")"
  grep -q "longtail embed: /proc/self/emb-00000.h5: cannot create" "$dir/err" || fail "no longtail message: $(cat "$dir/err")"
fi

"$lt" cluster --data "$dir/data" --emb "$dir/e1" --out "$dir/c" --k 8 --metric cosine --quiet > /dev/null
[ -f "$dir/c/cluster.h5" ] && [ -f "$dir/c/report.md" ] || fail "cluster wrote no cluster.h5 or report"
"$lt" info "$dir/c/cluster.h5" | grep -q "clusters/1" || fail "cluster.h5 has no clusters/1 schema"

# bad input is refused with a message naming the problem, not a crash
if "$lt" embed --data "$dir/data" --model "$dir/nonexistent" --out "$dir/e3" 2> "$dir/err"; then fail "embed accepted a missing model"; fi
grep -q "nonexistent" "$dir/err" || fail "the error does not name the missing model: $(cat "$dir/err")"
echo "test_pipeline: synth -> import -> vocab -> pretrain -> embed -> cluster ok; pretrain and embed resume byte-identical"
