#!/usr/bin/env python3
"""The driver (qtip-run) and qtip-eval on a tiny random Llama.

  qtip_run_test.py setup  WORK  the model (transformers, a character tokenizer),
                                Hessians from random activations (qtip-hessian
                                accumulate; q/k/v and gate/up share one file, hard
                                links), settings with a per-layer override, and one
                                uninterrupted run with --jobs 2 (WORK/ref)
  qtip_run_test.py e2e    WORK  the reference run's summary: every linear quantized
                                with its settings, verify ok, eval present
  qtip_run_test.py resume WORK  kill -9 (the process group) after 1 and 6 layers and
                                after pack; each rerun re-quantizes only the layers
                                without a record; the final tree (outside .state/) is
                                byte-identical to WORK/ref
  qtip_run_test.py stale  WORK  a changed override re-quantizes that layer only; a
                                changed shared Hessian its three layers only
  qtip_run_test.py eval   WORK  qtip-eval's perplexity of the original and the packed
                                model equals transformers' own loss (labels = ids),
                                relative 1e-5; KL of the original to itself is 0
  qtip_run_test.py docs   WORK  every long option of qtip-run --help and of its
                                subcommands' is in docs/cmd/qtip-run.md (qtip-run is
                                a script, outside cli_help_matches_docs' QTIP_BIN)

QTIP_BIN: the build directory holding the qtip-* commands.
"""
import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
sys.path.insert(0, os.path.join(REPO, 'python'))
os.environ.setdefault('HF_HUB_OFFLINE', '1')

CONFIG = dict(vocab_size=128, hidden_size=96, intermediate_size=160, num_hidden_layers=2,
              num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64,
              tie_word_embeddings=False)
SITES = {'self_attn.q_proj': ('self_attn.k_proj', 'self_attn.v_proj'), 'self_attn.o_proj': (),
         'mlp.gate_proj': ('mlp.up_proj',), 'mlp.down_proj': ()}
SETTINGS = {'decode_mode': 'hyb', 'K': 2,
            'overrides': [{'layers': '*.mlp.down_proj', 'K': 3},
                          {'layers': 'model.layers.1.self_attn.o_proj', 'codebook': 'e8p12'}]}
N_LAYERS = 14
WORDS = ('the quick brown fox jumps over a lazy dog while seven wizards quietly '
         'judge boxing matches near the old river bank').split()


def bin_(tool):
    return os.path.join(os.environ['QTIP_BIN'], tool)


def driver_args(work, out):
    return [os.path.join(REPO, 'scripts', 'qtip-run'), work + '/model', '-o', out, '--hessians',
            work + '/hess', '--settings', work + '/settings.json', '--jobs', '2', '--threads', '2',
            '--eval-text', work + '/text.txt', '--eval-windows', '3', '--eval-ctx', '32', '--json']


def run_driver(work, out):
    p = subprocess.run(driver_args(work, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=dict(os.environ, QTIP_BIN=os.environ['QTIP_BIN']))
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def write_hessians(work, seed):
    rng = np.random.default_rng(seed)
    os.makedirs(work + '/hess', exist_ok=True)
    for b in range(CONFIG['num_hidden_layers']):
        for site, sharing in SITES.items():
            n = CONFIG['intermediate_size'] if site == 'mlp.down_proj' else CONFIG['hidden_size']
            x = rng.standard_normal((512, n)).astype(np.float32)
            x[:, 1:] += 0.5 * x[:, :-1]  # correlated inputs: a non-trivial Hessian
            pre = 'model.layers.%d.' % b
            np.save(work + '/acts.npy', x)
            h = '%s/hess/%s.safetensors' % (work, pre + site)
            tmp = h + '.new'
            subprocess.run([bin_('qtip-hessian'), 'accumulate', '-q', '--site', pre + site,
                            '-o', tmp, work + '/acts.npy'], check=True)
            os.replace(tmp, h)
            for s in sharing:
                link = '%s/hess/%s.safetensors' % (work, pre + s)
                if os.path.exists(link):
                    os.unlink(link)
                os.link(h, link)


def setup(work):
    import torch
    from tokenizers import Tokenizer, models
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**CONFIG)).save_pretrained(work + '/model', safe_serialization=True)
    # one token per ASCII character: a tokenizer the tiny vocabulary can hold
    tok = Tokenizer(models.BPE(vocab={chr(i): i for i in range(128)}, merges=[], unk_token=chr(0)))
    PreTrainedTokenizerFast(tokenizer_object=tok).save_pretrained(work + '/model')
    rng = np.random.default_rng(3)
    with open(work + '/text.txt', 'w') as f:
        f.write(' '.join(rng.choice(WORDS, 60)) + '\n')
    with open(work + '/settings.json', 'w') as f:
        json.dump(SETTINGS, f)
    write_hessians(work, 0)
    t0 = time.monotonic()
    s = run_driver(work, work + '/ref')
    print('uninterrupted run: %.1f s' % (time.monotonic() - t0))
    with open(work + '/ref.json', 'w') as f:
        json.dump(s, f)


def e2e(work):
    s = json.load(open(work + '/ref.json'))
    assert s['quantized'] == N_LAYERS and s['reused'] == 0, (s['quantized'], s['reused'])
    assert s['verify_ok'] is True
    by = {l['layer']: l for l in s['layers']}
    assert by['model.layers.0.mlp.down_proj']['bits_per_weight'] == 3.0
    assert by['model.layers.1.self_attn.o_proj']['bits_per_weight'] == 2.0
    assert by['model.layers.0.self_attn.q_proj']['bits_per_weight'] == 2.0
    assert all(0 < l['proxy_loss'] < 0.5 and l['seconds'] > 0 for l in s['layers'])
    assert {l['threads'] for l in s['layers']} == {1}, 'two jobs share 2 threads: 1 each'
    ev = s['eval']
    assert ev['windows'] == 3 and ev['packed'] and 0 <= ev['kl_mean'] and ev['top1_agreement'] <= 1
    assert sorted(os.listdir(work + '/ref')) == ['.state', 'eval.json', 'layers', 'packed', 'verify.json']
    print('per layer proxy loss:', ', '.join('%.4f' % l['proxy_loss'] for l in s['layers']))


def same_tree(a, b):
    """Every file outside .state/ is byte-identical (and the same set of files)."""
    def files(d):
        out = set()
        for root, dirs, names in os.walk(d):
            dirs[:] = [x for x in dirs if not (root == d and x == '.state')]
            out |= {os.path.relpath(os.path.join(root, n), d) for n in names}
        return out
    fa, fb = files(a), files(b)
    assert fa == fb, ('different files', sorted(fa ^ fb))
    bad = [f for f in sorted(fa) if not filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False)]
    assert not bad, ('files differ', bad)


def records(out):
    d = out + '/.state/layers'
    return sorted(n for n in os.listdir(d) if not n.endswith('.config.json') and
                  n.endswith('.json')) if os.path.isdir(d) else []


def kill_when(work, out, ready):
    """Start the driver in its own process group; SIGKILL the group once ready()."""
    p = subprocess.Popen(driver_args(work, out), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    while p.poll() is None and not ready():
        time.sleep(0.005)
    finished = p.poll() is not None
    if not finished:
        os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    return not finished


def resume(work):
    out = work + '/resumed'
    shutil.rmtree(out, ignore_errors=True)
    total_done = 0
    for label, ready in (('1 layer', lambda: len(records(out)) >= 1),
                         ('6 layers', lambda: len(records(out)) >= 6),
                         ('pack', lambda: os.path.exists(out + '/.state/pack.json'))):
        killed = kill_when(work, out, ready)
        assert killed, 'the driver finished before the kill at %s' % label
        have = len(records(out))
        assert have >= total_done
        total_done = have
        print('killed after %s: %d layer records' % (label, have))
    s = run_driver(work, out)
    assert s['quantized'] == N_LAYERS - total_done, (s['quantized'], total_done)
    assert not s['stages']['pack']['redone'], 'pack was recorded before the last kill'
    same_tree(out, work + '/ref')
    # a killed run in the middle of quantizing, then the rerun re-quantizes only
    # the layers without a record
    shutil.rmtree(out)
    assert kill_when(work, out, lambda: len(records(out)) >= 3)
    have = len(records(out))
    s = run_driver(work, out)
    redone = [l['layer'] for l in s['layers'] if l['redone']]
    assert len(redone) == N_LAYERS - have, (len(redone), have)
    same_tree(out, work + '/ref')
    print('resumed runs are byte-identical to the uninterrupted one')


def stale(work):
    out = work + '/stale'
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(work + '/ref', out)
    s = run_driver(work, out)
    assert s['quantized'] == 0 and not s['stages']['pack']['redone'], 'an unchanged rerun redoes nothing'
    settings = json.loads(json.dumps(SETTINGS))
    settings['overrides'].append({'layers': 'model.layers.1.mlp.down_proj', 'K': 4})
    w2 = work + '/stale-in'
    shutil.rmtree(w2, ignore_errors=True)
    os.makedirs(w2)
    for n in ('model', 'hess', 'text.txt'):
        os.symlink(os.path.join(work, n), os.path.join(w2, n))
    with open(w2 + '/settings.json', 'w') as f:
        json.dump(settings, f)
    s = run_driver(w2, out)
    assert [l['layer'] for l in s['layers'] if l['redone']] == ['model.layers.1.mlp.down_proj']
    assert s['stages']['pack']['redone'] and s['stages']['verify']['redone']
    # a new Hessian for block 0's q/k/v input (one file, three hard links replaced)
    os.unlink(w2 + '/hess')
    shutil.copytree(work + '/hess', w2 + '/hess', copy_function=os.link)
    import numpy as _np
    x = _np.random.default_rng(9).standard_normal((300, CONFIG['hidden_size'])).astype(_np.float32)
    _np.save(w2 + '/acts.npy', x)
    h = w2 + '/hess/model.layers.0.self_attn.q_proj.safetensors'
    for s_ in ('q_proj', 'k_proj', 'v_proj'):
        os.unlink(w2 + '/hess/model.layers.0.self_attn.%s.safetensors' % s_)
    subprocess.run([bin_('qtip-hessian'), 'accumulate', '-q', '--site', 'x', '-o', h, w2 + '/acts.npy'],
                   check=True)
    for s_ in ('k_proj', 'v_proj'):
        os.link(h, w2 + '/hess/model.layers.0.self_attn.%s.safetensors' % s_)
    s = run_driver(w2, out)
    assert sorted(l['layer'] for l in s['layers'] if l['redone']) == [
        'model.layers.0.self_attn.%s' % p for p in ('k_proj', 'q_proj', 'v_proj')], s['layers']
    print('stale layers: exactly those whose settings or Hessian changed')


def eval_(work):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from qtip import load_causal_lm
    from qtip.eval import evaluate
    torch.set_num_threads(1)
    text = open(work + '/text.txt').read()
    ids = AutoTokenizer.from_pretrained(work + '/model')(text, add_special_tokens=False)['input_ids']
    win = torch.tensor(ids[:3 * 32]).view(3, 32)
    orig = AutoModelForCausalLM.from_pretrained(work + '/model', torch_dtype=torch.float32).eval()
    packed = load_causal_lm(work + '/ref/packed')
    with torch.no_grad():
        direct = {n: float(torch.stack([m(w[None], labels=w[None]).loss for w in win]).mean().exp())
                  for n, m in (('original', orig), ('packed', packed))}
    ev = evaluate(work + '/ref/packed', [work + '/text.txt'], 32, 3, reference=work + '/model')
    same = evaluate(work + '/model', [work + '/text.txt'], 32, 3, reference=work + '/model')
    print('perplexity: original %.6f (direct %.6f), packed %.6f (direct %.6f)' % (
        ev['reference_perplexity'], direct['original'], ev['perplexity'], direct['packed']))
    for got, want in ((ev['reference_perplexity'], direct['original']), (ev['perplexity'], direct['packed']),
                      (same['perplexity'], direct['original'])):
        assert abs(got / want - 1) < 1e-5, (got, want)
    assert abs(same['kl_mean']) < 1e-6 and same['top1_agreement'] == 1.0, same
    assert ev['kl_mean'] > 1e-4, 'the quantized model cannot be told from the original'
    driver = json.load(open(work + '/ref/eval.json'))
    assert abs(driver['perplexity'] / ev['perplexity'] - 1) < 1e-5, (driver, ev)


def docs(_work):
    import re
    with open(os.path.join(REPO, 'docs', 'cmd', 'qtip-run.md')) as f:
        page = f.read()
    missing = []
    for sub in ([], ['status'], ['resume'], ['task']):
        p = subprocess.run([os.path.join(REPO, 'scripts', 'qtip-run')] + sub + ['--help'],
                           stdout=subprocess.PIPE, text=True, check=True)
        for opt in sorted(set(re.findall(r'(?<![\w-])--[a-z][a-z-]*', p.stdout)) - {'--help'}):
            if not re.search(re.escape(opt) + r'(?![\w-])', page):
                missing.append(' '.join(['qtip-run'] + sub + [opt]))
    assert not missing, 'not in docs/cmd/qtip-run.md: %s' % missing


def devices(_work):
    """--devices: parsed, round-robin over the job slots, on qtip-quantize's command line
    as --device cuda:<k>, recorded; a bad list is a usage error (exit 2)."""
    import types
    sys.path.insert(0, os.path.join(REPO, 'python'))
    from qtip.pipeline import quantize as q
    assert q.parse_devices('') == [] and q.parse_devices(None) == []
    assert q.parse_devices('0,1') == [0, 1] and q.parse_devices('3') == [3]
    for bad in ('x', '0,', '-1', '0;1'):
        try:
            q.parse_devices(bad)
        except ValueError as e:
            assert 'GPU indices' in str(e)
        else:
            raise AssertionError('--devices %r accepted' % bad)
    assert [q.slot_device([0, 1], s) for s in range(4)] == [0, 1, 0, 1]
    assert q.slot_device([], 2) is None
    run = types.SimpleNamespace(out='/o', state_dir='/o/.state', settings={}, bin='/b',
                                hessian_dir=None, model='/m')
    layer = q.Layer(run, 'model.layers.0.mlp.down_proj', (8, 16))
    cmd = layer.command(2, 1)
    assert cmd[cmd.index('--device') + 1] == 'cuda:1', cmd
    assert '--device' not in layer.command(2), 'the CPU is the default'
    p = subprocess.run([os.path.join(REPO, 'scripts', 'qtip-run'), '/nonexistent', '-o', '/nonexistent',
                        '--identity-hessian', '--devices', '0,x'], stderr=subprocess.PIPE, text=True)
    assert p.returncode == 2 and 'GPU indices' in p.stderr, (p.returncode, p.stderr)


if __name__ == '__main__':
    {'setup': setup, 'e2e': e2e, 'resume': resume, 'stale': stale, 'eval': eval_,
     'docs': docs, 'devices': devices}[sys.argv[1]](sys.argv[2])
