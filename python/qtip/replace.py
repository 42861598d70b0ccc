"""replace_linears: the one place where a transformers model's nn.Linear modules
become QTIPLinear modules, for both loaders (qtip.model.load_causal_lm and the
from_pretrained quantizer of qtip.hf).

The model is built on the meta device, so the replaced nn.Linear never had a dense
weight; each QTIPLinear starts with placeholders for its packed tensors (and keeps
the linear's meta bias, if it has one) that the loader then fills from the
directory."""
from torch import nn

from .linear import QTIPLinear
from .packed import PackedFormatError


def replace_linears(model, layers, cache_decoded=False):
    """Put a QTIPLinear at every module prefix of layers ({prefix: settings from
    quantize_config.json}); returns {prefix: module}. A prefix that is not an
    nn.Linear of the model, or has another shape, is an error naming it."""
    placed = {}
    for prefix, settings in layers.items():
        parent_name, _, child = prefix.rpartition('.')
        try:
            parent = model.get_submodule(parent_name) if parent_name else model
        except AttributeError:
            parent = None
        old = getattr(parent, child, None)
        if not isinstance(old, nn.Linear):
            raise PackedFormatError('quantized layer %s is not an nn.Linear of the model %s (%s)'
                                    % (prefix, type(model).__name__, type(old).__name__))
        shape = (old.out_features, old.in_features)
        if tuple(settings.get('shape', ())) != shape:
            raise PackedFormatError('quantized layer %s has shape %s in quantize_config.json, '
                                    'the model %s' % (prefix, settings.get('shape'), shape))
        placed[prefix] = QTIPLinear(settings, bias=old.bias, cache_decoded=cache_decoded)
        setattr(parent, child, placed[prefix])
    return placed


def require_loaded(model, where):
    """Refuse a model with any parameter or buffer still on the meta device: a
    tensor the directory did not provide (a quantized layer's packed tensor or a
    plain one) is an error, never a silently random or empty weight."""
    missing = [n for n, t in list(model.named_parameters()) + list(model.named_buffers())
               if t is not None and t.is_meta]
    if missing:
        raise PackedFormatError('%s: tensors missing from the directory: %s%s'
                                % (where, ', '.join(sorted(missing)[:5]),
                                   ' and %d more' % (len(missing) - 5) if len(missing) > 5 else ''))
