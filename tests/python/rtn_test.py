#!/usr/bin/env python3
"""The round-to-nearest baseline (python/qtip/rtn.py, qtip-eval --rtn-bits).

  rtn_test.py unit        fake_quantize equals an independent numpy computation
                          (float64, a loop per row and group) for 2/3/4/8 bits, groups
                          of 128 over 300 inputs (a short last group) and a constant
                          group; apply() on a tiny Llama replaces exactly the seven
                          linears per block and leaves embeddings and head alone
  rtn_test.py eval  WORK  on the driver test's tiny model (WORK: its fixture):
                          qtip-eval --rtn-bits 4 scores what a saved round-to-nearest
                          copy scores (relative 1e-6), and KL to the original falls
                          from 2 to 3 to 4 bits
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(REPO, 'python'))
os.environ.setdefault('HF_HUB_OFFLINE', '1')

import torch  # noqa: E402
from qtip import rtn  # noqa: E402


def numpy_rtn(w, bits, group):
    """The definition, one row and group at a time."""
    w = np.asarray(w, dtype=np.float64)
    out = np.empty_like(w)
    levels = 2 ** bits - 1
    for r in range(w.shape[0]):
        for j in range(0, w.shape[1], group):
            g = w[r, j:j + group]
            lo, hi = g.min(), g.max()
            if hi == lo:
                out[r, j:j + group] = lo
                continue
            s = (hi - lo) / levels
            q = np.clip(np.round((g - lo) / s), 0, levels)
            out[r, j:j + group] = lo + s * q
    return out


def unit(_work=None):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((7, 300)).astype(np.float32)
    w[3, 128:256] = 0.25  # a constant group
    for bits in (2, 3, 4, 8):
        got = rtn.fake_quantize(torch.from_numpy(w), bits, 128).numpy()
        want = numpy_rtn(w, bits, 128).astype(np.float32)
        assert np.array_equal(got, want), (bits, np.abs(got - want).max())
        for r in range(7):
            for j in range(0, 300, 128):
                assert len(np.unique(got[r, j:j + 128])) <= 2 ** bits
    assert np.all(got[3, 128:256] == np.float32(0.25))
    print('fake_quantize equals numpy for 2, 3, 4, 8 bits; 4-bit rel error %.4f'
          % (np.linalg.norm(rtn.fake_quantize(torch.from_numpy(w), 4, 128).numpy() - w)
             / np.linalg.norm(w)))
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    m = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=96,
                                     num_hidden_layers=2, num_attention_heads=4,
                                     num_key_value_heads=2, tie_word_embeddings=False))
    before = {k: v.clone() for k, v in m.state_dict().items()}
    names = rtn.apply(m, 3, 32)
    assert len(names) == 14, names
    after = m.state_dict()
    for k, v in before.items():
        if k[:-len('.weight')] in names:
            want = numpy_rtn(v.numpy(), 3, 32).astype(np.float32)
            assert np.array_equal(after[k].numpy(), want), k
        else:
            assert torch.equal(after[k], v), '%s changed' % k
    print('apply: the 14 linears of 2 blocks replaced, embeddings, norms and head unchanged')


def qtip_eval(*args):
    p = subprocess.run([os.path.join(REPO, 'scripts', 'qtip-eval'), *args, '--json'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def eval_(work):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    model, text = work + '/model', work + '/text.txt'
    common = ['--text', text, '--ctx', '32', '--windows', '3', '--threads', '2']
    kl = {}
    for bits in (2, 3, 4):
        out = qtip_eval(model, '--reference', model, '--rtn-bits', str(bits), '--rtn-group', '32',
                        *common)
        assert out['rtn'] == {'bits': bits, 'group': 32, 'bits_per_weight': bits + 1.0}, out['rtn']
        kl[bits] = out['kl_mean']
    print('KL to the original: 2-bit %.5f, 3-bit %.5f, 4-bit %.5f' % (kl[2], kl[3], kl[4]))
    assert kl[2] > kl[3] > kl[4] > 0
    with tempfile.TemporaryDirectory() as d:
        m = AutoModelForCausalLM.from_pretrained(model, torch_dtype=torch.float32)
        rtn.apply(m, 4, 32)
        m.save_pretrained(d, safe_serialization=True)
        AutoTokenizer.from_pretrained(model).save_pretrained(d)
        saved = qtip_eval(d, *common)['perplexity']
    got = qtip_eval(model, '--rtn-bits', '4', '--rtn-group', '32', *common)['perplexity']
    print('4-bit perplexity: --rtn-bits %.6f, saved copy %.6f' % (got, saved))
    assert abs(got - saved) <= 1e-6 * saved


if __name__ == '__main__':
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '2')))
    {'unit': unit, 'eval': eval_}[sys.argv[1]](*sys.argv[2:])
