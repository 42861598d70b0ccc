#!/usr/bin/env bash
# scripts/fuzz.sh [seconds-per-target] [target...] — build every libFuzzer target of
# tests/fuzz (or the ones named: fuzz_safetensors, fuzz_activations, ...) with clang
# -fsanitize=fuzzer,address,undefined and run each for the given time (default 60 s)
# on its corpus, tests/fuzz/corpus/<target>. Prints one line per target: executions,
# crashes, corpus size. A crash's reproducer is copied into the corpus, which ctest
# replays (test_fuzz_regress): fix the defect, keep the file.
#
#   QTIP_FUZZ_BUILD  build directory (default build-fuzz; the library is built there
#                    with clang and the sanitizers, apart from your usual build)
#   CC_FUZZ          the clang to use (default clang)   JOBS  build jobs (default 2)
#   FUZZ_ARGS        extra libFuzzer options, e.g. "-rss_limit_mb=4096"
# New inputs the fuzzer finds stay in the build directory (out/<target>), not in
# the corpus: only reproducers are kept.
set -euo pipefail
SECS=${1:-60}
[ $# -gt 0 ] && shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${QTIP_FUZZ_BUILD:-$ROOT/build-fuzz}
CC=${CC_FUZZ:-clang}
case $SECS in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [seconds-per-target] [target...]" >&2; exit 2 ;; esac
command -v "$CC" >/dev/null || { echo "fuzz.sh: '$CC' not found (clang with libFuzzer is needed)" >&2; exit 2; }

if [ $# -gt 0 ]; then TARGETS=("$@")
else TARGETS=(); for f in "$ROOT"/tests/fuzz/fuzz_*.c; do TARGETS+=("$(basename "$f" .c)"); done; fi

mkdir -p "$BUILD"
# The library, instrumented for coverage (fuzzer-no-link) and the sanitizers.
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQTIP_BUILD_TESTS=OFF -DQTIP_BUILD_BENCH=OFF -DQTIP_CUDA=OFF -DQTIP_SANITIZE=address,undefined \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >"$BUILD/fuzz-cmake.log" 2>&1 \
  || { cat "$BUILD/fuzz-cmake.log"; exit 1; }
cmake --build "$BUILD" -j"${JOBS:-2}" --target qtip >"$BUILD/fuzz-build.log" 2>&1 \
  || { tail -40 "$BUILD/fuzz-build.log"; exit 1; }
lapacke=$(sed -n 's/^LAPACKE_LIBRARY:FILEPATH=//p' "$BUILD/CMakeCache.txt")
blas=$(sed -n 's/^BLAS_[A-Za-z0-9]*_LIBRARY:FILEPATH=//p' "$BUILD/CMakeCache.txt" | head -1)
LIBS="$BUILD/libqtip.a ${lapacke:--llapacke} ${blas:--lopenblas} $(pkg-config --libs jansson libzstd libxxhash) -fopenmp -lm -ldl -lpthread"

status=0
for t in "${TARGETS[@]}"; do
  src="$ROOT/tests/fuzz/$t.c"
  [ -f "$src" ] || { echo "$t: no such target ($src)"; status=1; continue; }
  bin="$BUILD/$t"
  # shellcheck disable=SC2086
  "$CC" -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=all -D_GNU_SOURCE -DQTIP_EXPERIMENTAL -I "$ROOT/lib" "$src" -o "$bin" $LIBS \
    || { echo "$t: build failed"; status=1; continue; }
  corpus="$ROOT/tests/fuzz/corpus/$t" out="$BUILD/out/$t" art="$BUILD/crashes/$t/"
  rm -rf "$art"
  mkdir -p "$corpus" "$out" "$art"
  log="$BUILD/$t.log"
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$SECS" -print_final_stats=1 -artifact_prefix="$art" \
    -timeout=25 ${FUZZ_ARGS:-} "$out" "$corpus" >"$log" 2>&1 &
  pid=$!
  wait $pid || true
  # the scratch directories of fuzz_st_index and fuzz_packed_config (a timed run exits without atexit)
  rm -rf "/tmp/qtip-fuzz-index-$pid" "/tmp/qtip-fuzz-packed-$pid"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=0
  for c in "$art"*; do
    [ -f "$c" ] || continue
    crashes=$((crashes + 1))
    cp "$c" "$corpus/repro-$(basename "$c")"
  done
  size=$(find "$out" "$corpus" -type f | wc -l)
  echo "$t: execs ${execs:-0}, crashes $crashes, corpus $size files (log $log)"
  [ "$crashes" -eq 0 ] || status=1
done
exit $status
