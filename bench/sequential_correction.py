#!/usr/bin/env python3
"""An experiment, not a pipeline stage: does quantizing block by block with
error correction lower a causal LM's loss from quantization?

For each decoder block in order, and each of its four input sites in forward
order, the site's inputs are taken twice on the calibration windows: x from the
original model, x~ from the model whose earlier layers are already quantized.
Each linear W of the site is then quantized (qtip-quantize, the settings given)
as W' = W + W (C - H)(H + lam I)^-1 with H = sum x~ x~^T (the Hessian, through
qtip-hessian accumulate) and C = sum x x~^T: the least-squares weight for
W x ~ W' x~ pulled toward W (lam = 0.01 mean diag H), so the layer also
corrects the error of the layers before it (the idea of GPTQ's sequential mode
and of asymmetric calibration). The quantized weight replaces W in the second
model before the next site is captured.

Writes OUT/layers/<prefix>.safetensors (layer artifacts, for qtip-pack or for
comparing a model with its first blocks replaced) and OUT/log.jsonl (per layer:
proxy loss against W', the relative output error against the original,
||W x - W^ x~||^2 / ||W x||^2, and the size of the correction).

  bench/sequential_correction.py MODEL_DIR CALIB.txt SETTINGS.json OUT [--blocks N]
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
from qtip.capture_text import read_tokens, choose_windows  # noqa: E402

SITES = (('self_attn.q_proj', ('self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj')),
         ('self_attn.o_proj', ('self_attn.o_proj',)),
         ('mlp.gate_proj', ('mlp.gate_proj', 'mlp.up_proj')),
         ('mlp.down_proj', ('mlp.down_proj',)))


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit('%s\n%s' % (' '.join(cmd), r.stderr))
    return r.stdout


class Blocks:
    """Decoder blocks driven one at a time on [windows, ctx, hidden] states
    (eager attention needs the causal mask given)."""

    def __init__(self, model, ctx):
        self.pos = torch.arange(ctx)[None]
        self.mask = torch.full((ctx, ctx), torch.finfo(torch.float32).min).triu(1)[None, None]
        self.model = model

    def embed(self, ids):
        h = self.model.model.embed_tokens(ids)
        self.pe = self.model.model.rotary_emb(h, self.pos)
        return h

    def forward(self, block, h, sites=()):
        got = {n: [] for n in sites}
        hooks = [block.get_submodule(n).register_forward_pre_hook(
            lambda m, a, n=n: got[n].append(a[0].reshape(-1, a[0].shape[-1]).clone())) for n in sites]
        out = torch.cat([block(h[i:i + 4], attention_mask=self.mask, position_ids=self.pos,
                               position_embeddings=self.pe)[0] for i in range(0, h.shape[0], 4)])
        for k in hooks:
            k.remove()
        return out, {n: torch.cat(v).double() for n, v in got.items()}


def corrected(W, H, C):
    n = H.shape[0]
    A = H + 0.01 * H.diagonal().mean() * torch.eye(n, dtype=torch.float64)
    return W + torch.linalg.solve(A, (C - H).T @ W.T).T


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('model'), ap.add_argument('calib'), ap.add_argument('settings'), ap.add_argument('out')
    ap.add_argument('--bin', default=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'build'))
    ap.add_argument('--windows', type=int, default=16)
    ap.add_argument('--ctx', type=int, default=512)
    ap.add_argument('--blocks', type=int, default=1 << 30, help='stop after this many blocks')
    ap.add_argument('--no-correction', action='store_true', help='sequential Hessians only: W\' = W')
    a = ap.parse_args()
    from safetensors.torch import load_file, save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer
    os.makedirs(os.path.join(a.out, 'layers'), exist_ok=True)
    tmp = os.path.join(a.out, 'tmp')
    os.makedirs(tmp, exist_ok=True)
    tokens, _ = read_tokens(AutoTokenizer.from_pretrained(a.model), [a.calib], False)
    ids = torch.stack([torch.from_numpy(tokens[s:s + a.ctx].astype(np.int64))
                       for s in choose_windows(len(tokens), a.windows, a.ctx, 0)])
    orig = AutoModelForCausalLM.from_pretrained(a.model, torch_dtype=torch.float32).eval()
    quant = copy.deepcopy(orig)
    drv = Blocks(orig, a.ctx)

    def quantize(prefix, wfile, hfile):
        art = os.path.join(a.out, 'layers', prefix + '.safetensors')
        rep = json.loads(run([os.path.join(a.bin, 'qtip-quantize'), '--no-progress', '--json', '--threads',
                              '1', '--tensor', prefix, '--config', a.settings, '-o', art, '--hessian',
                              hfile, wfile]))
        deq = os.path.join(tmp, prefix + '.deq.safetensors')
        run([os.path.join(a.bin, 'qtip-verify'), '-q', '--artifact', art, '--dequantize', deq, '--dtype', 'f32'])
        w = next(iter(load_file(deq).values()))
        os.remove(deq)
        return prefix, rep, w

    log, t0 = open(os.path.join(a.out, 'log.jsonl'), 'a'), time.time()
    with torch.no_grad():
        h_o = drv.embed(ids)
        h_q = h_o.clone()
        for b, (ob, qb) in enumerate(zip(orig.model.layers, quant.model.layers)):
            if b >= a.blocks:
                break
            h_o_next, X_o = drv.forward(ob, h_o, [s for s, _ in SITES])
            for site, members in SITES:
                Xq = drv.forward(qb, h_q, [site])[1][site]
                Xo = X_o[site]
                raw, hfile = os.path.join(tmp, 'x.f32'), os.path.join(tmp, 'H.safetensors')
                Xq.float().numpy().tofile(raw)
                run([os.path.join(a.bin, 'qtip-hessian'), 'accumulate', '-q', '--no-progress', '--site',
                     'model.layers.%d.%s' % (b, site), '--dim', str(Xq.shape[1]), '--dtype', 'f32',
                     '-o', hfile, raw])
                H, C = Xq.T @ Xq, Xo.T @ Xq
                ws = {}
                for m in members:
                    W = ob.get_submodule(m).weight.double()
                    ws['model.layers.%d.%s.weight' % (b, m)] = (
                        W if a.no_correction else corrected(W, H, C)).float().contiguous()
                wfile = os.path.join(tmp, 'W.safetensors')
                save_file(ws, wfile)
                with ThreadPoolExecutor(2) as pool:
                    done = list(pool.map(lambda k: quantize(k[:-len('.weight')], wfile, hfile), ws))
                for prefix, rep, w in done:
                    name = prefix.split('.', 3)[3]
                    qb.get_submodule(name).weight.copy_(w)
                    wo = ob.get_submodule(name).weight.double()
                    ref = Xo @ wo.T
                    rec = {'layer': prefix, 'proxy_loss': rep.get('proxy_loss'),
                           'rel_output_error': float(((ref - Xq @ w.double().T) ** 2).sum() / ref.pow(2).sum()),
                           'correction': float((ws[prefix + '.weight'].double() - wo).norm() / wo.norm()),
                           'seconds': round(time.time() - t0, 1)}
                    print(json.dumps(rec), flush=True)
                    log.write(json.dumps(rec) + '\n')
                    log.flush()
            h_q, _ = drv.forward(qb, h_q)
            h_o = h_o_next


if __name__ == '__main__':
    main()
