"""Round-to-nearest: the baseline rows of the issue's comparison table.

Every linear qtip quantizes (the seven per decoder block; not the embeddings or
the head) gets its weight replaced in place by its round-to-nearest fake
quantization: per output row and group of `group` consecutive inputs (the last
group of a row may be shorter), asymmetric min-max with `bits` bits,

    s = (max - min) / (2^bits - 1),  q = clamp(round((w - min) / s), 0, 2^bits - 1),
    w' = min + s * q                 (s = 0, a constant group: w' = min = w)

the w = d*q + m form of GGUF's Q4_1. Computed in float64 and stored back in the
weight's dtype. Stored as a real checkpoint would be (s and min in fp16 per
group), it costs bits + 32 / group bits per weight (bits_per_weight)."""
from .pipeline.model_dir import LINEAR_SUFFIXES


def bits_per_weight(bits, group):
    return bits + 32.0 / group


def fake_quantize(w, bits, group):
    """The round-to-nearest copy of a 2-D weight (a new tensor, w's dtype)."""
    import torch
    if not 1 <= bits <= 16 or group < 1:
        raise ValueError('round-to-nearest needs 1 <= bits <= 16 and group >= 1 (got %d, %d)'
                         % (bits, group))
    levels = 2 ** bits - 1
    x = w.detach().to(torch.float64)
    out = torch.empty_like(x)
    for j in range(0, x.shape[1], group):
        g = x[:, j:j + group]
        lo, hi = g.min(dim=1, keepdim=True).values, g.max(dim=1, keepdim=True).values
        s = (hi - lo) / levels
        safe = torch.where(s > 0, s, torch.ones_like(s))
        q = torch.clamp(torch.round((g - lo) / safe), 0, levels)
        out[:, j:j + group] = torch.where(s > 0, lo + s * q, lo.expand_as(g))
    return out.to(w.dtype)


def apply(model, bits, group=128):
    """Replace the weight of every quantizable linear of model in place; the names."""
    import torch
    names = []
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.Linear) and name.endswith(LINEAR_SUFFIXES):
                m.weight.copy_(fake_quantize(m.weight, bits, group))
                names.append(name)
    if not names:
        raise ValueError('round-to-nearest: the model has no linear qtip quantizes')
    return names
