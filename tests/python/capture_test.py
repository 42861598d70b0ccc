#!/usr/bin/env python3
"""Calibration capture (calib/capture.py) on a tiny random Llama.

  capture_test.py setup   WORK  a tiny random Llama (transformers) with a small
                                BPE tokenizer trained on the fixture text; a GPT-2
  capture_test.py hessian WORK  one capture job; every site's Hessian equals an
                                independent numpy X^T X of the same activations
                                (own hooks on all seven linears, own tokenization
                                and windows from the provenance); q/k/v and
                                gate/up files are one inode
  capture_test.py shards  WORK  shards 0/2 (several passes: a tiny memory budget)
                                and 1/2, merged, equal the one job
  capture_test.py refuse  WORK  a GPT-2 directory is refused naming what is missing

QTIP_BIN: the build directory holding qtip-hessian. Tolerance: fp64 rounding,
|S - S_ref| <= 1e-12 * sqrt(S_ii * S_jj) (the C tool sums blocks with dsyrk,
numpy with one gemm: the order differs, nothing else).
"""
import json
import os
import shutil
import subprocess
import sys

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURE = os.path.join(HERE, '..', '..', 'calib', 'capture.py')
TEXT = os.path.join(HERE, 'fixtures', 'calib.txt')
WINDOWS, CTX = 6, 48
LINEARS = ('self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj',
           'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj')
SHARED = {'self_attn.k_proj': 'self_attn.q_proj', 'self_attn.v_proj': 'self_attn.q_proj',
          'mlp.up_proj': 'mlp.gate_proj'}


def setup(work):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM,
                              PreTrainedTokenizerFast)
    shutil.rmtree(work, ignore_errors=True)
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train([TEXT], trainers.BpeTrainer(vocab_size=320, special_tokens=['<s>'],
                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token='<s>')
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=96,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=128, tie_word_embeddings=True)
    LlamaForCausalLM(cfg).eval().save_pretrained(work + '/llama', safe_serialization=True)
    tok.save_pretrained(work + '/llama')
    gpt = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32,
                                     n_layer=1, n_head=2))
    gpt.save_pretrained(work + '/gpt2', safe_serialization=True)
    tok.save_pretrained(work + '/gpt2')


def capture(work, out, *extra):
    r = subprocess.run([sys.executable, CAPTURE, 'capture', '--model', work + '/llama',
                        '-o', out, '--windows', str(WINDOWS), '--ctx', str(CTX), '--seed', '3',
                        '--threads', '1', '--json', *extra, TEXT],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def load_hessian(path):
    from safetensors.numpy import load_file
    t = load_file(path)
    return int(t['count']), t['sum_x'], t['sum_xxT_tril']


def assert_fp64_close(tril, ref, what):
    n = ref.shape[0]
    ii, jj = np.tril_indices(n)
    d = np.diag(ref)
    scale = np.sqrt(d[ii] * d[jj]) + 1e-300
    err = float(np.max(np.abs(tril - ref[ii, jj]) / scale))
    assert err <= 1e-12, '%s: relative difference %.3g > 1e-12' % (what, err)


def reference_activations(work, prov):
    """Per linear prefix: the stacked fp32 inputs, from our own hooks."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    torch.set_num_threads(1)
    model = AutoModelForCausalLM.from_pretrained(work + '/llama', torch_dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(work + '/llama')
    with open(TEXT, encoding='utf-8') as f:
        ids = np.asarray(tok(f.read(), add_special_tokens=False)['input_ids'], np.int64)
    assert prov['text']['tokens'] == len(ids), 'token count differs from one tokenization'
    acts, hooks = {}, []
    for i in range(len(model.model.layers)):
        for path in LINEARS:
            name = 'model.layers.%d.%s' % (i, path)
            acts[name] = []
            hooks.append(model.get_submodule(name).register_forward_pre_hook(
                lambda m, inp, name=name: acts[name].append(
                    inp[0].detach().reshape(-1, inp[0].shape[-1]).numpy().copy())))
    with torch.no_grad():
        for s in prov['windows']['starts']:
            assert 0 <= s and s + CTX <= len(ids) and s % CTX == 0
            model(input_ids=torch.from_numpy(ids[s:s + CTX])[None], use_cache=False)
    return {k: np.concatenate(v) for k, v in acts.items()}


def hessian(work):
    out = work + '/one'
    summary = capture(work, out)
    with open(out + '/capture.json') as f:
        prov = json.load(f)
    starts = prov['windows']['starts']
    assert len(starts) == WINDOWS == len(set(starts)) and summary['tokens'] == WINDOWS * CTX
    acts = reference_activations(work, prov)
    for prefix, x in acts.items():
        path = '%s/%s.safetensors' % (out, prefix)
        layer, _, sub = prefix.partition('.layers.')[2].partition('.')
        if sub in SHARED:
            first = 'model.layers.%s.%s' % (layer, SHARED[sub])
            assert np.array_equal(x, acts[first]), prefix + ': input differs from ' + first
            assert os.stat(path).st_ino == os.stat('%s/%s.safetensors' % (out, first)).st_ino, \
                prefix + ': not a hard link of ' + first
        count, sx, tril = load_hessian(path)
        x64 = x.astype(np.float64)
        assert count == x.shape[0] == WINDOWS * CTX, (prefix, count)
        assert np.allclose(sx, x64.sum(0), rtol=1e-12, atol=1e-12 * np.abs(x64).sum(0).max())
        assert_fp64_close(tril, x64.T @ x64, prefix)
    print('hessian: %d linears match numpy X^T X' % len(acts))


def shards(work):
    one = work + '/one'
    if not os.path.isdir(one):
        capture(work, one)
    s0 = capture(work, work + '/s0', '--shard', '0/2', '--max-accumulator-memory', '200K')
    capture(work, work + '/s1', '--shard', '1/2')
    assert s0['passes'] > 1, 'the tiny budget should force several passes'
    r = subprocess.run([sys.executable, CAPTURE, 'merge', '-o', work + '/merged',
                        work + '/s0', work + '/s1'], stderr=subprocess.PIPE, text=True)
    assert r.returncode == 0, r.stderr
    with open(one + '/capture.json') as f:
        prov = json.load(f)
    with open(work + '/merged/capture.json') as f:
        merged = json.load(f)
    assert merged['windows']['starts'] == prov['windows']['starts'] and merged['windows']['complete']
    for site in prov['sites']:
        c1, x1, t1 = load_hessian('%s/%s' % (one, site['file']))
        c2, x2, t2 = load_hessian('%s/merged/%s' % (work, site['file']))
        assert c1 == c2, site
        n = site['dim']
        full = np.zeros((n, n))
        full[np.tril_indices(n)] = t1
        full = full + np.tril(full, -1).T
        assert_fp64_close(t2, full, 'merged ' + site['site'])
        assert np.allclose(x1, x2, rtol=1e-12, atol=1e-12 * np.abs(x1).max())
        for m in site['members'][1:]:
            assert os.stat('%s/merged/%s.safetensors' % (work, m)).st_ino == \
                os.stat('%s/merged/%s' % (work, site['file'])).st_ino
    print('shards: 2 shards merged equal one job (%d sites)' % len(prov['sites']))


def refuse(work):
    r = subprocess.run([sys.executable, CAPTURE, 'capture', '--model', work + '/gpt2', '-o',
                        work + '/gpt2-out', '--windows', '1', '--ctx', '8', TEXT],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 1, (r.returncode, r.stderr)
    msg = r.stderr.strip().splitlines()[-1]
    for want in ("model_type 'gpt2'", 'missing model.layers', 'self_attn.q_proj', 'mlp.down_proj'):
        assert want in msg, 'refusal does not say %r: %s' % (want, msg)
    assert not os.path.exists(work + '/gpt2-out')
    print('refuse: ' + msg)


if __name__ == '__main__':
    {'setup': setup, 'hessian': hessian, 'shards': shards, 'refuse': refuse}[sys.argv[1]](sys.argv[2])
