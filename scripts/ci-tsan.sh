#!/usr/bin/env bash
# ci-tsan.sh — build with ThreadSanitizer and run only the kernel tests, on the CPU
# execution layer's OS-thread back-end (one OS thread per CUDA thread), where a missing
# __syncthreads is a data race TSan reports at its source line (docs/kernels.md).
#   scripts/ci-tsan.sh [build-dir]        (default: build-tsan beside the sources)
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$src/build-tsan}"
jobs="${JOBS:-2}"
cmake -S "$src" -B "$build" -DQTIP_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DQTIP_CUDA=OFF -DQTIP_BUILD_BENCH=OFF
targets=$(cd "$src/tests/kernels" && ls test_*.cpp | sed 's/\.cpp$//; s/^/kernels_/')
# shellcheck disable=SC2086
cmake --build "$build" -j"$jobs" --target $targets
ctest --test-dir "$build" -L kernels --output-on-failure -j"$jobs"
