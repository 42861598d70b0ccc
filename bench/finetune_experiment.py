#!/usr/bin/env python3
"""An experiment, not a pipeline stage yet: fine-tune the continuous parameters
of a packed model with its codes fixed, as the references do after quantizing
(qtip.md, quipsharp.md: fine-tuning), and score it before and after.

Trained: every QTIPLinear's SU and SV (the sign vectors, as real vectors) and
the RMSNorm weights, by Adam on the mean KL divergence of the next-token
distributions to the original model over the calibration windows (the capture's
windows: same text, count, context and seed 0), one window per step. Scored:
qtip.eval's perplexity, KL and top-1 on the first held-out windows. Nothing is
written: the packed format's SU/SV are exact signs today (docs/formats), so a
fine-tuned checkpoint needs that rule relaxed first.

  bench/finetune_experiment.py ORIGINAL_HF PACKED CALIB.txt EVAL.txt [--epochs 2] [--lr 2e-4]
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
from qtip.capture_text import choose_windows, read_tokens  # noqa: E402
from qtip.eval import score, windows  # noqa: E402
from qtip.linear import QTIPLinear  # noqa: E402
from qtip.model import load_causal_lm  # noqa: E402


def trainable(model, signs, norms):
    """Freeze everything, then open SU/SV (signs) and the norm weights (norms)."""
    for p in model.parameters():
        p.requires_grad_(False)
    out = []
    for mod in model.modules():
        if signs and isinstance(mod, QTIPLinear):
            for name in ('SU', 'SV'):
                out.append(getattr(mod, name).requires_grad_(True))
    if norms:
        out += [p.requires_grad_(True) for n, p in model.named_parameters() if 'norm' in n]
    return out


def report(tag, model, ref, win):
    with torch.no_grad():
        acc = score(model, ref, win)
    n = acc['tokens']
    print('%s: perplexity %.4f (original %.4f), KL %.5f, top-1 %.4f' % (
        tag, math.exp(acc['nll'] / n), math.exp(acc['ref_nll'] / n), acc['kl'] / n, acc['top1'] / n),
        flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('original'), ap.add_argument('packed'), ap.add_argument('calib'), ap.add_argument('eval')
    ap.add_argument('--windows', type=int, default=16)
    ap.add_argument('--ctx', type=int, default=512)
    ap.add_argument('--eval-windows', type=int, default=8)
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--lr', type=float, default=2e-4)
    ap.add_argument('--no-signs', action='store_true')
    ap.add_argument('--no-norms', action='store_true')
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    a = ap.parse_args()
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    tokens, _ = read_tokens(AutoTokenizer.from_pretrained(a.original), [a.calib], False)
    cal = torch.stack([torch.from_numpy(tokens[s:s + a.ctx].astype(np.int64))
                       for s in choose_windows(len(tokens), a.windows, a.ctx, 0)])
    win, _ = windows(a.original, [a.eval], a.ctx, a.eval_windows, False)
    ref = AutoModelForCausalLM.from_pretrained(a.original, torch_dtype=torch.float32).eval()
    model = load_causal_lm(a.packed, cache_decoded=True)
    params = trainable(model, not a.no_signs, not a.no_norms)
    print('trained parameters: %d' % sum(p.numel() for p in params), flush=True)
    report('before', model, ref, win)
    opt = torch.optim.Adam(params, lr=a.lr)
    t0 = time.time()
    for ep in range(a.epochs):
        total = 0.0
        for i in range(cal.shape[0]):
            x = cal[i:i + 1, :-1]
            with torch.no_grad():
                lr_ = F.log_softmax(ref(x).logits[0].float(), -1)
            lq = F.log_softmax(model(x).logits[0].float(), -1)
            loss = (lr_.exp() * (lr_ - lq)).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
        print('epoch %d: calibration KL %.5f (%.0f s)' % (ep, total / cal.shape[0], time.time() - t0),
              flush=True)
    report('after', model, ref, win)


if __name__ == '__main__':
    main()
