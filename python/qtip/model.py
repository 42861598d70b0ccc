"""load_causal_lm: a transformers causal LM built from a packed directory, with
every quantized linear a QTIPLinear holding the packed tensors.

transformers 4.47.1 (the pinned version) has a quantizer registration API
(transformers.quantizers: register_quantization_config / register_quantizer),
but its loading path still materializes each nn.Linear's weight from the
checkpoint; this loader is the documented alternative the issue allows: build
the model from config.json on the meta device, put a QTIPLinear at every
module prefix listed in quantize_config.json, and copy every other tensor of
the directory unchanged. Nothing is dequantized to a dense copy.
"""
import torch
from torch import nn

from .linear import QTIPLinear
from .packed import PackedFormatError, PackedModel


def _set_module(root, prefix, module):
    parent_name, _, child = prefix.rpartition('.')
    parent = root.get_submodule(parent_name) if parent_name else root
    if not isinstance(getattr(parent, child, None), nn.Linear):
        raise PackedFormatError('quantized layer %s is not an nn.Linear of the model (%s)'
                                % (prefix, type(getattr(parent, child, None)).__name__))
    setattr(parent, child, module)


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
    for prefix, settings in pm.layers.items():
        bias = pm.tensors.get(prefix + '.bias')
        _set_module(model, prefix, QTIPLinear(settings, pm.layer_tensors(prefix), bias=bias,
                                              cache_decoded=cache_decoded))
    plain = {k: v for k, v in pm.plain_tensors().items()
             if not any(k == p + '.bias' for p in pm.layers)}
    _load_plain(model, plain, dtype, packed_dir)
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
    missing = [k for k, p in model.named_parameters() if p.is_meta]
    if missing:
        raise PackedFormatError('%s: tensors missing from the directory: %s' % (where, ', '.join(sorted(missing)[:5])))
    for name, buf in model.named_buffers():
        if buf is not None and buf.is_meta:
            raise PackedFormatError('%s: buffer %s was not initialized' % (where, name))


def _is_qtip_buffer(model, name):
    prefix = name.rpartition('.')[0]
    try:
        return isinstance(model.get_submodule(prefix), QTIPLinear)
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
