#!/usr/bin/env bash
# The one GPU check. On a machine with an NVIDIA GPU: build with CUDA, run every test (the CUDA
# cases of the op test run for real there), run the benchmarks, and print a short table last.
# Meant to finish in well under 8 minutes on an H200 machine.
#
#   bench/gpu-check.sh [OUTDIR]      (OUTDIR defaults to $OUT, else build-gpu/out)
#
# The GPU machine may have no HDF5 or BLAS and no package registry: run bench/fetch-deps.sh on a
# machine with apt first; its .deps/*.deb are unpacked here into .deps/root and used when the
# system lacks the library. Without HDF5 at all the build turns the shard layer off (the op test
# and the GEMM benchmark still run).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-${OUT:-$root/build-gpu/out}}
mkdir -p "$out"
build=$root/build-gpu
t0=$(date +%s)
say() { echo "[gpu-check +$(( $(date +%s) - t0 ))s] $*"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | sed 's/^/gpu: /' || say "nvidia-smi: not available"
nvcc --version 2>/dev/null | tail -1

# ---- dependencies ----------------------------------------------------------------------------
deps=$root/.deps/root
unpack() {
  [ -d "$deps" ] && return 0
  ls "$root"/.deps/*.deb >/dev/null 2>&1 || return 1
  mkdir -p "$deps"
  for d in "$root"/.deps/*.deb; do
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$d" "$deps"
    else (t=$(mktemp -d) && cd "$t" && ar x "$d" && tar -xf data.tar.* -C "$deps" && rm -rf "$t"); fi
  done
}
cmake_args=(-DCMAKE_BUILD_TYPE=Release -DLONGTAIL_CUDA=ON)
runtime_path=""
have_sys_hdf5=0
for h in /usr/include/hdf5/serial/hdf5.h /usr/include/hdf5.h /usr/local/include/hdf5.h; do [ -f "$h" ] && have_sys_hdf5=1; done
if [ "$have_sys_hdf5" = 1 ] && [ -z "${LONGTAIL_FORCE_DEPS:-}" ]; then
  say "HDF5: system"
elif unpack && [ -f "$deps/usr/include/hdf5/serial/hdf5.h" ]; then
  lib=$deps/usr/lib/x86_64-linux-gnu
  runtime_path=$lib:$deps/lib/x86_64-linux-gnu:$lib/openblas-pthread
  if LD_LIBRARY_PATH=$runtime_path ldd "$lib/libhdf5_serial.so" | grep -q "not found"; then
    say "HDF5: unpacked, but its libraries do not load here; building without HDF5"
    LD_LIBRARY_PATH=$runtime_path ldd "$lib/libhdf5_serial.so" | grep "not found"
    cmake_args+=(-DLONGTAIL_HDF5=OFF)
  else
    say "HDF5: from .deps"
    cmake_args+=(-DHDF5_C_INCLUDE_DIR=$deps/usr/include/hdf5/serial -DHDF5_C_LIBRARY_hdf5=$lib/libhdf5_serial.so
                 -DHDF5_C_LIBRARY_hdf5_hl=$lib/libhdf5_serial_hl.so -DHDF5_C_COMPILER_EXECUTABLE=/nonexistent)
  fi
else
  say "HDF5: none; building without the shard layer"
  cmake_args+=(-DLONGTAIL_HDF5=OFF)
fi
# BLAS is loaded at run time (src/cpu/blas.c): point it at the unpacked OpenBLAS if the system has none.
if ! ldconfig -p 2>/dev/null | grep -q "libopenblas.so.0" || [ -n "${LONGTAIL_FORCE_DEPS:-}" ]; then
  if unpack && [ -f "$deps/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0" ]; then
    export LONGTAIL_BLAS=$deps/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0
    runtime_path=${runtime_path:-$deps/usr/lib/x86_64-linux-gnu:$deps/lib/x86_64-linux-gnu}
    say "BLAS: $LONGTAIL_BLAS"
  else
    say "BLAS: none found; CPU GEMMs will fail (run bench/fetch-deps.sh and carry .deps)"
  fi
fi
# Only longtail's own programs see the unpacked libraries (not python, not the compiler).
run() { LD_LIBRARY_PATH=${runtime_path}${runtime_path:+:}${LD_LIBRARY_PATH:-} "$@"; }

# ---- build -------------------------------------------------------------------------------------
say "configure: ${cmake_args[*]}"
cmake -S "$root" -B "$build" "${cmake_args[@]}" > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
say "build"
cmake --build "$build" -j"$(nproc)" > "$out/build.log" 2>&1 || { grep -E "error|Error" "$out/build.log" | head -30; exit 1; }

# ---- tests: every test, with the CUDA cases live ------------------------------------------------
say "tests"
(cd "$build" && run ctest --output-on-failure --timeout 300) > "$out/ctest.log" 2>&1
tests_rc=$?
run "$build/tests/test_ops" > "$out/test_ops.log" 2>&1
ops_rc=$?
cuda_ok=$(grep -c "cuda vs cpu.* ok$\|gemm cuda.* ok$\|cuda vs cpu: max |err| .* ok$" "$out/test_ops.log")
cuda_fail=$(grep -c "FAIL" "$out/test_ops.log")
cuda_skip=$(grep -c "skipped: no CUDA device" "$out/test_ops.log")
run "$build/tests/test_ops_bf16" > "$out/test_ops_bf16.log" 2>&1
bf16_rc=$?
run "$build/tests/test_rnn" > "$out/test_rnn.log" 2>&1
rnn_rc=$?
run "$build/tests/test_rank" > "$out/test_rank.log" 2>&1
run "$build/tests/test_sasrec" > "$out/test_sasrec.log" 2>&1
sasrec_rc=$?

# ---- benchmarks ----------------------------------------------------------------------------------
say "bench/gemm"
run "$build/bench/gemm" --json "$out/gemm.json" > "$out/gemm.log" 2>&1
cat "$out/gemm.log"
say "bench/attention"
run "$build/bench/attention" --json "$out/attention.json" > "$out/attention.log" 2>&1
cat "$out/attention.log"
say "bench/bert (GPU part)"
run "$build/bench/bert" --only gpu --reps 10 --json "$out/bert.json" > "$out/bert.log" 2>&1
cat "$out/bert.log"
say "bench/kmeans"
run "$build/bench/kmeans" --rounds 1 --json "$out/kmeans.json" > "$out/kmeans.log" 2>&1
cat "$out/kmeans.log"
say "bench/lstm (GPU part: hand-written kernels vs cuDNN through lt_rnn_set_impl, PyTorch)"
run "$build/bench/lstm" --only gpu --rounds 2 --reps 10 --json "$out/lstm.json" > "$out/lstm.log" 2>&1
cat "$out/lstm.log"
say "bench/rank"
run "$build/bench/rank" --reps 3 --json "$out/rank.json" > "$out/rank.log" 2>&1
cat "$out/rank.log"
say "bench/rec (GPU part: one epoch of the recommender on Amazon Beauty, longtail on CUDA vs PyTorch on CUDA)"
run "$build/bench/rec" --only gpu --json "$out/rec.json" > "$out/rec.log" 2>&1
cat "$out/rec.log"

# ---- summary --------------------------------------------------------------------------------------
echo
echo "==== gpu-check summary ($(( $(date +%s) - t0 ))s) ===="
printf "%-34s %s\n" "ctest" "$(grep -E 'tests passed' "$out/ctest.log" || echo 'did not finish')"
printf "%-34s %s\n" "op test CUDA cases" "$cuda_ok ok, $cuda_fail failed, $cuda_skip skipped (exit $ops_rc)"
printf "%-34s %s\n" "bf16 op test (test_ops_bf16)" "$(grep -c ' ok$' "$out/test_ops_bf16.log") ok, $(grep -c 'FAIL' "$out/test_ops_bf16.log") failed, $(grep -c 'skipped' "$out/test_ops_bf16.log") skipped (exit $bf16_rc)"
printf "%-34s %s\n" "gemm cpu ratio (goal >= 0.8)" "$(grep -o '"ratio": [0-9.]*' "$out/gemm.json" 2>/dev/null | cut -d' ' -f2)"
for m in fp32 tf32 bf16; do
  printf "%-34s %s\n" "gemm cuda $m TFLOP/s" "$(grep -o "\"cuda_${m}_tflops\": [0-9.]*" "$out/gemm.json" 2>/dev/null | cut -d' ' -f2)"
done
for k in attn_fwd_bf16_us attn_bwd_bf16_us gemm_layer_bf16_us fwd_ratio; do
  printf "%-34s %s\n" "attention $k" "$(grep -o "\"$k\": [0-9.]*" "$out/attention.json" 2>/dev/null | cut -d' ' -f2)"
done
jnum() { grep -o "\"$1\": [0-9.e+-]*" "$2" 2>/dev/null | head -1 | cut -d' ' -f2; }
printf "%-34s %s\n" "bert-base seq128 cuda seq/s (25k)" "$(jnum cuda_base_longtail_seq_s "$out/bert.json") (PyTorch bf16: $(jnum cuda_base_torch_bf16_seq_s "$out/bert.json"))"
printf "%-34s %s\n" "kmeans cpu faiss/longtail (>= 2)" "$(jnum ratio_faiss "$out/kmeans.json")"
printf "%-34s %s\n" "kmeans cuda 1Mx256 k=20k 25 it (s)" "$(jnum longtail_bf16_s "$out/kmeans.json") (goal <= 1.5; torch tf32: $(jnum torch_tf32_s "$out/kmeans.json"))"
printf "%-34s %s\n" "lstm cuda ms/step native / cuDNN" "$(jnum gpu_native_ms "$out/lstm.json") / $(jnum gpu_cudnn_ms "$out/lstm.json") (PyTorch: $(jnum gpu_torch_ms "$out/lstm.json"))"
printf "%-34s %s\n" "rnn test CUDA/cuDNN cases" "$(grep -c 'vs cpu.* ok$' "$out/test_rnn.log") ok, $(grep -c 'FAIL' "$out/test_rnn.log") failed, $(grep -c 'skipped' "$out/test_rnn.log") skipped (exit $rnn_rc)"
printf "%-34s %s\n" "sasrec tower on CUDA vs torch" "$(grep -o 'on cuda: .*' "$out/test_sasrec.log" | head -1) (exit $sasrec_rc)"
grep -E "FAIL" "$out/test_ops.log" "$out/test_ops_bf16.log" "$out/test_rnn.log" "$out/test_sasrec.log" | head -20
printf "%-34s %s\n" "rank cpu xent torch/longtail (>= 1.5)" "$(jnum xent_time_ratio "$out/rank.json") (memory ratio $(jnum xent_memory_ratio "$out/rank.json"), goal <= 0.1)"
printf "%-34s %s\n" "rank cpu top-K faiss/longtail (>= 1.5)" "$(jnum topk_time_ratio "$out/rank.json")"
printf "%-34s %s\n" "rank cuda xent / top-K (s)" "$(grep -o '"cuda": {[^}]*' "$out/rank.json" 2>/dev/null | grep -o '"longtail_xent_s": [0-9.e+-]*' | cut -d' ' -f2) / $(grep -o '"cuda": {[^}]*' "$out/rank.json" 2>/dev/null | grep -o '"longtail_topk_s": [0-9.e+-]*' | cut -d' ' -f2)"
printf "%-34s %s\n" "test_rank (CUDA cases live)" "$(grep -c ' ok$' "$out/test_rank.log") ok, $(grep -c 'FAIL' "$out/test_rank.log") failed, $(grep -c 'skipped' "$out/test_rank.log") skipped"
grep -E "FAIL" "$out/test_rank.log" | head -20
printf "%-34s %s\n" "rec cuda s/epoch longtail / torch" "$(jnum gpu_longtail_s "$out/rec.json") / $(jnum gpu_torch_s "$out/rec.json") (ratio $(jnum gpu_ratio "$out/rec.json"))"
[ "$tests_rc" = 0 ] && [ "$ops_rc" = 0 ] && [ "$bf16_rc" = 0 ] && [ "$rnn_rc" = 0 ]
