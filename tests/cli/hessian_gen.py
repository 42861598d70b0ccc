#!/usr/bin/env python3
"""Test data for the hessian_*.sh CLI tests (Python standard library only).

  hessian_gen.py npy OUT ROWS N SEED [NAN_ROW]   f32 .npy of shape (ROWS//4, 4, N)... (3-D when ROWS % 4 == 0)
  hessian_gen.py raw16 OUT ROWS N SEED           raw f16 rows
  hessian_gen.py st OUT ROWS N SEED              safetensors with tensors 'other' and 'acts' (f32)
  hessian_gen.py ref OUT.json FILE...            exact sums (math.fsum) of the rows those files hold
  hessian_gen.py cmp FULL.safetensors REF.json   export --full --dtype f64 vs the reference, rel 1e-12
Rows are correlated (rank 2 + small noise, one outlier channel x100) and regenerated
from (ROWS, N, SEED), so `ref` can rebuild them from the file names' recorded params.
"""
import json, math, random, struct, sys

def rows(nrows, n, seed, nan_row=-1):
    rng = random.Random(seed)
    u = [[rng.gauss(0, 1) for _ in range(2)] for _ in range(n)]
    out = []
    for t in range(nrows):
        z = [rng.gauss(0, 1), 3 * rng.gauss(0, 1)]
        r = []
        for j in range(n):
            v = 0.5 + u[j][0] * z[0] + u[j][1] * z[1] + 1e-3 * rng.gauss(0, 1)
            if j == 1:
                v *= 100.0
            r.append(struct.unpack('<f', struct.pack('<f', v))[0])
        if t == nan_row:
            r[n // 2] = float('nan')
        out.append(r)
    return out

def f16(rs):
    return [[struct.unpack('<e', struct.pack('<e', v))[0] for v in r] for r in rs]

def npy_bytes(shape, data):
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    pad = 64 - (10 + len(hdr) + 1) % 64
    hdr = hdr + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack('<H', len(hdr)) + hdr.encode() + data

def main():
    cmd = sys.argv[1]
    if cmd in ("npy", "raw16", "st"):
        out, nrows, n, seed = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        nan_row = int(sys.argv[6]) if len(sys.argv) > 6 else -1
        rs = rows(nrows, n, seed, nan_row)
        if cmd == "npy":
            data = b"".join(struct.pack('<%df' % n, *r) for r in rs)
            shape = (nrows // 4, 4, n) if nrows % 4 == 0 else (nrows, n)
            open(out, "wb").write(npy_bytes(shape, data))
        elif cmd == "raw16":
            open(out, "wb").write(b"".join(struct.pack('<%de' % n, *r) for r in rs))
        else:
            data = b"".join(struct.pack('<%df' % n, *r) for r in rs)
            other = struct.pack('<4f', 1, 2, 3, 4)
            hdr = {"__metadata__": {"source": "test"},
                   "other": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                   "acts": {"dtype": "F32", "shape": [nrows, n], "data_offsets": [16, 16 + len(data)]}}
            h = json.dumps(hdr).encode()
            h += b" " * ((8 - len(h) % 8) % 8)
            open(out, "wb").write(struct.pack('<Q', len(h)) + h + other + data)
    elif cmd == "ref":
        # args: OUT.json then groups "kind:rows:n:seed"
        out, specs = sys.argv[2], sys.argv[3:]
        allrows = []
        for s in specs:
            kind, nrows, n, seed = s.split(":")
            rs = rows(int(nrows), int(n), int(seed))
            allrows += f16(rs) if kind == "raw16" else rs
        n = len(allrows[0])
        S = [[math.fsum(r[i] * r[j] for r in allrows) for j in range(n)] for i in range(n)]
        json.dump({"n": n, "count": len(allrows), "S": S}, open(out, "w"))
    elif cmd == "cmp":
        b = open(sys.argv[2], "rb").read()
        hl = struct.unpack('<Q', b[:8])[0]
        hdr = json.loads(b[8:8 + hl])
        ref = json.load(open(sys.argv[3]))
        n, ct = ref["n"], ref["count"]
        t = hdr["H"]
        assert t["dtype"] == "F64" and t["shape"] == [n, n], t
        a, e = t["data_offsets"]
        H = struct.unpack('<%dd' % (n * n), b[8 + hl + a:8 + hl + e])
        ctv = struct.unpack('<q', b[8 + hl + hdr["ct"]["data_offsets"][0]:][:8])[0]
        assert ctv == ct, (ctv, ct)
        S = ref["S"]
        worst = max(abs(H[i * n + j] - S[i][j] / ct) / math.sqrt(S[i][i] * S[j][j]) * ct
                    for i in range(n) for j in range(n))
        print("max relative error %.3g" % worst)
        sys.exit(0 if worst <= 1e-12 else 1)

main()
