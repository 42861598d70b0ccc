#!/usr/bin/env bash
# test.sh — the whole test suite: installs and builds (setup.sh), runs ctest on
# the release build (with the nvcc compile gates when nvcc is present), then on an
# ASan+UBSan build of the same suite, then the CUDA kernels on the CPU execution
# layer's OS-thread back-end under ThreadSanitizer (scripts/ci-tsan.sh).
#   scripts/test.sh            (what .ci/run runs)
#   QTIP_TEST_FAST=1 scripts/test.sh   skips the sanitizer pass
#   QTIP_TEST_VLLM=1 scripts/test.sh   adds the vLLM plugin's tests (docs/serving-vllm.md)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# QTIP_TEST_VLLM=1: also vLLM and the plugin in .venv-vllm (13 min, 9.6 GB the first
# time), so that ctest registers the vllm-labelled tests
if [ -n "${QTIP_TEST_VLLM:-}" ]; then scripts/setup-vllm.sh; fi
scripts/setup.sh build
# torch + the pinned transformers in .venv for tests/python (fast when present)
scripts/setup-python.sh
# the project's Python (numpy) for the tests that write their inputs with it
export PATH="$PWD/.venv/bin:$PATH"
# ctest in <dir>; a test reported as skipped fails the run unless its name matches
# <allowed> (what needs hardware this machine lacks, or runs in the other pass).
run_ctest() {
  (cd "$1" && ctest --output-on-failure -j2 | tee ctest.log)
  local bad
  bad=$(sed -n '/did not run:/,$p' "$1/ctest.log" | grep '(Skipped)' | grep -vE "$2" || true)
  [ -z "$bad" ] || { echo "test.sh: skipped, but CI must run them:" >&2; echo "$bad" >&2; exit 1; }
}
run_ctest build 'gpu_'
if [ -z "${QTIP_TEST_FAST:-}" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQTIP_SANITIZE=address,undefined \
        -DQTIP_BUILD_BENCH=OFF -DQTIP_CUDA=OFF >/dev/null
  cmake --build build-asan -j"$(nproc)"
  ASAN_OPTIONS=detect_leaks=1 QTIP_TEST_SANITIZED=1 run_ctest build-asan 'cli_install_pkgconfig|gpu_'
  QTIP_TEST_SANITIZED=1 scripts/ci-tsan.sh build-tsan
fi
