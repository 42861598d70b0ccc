#!/usr/bin/env bash
# merge and export refuse a Hessian file holding NaN or Inf, naming the file and the
# first non-finite entry (row, col); nothing is written.
set -u
H="$QTIP_BIN/qtip-hessian"; G="python3 $QTIP_SOURCE_DIR/tests/cli/hessian_gen.py"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"
fail() { echo "FAIL: $*"; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed to write the test files"; exit 77; }
$G npy a.npy 40 6 5
"$H" accumulate -q -o good.qh a.npy || fail "accumulate"
# sum_xxT_tril entry 4 of the tril order (0,0),(1,0),(1,1),(2,0),(2,1): row 2, col 1
python3 - <<'PY'
import json, struct
b = bytearray(open("good.qh", "rb").read()); k = struct.unpack("<Q", b[:8])[0]
a = json.loads(b[8:8 + k])["sum_xxT_tril"]["data_offsets"][0]
b[8 + k + a + 4 * 8:8 + k + a + 5 * 8] = struct.pack("<d", float("nan"))
open("nan.qh", "wb").write(b)
PY
for args in "merge -o out.qh good.qh nan.qh" "merge -o out.qh nan.qh good.qh" "export -o out.qh nan.qh"; do
  # shellcheck disable=SC2086
  "$H" $args 2> err; rc=$?
  [ $rc -eq 1 ] && grep -q "'nan.qh'" err && grep -q "(2, 1)" err || fail "$args: rc $rc $(cat err)"
  [ ! -e out.qh ] || fail "$args wrote an output"
done
echo ok
