#!/usr/bin/env python3
"""Tensor parallelism (qtip-quantize --tp): the sharded computation against the
dequantized weight.

  tp_test.py WORK   a small Llama-shaped layer set (q/k/o/up/down, hidden 128,
                    intermediate 192: HYB K2 (tensor-core tile order), 1MAD, and
                    E8P12 for down_proj), quantized with --tp 2 and --tp 4 with
                    Hessians of correlated activations, packed, verified and
                    dequantized by the C tools. Per layer and degree:
                    - each rank's output from its own slices of the packed tensors
                      (a plain layer: QTIPLinear.shard), concatenated (column-parallel)
                      or summed (row-parallel), equals x @ W_hat^T with W_hat from
                      qtip-verify --dequantize, through the torch ops and through
                      libqtip's CPU matvec; also at half the degree (two blocks per
                      rank) and as one whole layer (block-diagonal transforms);
                    - QTIPLinear's dequantized weight equals the C decoder's;
                    - the vLLM plugin's vLLM-free part (qtip_vllm.settings): each
                      rank's settings and checkpoint slices as create_weights and the
                      weight loader take them give the same outputs; a degree that
                      does not divide the checkpoint's, a tp 1 checkpoint at degree 2,
                      and a layer split on the other side are refused naming both.
                    The proxy loss of every layer is printed.

QTIP_BIN: the build directory. Tolerances (fp32): outputs 2e-5 of max |y|, weights
2e-6 of max |w| (qtip_torch_test.py's: the float order of the transforms differs).
"""
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'python'))
from qtip import cpu_matvec  # noqa: E402
from qtip.linear import QTIPLinear  # noqa: E402
from qtip.packed import PackedModel, load_tensors  # noqa: E402
from qtip.tensor_parallel import TensorParallelError, tp_size  # noqa: E402
from qtip_vllm.settings import serving_settings, shard_loaded  # noqa: E402

LAYERS = {  # prefix: (m, n, qtip-quantize options)
    'model.layers.0.self_attn.q_proj': (128, 128, ['--K', '2']),
    'model.layers.0.self_attn.k_proj': (64, 128, ['--decode-mode', '1mad', '--L', '12', '--K', '3']),
    'model.layers.0.self_attn.o_proj': (128, 128, ['--decode-mode', '1mad', '--L', '12', '--K', '2']),
    'model.layers.0.mlp.up_proj': (192, 128, ['--K', '2']),
    'model.layers.0.mlp.down_proj': (128, 192, ['--codebook', 'e8p12', '--refine-passes', '2']),
}


def tool(name, *args):
    subprocess.run([os.path.join(os.environ['QTIP_BIN'], name)] + [str(a) for a in args], check=True,
                   stdout=subprocess.DEVNULL)


def npy(path, a):
    np.save(path, a.astype(np.float32))


def setup(work):
    from safetensors.numpy import save_file
    rng = np.random.default_rng(1717)
    os.makedirs(work + '/model', exist_ok=True)
    os.makedirs(work + '/h', exist_ok=True)
    weights = {}
    for prefix, (m, n, _) in LAYERS.items():
        weights[prefix + '.weight'] = rng.normal(0, 0.02, (m, n)).astype(np.float32)
        z = rng.normal(0, 1, (n + 64, n))
        for j in range(1, n):                       # correlated inputs (AR(1) 0.8)
            z[:, j] = 0.8 * z[:, j - 1] + z[:, j]
        npy(work + '/act.npy', z)
        tool('qtip-hessian', 'accumulate', '-o', '%s/h/%s.safetensors' % (work, prefix), work + '/act.npy')
    save_file(weights, work + '/model/model.safetensors', metadata={'format': 'pt'})
    with open(work + '/model/config.json', 'w') as f:
        json.dump({'architectures': ['LlamaForCausalLM'], 'model_type': 'llama', 'hidden_size': 128,
                   'intermediate_size': 192}, f)
    for tp in (2, 4):
        arts = []
        for prefix, (_, _, opts) in LAYERS.items():
            arts.append('%s/%s.tp%d.st' % (work, prefix, tp))
            tool('qtip-quantize', '--tensor', prefix, '--hessian', '%s/h/%s.safetensors' % (work, prefix),
                 '--tp', tp, '-o', arts[-1], *opts, work + '/model')
        packed, deq = '%s/packed%d' % (work, tp), '%s/deq%d' % (work, tp)
        for d in (packed, deq):
            subprocess.run(['rm', '-rf', d], check=True)
        tool('qtip-pack', '--allow-mixed', '-o', packed, work + '/model', *arts)
        tool('qtip-verify', '--original', work + '/model', '--hessians', work + '/h', packed)
        tool('qtip-verify', '--dequantize', deq, '--dtype', 'f32', packed)


def rel(a, b):
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def forward_checks(lin, W, x, label):
    """The sharded and whole-layer forwards of lin against x @ W^T."""
    ref = x.double() @ W.double().T
    tp = tp_size(lin.settings)
    for lib in (False, True):
        os.environ.pop('QTIP_TORCH_ONLY', None) if lib else os.environ.setdefault('QTIP_TORCH_ONLY', '1')
        assert (cpu_matvec.library() is not None) == lib, 'libqtip.so not found (QTIP_BIN)'
        lin._mv = None
        path = 'libqtip matvec' if lib else 'torch ops'
        for count in sorted({tp, tp // 2, 1}):
            e = rel(lin.sharded_forward(x, count), ref)
            assert e < 2e-5, '%s: %d ranks (%s): %g' % (label, count, path, e)
        e = rel(lin(x), ref)
        assert e < 2e-5, '%s: whole layer (%s): %g' % (label, path, e)
    os.environ.pop('QTIP_TORCH_ONLY', None)


def plugin_checks(prefix, settings, tensors, W, x):
    """What each rank's create_weights and weight loader make of the layer."""
    m, n = settings['shape']
    tp, side = tp_size(settings), settings['tp_split']
    ref = x.double() @ W.double().T
    for world in sorted({tp, tp // 2}):
        outs = []
        for rank in range(world):
            ms, ns = (m, n // world) if side == 'input' else (m // world, n)
            local = serving_settings([prefix], [settings], ns, [ms], world, rank, side)[0]
            sl = {s: shard_loaded(settings, s, t, rank, world) for s, t in tensors.items()}
            xr = x[..., rank * ns:(rank + 1) * ns] if side == 'input' else x
            outs.append(QTIPLinear(local, sl)(xr))
        y = torch.cat(outs, -1) if side == 'output' else sum(outs)
        e = rel(y, ref)
        assert e < 2e-5, '%s: plugin ranks at degree %d: %g' % (prefix, world, e)
    for bad, words in ((3, 'degree %d, not 3' % tp), (2 * tp, 'degree %d, not %d' % (tp, 2 * tp))):
        try:
            serving_settings([prefix], [settings], n, [m], bad, 0, side)
        except TensorParallelError as e:
            assert words in str(e) and prefix in str(e), e
        else:
            raise AssertionError('degree %d not refused for %s' % (bad, prefix))
    other = 'output' if side == 'input' else 'input'
    try:
        serving_settings([prefix], [settings], n, [m], 2, 0, other)
    except TensorParallelError as e:
        assert 'tp_split' in str(e), e
    else:
        raise AssertionError('%s: the other side not refused' % prefix)
    plain = {k: v for k, v in settings.items() if k not in ('tp_size', 'tp_split')}
    try:
        serving_settings([prefix], [plain], n, [m], 2, 0, side)
    except TensorParallelError as e:
        assert 'degree 1, not 2' in str(e), e
    else:
        raise AssertionError('a tp 1 layer at degree 2 not refused')


def stub_vllm():
    """The two vLLM names qtip_vllm.method imports, as vLLM documents them
    (LinearMethodBase: the base class; set_weight_attrs: setattr of each item), so
    its create_weights / weight_loader / process_weights_after_loading / apply run
    here the way vLLM calls them (vLLM itself: vllm_plugin_test.py tp)."""
    import types
    if 'vllm' in sys.modules:
        return
    linear = types.ModuleType('vllm.model_executor.layers.linear')
    linear.LinearMethodBase = object
    utils = types.ModuleType('vllm.model_executor.utils')
    utils.set_weight_attrs = lambda t, attrs: [setattr(t, k, v) for k, v in (attrs or {}).items()]
    for name in ('vllm', 'vllm.model_executor', 'vllm.model_executor.layers'):
        sys.modules[name] = types.ModuleType(name)
    sys.modules[linear.__name__], sys.modules[utils.__name__] = linear, utils


class FakeConfig:
    def __init__(self, tp):
        self.checkpoint_tp = tp


def method_checks(prefix, settings, tensors, W, x):
    """qtip_vllm.method.QtipLinearMethod per rank, called as vLLM's layers call it."""
    stub_vllm()
    from qtip_vllm.method import QtipLinearMethod
    m, n = settings['shape']
    tp, side = tp_size(settings), settings['tp_split']
    for world in sorted({tp, tp // 2, 2 * tp}):
        outs = []
        for rank in range(world):
            layer = torch.nn.Module()
            layer.tp_size, layer.tp_rank = world, rank
            qm = QtipLinearMethod(FakeConfig(tp), prefix, [prefix], [settings])
            ns, ms = (n // world, m) if side == 'input' else (n, m // world)
            try:
                qm.create_weights(layer, ns, [ms], n, m, torch.float32)
            except TensorParallelError as e:
                assert world == 2 * tp and 'degree %d, not %d' % (tp, world) in str(e), e
                break
            for suffix, t in tensors.items():
                getattr(layer, suffix).weight_loader(getattr(layer, suffix), t)
            qm.process_weights_after_loading(layer)
            outs.append(qm.apply(layer, x[:, rank * ns:(rank + 1) * ns] if side == 'input' else x))
        else:
            y = torch.cat(outs, -1) if side == 'output' else sum(outs)
            e = rel(y, x.double() @ W.double().T)
            assert e < 2e-5, '%s: QtipLinearMethod ranks at degree %d: %g' % (prefix, world, e)
            continue
        assert world == 2 * tp, '%s: degree %d refused' % (prefix, world)


def check(work):
    from qtip.pipeline import settings as run_settings   # qtip-run --tp: the layers' tp_size
    eff = run_settings.for_layer(run_settings.with_tp({'K': 2, 'overrides': [{'layers': '*.x', 'tp_split': 'input'}]}, 4),
                                 'model.x')
    assert eff == {'K': 2, 'tp_size': 4, 'tp_split': 'input'}, eff
    torch.manual_seed(7)
    for tp in (2, 4):
        pm = PackedModel('%s/packed%d' % (work, tp))
        deq = load_tensors('%s/deq%d' % (work, tp))
        assert pm.quantization['layout_version'] == 2 and pm.quantization['tp_size'] == tp, pm.quantization
        for prefix, s in pm.layers.items():
            W = deq[prefix + '.weight']
            lin = QTIPLinear(s, pm.layer_tensors(prefix))
            e = float((lin.dequantized_weight() - W).abs().max() / W.abs().max())
            assert e < 2e-6, '%s tp %d: weights differ by %g' % (prefix, tp, e)
            x = torch.randn(5, s['shape'][1])
            forward_checks(lin, W, x, '%s tp %d' % (prefix, tp))
            plugin_checks(prefix, s, pm.layer_tensors(prefix), W, x)
            method_checks(prefix, s, pm.layer_tensors(prefix), W, x)
            print('tp %d %-32s %-6s split, proxy loss %.5f: ranks = x W^T' % (tp, prefix, s['tp_split'],
                                                                               s['proxy_loss']))
    print('tp ok')


def main():
    work = sys.argv[1]
    os.makedirs(work, exist_ok=True)
    setup(work)
    check(work)


if __name__ == '__main__':
    main()
