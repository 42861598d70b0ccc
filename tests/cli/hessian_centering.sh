#!/usr/bin/env bash
# qtip-hessian import: the centering convention of a reference-layout file holding
# 'mu'. Analytic: with C = [[2, 1], [1, 3]] stored and mu = (1, 2), --centered
# gives E[x x^T] = C + mu mu^T = [[3, 3], [3, 7]], --uncentered gives C; neither
# flag takes the file's metadata 'centered', else centred with a warning naming
# the file; the choice is recorded (import_centering). Contradictions are refused.
set -u
H="$QTIP_BIN/qtip-hessian"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"
fail() { echo "FAIL: $*"; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed to write the test files"; exit 77; }
python3 - <<'PY'
import json, struct
def st(path, tensors, meta=None):
    hdr, data = {}, b""
    if meta: hdr["__metadata__"] = meta
    for name, (dt, shape, raw) in tensors.items():
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(hdr).encode(); h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
base = {"n": ("I64", [], struct.pack("<q", 2)), "ct": ("I64", [], struct.pack("<q", 10)),
        "flatH": ("F64", [3], struct.pack("<3d", 2, 1, 3))}
mu = {"mu": ("F64", [2], struct.pack("<2d", 1, 2))}
st("plain_mu.st", {**base, **mu})
st("said_uncentered.st", {**base, **mu}, {"centered": "false"})
st("no_mu.st", base)
st("bad_ct.st", {**base, "ct": ("I64", [], struct.pack("<q", 0))})
PY
full() { # E[x x^T] of a qtip hessian file, as "a b c d"
  "$H" export --full --dtype f64 -o "$1.full" "$1" || fail "export $1"
  python3 -c "
import json, struct, sys
b = open(sys.argv[1], 'rb').read(); k = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + k])
a, e = h['H']['data_offsets']; print(' '.join('%g' % v for v in struct.unpack('<4d', b[8 + k + a:8 + k + e])))" "$1.full"
}
meta() { python3 -c "
import json, struct, sys
b = open(sys.argv[1], 'rb').read(); k = struct.unpack('<Q', b[:8])[0]
print(json.loads(b[8:8 + k])['__metadata__'].get('import_centering', '-'))" "$1"; }

"$H" import -q --centered -o c.qh plain_mu.st || fail "--centered"
[ "$(full c.qh)" = "3 3 3 7" ] || fail "--centered: E = $(full c.qh), expected C + mu mu^T = 3 3 3 7"
[ "$(meta c.qh)" = centered ] || fail "--centered not recorded: $(meta c.qh)"
"$H" import -q --uncentered -o u.qh plain_mu.st || fail "--uncentered"
[ "$(full u.qh)" = "2 1 1 3" ] || fail "--uncentered: E = $(full u.qh), expected C = 2 1 1 3"
[ "$(meta u.qh)" = uncentered ] || fail "--uncentered not recorded: $(meta u.qh)"
"$H" import -o d.qh plain_mu.st > /dev/null 2> d.err || fail "default"
grep -q "'plain_mu.st'.*taken as centred" d.err || fail "no warning saying which was applied: $(cat d.err)"
cmp -s c.qh d.qh || fail "the default differs from --centered"
"$H" info --json d.qh | grep -q '"import_centering": "centered"' || fail "info does not show the convention"
# the file's own metadata decides without a flag, and a flag contradicting it is refused
"$H" import -o m.qh said_uncentered.st > /dev/null 2> m.err || fail "metadata centered=false"
[ ! -s m.err ] || fail "a warning although the file says: $(cat m.err)"
[ "$(full m.qh)" = "2 1 1 3" ] || fail "metadata centered=false: E = $(full m.qh)"
"$H" import --centered -o x.qh said_uncentered.st 2> x.err; rc=$?
[ $rc -eq 1 ] && grep -q "'centered' is 'false'" x.err && [ ! -e x.qh ] || fail "contradiction: rc $rc $(cat x.err)"
"$H" import --centered -o x.qh no_mu.st 2> x.err; rc=$?
[ $rc -eq 1 ] && grep -q "no tensor 'mu'" x.err || fail "--centered without mu: rc $rc $(cat x.err)"
"$H" import --centered --uncentered -o x.qh plain_mu.st 2> x.err; rc=$?
[ $rc -eq 2 ] || fail "both flags: rc $rc"
# export records the convention, and import reads it back without a warning
"$H" export --centered --dtype f64 -o e.st c.qh || fail "export --centered"
"$H" import -o back.qh e.st > /dev/null 2> back.err || fail "import of an export"
[ ! -s back.err ] && [ "$(full back.qh)" = "3 3 3 7" ] || fail "round trip: $(full back.qh) $(cat back.err)"
# info names the real defect of a reference-layout file, not "not a qtip hessian file"
"$H" info bad_ct.st 2> i.err; rc=$?
[ $rc -eq 1 ] && grep -q "'ct' is 0" i.err && ! grep -q "not a qtip hessian" i.err || fail "info: rc $rc $(cat i.err)"
echo ok
