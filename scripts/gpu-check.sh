#!/usr/bin/env bash
# gpu-check.sh — what only a machine with an NVIDIA GPU can check, in one go (a GPU is
# lent to this project rarely and briefly, so this must run as is): builds with CUDA,
# runs the GPU tests natively (the plugin against the CPU paths: Hessian, Viterbi),
# the CLI tests that take their GPU branches, compute-sanitizer memcheck and racecheck
# on the native test program, and the benchmarks; then prints one summary table.
# Budget: under 8 minutes on one H100/H200 with 16 cores.
#   scripts/gpu-check.sh [build-dir]        (default: build-gpu beside the sources)
set -uo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$src/build-gpu}"
jobs="${JOBS:-$(nproc)}"
log="$build/gpu-check"
export PATH="$src/.venv/bin:/usr/local/cuda/bin:$PATH"
mkdir -p "$log"
rows=()
# step <name> <timeout-seconds> <command...>: runs it, output in $log/<name>.txt
step() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS rc
  timeout "$limit" "$@" >"$log/$name.txt" 2>&1; rc=$?
  local st=ok; [ $rc -eq 0 ] || st="FAILED (exit $rc)"; [ $rc -eq 124 ] && st="TIMEOUT (${limit}s)"
  rows+=("$(printf '%-24s %-18s %6ds' "$name" "$st" $((SECONDS - t0)))")
  [ $rc -eq 0 ] || tail -20 "$log/$name.txt"
  return $rc
}
plugin_test() { QTIP_CUDA_PLUGIN="$build/libqtip_cuda.so" "$build/kernels/gpu_test_cuda_plugin"; }
sanitize() { # <tool>: the native program on a few tiles (QTIP_GPU_CHECK_QUICK)
  local cs; cs=$(command -v compute-sanitizer) || { echo "compute-sanitizer not found (pip install nvidia-cuda-sanitizer-api)"; return 3; }
  QTIP_GPU_CHECK_QUICK=1 QTIP_CUDA_PLUGIN="$build/libqtip_cuda.so" \
    "$cs" --tool "$1" --error-exitcode 9 "$build/kernels/gpu_test_cuda_plugin"
}
# A 4096 x 4096 F16 layer (Gaussian, std 0.02), written once.
make_layer() {
  python3 - "$log/layer4096.safetensors" <<'PY'
import json, struct, sys
import numpy as np
m = n = 4096
w = np.random.default_rng(7).normal(0, 0.02, (m, n)).astype('<f2').tobytes()
h = json.dumps({"w.weight": {"dtype": "F16", "shape": [m, n], "data_offsets": [0, len(w)]}}).encode()
h += b' ' * (-len(h) % 8)
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h + w)
PY
}
bench_layer() { # <device>
  "$build/qtip-quantize" -v --device "$1" --identity-hessian --tensor w \
    -o "$log/layer4096.$1.safetensors" "$log/layer4096.safetensors"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$log/gpu.txt" 2>&1 || true
step configure 120 cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DQTIP_WERROR=ON \
     -DQTIP_CUDA=ON -DQTIP_BUILD_BENCH=OFF
step build 240 cmake --build "$build" -j"$jobs"
step gpu_tests 120 plugin_test
step ctest_gpu_branches 180 ctest --test-dir "$build" -R 'kernels_test_viterbi$|cli_quantize_layer|cli_hessian_device' --output-on-failure
step memcheck 90 sanitize memcheck
step racecheck 90 sanitize racecheck
step make_layer 60 make_layer
step quantize_4096_cuda 120 bench_layer cuda

echo
echo "gpu-check: $(cat "$log/gpu.txt")  (logs: $log)"
printf '%-24s %-18s %7s\n' step status seconds
printf '%s\n' "${rows[@]}"
echo "viterbi throughput (candidates = states x steps x 2 passes; roofline: see docs/kernels.md):"
grep -h '^  viterbi ' "$log/gpu_tests.txt" || echo "  (none: gpu_tests did not run)"
grep -h 'Viterbi on\|wall\|seconds' "$log/quantize_4096_cuda.txt" 2>/dev/null | head -5
! printf '%s\n' "${rows[@]}" | grep -qE 'FAILED|TIMEOUT'
