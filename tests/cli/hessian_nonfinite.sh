#!/usr/bin/env bash
# A NaN row fails naming the file and the row (exit 1, no output written);
# --skip-nonfinite skips it and counts it.
set -u
H="$QTIP_BIN/qtip-hessian"; G="python3 $QTIP_SOURCE_DIR/tests/cli/hessian_gen.py"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"; fail=0
$G npy bad.npy 40 6 5 17
err=$("$H" accumulate -o out.qh bad.npy 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "'bad.npy'" <<<"$err" && grep -q "row 17" <<<"$err" || { echo "FAIL NaN row: rc $rc '$err'"; fail=1; }
[ ! -e out.qh ] || { echo "FAIL output written on error"; fail=1; }
"$H" accumulate --skip-nonfinite -o out.qh bad.npy >/dev/null || { echo "FAIL --skip-nonfinite"; fail=1; }
"$H" info --json out.qh | python3 -c "
import json,sys; d=json.load(sys.stdin); assert d['count']==39 and d['skipped']==1, d" || { echo "FAIL skip count"; fail=1; }
exit $fail
