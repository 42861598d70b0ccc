#!/usr/bin/env python3
"""Convert a GGUF causal LM once to a Hugging Face directory (fp32 safetensors,
config.json, tokenizer) through transformers' GGUF loader and save_pretrained.

  gguf_to_hf.py MODEL.gguf OUT_DIR

GGUF weights are usually quantized (SmolLM2's are Q4_1): the fp32 tensors written
are their exact dequantization, i.e. a dequantized 4-bit model, not the original
full-precision weights. OUT_DIR/QTIP_SOURCE.md and the "qtip_source" entry of
config.json say so. Only Llama-family architectures (the seven linears per block
qtip quantizes) are accepted. Run with the project's .venv (scripts/setup-python.sh).
"""
import json
import os
import sys

os.environ.setdefault('HF_HUB_OFFLINE', '1')

LLAMA_FAMILY = ('llama', 'mistral', 'qwen2', 'qwen3')
LINEARS = ('q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj')


def fail(msg):
    print('gguf_to_hf: error: ' + msg, file=sys.stderr)
    sys.exit(1)


def gguf_summary(path):
    """(architecture, {tensor type name: count}) read from the GGUF header."""
    from gguf import GGUFReader
    r = GGUFReader(path)
    field = r.fields.get('general.architecture')
    if field is None:
        fail('%s: no general.architecture field (not a model GGUF?)' % path)
    arch = bytes(field.parts[field.data[0]]).decode()
    types = {}
    for t in r.tensors:
        types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
    return arch, types


def check_linears(model, path):
    names = {n.rsplit('.', 1)[-1] for n, _ in model.named_modules()}
    missing = [n for n in LINEARS if n not in names]
    if missing:
        fail('%s: the model has no %s linears: not the Llama family qtip quantizes' % (path, ', '.join(missing)))


def main():
    if len(sys.argv) != 3:
        fail('usage: gguf_to_hf.py MODEL.gguf OUT_DIR')
    src, out = sys.argv[1], sys.argv[2]
    if not os.path.isfile(src):
        fail('%s: no such file' % src)
    if os.path.exists(out):
        fail('%s exists: the conversion writes a new directory' % out)
    arch, types = gguf_summary(src)
    if arch not in LLAMA_FAMILY:
        fail('%s: architecture %r is not supported (expected one of %s)' % (src, arch, ', '.join(LLAMA_FAMILY)))
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    d, name = os.path.split(os.path.abspath(src))
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, torch_dtype=torch.float32)
    check_linears(model, src)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    tmp = out + '.tmp'
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    quantized = {k: v for k, v in types.items() if k not in ('F32', 'F16', 'BF16')}
    note = ('The weights of this directory are the fp32 dequantization of %s (GGUF tensor types: %s). '
            'Where those types are quantized (%s), this is a dequantized low-bit model '
            '(Q4_1: a 4-bit model, w = d*q + m per block of 32), not full-precision weights.'
            % (name, ', '.join('%s x%d' % kv for kv in sorted(types.items())),
               ', '.join(sorted(quantized)) or 'none'))
    with open(os.path.join(tmp, 'QTIP_SOURCE.md'), 'w') as f:
        f.write('# Source\n\n' + note + '\n')
    cfg_path = os.path.join(tmp, 'config.json')
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg['qtip_source'] = {'gguf': name, 'tensor_types': types, 'note': note}
    with open(cfg_path, 'w') as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write('\n')
    os.rename(tmp, out)
    print(note, file=sys.stderr)
    print(out)


if __name__ == '__main__':
    main()
