#!/usr/bin/env bash
# accumulate in shards (npy 3-D, raw f16 from stdin, a chosen safetensors tensor,
# zstd), merge, info --json, export --full f64 matched against an exact reference
# (math.fsum) to 1e-12; export flatH -> import -> same E[x x^T].
set -eu
H="$QTIP_BIN/qtip-hessian"; G="python3 $QTIP_SOURCE_DIR/tests/cli/hessian_gen.py"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"
$G npy a.npy 120 8 1
$G raw16 b.raw 77 8 2
$G st c.safetensors 50 8 3
$G ref ref.json npy:120:8:1 raw16:77:8:2 st:50:8:3
"$H" accumulate --site L0.qkv -o p1.qh a.npy
"$H" accumulate --site L0.qkv --dim 8 --dtype f16 -o p2.qh - < b.raw
if command -v zstd >/dev/null; then zstd -q c.safetensors -o c.st.zst; C=c.st.zst; else C=c.safetensors; fi
"$H" accumulate --site L0.qkv --tensor acts -o p3.qh "$C"
"$H" merge -o all.qh p1.qh p2.qh p3.qh
"$H" info --json all.qh > info.json
python3 - <<'PY'
import json
d = json.load(open("info.json"))
assert d["n"] == 8 and d["count"] == 247 and d["skipped"] == 0, d
assert d["site"] == "L0.qkv" and d["finite"] and d["positive_definite"], d
assert len(d["inputs"]) == 3 and all(i["checksum"] for i in d["inputs"]), d["inputs"]
PY
"$H" export --full --dtype f64 -o full.st all.qh
$G cmp full.st ref.json
# another grouping of the same rows gives the same matrix to fp64 rounding
"$H" merge -o all2.qh p3.qh p1.qh p2.qh
"$H" export --full --dtype f64 -o full2.st all2.qh
$G cmp full2.st ref.json
# flatH with mu (QuIP# layout) back in: the same E[x x^T]
"$H" export --centered --dtype f64 -o flat.st all.qh
"$H" import --site L0.qkv -o back.qh flat.st
"$H" export --full --dtype f64 -o full3.st back.qh
$G cmp full3.st ref.json
echo ok
