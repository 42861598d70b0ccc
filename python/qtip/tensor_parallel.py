"""Tensor parallelism of a packed layer (docs/formats/model-dir.md, "Tensor
parallelism"): a layer quantized with qtip-quantize --tp N has its sharded side's
Hadamard transform block diagonal, N blocks, so each of N ranks holds a plain
layer of its own:

- tp_split "output" (column-parallel: q/k/v, gate/up): rank r holds rows
  r*m/N .. of the codes and SV, all of SU; its output is its slice of y.
- tp_split "input" (row-parallel: o_proj, down_proj): rank r holds the code
  columns of inputs r*n/N .., that slice of SU, all of SV; its output is a
  partial sum, and y is the sum over ranks (the engine's all-reduce).

A checkpoint quantized for N serves at any degree d dividing N: each rank then
holds N/d consecutive blocks (still block diagonal). Any other degree, a
checkpoint of tp_size 1 at d > 1 included, cannot apply its transforms locally.
"""

SPLITS = ('input', 'output')


class TensorParallelError(ValueError):
    """A tensor-parallel degree the checkpoint was not quantized for."""


def tp_size(settings):
    return int(settings.get('tp_size', 1))


def tp_blocks(settings):
    """(out_blocks, in_blocks): the diagonal blocks of each side's Hadamard."""
    tp = tp_size(settings)
    if tp <= 1:
        return 1, 1
    split = settings.get('tp_split')
    if split not in SPLITS:
        raise ValueError('tp_size %d needs tp_split "input" or "output", found %r' % (tp, split))
    return (1, tp) if split == 'input' else (tp, 1)


def code_columns(settings, n):
    """Columns of one layer's canonical codes for n in-features (model-dir.md)."""
    return n * settings['K'] // 16 if settings['quant_method'] == 'qtip' else n // 8


def check_degree(checkpoint_tp, world_tp, where):
    """Refuse a serving degree the checkpoint's transforms do not allow."""
    if world_tp == 1 or checkpoint_tp % world_tp == 0:
        return
    raise TensorParallelError(
        '%s: this checkpoint was quantized for tensor-parallel degree %d, not %d: its Hadamard '
        'transforms come in %d blocks per sharded side, so a rank of degree %d cannot apply them '
        'locally. Serve it with a --tensor-parallel-size dividing %d, or quantize with '
        'qtip-quantize --tp %d.' % (where, checkpoint_tp, world_tp, checkpoint_tp, world_tp,
                                   checkpoint_tp, world_tp))


def shard_settings(settings, rank, count):
    """The settings of rank `rank` of `count` (count divides tp_size): its shape,
    and the blocks it keeps (tp_size / count; none left at count = tp_size)."""
    m, n = settings['shape']
    tp = tp_size(settings)
    if count == 1:
        return dict(settings)
    if tp % count or not 0 <= rank < count:
        raise TensorParallelError('rank %d of %d: the layer has %d blocks' % (rank, count, tp))
    s = dict(settings)
    s['shape'] = [m, n // count] if settings['tp_split'] == 'input' else [m // count, n]
    if tp // count > 1:
        s['tp_size'] = tp // count
    else:
        s.pop('tp_size', None)
        s.pop('tp_split', None)
    return s


def shard_tensors(settings, tensors, rank, count):
    """Rank `rank`'s slices of the packed tensors (views; by suffix)."""
    m, n = settings['shape']
    out = dict(tensors)
    if count == 1:
        return out
    if settings['tp_split'] == 'input':
        cols, k = code_columns(settings, n // count), n // count
        cuts = {'qtip_codes': (1, rank * cols, cols), 'SU': (0, rank * k, k)}
    else:
        rows = m // count
        cuts = {'qtip_codes': (0, rank * rows, rows), 'SV': (0, rank * rows, rows)}
    for suffix, (dim, start, length) in cuts.items():
        if suffix in out:
            out[suffix] = out[suffix].narrow(dim, start, length)
    return out
