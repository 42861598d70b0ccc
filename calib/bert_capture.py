#!/usr/bin/env python3
"""bert_capture.py — calibration activations of a BERT-family encoder, numpy only.

Runs the encoder of a Hugging Face BERT model (e.g. all-MiniLM-L6-v2) in float32
numpy over a text, and writes, for every linear layer, the activations that
enter it as a .npy file of shape (tokens, in_features):

    OUT/<linear name>.npy      e.g. encoder.layer.0.attention.self.query.npy

q/k/v share their input, so their three files hold the same rows. These files
are what `qtip-hessian accumulate` reads. No torch, no network: the weights come
from the model directory's model.safetensors, the tokenizer from its vocab.txt.

usage: bert_capture.py MODEL_DIR OUT_DIR [--text FILE] [--max-seq 128] [--max-tokens N]

With no --text the model directory's own README.md (its model card, real English
prose) is the calibration text, so the default job needs nothing else.
"""
import argparse
import json
import math
import os
import re
import struct
import sys
import unicodedata

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        raw = np.memmap(path, dtype=np.uint8, mode="r")
        for name, info in header.items():
            if name == "__metadata__":
                continue
            if info["dtype"] == "BF16":
                a, b = info["data_offsets"]
                u16 = np.frombuffer(raw[base + a: base + b], dtype=np.uint16)
                arr = (u16.astype(np.uint32) << 16).view(np.float32)
            else:
                dt = DTYPES[info["dtype"]]
                a, b = info["data_offsets"]
                arr = np.frombuffer(raw[base + a: base + b], dtype=dt)
            out[name] = arr.reshape(info["shape"])
        return out


# --- WordPiece tokenizer (BERT uncased rules) ---------------------------------

def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def basic_tokens(text):
    text = unicodedata.normalize("NFD", text.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    out, cur = [], []
    for ch in text:
        if ch.isspace() or _is_punct(ch):
            if cur:
                out.append("".join(cur))
                cur = []
            if _is_punct(ch):
                out.append(ch)
        elif unicodedata.category(ch) in ("Cc", "Cf"):
            continue
        else:
            cur.append(ch)
    if cur:
        out.append("".join(cur))
    return out


def wordpiece(word, vocab, unk):
    if len(word) > 100:
        return [unk]
    pieces, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            sub = word[start:end] if start == 0 else "##" + word[start:end]
            if sub in vocab:
                cur = vocab[sub]
                break
            end -= 1
        if cur is None:
            return [unk]
        pieces.append(cur)
        start = end
    return pieces


def tokenize(text, vocab):
    unk = vocab["[UNK]"]
    ids = []
    for w in basic_tokens(text):
        ids.extend(wordpiece(w, vocab, unk))
    return ids


# --- encoder forward with capture -----------------------------------------------

def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def gelu(x):  # exact (erf) GELU, as BERT's "gelu"
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)).astype(np.float32))


def forward_capture(W, cfg, ids, capture):
    eps = cfg.get("layer_norm_eps", 1e-12)
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    T = len(ids)
    x = (W["embeddings.word_embeddings.weight"][ids]
         + W["embeddings.position_embeddings.weight"][:T]
         + W["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."

        def lin(name, inp):
            capture(p + name, inp)
            return inp @ W[p + name + ".weight"].T + W[p + name + ".bias"]

        q = lin("attention.self.query", x)
        k = lin("attention.self.key", x)
        v = lin("attention.self.value", x)
        d = H // nh
        q = q.reshape(T, nh, d).transpose(1, 0, 2)
        k = k.reshape(T, nh, d).transpose(1, 0, 2)
        v = v.reshape(T, nh, d).transpose(1, 0, 2)
        s = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(T, H)
        a = lin("attention.output.dense", ctx)
        x = layer_norm(a + x, W[p + "attention.output.LayerNorm.weight"],
                       W[p + "attention.output.LayerNorm.bias"], eps)
        h = gelu(lin("intermediate.dense", x))
        o = lin("output.dense", h)
        x = layer_norm(o + x, W[p + "output.LayerNorm.weight"], W[p + "output.LayerNorm.bias"], eps)
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--text", help="calibration text (default: MODEL_DIR/README.md)")
    ap.add_argument("--max-seq", type=int, default=128, help="tokens per sequence (default 128)")
    ap.add_argument("--max-tokens", type=int, default=0, help="stop after N tokens (0: all)")
    a = ap.parse_args()

    cfg = json.load(open(os.path.join(a.model_dir, "config.json")))
    if cfg.get("model_type") != "bert":
        sys.exit(f"bert_capture.py: '{a.model_dir}' is model_type {cfg.get('model_type')!r}, expected 'bert'")
    W = load_safetensors(os.path.join(a.model_dir, "model.safetensors"))
    vocab = {}
    with open(os.path.join(a.model_dir, "vocab.txt"), encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab[line.rstrip("\n")] = i
    text = open(a.text or os.path.join(a.model_dir, "README.md"), encoding="utf-8").read()
    text = re.sub(r"\A---\n.*?\n---\n", "", text, flags=re.S)  # model-card front matter
    ids = tokenize(text, vocab)
    if a.max_tokens:
        ids = ids[: a.max_tokens]
    body = a.max_seq - 2
    seqs = [[vocab["[CLS]"]] + ids[i: i + body] + [vocab["[SEP]"]] for i in range(0, len(ids), body)]

    rows = {}

    def capture(name, inp):
        rows.setdefault(name, []).append(np.ascontiguousarray(inp, dtype=np.float32))

    for s in seqs:
        forward_capture(W, cfg, s, capture)
    os.makedirs(a.out_dir, exist_ok=True)
    total = 0
    for name, parts in rows.items():
        arr = np.concatenate(parts, 0)
        total = arr.shape[0]
        tmp = os.path.join(a.out_dir, f".{name}.npy.tmp")
        with open(tmp, "wb") as f:
            np.save(f, arr)
        os.replace(tmp, os.path.join(a.out_dir, name + ".npy"))
    print(f"bert_capture.py: {len(seqs)} sequences, {total} tokens, {len(rows)} linear inputs -> {a.out_dir}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
