#!/usr/bin/env python3
"""The original model with the linears of its first K blocks replaced by the
layer artifacts of a directory (qtip-verify --artifact --dequantize), scored
against the original on held-out windows (qtip.eval's windows and score:
perplexity, KL, top-1). Compares partial runs, e.g. bench/sequential_correction.py
against a qtip-run's OUT/layers, without quantizing the whole model.

  bench/eval_replaced_blocks.py MODEL_DIR EVAL.txt K LAYERS_DIR... [--windows 8]
"""
import argparse
import copy
import math
import os
import subprocess
import sys
import tempfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
from qtip.capture_sites import LINEAR_PATHS  # noqa: E402
from qtip.eval import score, windows  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('model'), ap.add_argument('text'), ap.add_argument('k', type=int)
    ap.add_argument('layers', nargs='+')
    ap.add_argument('--bin', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'build'))
    ap.add_argument('--windows', type=int, default=8)
    ap.add_argument('--ctx', type=int, default=512)
    a = ap.parse_args()
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM
    win, _ = windows(a.model, [a.text], a.ctx, a.windows, False)
    ref = AutoModelForCausalLM.from_pretrained(a.model, torch_dtype=torch.float32).eval()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, 'w.safetensors')
        for d in a.layers:
            m = copy.deepcopy(ref)
            for b in range(a.k):
                for path in LINEAR_PATHS:
                    p = 'model.layers.%d.%s' % (b, path)
                    subprocess.run([os.path.join(a.bin, 'qtip-verify'), '-q', '--artifact',
                                    os.path.join(d, p + '.safetensors'), '--dequantize', out,
                                    '--dtype', 'f32'], check=True)
                    with torch.no_grad():
                        m.get_submodule(p).weight.copy_(next(iter(load_file(out).values())))
            acc = score(m, ref, win)
            n = acc['tokens']
            print('first %d blocks from %s: perplexity %.4f (original %.4f), KL %.5f, top-1 %.4f'
                  % (a.k, d, math.exp(acc['nll'] / n), math.exp(acc['ref_nll'] / n), acc['kl'] / n,
                     acc['top1'] / n), flush=True)


if __name__ == '__main__':
    main()
