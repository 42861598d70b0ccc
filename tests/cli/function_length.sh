#!/usr/bin/env bash
# Every function of lib/ and cmd/ is at most 80 lines, signature to closing brace
# (docs/contributing.md). The measure first checks itself on known inputs (an
# 81-line function must fail), then measures the tree.
set -u
command -v python3 >/dev/null || { echo "SKIP python3 is needed"; exit 77; }
S="$QTIP_SOURCE_DIR"
python3 "$S/tests/cli/function_length.py" --self-test || { echo "FAIL the measure's self-test"; exit 1; }
cd "$S" && python3 tests/cli/function_length.py --limit 80 lib cmd
