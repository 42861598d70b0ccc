#!/usr/bin/env bash
# test.sh — the whole test suite: installs and builds (setup.sh), runs ctest on
# the release build (with the nvcc compile gates when nvcc is present), then on an
# ASan+UBSan build of the same suite, then the CUDA kernels on the CPU execution
# layer's OS-thread back-end under ThreadSanitizer (scripts/ci-tsan.sh).
#   scripts/test.sh            (what .ci/run runs)
#   QTIP_TEST_FAST=1 scripts/test.sh   skips the sanitizer pass
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
scripts/setup.sh build
(cd build && ctest --output-on-failure -j2)
if [ -z "${QTIP_TEST_FAST:-}" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQTIP_SANITIZE=address,undefined \
        -DQTIP_BUILD_BENCH=OFF -DQTIP_CUDA=OFF >/dev/null
  cmake --build build-asan -j"$(nproc)"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 QTIP_TEST_SANITIZED=1 ctest --output-on-failure -j2)
  QTIP_TEST_SANITIZED=1 scripts/ci-tsan.sh build-tsan
fi
