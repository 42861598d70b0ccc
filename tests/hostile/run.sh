#!/usr/bin/env bash
# The hostile-input suite (tests/hostile/README.md): generate the cases from valid seed
# inputs, run them against the commands in $QTIP_BIN, then the kill -9 test.
#   QTIP_BIN=build QTIP_SOURCE_DIR=. bash tests/hostile/run.sh [ID_REGEX]
# ID_REGEX runs only the matching cases (and skips the kill test unless it matches "kill").
# Prints one line per failing case and "N passed, M failed"; exit status 0 when all pass.
set -u
: "${QTIP_BIN:?QTIP_BIN must name the build directory}" "${QTIP_SOURCE_DIR:?QTIP_SOURCE_DIR must name the source tree}"
H="$QTIP_SOURCE_DIR/tests/hostile"
command -v python3 >/dev/null || { echo "FAIL python3 is needed to generate the cases"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
python3 "$H/gen_cases.py" "$QTIP_BIN" "$T/cases" || { echo "FAIL gen_cases.py"; exit 1; }
fail=0
python3 "$H/run_cases.py" "$QTIP_BIN" "$T/cases" "${1:-}" || fail=1
if [ -z "${1:-}" ] || [[ kill =~ ${1} ]]; then
  python3 "$H/kill_test.py" "$QTIP_BIN" "$T/kill" || fail=1
fi
exit $fail
