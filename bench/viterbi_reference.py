#!/usr/bin/env python3
"""viterbi_reference.py — an independent check of qtip's trellis search.

A plain numpy implementation of the two-pass tail-biting Viterbi exactly as the
reference digest describes it (qtip.md §2.2–2.3: roll by T/2, unconstrained pass,
overlap = top L-KV bits of the state at the junction, constrained second pass),
for 1MAD at L=16, K=2, V=1 (qtip.md §1.3.1). It draws N(0,1) tiles with numpy,
runs bench_viterbi_crosscheck on the same tiles, and compares:

  - per tile, the C distortion against this implementation's (first --compare tiles),
  - the mean distortion of 1MAD, 3INST and HYB over all tiles, with standard errors.

usage: viterbi_reference.py <build-dir> [--tiles 4096] [--compare 16] [--seed 2024]
"""
import argparse
import os
import subprocess
import tempfile

import numpy as np

L, K, V, T = 16, 2, 1, 256
G = 1 << (L - K * V)
S = np.arange(1 << L, dtype=np.uint64)
_x = (S * 34038481 + 76625530) & 0xFFFFFFFF
_y = sum(((_x >> (8 * i)) & 255).astype(np.int64) for i in range(4)) - 510
LUT = (_y.astype(np.float32) / np.float32(147.800537109375)).astype(np.float64)


def viterbi(X, overlap=None):
    n = T // V
    cost = (LUT - X[0]) ** 2
    if overlap is not None:
        cost = np.where((S >> K) == overlap, cost, np.inf)
    bp = np.zeros((n, G), dtype=np.int64)
    for i in range(1, n):
        c = cost.reshape(1 << (K * V), G)  # predecessors of group j: j + (k << (L-KV))
        k = c.argmin(0)
        bp[i] = k
        cost = (LUT - X[i]) ** 2 + np.repeat(c[k, np.arange(G)], 1 << (K * V))
    if overlap is not None:
        cost = np.where((S & (G - 1)) == overlap, cost, np.inf)
    s = int(cost.argmin())
    total = cost[s]
    states = [s]
    for i in range(n - 1, 0, -1):
        j = s >> (K * V)
        s = j + (int(bp[i][j]) << (L - K * V))
        states.append(s)
    return states[::-1], total


def two_pass(x):
    st1, _ = viterbi(np.roll(x, T // 2))
    st, total = viterbi(x, st1[T // 2] >> K)
    assert (st[-1] & (G - 1)) == (st[0] >> K), "not a circular stream"
    return total / T


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--tiles", type=int, default=4096)
    ap.add_argument("--compare", type=int, default=16)
    ap.add_argument("--seed", type=int, default=2024)
    a = ap.parse_args()
    X = np.random.default_rng(a.seed).standard_normal((a.tiles, T)).astype(np.float32)
    exe = os.path.join(a.build, "bench", "bench_viterbi_crosscheck")
    with tempfile.NamedTemporaryFile(suffix=".f32") as f:
        X.tofile(f.name)
        res = {}
        for code in ("1mad", "3inst", "hyb"):
            out = subprocess.run([exe, code, str(a.tiles), f.name], check=True, capture_output=True, text=True)
            res[code] = np.array([float(v) for v in out.stdout.split()])
    rms1 = float(np.sqrt(np.mean(LUT ** 2)))
    py = np.array([two_pass(X[i].astype(np.float64) * np.float32(rms1)) / rms1 ** 2 for i in range(a.compare)])
    diff = np.abs(py - res["1mad"][: a.compare]).max()
    print(f"1MAD per-tile distortion, C vs numpy reference on {a.compare} identical tiles: max |diff| {diff:.2e}")
    for code, e in res.items():
        print(f"{code:6s} K=2 L=16: mean {e.mean():.5f} +- {e.std() / np.sqrt(len(e)):.5f} over {len(e)} tiles")
    if diff > 1e-6:
        raise SystemExit("MISMATCH between qtip and the numpy reference")


if __name__ == "__main__":
    main()
