#!/usr/bin/env bash
# qtip-verify --artifact A --dequantize OUT refuses an OUT that is its input A, by
# the same path or a hard link: exit 1, a message naming the file, A untouched
# (issue 13, "output = input"; the check lives in the atomic writer's registry).
set -u
B="$QTIP_BIN"
command -v python3 >/dev/null || { echo "skip: python3 is needed to write the test tensor"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$2"; then echo "FAIL $1"; fail=1; fi; }
python3 - "$T/w.safetensors" <<'PY'
import json, struct, sys
m, n = 16, 32
data = struct.pack('<%df' % (m * n), *[0.01 * ((7 * i) % 13 - 6) for i in range(m * n)])
hdr = json.dumps({"l.weight": {"dtype": "F32", "shape": [m, n], "data_offsets": [0, len(data)]}}).encode()
hdr += b' ' * (-len(hdr) % 8)
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(hdr)) + hdr + data)
PY
"$B/qtip-quantize" --decode-mode 1mad --L 8 --K 2 --V 1 --tlut-bits 0 --identity-hessian --tensor l \
  -o "$T/a.safetensors" "$T/w.safetensors" >/dev/null 2>"$T/err" || { echo "FAIL qtip-quantize"; cat "$T/err"; exit 1; }
cp "$T/a.safetensors" "$T/keep.safetensors"
ln "$T/a.safetensors" "$T/link.safetensors"
for out in a.safetensors link.safetensors; do
  "$B/qtip-verify" --artifact "$T/a.safetensors" --dequantize "$T/$out" >/dev/null 2>"$T/err"; rc=$?
  check "--dequantize $out (the input) exits 1 (rc $rc): $(cat "$T/err")" \
    '[ $rc -eq 1 ] && grep -q "a.safetensors\|link.safetensors" "$T/err"'
  check "--dequantize $out leaves the input untouched" 'cmp -s "$T/a.safetensors" "$T/keep.safetensors"'
  cp "$T/keep.safetensors" "$T/a.safetensors"; rm -f "$T/link.safetensors"; ln "$T/a.safetensors" "$T/link.safetensors"
done
# the positive case: another output is written
"$B/qtip-verify" --artifact "$T/a.safetensors" --dequantize "$T/w_hat.safetensors" >/dev/null 2>"$T/err"; rc=$?
check "--dequantize to another file works (rc $rc)" '[ $rc -eq 0 ] && [ -s "$T/w_hat.safetensors" ]'
[ $fail -eq 0 ] && echo "ok"
exit $fail
