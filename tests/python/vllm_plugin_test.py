#!/usr/bin/env python3
"""The vLLM plugin (python/qtip_vllm) against vLLM's own classes, run with
.venv-vllm's python (scripts/setup-vllm.sh). WORK: qtip_torch_test.py's fixture
(a small random Llama, every linear quantized with a different code, codebook or
K: q/k/v of block 0 at K = 2, 3, 4, gate/up mixing 2MAD and 3INST, and E8P
layers; packed with qtip-pack --allow-mixed; qtip-verify --dequantize).

  vllm_plugin_test.py registry WORK  the entry point (vllm.general_plugins) registers
                                     "qtip" and "quip#" in vLLM's registry; the
                                     packed config.json's quantization_config goes
                                     through vLLM's override detection and from_config,
                                     maybe_update_config reads quantize_config.json;
                                     the guide's quantize_config.json fields parse
                                     (quantlut_sym, quantlut_path); vLLM's ModelConfig
                                     detects the method from config.json and VllmConfig's
                                     quantization step builds the config
  vllm_plugin_test.py layers WORK    vLLM's QKVParallelLinear, MergedColumnParallelLinear
                                     and RowParallelLinear (world size 1, gloo on the
                                     CPU) built with the config, loaded by vLLM's
                                     AutoWeightsLoader with Llama's hf_to_vllm_mapper (the
                                     parameters' weight_loader gets its shard ids),
                                     process_weights_after_loading,
                                     then forward: equal to qtip.linear.QTIPLinear's
                                     output, and to x @ W^T of the C decoder's
                                     dequantized weights; the guide's single-setting
                                     config with quantlut_path (table from a file)
  vllm_plugin_test.py tp TP_WORK     tp_test.py's checkpoints (qtip-quantize --tp 2 and 4,
                                     TP_WORK: python_tp's directory): per rank of degree
                                     d dividing the checkpoint's, vLLM's ColumnParallelLinear
                                     (up_proj) and RowParallelLinear (o_proj, down_proj)
                                     built for that rank (vLLM's rank and world size patched
                                     in its linear module: one process), loaded through the
                                     parameters' weight_loader with the whole checkpoint
                                     tensors; outputs joined (column) or summed (row) equal
                                     x @ W^T of the dequantized weights (2e-5); twice the degree refused
  vllm_plugin_test.py refuse WORK    TP > 1 on a tp 1 checkpoint, a tensor of another shape or dtype, a
                                     missing sub-layer tensor, a half-quantized stacked
                                     layer: each refused with a message naming it

Tolerances (fp32): against QTIPLinear 1e-6 of max |y| (the same decoder runs; it
is 0 in practice); against the C decoder's weights 2e-5 of max |y|, as
qtip_torch_test.py's forward check.
"""
import json
import os
import sys

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('VLLM_LOGGING_LEVEL', 'WARNING')
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'python'))
import torch  # noqa: E402

from qtip.linear import QTIPLinear  # noqa: E402
from qtip.packed import PACKED_SUFFIXES, PackedModel, load_tensors  # noqa: E402

# vLLM's Llama packed_modules_mapping (what SupportsQuant hands the config)
PACKED_MODULES = {'qkv_proj': ['q_proj', 'k_proj', 'v_proj'], 'gate_up_proj': ['gate_proj', 'up_proj']}


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def vllm_world():
    """vLLM's distributed state for one CPU process (gloo) and a current config,
    as a worker sets them up before building a model (the device named: the CUDA
    wheel cannot infer one on a machine without a GPU)."""
    from vllm.config import DeviceConfig, VllmConfig, set_current_vllm_config
    from vllm.distributed import init_distributed_environment, initialize_model_parallel
    global _CONFIG_CONTEXT  # kept: the context manager resets the config when collected
    _CONFIG_CONTEXT = set_current_vllm_config(VllmConfig(device_config=DeviceConfig(device='cpu')))
    _CONFIG_CONTEXT.__enter__()
    init_distributed_environment(world_size=1, rank=0, local_rank=0, backend='gloo',
                                 distributed_init_method='tcp://127.0.0.1:%d' % (29500 + os.getpid() % 1000))
    initialize_model_parallel(1, 1)


def qtip_config(work):
    """The config as vLLM makes it: registry lookup, from_config of config.json's
    quantization_config, maybe_update_config with the directory, the model's mapping."""
    from vllm.model_executor.layers.quantization import get_quantization_config
    from vllm.plugins import load_general_plugins
    load_general_plugins()
    with open(work + '/packed/config.json') as f:
        qc = json.load(f)['quantization_config']
    cls = get_quantization_config('qtip')
    config = cls.from_config(qc)
    config.maybe_update_config(work + '/packed')
    config.packed_modules_mapping = dict(PACKED_MODULES)
    return config


def registry(work):
    from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS, get_quantization_config
    from qtip_vllm.config import QtipConfig
    from qtip_vllm.settings import parse
    config = qtip_config(work)
    assert 'qtip' in QUANTIZATION_METHODS and 'quip#' in QUANTIZATION_METHODS
    assert get_quantization_config('qtip') is QtipConfig and get_quantization_config('quip#') is QtipConfig
    assert isinstance(config, QtipConfig) and len(config.layers) == 14, config
    with open(work + '/packed/config.json') as f:
        qc = json.load(f)['quantization_config']
    # vLLM's ModelConfig asks every registered method whether it claims the checkpoint
    assert QtipConfig.override_quantization_method(qc, None) == 'qtip'
    assert QtipConfig.override_quantization_method(dict(qc, quant_method='quip#'), 'qtip') == 'qtip'
    assert QtipConfig.override_quantization_method({'quant_method': 'gptq'}, None) is None
    assert QtipConfig.get_config_filenames() == ['quantize_config.json']
    # the guide's quantize_config.json: its fields, HYB's kernel tile order implied
    guide = {'quant_method': 'qtip', 'L': 16, 'K': 2, 'V': 2, 'tlut_bits': 9, 'decode_mode': 'quantlut_sym'}
    s, layers, tp = parse(guide)
    assert layers is None and tp == 1 and s['tile_order'] == 'mma' and (s['td_x'], s['td_y']) == (16, 16), s
    s, _, _ = parse(dict(guide, decode_mode='1mad', V=1, tlut_bits=0, L=12))
    assert s['tile_order'] == 'row-major', s
    # quantlut_path: the table from a file beside the model, not from the checkpoint
    from safetensors.torch import save_file
    table = torch.randn(512, 2)
    save_file({'tlut': table}, work + '/packed-tlut.safetensors')
    cfg = QtipConfig.from_config(dict(guide, quantlut_path='packed-tlut.safetensors'))
    cfg.maybe_update_config(work)
    assert torch.equal(cfg.table('packed-tlut.safetensors'), table)
    for bad, what in (({'quant_method': 'qtip'}, 'no L'), (dict(guide, decode_mode='5mad'), 'unknown trellis'),
                      ({'quant_method': 'awq'}, 'quant_method')):
        expect_refusal(lambda: QtipConfig.from_config(bad), what)
    engine_config(work)
    print('registry ok: %r' % config)


def engine_config(work):
    """vLLM's own config path, as `vllm serve packed --quantization qtip` takes it:
    ModelConfig detects the method from config.json (with and without the flag), and
    VllmConfig's quantization step (get_quant_config, maybe_update_config) gives
    a QtipConfig with the directory's 14 layers."""
    from vllm.config import LoadConfig, ModelConfig, VllmConfig
    from qtip_vllm.config import QtipConfig
    for flag in ('qtip', None):
        mc = ModelConfig(model=work + '/packed', quantization=flag, skip_tokenizer_init=True, dtype='float32')
        assert mc.quantization == 'qtip', (flag, mc.quantization)
    qc = VllmConfig._get_quantization_config(mc, LoadConfig())
    assert isinstance(qc, QtipConfig) and len(qc.layers) == 14, qc


def vllm_layers(config, block, dims):
    """Block `block`'s four linear layers as vLLM's Llama builds them."""
    from vllm.model_executor.layers.linear import (MergedColumnParallelLinear, QKVParallelLinear,
                                                   RowParallelLinear)
    h, inter, heads, kv = dims
    p = 'model.layers.%d.' % block
    return {
        p + 'self_attn.qkv_proj': QKVParallelLinear(h, h // heads, heads, kv, bias=False, quant_config=config,
                                                    prefix=p + 'self_attn.qkv_proj'),
        p + 'self_attn.o_proj': RowParallelLinear(h, h, bias=False, quant_config=config, prefix=p + 'self_attn.o_proj'),
        p + 'mlp.gate_up_proj': MergedColumnParallelLinear(h, [inter, inter], bias=False, quant_config=config,
                                                           prefix=p + 'mlp.gate_up_proj'),
        p + 'mlp.down_proj': RowParallelLinear(inter, h, bias=False, quant_config=config, prefix=p + 'mlp.down_proj'),
    }


def load_into(layers, tensors, skip=()):
    """The packed tensors through vLLM's own loading path for Llama: AutoWeightsLoader
    with LlamaModel.hf_to_vllm_mapper, which renames q_proj to qkv_proj (shard "q"),
    gate_proj to gate_up_proj (shard 0), ... and calls each parameter's weight_loader
    with that shard id. The layers are placed in a module tree of LlamaModel's names."""
    from torch import nn
    from vllm.model_executor.models.llama import LlamaModel
    from vllm.model_executor.models.utils import AutoWeightsLoader
    root = nn.Module()
    for prefix, layer in layers.items():
        parent = root
        for part in prefix.split('.')[1:-1]:           # without "model." (LlamaModel's own)
            if not hasattr(parent, part):
                parent.add_module(part, nn.Module())
            parent = getattr(parent, part)
        parent.add_module(prefix.rpartition('.')[2], layer)
    blocks = {p.rsplit('.', 2)[0] for p in layers}      # model.layers.N
    weights = [(name[len('model.'):], t) for name, t in tensors.items()
               if name.rpartition('.')[2] in PACKED_SUFFIXES and name not in skip
               and name.rsplit('.', 3)[0] in blocks]
    loaded = AutoWeightsLoader(root).load_weights(weights, mapper=LlamaModel.hf_to_vllm_mapper)
    assert loaded, 'nothing loaded'


def label(s):
    return '%s/K%d' % (s['decode_mode'], s['K']) if s['quant_method'] == 'qtip' else s['codebook']


def model_dims(work):
    with open(work + '/packed/config.json') as f:
        c = json.load(f)
    return c['hidden_size'], c['intermediate_size'], c['num_attention_heads'], c['num_key_value_heads']


def layers_test(work):
    from vllm.model_executor.layers.linear import UnquantizedLinearMethod
    from qtip_vllm.method import QtipLinearMethod
    vllm_world()
    config = qtip_config(work)
    pm = PackedModel(work + '/packed')
    deq = load_tensors(work + '/deq')
    torch.manual_seed(3)
    worst_ref = worst_c = 0.0
    for block in (0, 1):
        layers = vllm_layers(config, block, model_dims(work))
        load_into(layers, pm.tensors)
        for prefix, layer in layers.items():
            assert isinstance(layer.quant_method, QtipLinearMethod), (prefix, layer.quant_method)
            assert not hasattr(layer, 'weight'), prefix  # no dense weight parameter
            layer.quant_method.process_weights_after_loading(layer)
            subs = config.sub_layers(prefix)
            x = torch.randn(5, layer.input_size)
            y, _ = layer(x)
            ref = torch.cat([QTIPLinear(pm.layers[s], pm.layer_tensors(s))(x) for s in subs], dim=-1)
            W = torch.cat([deq[s + '.weight'].to(torch.float32) for s in subs], dim=0)
            e_ref, e_c = rel(y, ref), rel(y, x @ W.T)
            worst_ref, worst_c = max(worst_ref, e_ref), max(worst_c, e_c)
            print('%-32s %-40s QTIPLinear %.1e  C decoder %.1e' % (
                prefix, ' + '.join(label(pm.layers[s]) for s in subs),
                e_ref, e_c))
            assert e_ref <= 1e-6 and e_c <= 2e-5, prefix
            yb, _ = layer(x.to(torch.bfloat16))
            assert yb.dtype == torch.bfloat16 and rel(yb.float(), ref) < 2e-2, prefix
    # a layer the checkpoint left unquantized gets vLLM's own method
    from vllm.model_executor.layers.linear import ReplicatedLinear
    plain = ReplicatedLinear(16, 16, bias=False, quant_config=config, prefix='model.layers.0.mlp.router')
    assert isinstance(plain.quant_method, UnquantizedLinearMethod)
    print('layers ok: worst %.1e vs QTIPLinear, %.1e vs the C decoder' % (worst_ref, worst_c))
    guide_layer(work, pm)


def guide_layer(work, pm):
    """The guide's quantize_config.json (one setting for every linear, no per-layer
    map) with quantlut_path: block 1's HYB down_proj loaded without its tlut tensor,
    the table read from the file instead; forward equal to QTIPLinear's."""
    from safetensors.torch import save_file
    from vllm.model_executor.layers.linear import RowParallelLinear
    from qtip_vllm.config import QtipConfig
    prefix = 'model.layers.1.mlp.down_proj'
    s = pm.layers[prefix]
    tensors = pm.layer_tensors(prefix)
    os.makedirs(work + '/guide', exist_ok=True)
    save_file({'tlut': tensors['tlut']}, work + '/guide/hyb-table.safetensors')
    guide = {k: s[k] for k in ('quant_method', 'L', 'K', 'V', 'tlut_bits', 'decode_mode')}
    config = QtipConfig.from_config(dict(guide, quantlut_path='hyb-table.safetensors'))
    config.maybe_update_config(work + '/guide')
    m, n = s['shape']
    layer = RowParallelLinear(n, m, bias=False, quant_config=config, prefix=prefix)
    assert not hasattr(layer, 'tlut'), 'the table comes from quantlut_path, not the checkpoint'
    for suffix, t in tensors.items():
        if suffix != 'tlut':
            getattr(layer, suffix).weight_loader(getattr(layer, suffix), t)
    layer.quant_method.process_weights_after_loading(layer)
    x = torch.randn(4, n)
    e = rel(layer(x)[0], QTIPLinear(s, tensors)(x))
    assert e <= 1e-6, e
    print('guide config with quantlut_path ok: %.1e vs QTIPLinear' % e)


def expect_refusal(fn, *words):
    try:
        fn()
    except ValueError as e:
        missing = [w for w in words if w not in str(e)]
        assert not missing, 'message %r lacks %s' % (str(e), missing)
        print('refused: %s' % e)
        return
    raise AssertionError('not refused: %s' % (words,))


def refuse(work):
    from vllm.model_executor.layers.linear import ColumnParallelLinear
    from qtip_vllm.settings import check_tp
    vllm_world()
    config = qtip_config(work)
    pm = PackedModel(work + '/packed')
    dims = model_dims(work)
    # a column-parallel shard of a layer whose Hadamard spans all its outputs
    expect_refusal(lambda: ColumnParallelLinear(dims[0], dims[0], bias=False, quant_config=config, tp_rank=0,
                                                tp_size=2, prefix='model.layers.0.self_attn.o_proj'),
                   'model.layers.0.self_attn.o_proj', 'tensor-parallel degree 1, not 2',
                   'qtip-quantize --tp 2')
    expect_refusal(lambda: check_tp(1, 4, 'x'), 'degree 1, not 4')
    expect_refusal(lambda: check_tp(4, 3, 'x'), 'degree 4, not 3')
    check_tp(4, 2, 'x')   # a divisor: each rank holds two blocks
    # k_proj's codes with another shape (as another K would give)
    layers = vllm_layers(config, 0, dims)
    qkv = layers['model.layers.0.self_attn.qkv_proj']
    k = pm.tensors['model.layers.0.self_attn.k_proj.qtip_codes']
    expect_refusal(lambda: qkv.qtip_codes.weight_loader(qkv.qtip_codes, k[:, :-1].contiguous(), 'k'),
                   'model.layers.0.self_attn.k_proj.qtip_codes', str(tuple(k.shape)))
    expect_refusal(lambda: qkv.SU.weight_loader(qkv.SU, pm.tensors['model.layers.0.self_attn.k_proj.SU'].half(), 'k'),
                   'k_proj.SU', 'torch.float16')
    expect_refusal(lambda: qkv.SU.weight_loader(qkv.SU, pm.tensors['model.layers.0.self_attn.k_proj.SU'], 7),
                   'shard id 7')
    # a sub-layer's tensor the checkpoint lacks
    layers = vllm_layers(config, 0, dims)
    load_into(layers, pm.tensors, skip={'model.layers.0.self_attn.v_proj.SV'})
    qkv = layers['model.layers.0.self_attn.qkv_proj']
    expect_refusal(lambda: qkv.quant_method.process_weights_after_loading(qkv),
                   'missing', 'model.layers.0.self_attn.v_proj.SV')
    # q quantized, k and v not: vLLM runs them as one layer
    half = {p: s for p, s in config.layers.items() if not p.endswith(('k_proj', 'v_proj'))}
    config.layers = half
    expect_refusal(lambda: vllm_layers(config, 0, dims), 'qkv_proj', 'all or none')
    print('refuse ok')


def tp_layer(config, cls, prefix, m, n, rank, world):
    """vLLM's layer `cls` for rank `rank` of `world`, in this one process."""
    from unittest import mock

    from vllm.model_executor.layers import linear
    extra = {'gather_output': False} if cls is linear.ColumnParallelLinear else \
        {'input_is_parallel': True, 'reduce_results': False}
    with mock.patch.object(linear, 'get_tensor_model_parallel_rank', return_value=rank), \
            mock.patch.object(linear, 'get_tensor_model_parallel_world_size', return_value=world):
        return cls(n, m, bias=False, quant_config=config, prefix=prefix, **extra)


def tp_test(tp_work):
    from vllm.model_executor.layers.linear import ColumnParallelLinear, RowParallelLinear
    from vllm.model_executor.layers.quantization import get_quantization_config
    from vllm.plugins import load_general_plugins
    vllm_world()
    load_general_plugins()
    torch.manual_seed(3)
    for tp in (2, 4):
        packed = '%s/packed%d' % (tp_work, tp)
        with open(packed + '/config.json') as f:
            config = get_quantization_config('qtip').from_config(json.load(f)['quantization_config'])
        config.maybe_update_config(packed)
        pm, deq = PackedModel(packed), load_tensors('%s/deq%d' % (tp_work, tp))
        for prefix, cls in (('model.layers.0.mlp.up_proj', ColumnParallelLinear),
                            ('model.layers.0.self_attn.o_proj', RowParallelLinear),
                            ('model.layers.0.mlp.down_proj', RowParallelLinear)):
            m, n = pm.layers[prefix]['shape']
            W = deq[prefix + '.weight']
            x = torch.randn(3, n)
            for world in sorted({tp, tp // 2}):
                outs = []
                for rank in range(world):
                    layer = tp_layer(config, cls, prefix, m, n, rank, world)
                    for suffix in PACKED_SUFFIXES:
                        if prefix + '.' + suffix in pm.tensors and hasattr(layer, suffix):
                            param = getattr(layer, suffix)
                            param.weight_loader(param, pm.tensors[prefix + '.' + suffix])
                    layer.quant_method.process_weights_after_loading(layer)
                    k = n // world
                    xr = x[:, rank * k:(rank + 1) * k] if cls is RowParallelLinear else x
                    outs.append(layer.quant_method.apply(layer, xr))
                y = torch.cat(outs, -1) if cls is ColumnParallelLinear else sum(outs)
                e = rel(y, x @ W.T)
                assert e < 2e-5, '%s tp %d at degree %d: %g' % (prefix, tp, world, e)
                print('%s tp %d at degree %d: %.2g' % (prefix, tp, world, e))
            expect_refusal(lambda: tp_layer(config, cls, prefix, m, n, 0, 2 * tp),
                           prefix, 'tensor-parallel degree %d, not %d' % (tp, 2 * tp))
    print('tp ok')


def main():
    what, work = sys.argv[1], sys.argv[2]
    {'registry': registry, 'layers': layers_test, 'refuse': refuse, 'tp': tp_test}[what](work)


if __name__ == '__main__':
    main()
