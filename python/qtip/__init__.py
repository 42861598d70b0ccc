"""qtip: read packed QTIP / QuIP# model directories (qtip-pack) in torch.

QTIPLinear decodes the packed codes with torch ops written from the format docs
(docs/formats/model-dir.md, packing.md, algorithms-*.md); load_causal_lm builds a
transformers causal LM around them."""
from .linear import QTIPLinear
from .model import load_causal_lm
from .packed import PackedFormatError, PackedModel

__all__ = ['QTIPLinear', 'load_causal_lm', 'PackedModel', 'PackedFormatError']
