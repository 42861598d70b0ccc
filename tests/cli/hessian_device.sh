#!/usr/bin/env bash
# qtip-hessian accumulate --device: without a usable GPU, auto falls back to the CPU
# and writes the same bytes as --device cpu; --device cuda fails (exit 1) saying why;
# a missing plugin (QTIP_CUDA_PLUGIN pointing nowhere) is named as such. With a GPU,
# auto uses it and matches the CPU to 1e-12 of sqrt(S_ii S_jj).
set -u
H="$QTIP_BIN/qtip-hessian"; G="python3 $QTIP_SOURCE_DIR/tests/cli/hessian_gen.py"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"
fail() { echo "FAIL: $*"; exit 1; }
$G npy a.npy 5000 24 7
"$H" accumulate --device cpu -o cpu.qh a.npy || fail "--device cpu"
"$H" accumulate --json --device auto -o auto.qh a.npy > auto.json || fail "--device auto"
dev=$(python3 -c 'import json; print(json.load(open("auto.json"))["device"])')
"$H" accumulate -o default.qh a.npy || fail "default device"
"$H" accumulate --device cuda -o cuda.qh a.npy 2> cuda.err; rc=$?
if [ "$dev" = cpu ]; then
  cmp cpu.qh auto.qh || fail "--device auto (cpu fallback) differs from --device cpu"
  cmp cpu.qh default.qh || fail "the default device differs from --device cpu"
  [ $rc -eq 1 ] || fail "--device cuda without a GPU: exit $rc, expected 1"
  grep -qE "no CUDA device: cudaGetDeviceCount|libqtip_cuda.so not found \(built without CUDA\?\)" cuda.err \
    || fail "unclear message: $(cat cuda.err)"
  [ ! -e cuda.qh ] || fail "--device cuda left an output behind"
else
  case "$dev" in cuda:0*) ;; *) fail "device '$dev'";; esac
  [ $rc -eq 0 ] || fail "--device cuda with a GPU: exit $rc: $(cat cuda.err)"
  "$H" export --full --dtype f64 -o c.st cpu.qh && "$H" export --full --dtype f64 -o g.st auto.qh
  python3 - <<'PY' || fail "gpu result outside the bound"
import json, struct, math
def load(p):
    b = open(p, "rb").read(); k = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + k])
    t = h["H"]; n = t["shape"][0]; o = 8 + k + t["data_offsets"][0]
    return n, struct.unpack("<%dd" % (n * n), b[o:o + 8 * n * n])
n, c = load("c.st"); _, g = load("g.st")
worst = max(abs(c[i*n+j] - g[i*n+j]) / math.sqrt(c[i*n+i] * c[j*n+j]) for i in range(n) for j in range(n))
assert worst <= 1e-12, worst
PY
fi
# no plugin at all: auto still works (the cpu), cuda names the missing plugin
QTIP_CUDA_PLUGIN=/nonexistent/libqtip_cuda.so "$H" accumulate --device auto -o none.qh a.npy \
  || fail "--device auto without the plugin"
cmp cpu.qh none.qh || fail "--device auto without the plugin differs from --device cpu"
QTIP_CUDA_PLUGIN=/nonexistent/libqtip_cuda.so "$H" accumulate --device cuda -o none2.qh a.npy 2> none.err
rc=$?; [ $rc -eq 1 ] || fail "--device cuda without the plugin: exit $rc"
grep -q "libqtip_cuda.so not found (built without CUDA?)" none.err || fail "message: $(cat none.err)"
"$H" accumulate --device gpu -o x.qh a.npy 2> bad.err; rc=$?
[ $rc -eq 2 ] || fail "--device gpu: exit $rc, expected 2 (usage)"
echo ok
