#!/usr/bin/env bash
# tools/cuemu/check.sh [--all] [DIR [CMAKE-ARGS...]]
#
# Builds longtail with cuemu (tools/cuemu: the CUDA backend's own sources, rewritten into C++ and run
# by a GPU emulated on the CPU) in DIR (default: build-cuemu) and runs the tests that have CUDA
# cases, so that every kernel runs against the CPU without a GPU. Each test runs twice: with the
# emulated threads taking turns in their natural order, then in reverse order (LT_EMU_ORDER), where a
# missing __syncthreads changes the result. --all adds test_bert (about 7 minutes: its 150-step
# training curves run on the emulated GPU). An op that the CUDA backend does not support fails
# (LONGTAIL_TEST_CUDA_STRICT). ctest runs this as test_cuemu; on a machine with a GPU it skips.
set -uo pipefail
if command -v nvidia-smi > /dev/null && nvidia-smi -L 2> /dev/null | grep -q '^GPU'; then
    echo "cuemu: skipped: this machine has a GPU, which runs the CUDA cases itself"
    exit 77
fi
all=0
[ "${1:-}" = --all ] && { all=1; shift; }
src=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-$src/build-cuemu}
shift || true

mkdir -p "$dir"
if ! cmake -S "$src" -B "$dir" -DLONGTAIL_CUDA_EMU=ON -DLONGTAIL_MPI=OFF -DLONGTAIL_TESTS=ON "$@" > "$dir/configure.log" 2>&1; then
    tail -20 "$dir/configure.log"
    echo "cuemu: configuring $dir failed (log: $dir/configure.log)"
    exit 1
fi
tests="test_cuemu_self test_ops test_ops_bf16 test_kmeans test_rnn test_rank test_ridge"
if grep -q '^LONGTAIL_HDF5:BOOL=ON' "$dir/CMakeCache.txt"; then # the model tests need the HDF5 layer
    tests="$tests test_sasrec test_train test_classify"
    [ $all = 1 ] && tests="$tests test_bert"
fi
if ! cmake --build "$dir" -j"$(nproc)" --target $tests > "$dir/build.log" 2>&1; then
    grep -E 'error|Error' "$dir/build.log" | head -20
    echo "cuemu: building $dir failed (log: $dir/build.log)"
    exit 1
fi

failed=0
for order in forward reverse; do
    for t in $tests; do
        log="$dir/$t.$order.log"
        start=$SECONDS
        LT_EMU_ORDER=$order LONGTAIL_TEST_CUDA_STRICT=1 LONGTAIL_SOURCE_DIR="$src" LONGTAIL_BINARY_DIR="$dir" \
            "$dir/tests/$t" > "$log" 2>&1
        rc=$?
        if [ $rc = 0 ] && grep -q 'no CUDA device' "$log"; then
            echo "cuemu: $t did not see the emulated GPU: its CUDA cases were skipped"
            rc=1
        fi
        secs=$((SECONDS - start))
        case $rc in
        0) printf 'cuemu %-8s %-14s ok (%d s)\n' $order $t "$secs" ;;
        77) printf 'cuemu %-8s %-14s skipped: %s\n' $order $t "$(tail -1 "$log")" ;;
        *)
            failed=1
            printf 'cuemu %-8s %-14s FAILED (exit %d; log: %s)\n' $order $t $rc "$log"
            grep -E 'FAIL|cuemu:|CHECK failed|ERROR' "$log" | head -10
            ;;
        esac
    done
done
exit $failed
