#!/usr/bin/env python3
"""The torch reader (python/qtip) against the C tools.

  qtip_torch_test.py setup   WORK   a small random Llama model (transformers),
                                    every linear quantized by qtip-quantize with a
                                    different code or codebook, qtip-pack --allow-mixed,
                                    qtip-verify --dequantize --dtype f32
  qtip_torch_test.py codes   WORK   per layer: QTIPLinear's dequantized weight equals
                                    the C decoder's (qtip-verify --dequantize), and its
                                    forward equals x @ W_hat^T
  qtip_torch_test.py cpu_matvec WORK per layer: the forward through libqtip's CPU
                                    matvec equals the torch ops' forward
  qtip_torch_test.py causal_lm WORK load_causal_lm(packed) gives the logits of
                                    transformers' load of the dequantized model
  qtip_torch_test.py from_pretrained WORK  after import qtip.hf, transformers'
                                    AutoModelForCausalLM.from_pretrained(packed) holds
                                    QTIPLinear modules and no dense weight of a
                                    quantized linear, gives load_causal_lm's logits
                                    exactly (and so the dequantized model's), keeps the
                                    packed tensors as stored whatever torch_dtype, and
                                    refuses a directory missing a tensor or holding
                                    one the model does not take

QTIP_BIN: the build directory holding the qtip-* commands. Tolerances (fp32): the
two decoders agree to 2e-6 of the weight's max |w| (they differ only in the
Hadamard transforms' float operation order); forwards to 2e-5 relative; logits to
1e-4 of their max |logit|.
"""
import json
import os
import shutil
import subprocess
import sys

os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch  # noqa: E402
from logits_check import check_packed_logits  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', '..', 'python'))
from qtip import QTIPLinear, load_causal_lm  # noqa: E402
from qtip.packed import PackedModel, load_tensors  # noqa: E402

# dims with Hadamard factors 12 (96) and 20 (160); 6 heads of 16, 2 KV heads
CONFIG = dict(vocab_size=128, hidden_size=96, intermediate_size=160, num_hidden_layers=2,
              num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=64,
              tie_word_embeddings=False)
T2 = '--L 12 --V 1 --tlut-bits 0'
# one setting per linear: every trellis code (both tile orders) and E8P codebook
SETTINGS = {
    'model.layers.0.self_attn.q_proj': '--decode-mode hyb --K 2',
    'model.layers.0.self_attn.k_proj': '--decode-mode hyb --K 3',
    'model.layers.0.self_attn.v_proj': '--decode-mode hyb --K 4',
    'model.layers.0.self_attn.o_proj': '--decode-mode 1mad --K 2 ' + T2,
    'model.layers.0.mlp.gate_proj': '--decode-mode 2mad --K 3 ' + T2,
    'model.layers.0.mlp.up_proj': '--decode-mode 3inst --K 4 ' + T2,
    'model.layers.0.mlp.down_proj': '--decode-mode lut --L 10 --K 2 --V 1 --tlut-bits 10',
    'model.layers.1.self_attn.q_proj': '--decode-mode lut --L 10 --K 2 --V 2 --tlut-bits 10',
    'model.layers.1.self_attn.k_proj': '--decode-mode hyb --L 12 --K 2 --tlut-bits 8',
    'model.layers.1.self_attn.v_proj': '--codebook e8p12',
    'model.layers.1.self_attn.o_proj': '--codebook e8p12-rvq3',
    'model.layers.1.mlp.gate_proj': '--codebook e8p12-rvq4',
    'model.layers.1.mlp.up_proj': '--decode-mode 1mad --L 16 --K 2 --V 1 --tlut-bits 0',
    'model.layers.1.mlp.down_proj': '--decode-mode hyb --K 2',
}


def run(*args):
    subprocess.run(list(args), check=True, stdout=subprocess.DEVNULL)


def setup(work):
    from transformers import LlamaConfig, LlamaForCausalLM
    b = os.environ['QTIP_BIN']
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work + '/art')
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**CONFIG)).eval()
    model.save_pretrained(work + '/model', safe_serialization=True)
    arts = []
    for prefix, opts in SETTINGS.items():
        art = '%s/art/%s.safetensors' % (work, prefix)
        run(b + '/qtip-quantize', '-q', '--threads', '2', *opts.split(), '--identity-hessian',
            '--tensor', prefix + '.weight', '-o', art, work + '/model')
        arts.append(art)
    run(b + '/qtip-pack', '-q', '--allow-mixed', '-o', work + '/packed', work + '/model', *arts)
    run(b + '/qtip-verify', '-q', '--dequantize', work + '/deq', '--dtype', 'f32', work + '/packed')


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def codes(work):
    pm = PackedModel(work + '/packed')
    ref = load_tensors(work + '/deq')
    missing = set(SETTINGS) - set(pm.layers)
    assert not missing, 'layers not packed: %s' % missing
    torch.manual_seed(1)
    bad = 0
    for prefix in SETTINGS:
        layer = QTIPLinear(pm.layers[prefix], pm.layer_tensors(prefix))
        W = layer.dequantized_weight()
        R = ref[prefix + '.weight'].to(torch.float32)
        x = torch.randn(5, W.shape[1])
        ew, ey = rel(W, R), rel(layer(x), x @ W.T)
        ok = ew <= 2e-6 and ey <= 2e-5
        bad += not ok
        print('%-34s %-40s weight %.2e forward %.2e %s' % (prefix, SETTINGS[prefix], ew, ey, 'ok' if ok else 'FAIL'))
    assert bad == 0, '%d layers differ from the C decoder' % bad


def cpu_matvec(work):
    """Per layer: the forward through libqtip's CPU matvec (qtip.cpu_matvec) equals
    the torch ops' forward to 2e-5 relative, at batch sizes 1, 7 and 32 through the
    layer, and 40 (more than the layer sends to the library: one decode and a GEMM
    run there) through the library context directly (two calls of its batch limit)."""
    from qtip import cpu_matvec as cm
    assert cm.library() is not None, 'libqtip.so not found (QTIP_BIN=%s)' % os.environ.get('QTIP_BIN')
    pm = PackedModel(work + '/packed')
    torch.manual_seed(3)
    bad = 0
    for prefix in SETTINGS:
        layer = QTIPLinear(pm.layers[prefix], pm.layer_tensors(prefix))
        for rows in (1, 7, 32, 40):
            x = torch.randn(rows, layer.in_features)
            if rows <= cm.MAX_BATCH:
                assert layer.library_matvec(x) is not None, prefix
                y_lib = layer(x)
            else:
                assert layer.library_matvec(x) is None, prefix
                y_lib = layer.library_matvec(x[:1])(x)
            os.environ['QTIP_TORCH_ONLY'] = '1'
            y_torch = layer(x)
            del os.environ['QTIP_TORCH_ONLY']
            e = rel(y_lib, y_torch)
            bad += e > 2e-5
            print('%-34s batch %2d: library vs torch %.2e' % (prefix, rows, e))
    assert bad == 0, '%d forwards differ between the library and the torch ops' % bad


def causal_lm(work):
    from transformers import AutoModelForCausalLM
    q = load_causal_lm(work + '/packed')
    n_qtip = sum(isinstance(m, QTIPLinear) for m in q.modules())
    dense = [n for n, m in q.named_modules() if isinstance(m, torch.nn.Linear) and n != 'lm_head']
    assert n_qtip == len(SETTINGS) and not dense, (n_qtip, dense)
    d = AutoModelForCausalLM.from_pretrained(work + '/deq', torch_dtype=torch.float32).eval()
    o = AutoModelForCausalLM.from_pretrained(work + '/model', torch_dtype=torch.float32).eval()
    torch.manual_seed(2)
    ids = torch.randint(0, CONFIG['vocab_size'], (2, 24))
    check_packed_logits(q, d, o, ids, rel)


def assert_no_dense_quantized(model, layers):
    """Every quantized prefix is a QTIPLinear, and no floating tensor of the model has
    the shape of a quantized linear's weight (no dense or dequantized copy)."""
    for prefix in layers:
        assert isinstance(model.get_submodule(prefix), QTIPLinear), prefix
    shapes = {tuple(s['shape']) for s in layers.values()}
    tensors = dict(model.named_parameters(), **dict(model.named_buffers()))
    dense = [n for n, t in tensors.items()
             if t is not None and t.is_floating_point() and tuple(t.shape) in shapes]
    assert not dense, 'dense tensors of a quantized shape: %s' % dense


def refused(directory, what):
    """from_pretrained of a broken directory raises, naming `what`."""
    from transformers import AutoModelForCausalLM
    try:
        AutoModelForCausalLM.from_pretrained(directory)
    except ValueError as e:  # PackedFormatError is a ValueError
        assert what in str(e), (what, str(e))
        print('refused: %s' % e)
        return
    raise AssertionError('from_pretrained loaded %s' % directory)


def broken_copy(work, name, edit):
    """WORK/<name>: the packed directory with its tensors changed by edit(dict)."""
    from safetensors.torch import save_file
    d = '%s/%s' % (work, name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(work + '/packed', d)
    tensors = load_tensors(d)
    edit(tensors)
    save_file(tensors, d + '/model.safetensors', metadata={'format': 'pt'})
    return d


def from_pretrained(work):
    import qtip.hf  # noqa: F401  registers the quantizer
    from transformers import AutoModelForCausalLM
    layers = PackedModel(work + '/packed').layers
    h = AutoModelForCausalLM.from_pretrained(work + '/packed', torch_dtype=torch.float32)
    assert sum(isinstance(m, QTIPLinear) for m in h.modules()) == len(SETTINGS)
    assert_no_dense_quantized(h, layers)
    q = load_causal_lm(work + '/packed')
    d = AutoModelForCausalLM.from_pretrained(work + '/deq', torch_dtype=torch.float32).eval()
    torch.manual_seed(2)
    ids = torch.randint(0, CONFIG['vocab_size'], (2, 24))
    with torch.no_grad():
        lh, lq, ld = h(ids).logits, q(ids).logits, d(ids).logits
    print('logits: from_pretrained vs load_causal_lm %.2e, vs dequantized %.2e'
          % (rel(lh, lq), rel(lh, ld)))
    assert torch.equal(lh, lq), 'from_pretrained and load_causal_lm disagree'
    assert rel(lh, ld) <= 1e-4
    # torch_dtype applies to the plain tensors only: the packed ones stay as loaded
    b = AutoModelForCausalLM.from_pretrained(work + '/packed', torch_dtype=torch.bfloat16)
    assert b.model.norm.weight.dtype == torch.bfloat16
    qs = q.state_dict()
    for name, t in b.state_dict().items():
        if name.rpartition('.')[2] in ('qtip_codes', 'SU', 'SV', 'Wscale', 'tlut'):
            assert t.dtype == qs[name].dtype and torch.equal(t, qs[name]), name
    gone = 'model.layers.1.mlp.gate_proj.SV'
    refused(broken_copy(work, 'missing', lambda t: t.pop(gone)), gone)
    dense = 'model.layers.0.self_attn.q_proj.weight'
    refused(broken_copy(work, 'dense', lambda t: t.update({dense: torch.zeros(96, 96)})), dense)
    norm = 'model.norm.weight'
    refused(broken_copy(work, 'no-norm', lambda t: t.pop(norm)), norm)


if __name__ == '__main__':
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '2')))
    {'setup': setup, 'codes': codes, 'cpu_matvec': cpu_matvec, 'causal_lm': causal_lm,
     'from_pretrained': from_pretrained}[sys.argv[1]](sys.argv[2])
