"""load_causal_lm: a transformers causal LM built from a packed directory, with
every quantized linear a QTIPLinear holding the packed tensors.

This loader needs nothing of transformers but from_config: build the model from
config.json on the meta device, put a QTIPLinear at every module prefix listed in
quantize_config.json (qtip.replace, shared with the from_pretrained route of
qtip.hf), give each its packed tensors, and copy every other tensor of the
directory unchanged. Nothing is dequantized to a dense copy. qtip.hf makes
transformers' own AutoModelForCausalLM.from_pretrained do the same.
"""
import torch
from torch import nn

from .linear import QTIPLinear
from .packed import PACKED_SUFFIXES, PackedFormatError, PackedModel
from .replace import replace_linears, require_loaded


def load_causal_lm(packed_dir, dtype=torch.float32, cache_decoded=False):
    """The packed model as an AutoModelForCausalLM in eval mode.

    dtype: the non-quantized parameters' dtype (QTIPLinear computes in fp32 and
    returns its input's dtype). cache_decoded: keep each layer's decoded codes
    after the first forward (faster repeated evaluation, more memory)."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    pm = PackedModel(packed_dir)
    cfg = dict(pm.config)
    cfg.pop('quantization_config', None)
    model_type = cfg.get('model_type')
    if not model_type:
        raise PackedFormatError('%s/config.json has no model_type' % packed_dir)
    config = AutoConfig.for_model(**cfg)
    # parameters on the meta device: nothing dense is allocated for the linears
    # the packed tensors replace (torch 1.13 has no torch.device context)
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config, torch_dtype=dtype)
    for prefix, module in replace_linears(model, pm.layers, cache_decoded).items():
        for suffix, t in pm.layer_tensors(prefix).items():
            module.load_packed(suffix, t)
    _load_plain(model, pm.plain_tensors(), dtype, packed_dir)
    model.eval()
    return model


def _load_plain(model, tensors, dtype, where):
    """Copy the non-quantized tensors; tied weights and missing names are checked."""
    state = model.state_dict(keep_vars=True)
    expected = {k for k in state if not _is_qtip_buffer(model, k)}
    unknown = sorted(set(tensors) - expected)
    if unknown:
        raise PackedFormatError('%s: tensors the model does not have: %s' % (where, ', '.join(unknown[:5])))
    for name, t in tensors.items():
        _assign(model, name, t.to(dtype) if t.is_floating_point() else t)
    if getattr(model.config, 'tie_word_embeddings', False):
        model.tie_weights()
    require_loaded(model, where)


def _is_qtip_buffer(model, name):
    prefix, _, leaf = name.rpartition('.')
    try:
        return leaf in PACKED_SUFFIXES and isinstance(model.get_submodule(prefix), QTIPLinear)
    except AttributeError:
        return False


def _assign(model, name, tensor):
    prefix, _, leaf = name.rpartition('.')
    mod = model.get_submodule(prefix) if prefix else model
    old = getattr(mod, leaf)
    if tuple(old.shape) != tuple(tensor.shape):
        raise PackedFormatError('tensor %s has shape %s, the model expects %s'
                                % (name, tuple(tensor.shape), tuple(old.shape)))
    if isinstance(old, nn.Parameter):
        setattr(mod, leaf, nn.Parameter(tensor, requires_grad=False))
    else:
        mod.register_buffer(leaf, tensor)
