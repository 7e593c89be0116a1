#!/usr/bin/env bash
# tests/test_mpi: data parallelism on CPU ranks over MPI (docs/distributed.md).
#   train     mpirun -np 2 with per-rank batch B/2 for K steps = one rank with batch B for K steps:
#             the recommender's weights agree to a relative 1e-5 (id dropout on: its mask is over the
#             catalog and drawn the same on every rank; the tower's dropout 0: its mask is per row and
#             rank, see docs/distributed.md)
#   pretrain  the same for masked-LM pretraining of the encoder (hidden dropout 0, masks per row of
#             the global batch)
#   embed     mpirun -np 2 longtail embed writes the same shards as one rank
#   fail      a rank that fails takes the job down with a message naming it; a rank that hangs makes
#             the others time out (LONGTAIL_COMM_TIMEOUT) instead of waiting forever
# Skipped (77) when the build has no MPI or mpirun is missing.
# usage: test_mpi.sh train|pretrain|embed|fail path/to/longtail path/to/h5_reldiff path/to/tfidf-embed
set -euo pipefail
what=$1 lt=$2 reldiff=$3 tfidf=$4
fail() { echo "test_mpi $what: FAIL: $*" >&2; exit 1; }
if ! "$lt" --version | grep -q 'comm=.*mpi'; then echo "skipped: this longtail was built without MPI"; exit 77; fi
if ! command -v mpirun > /dev/null; then echo "skipped: no mpirun (Debian: openmpi-bin)"; exit 77; fi
dir=$(mktemp -d /tmp/lt_mpi_XXXXXX)
trap 'rm -rf "$dir"' EXIT
export LONGTAIL_LOG=warn OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
# OpenMPI refuses root without these; --oversubscribe: 2 ranks on a machine that may have 1 core
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpi2() { timeout 300 mpirun -np 2 --oversubscribe --bind-to none "$@"; }

"$lt" synth --out "$dir/raw" --items 300 --users 500 --seed 5 --quiet > /dev/null
"$lt" import --in "$dir/raw" --out "$dir/data" > /dev/null

case $what in
train)
  "$tfidf" --data "$dir/data" --out "$dir/emb" > /dev/null
  # K = 6 steps (stop_after), global batch 32; validation every step exercises the broadcast metric
  common=(--data "$dir/data" --emb "$dir/emb" --dim 16 --hidden 24 --epochs 1 --lr 5e-3 --warmup 2 --max-len 12
          --chunk 64 --seed 3 --train.dropout=0 --train.stop_after=6 --train.ckpt_every=3 --train.log_every=2)
  "$lt" train "${common[@]}" --out "$dir/one" --batch 32 > /dev/null
  mpi2 "$lt" train "${common[@]}" --out "$dir/two" --batch 16 > "$dir/two.out" 2>&1 || { cat "$dir/two.out"; fail "mpirun train failed"; }
  [ -f "$dir/two/train.ckpt.h5" ] || fail "rank 0 wrote no checkpoint"
  "$reldiff" "$dir/two/train.ckpt.h5" "$dir/one/train.ckpt.h5" 1e-5 params/ || fail "2 ranks x 16 != 1 rank x 32"
  # the same on the guarded device (device buffers, reduced through host copies as on a GPU without NCCL)
  mpi2 "$lt" train "${common[@]}" --out "$dir/twog" --batch 16 --device guard > "$dir/twog.out" 2>&1 ||
    { cat "$dir/twog.out"; fail "mpirun train --device guard failed"; }
  "$reldiff" "$dir/twog/train.ckpt.h5" "$dir/one/train.ckpt.h5" 1e-5 params/ || fail "2 guarded ranks x 16 != 1 rank x 32"
  # the check can fail: a different global batch gives different weights
  "$lt" train "${common[@]}" --out "$dir/other" --batch 16 > /dev/null
  if "$reldiff" "$dir/other/train.ckpt.h5" "$dir/one/train.ckpt.h5" 1e-5 params/ > /dev/null; then
    fail "h5_reldiff cannot tell a batch of 16 from one of 32"
  fi
  # resume with the same number of ranks: the rest of the epoch, then the same weights as straight
  mpi2 "$lt" train "${common[@]}" --out "$dir/two" --batch 16 --train.stop_after=0 > /dev/null 2>&1 || fail "resume failed"
  "$lt" train "${common[@]}" --out "$dir/one" --batch 32 --train.stop_after=0 > /dev/null
  "$reldiff" "$dir/two/rec.h5" "$dir/one/rec.h5" 1e-5 || fail "resumed 2-rank run != 1-rank run"
  # a checkpoint of 2 ranks is refused by 1
  if "$lt" train "${common[@]}" --out "$dir/two" --batch 32 > "$dir/refuse.out" 2>&1; then fail "1 rank resumed a 2-rank checkpoint"; fi
  grep -q "rank" "$dir/refuse.out" || fail "the refusal does not say why: $(cat "$dir/refuse.out")"
  ;;
pretrain)
  "$lt" vocab --data "$dir/data" --train --size 400 --max-len 16 --items-per-shard 120 > /dev/null
  # K = 5 steps, global batch 16 (the shards: 120 + 120 + 60 items, shuffled as one rank would)
  common=(--data "$dir/data" --layers 1 --hidden 32 --heads 2 --steps 5 --warmup 2 --seed 4 --dropout 0
          --ckpt-every 5 --log-every 1)
  "$lt" pretrain "${common[@]}" --out "$dir/one" --batch 16 > /dev/null
  mpi2 "$lt" pretrain "${common[@]}" --out "$dir/two" --batch 8 > "$dir/two.out" 2>&1 || { cat "$dir/two.out"; fail "mpirun pretrain failed"; }
  # the key projection's bias is left out: attention's softmax does not depend on it, so its
  # gradient is 0 up to rounding and AdamW turns that rounding into ~lr steps of either sign (its
  # value is noise in both runs; every other tensor agrees to ~3e-7)
  "$reldiff" "$dir/two/pretrain.ckpt.h5" "$dir/one/pretrain.ckpt.h5" 1e-5 params/ self.key.bias || fail "2 ranks x 8 != 1 rank x 16"
  "$lt" pretrain "${common[@]}" --out "$dir/other" --batch 8 > /dev/null
  if "$reldiff" "$dir/other/pretrain.ckpt.h5" "$dir/one/pretrain.ckpt.h5" 1e-5 params/ > /dev/null; then
    fail "h5_reldiff cannot tell a batch of 8 from one of 16"
  fi
  # the logged loss is the mean over both ranks: the same as one rank's
  a=$(awk -F'\t' '$1=="mlm"{print $3}' "$dir/one/pretrain_log.tsv" | tr '\n' ' ')
  b=$(awk -F'\t' '$1=="mlm"{print $3}' "$dir/two/pretrain_log.tsv" | tr '\n' ' ')
  awk -v a="$a" -v b="$b" 'BEGIN{n=split(a,x," "); split(b,y," "); if (n < 5) exit 1;
    for (i=1;i<=n;i++) if ((x[i]-y[i])^2 > 1e-8) exit 1}' || fail "logged losses differ: $a / $b"
  ;;
embed)
  "$lt" vocab --data "$dir/data" --train --size 400 --max-len 16 --items-per-shard 80 > /dev/null
  "$lt" pretrain --data "$dir/data" --out "$dir/m" --layers 1 --hidden 32 --heads 2 --steps 2 > /dev/null
  "$lt" embed --data "$dir/data" --model "$dir/m" --out "$dir/e1" --math fp32 > /dev/null
  mpi2 "$lt" embed --data "$dir/data" --model "$dir/m" --out "$dir/e2" --math fp32 > "$dir/e2.out" 2>&1 || { cat "$dir/e2.out"; fail "mpirun embed failed"; }
  n=0
  for f in "$dir"/e1/emb-*.h5; do
    cmp -s "$f" "$dir/e2/$(basename "$f")" || fail "$(basename "$f") differs between 1 and 2 ranks"
    n=$((n + 1))
  done
  [ "$n" -ge 4 ] || fail "expected at least 4 shards, got $n"
  [ "$(ls "$dir"/e2/emb-*.h5 | wc -l)" -eq "$n" ] || fail "2 ranks wrote another number of shards"
  grep -q "embedded 300 items" "$dir/e2.out" || fail "rank 0 does not report every rank's items: $(cat "$dir/e2.out")"
  ;;
fail)
  "$tfidf" --data "$dir/data" --out "$dir/emb" > /dev/null
  common=(--data "$dir/data" --emb "$dir/emb" --dim 16 --hidden 24 --epochs 1 --batch 16 --max-len 12 --chunk 64)
  start=$(date +%s)
  if LONGTAIL_TEST_FAIL=1:3 mpi2 -x LONGTAIL_TEST_FAIL "$lt" train "${common[@]}" --out "$dir/f" > "$dir/f.out" 2>&1; then
    fail "the job succeeded although rank 1 failed"
  fi
  grep -q "rank 1 of 2" "$dir/f.out" || fail "the message does not name rank 1: $(cat "$dir/f.out")"
  # a hanging rank: the other times out on the all-reduce and takes the job down
  if LONGTAIL_TEST_FAIL=1:2:hang LONGTAIL_COMM_TIMEOUT=5 mpi2 -x LONGTAIL_TEST_FAIL -x LONGTAIL_COMM_TIMEOUT \
       "$lt" train "${common[@]}" --out "$dir/h" > "$dir/h.out" 2>&1; then
    fail "the job succeeded although rank 1 hung"
  fi
  grep -q "did not complete in 5 s" "$dir/h.out" || fail "no timeout message: $(cat "$dir/h.out")"
  [ $(( $(date +%s) - start )) -lt 200 ] || fail "taking the job down took too long"
  ;;
*) fail "unknown case $what" ;;
esac
echo "test_mpi $what: ok"
