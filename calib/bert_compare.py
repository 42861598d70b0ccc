#!/usr/bin/env python3
"""bert_compare.py — how close a quantized BERT encoder is to the original.

Embeds a fixed set of held-out sentences (below; not the calibration text) with
both models the way sentence-transformers' all-MiniLM-L6-v2 does (mean pooling
over tokens, L2 normalisation), in float32 numpy, and reports:

  - cosine similarity between each sentence's original and quantized embedding
    (mean and minimum),
  - the Pearson correlation between the two models' sentence-to-sentence
    similarity matrices (off-diagonal), i.e. whether the quantized model still
    ranks pairs of sentences alike,
  - nearest-neighbour agreement: for how many sentences the most similar other
    sentence is the same under both models.

With --rtn BITS[,BITS...] it also scores, in the same run, the usual baseline:
round-to-nearest of every encoder linear, asymmetric min/max per group of 128
input weights (BITS + 0.25 bits per weight counting an fp16 scale and offset).

usage: bert_compare.py ORIGINAL_DIR QUANTIZED_DIR [--rtn 2,3,4] [--json]
QUANTIZED_DIR is a plain model directory, e.g. from `qtip-verify --dequantize`.
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_capture import forward_capture, load_safetensors, tokenize  # noqa: E402

SENTENCES = [
    "The cat sat quietly on the warm windowsill.",
    "A kitten was resting by the sunny window.",
    "Stock markets fell sharply after the interest rate announcement.",
    "Shares dropped when the central bank raised rates.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Mix the flour with salt before adding the eggs.",
    "The spacecraft entered orbit around Mars after a seven-month journey.",
    "A probe reached the red planet and began circling it.",
    "He forgot his umbrella and got soaked on the way home.",
    "She was drenched because she left her umbrella at work.",
    "The new library opens to the public next Monday.",
    "Doctors recommend at least seven hours of sleep each night.",
    "Getting enough sleep is important for your health.",
    "The football match was postponed because of heavy snow.",
    "Snowfall forced the game to be rescheduled.",
    "Python is a popular programming language for data science.",
    "Many data analysts write their code in Python.",
    "The river flooded the village after days of rain.",
    "Volunteers planted hundreds of trees in the city park.",
    "The orchestra performed a symphony by Beethoven.",
    "A violinist played Bach at the concert hall.",
    "The museum displays ancient pottery from Greece.",
    "Electric cars are becoming cheaper every year.",
    "Battery prices keep falling, making EVs more affordable.",
    "The password must contain at least eight characters.",
    "Quantum computers use qubits instead of classical bits.",
    "The bakery on the corner sells fresh bread every morning.",
    "My grandmother tells wonderful stories about her childhood.",
    "The mountain trail was closed after a rockslide.",
    "Hikers were turned back because the path was blocked by rocks.",
    "The company reported record profits this quarter.",
    "Profits reached an all-time high in the latest results.",
]


def rtn(W0, bits, group=128):
    """Round-to-nearest baseline: asymmetric min/max per group of `group` inputs."""
    W = dict(W0)
    q = 2 ** bits - 1
    for k, v in W0.items():
        if k.startswith("encoder.layer") and k.endswith(".weight") and v.ndim == 2:
            m, n = v.shape
            x = v.astype(np.float32).reshape(m, n // group, group)
            lo, hi = x.min(-1, keepdims=True), x.max(-1, keepdims=True)
            s = (hi - lo) / q
            s[s == 0] = 1
            W[k] = (np.round((x - lo) / s) * s + lo).reshape(m, n)
    return W


def embed(model_dir, cfg, vocab, W=None):
    if W is None:
        W = load_safetensors(os.path.join(model_dir, "model.safetensors"))
    out = []
    for s in SENTENCES:
        ids = [vocab["[CLS]"]] + tokenize(s, vocab) + [vocab["[SEP]"]]
        h = forward_capture(W, cfg, ids, lambda name, x: None)
        e = h.mean(0)
        out.append(e / np.linalg.norm(e))
    return np.stack(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("original")
    ap.add_argument("quantized")
    ap.add_argument("--rtn", default="", help="also score round-to-nearest at these bit widths")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    cfg = json.load(open(os.path.join(a.original, "config.json")))
    vocab = {}
    with open(os.path.join(a.original, "vocab.txt"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab[line.rstrip("\n")] = i
    E0 = embed(a.original, cfg, vocab)
    E1 = embed(a.quantized, cfg, vocab)
    baselines = {}
    if a.rtn:
        W0 = load_safetensors(os.path.join(a.original, "model.safetensors"))
        for b in (int(x) for x in a.rtn.split(",")):
            Eb = embed(None, cfg, vocab, rtn(W0, b))
            baselines[f"rtn{b}_g128"] = float((E0 * Eb).sum(1).mean())
    cos = (E0 * E1).sum(1)
    S0, S1 = E0 @ E0.T, E1 @ E1.T
    off = ~np.eye(len(SENTENCES), dtype=bool)
    corr = float(np.corrcoef(S0[off], S1[off])[0, 1])
    nn0 = np.where(off, S0, -2).argmax(1)
    nn1 = np.where(off, S1, -2).argmax(1)
    agree = int((nn0 == nn1).sum())
    r = {"sentences": len(SENTENCES), "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min()),
         "similarity_correlation": corr, "nearest_neighbour_agreement": agree,
         "baseline_cosine_mean": baselines}
    if a.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"{len(SENTENCES)} held-out sentences, original vs quantized embeddings:")
        print(f"  cosine similarity         mean {r['cosine_mean']:.4f}  min {r['cosine_min']:.4f}")
        print(f"  similarity-matrix corr.   {corr:.4f}")
        print(f"  nearest neighbour agrees  {agree}/{len(SENTENCES)}")
        for k, v in baselines.items():
            b = int(k[3])
            print(f"  baseline: round-to-nearest {b}-bit, groups of 128 ({b + 0.25:.2f} bits/weight): "
                  f"cosine mean {v:.4f}")


if __name__ == "__main__":
    main()
