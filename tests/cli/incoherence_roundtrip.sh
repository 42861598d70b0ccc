#!/usr/bin/env bash
# qtip-incoherence on a small layer (48 x 80 = 12*4 x 20*4, two outlier columns) with
# a Hessian from heavy-feature activations: mu of W and H drop, the written Wr and Hr
# keep tr(W H W^T) (recomputed here from the activations) and ||W||_F, SU/SV are +-1,
# and two runs give identical bytes. (Wr against the dense definition: test_rht.)
set -eu
Q="$QTIP_BIN/qtip-incoherence"; HS="$QTIP_BIN/qtip-hessian"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"
python3 - <<'PY'
import json, random, struct
def st(path, tensors):
    hdr, blobs, off = {}, b"", 0
    for name, shape, vals in tensors:
        b = struct.pack("<%df" % len(vals), *vals)
        hdr[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs += b; off += len(b)
    h = json.dumps(hdr).encode(); h += b" " * ((8 - len(h) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + blobs)
rng = random.Random(5)
m, n = 48, 80
W = [rng.gauss(0, 0.02) * (30.0 if j in (3, 41) else 1.0) for i in range(m) for j in range(n)]
st("w.safetensors", [("layers.0.mlp.up_proj.weight", [m, n], W), ("odd", [6, 6], [1.0] * 36),
                     ("cube", [2, 2, 2], [1.0] * 8)])
X = [rng.gauss(0, 1) * (20.0 if j % 17 == 2 else 1.0) for t in range(300) for j in range(n)]
st("acts.safetensors", [("acts", [300, n], X)])
PY
"$HS" accumulate --tensor acts -o h.qh acts.safetensors
"$Q" --tensor layers.0.mlp.up_proj.weight --hessian h.qh --seed 9 -o out.safetensors --json w.safetensors > r.json
"$Q" --tensor layers.0.mlp.up_proj.weight --hessian h.qh --seed 9 -o out2.safetensors w.safetensors > r.txt
cmp out.safetensors out2.safetensors
grep -q 'mu(W):' r.txt
python3 - <<'PY'
import json, struct
def load(path):
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; hdr = json.loads(b[8:8 + n]); out = {}
    for k, v in hdr.items():
        if k == "__metadata__": continue
        s, e = v["data_offsets"]; fmt = {"F32": "f", "F64": "d"}[v["dtype"]]
        raw = b[8 + n + s: 8 + n + e]; out[k] = (v["shape"], struct.unpack("<%d%s" % (len(raw) // struct.calcsize(fmt), fmt), raw))
    return out, hdr.get("__metadata__", {})
r = json.load(open("r.json"))
assert r["m"] == 48 and r["n"] == 80 and r["k_m"] == 12 and r["k_n"] == 20, r
assert r["mu_w_after"] < r["mu_w_before"] / 3, r
assert r["mu_h_after"] < 0.7 * r["mu_h_before"], r
o, meta = load("out.safetensors"); w, _ = load("w.safetensors"); a, _ = load("acts.safetensors")
assert meta["qtip.seed"] == "9", meta
m, n = 48, 80
W = w["layers.0.mlp.up_proj.weight"][1]; Wr = o["layers.0.mlp.up_proj.weight"][1]
Hr = o["hessian"][1]; SU = o["SU"][1]; SV = o["SV"][1]
assert all(s in (1.0, -1.0) for s in SU + SV) and len(SU) == n and len(SV) == m
X = a["acts"][1]; T = 300
H = [[sum(X[t * n + i] * X[t * n + j] for t in range(T)) / T for j in range(n)] for i in range(n)]
def proxy(W, H):
    return sum(W[i * n + p] * sum(H[p][q] * W[i * n + q] for q in range(n)) for i in range(m) for p in range(n))
Hr2 = [[Hr[i * n + j] for j in range(n)] for i in range(n)]
p0, p1 = proxy(W, H), proxy(Wr, Hr2)
assert abs(p0 - p1) < 1e-4 * abs(p0), (p0, p1)
# Frobenius norms preserved (orthogonal maps)
f0 = sum(x * x for x in W); f1 = sum(x * x for x in Wr)
assert abs(f0 - f1) < 1e-5 * f0, (f0, f1)
print("ok", r["mu_w_before"], r["mu_w_after"], r["mu_h_before"], r["mu_h_after"])
PY
