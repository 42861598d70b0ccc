"""qtip: read packed QTIP / QuIP# model directories (qtip-pack) in torch.

QTIPLinear decodes the packed codes with torch ops written from the format docs
(docs/formats/model-dir.md, packing.md, algorithms-*.md); load_causal_lm builds a
transformers causal LM around them; `import qtip.hf` makes transformers'
AutoModelForCausalLM.from_pretrained do the same. qtip.pipeline (the qtip-run
driver) needs no torch, so the torch modules are imported on first use."""
__all__ = ['QTIPLinear', 'load_causal_lm', 'PackedModel', 'PackedFormatError']

_WHERE = {'QTIPLinear': 'linear', 'load_causal_lm': 'model',
          'PackedModel': 'packed', 'PackedFormatError': 'packed'}


def __getattr__(name):
    if name not in _WHERE:
        raise AttributeError('module qtip has no attribute %r' % name)
    import importlib
    return getattr(importlib.import_module('.' + _WHERE[name], __name__), name)
