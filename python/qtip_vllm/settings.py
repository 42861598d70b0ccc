"""What the plugin reads from a checkpoint, without vLLM: the quantization config
(config.json's quantization_config, or a quantize_config.json), each quantized
layer's settings, and the plan of one vLLM linear layer, which may stack several
of the checkpoint's layers (q/k/v in qkv_proj, gate/up in gate_up_proj).

A packed directory (docs/formats/model-dir.md) quantizes q, k, v, gate and up
separately: each has its own codes, SU, SV, Wscale (and table), and may even have
its own code and K (a mixed directory). So a stacked vLLM layer is a list of
sub-layers; its parameters hold every sub-layer's tensors side by side (codes and
SV stacked along the output dimension, SU, Wscale and tables one row per
sub-layer), filled by the weight loader under the shard ids vLLM's models use.

Tensor parallelism (qtip.tensor_parallel): a checkpoint quantized with
qtip-quantize --tp N serves at any --tensor-parallel-size dividing N. Each rank's
parameters then hold its own slice of every sub-layer (serving_settings gives the
sub-layers' settings as the rank holds them, shard_loaded slices a checkpoint
tensor), and that slice is a layer of its own: its sharded side's Hadamard blocks
are all local. Any other degree is refused at load, naming both degrees.
"""
import os

import torch

from qtip import e8p, tensor_parallel, trellis
from qtip.linear import TABLE_CODES
from qtip.packed import PackedFormatError, check_quantization_config
from qtip.tensor_parallel import TensorParallelError, code_columns  # noqa: F401 (the plugin's names)

METHODS = ('qtip', 'quip#')
# vLLM's shard ids: QKVParallelLinear's letters, MergedColumnParallelLinear's ints
QKV_SHARDS = {'q': 0, 'k': 1, 'v': 2}
# The guide's fields of a quantize_config.json (the QTIP integration guide's names)
GUIDE_FIELDS = ('L', 'K', 'V', 'tlut_bits', 'decode_mode')


def kernel_tile_order(s):
    """The tile order qtip-pack writes when a config does not say (model-dir.md):
    the tensor-core fragment order for the kernel configuration, else row-major."""
    kernel = (trellis.code_name(s['decode_mode']) == 'quantlut_sym' and s['L'] == 16 and s['V'] == 2
              and s['tlut_bits'] == 9 and s['K'] in (2, 3, 4) and (s['td_x'], s['td_y']) == (16, 16))
    return 'mma' if kernel else 'row-major'


def parse(cfg):
    """The checkpoint's quantization config -> (global settings, {prefix: settings}
    or None when every linear uses the global settings, tp degree it was quantized for).
    Accepts qtip-pack's config.json quantization_config and quantize_config.json,
    and the guide's quantize_config.json (quant_method "qtip" and GUIDE_FIELDS)."""
    method = cfg.get('quant_method')
    if method not in METHODS:
        raise PackedFormatError('quant_method %r: the qtip plugin reads "qtip" and "quip#"' % (method,))
    if 'format' in cfg:
        check_quantization_config(cfg, 'quantization_config')
    elif method == 'qtip':
        missing = [f for f in GUIDE_FIELDS if f not in cfg]
        if missing:
            raise PackedFormatError('quantization config: no %s' % ', '.join(missing))
    settings = {k: v for k, v in cfg.items() if k not in ('layers', 'tensor_checksums')}
    if method == 'qtip':
        trellis.code_name(settings['decode_mode'])   # an unknown code fails here, with the known ones
        settings.setdefault('td_x', 16)
        settings.setdefault('td_y', 16)
        settings.setdefault('tile_order', kernel_tile_order(settings))
    else:
        e8p.KINDS[settings.setdefault('codebook', 'e8p12')]
    layers = cfg.get('layers')
    if layers is not None and (not isinstance(layers, dict) or not layers):
        raise PackedFormatError('quantization config: "layers" is not a map of layer settings')
    return settings, layers, int(cfg.get('tp_size', 1))


def check_tp(checkpoint_tp, world_tp, where):
    """Refuse a TP degree the checkpoint cannot be served with: one that does not
    divide the degree it was quantized for (a checkpoint of tp_size 1 serves at 1
    only: its Hadamard transforms span whole dimensions)."""
    tensor_parallel.check_degree(checkpoint_tp, world_tp, where)


def serving_settings(names, settings, input_size, output_sizes, world_tp, rank, sharded_side):
    """Each sub-layer's settings as rank `rank` of `world_tp` holds it. sharded_side:
    the side vLLM shards this layer on ("input" for a row-parallel layer, "output"
    for a column-parallel one, None when it holds the whole layer); input_size and
    output_sizes: the rank's (vLLM's input_size_per_partition and
    output_partition_sizes). The full shapes follow from them; a sub-layer
    quantized for another degree or split on the other side is refused."""
    if world_tp == 1 or sharded_side is None:
        return [dict(s) for s in settings]
    out = []
    for name, s, m in zip(names, settings, output_sizes):
        tensor_parallel.check_degree(tensor_parallel.tp_size(s), world_tp, name)
        split = s.get('tp_split', sharded_side)   # a guide config names no side: vLLM's
        if split != sharded_side:
            raise TensorParallelError(
                '%s: quantized with its %s side per shard (tp_split %r), but vLLM shards its %s '
                'features (a %s-parallel layer)' % (name, split, split, sharded_side,
                                                    'row' if sharded_side == 'input' else 'column'))
        full = [m, input_size * world_tp] if sharded_side == 'input' else [m * world_tp, input_size]
        if 'shape' in s and list(s['shape']) != full:
            raise PackedFormatError('%s: quantized with shape %s; rank %d of %d holds %s of it, which '
                                    'is not an even share (replicated KV heads are not supported)'
                                    % (name, list(s['shape']), rank, world_tp, [m, input_size]))
        out.append(tensor_parallel.shard_settings(dict(s, shape=full, tp_split=split), rank, world_tp))
    return out


def shard_loaded(full_settings, suffix, tensor, rank, world_tp):
    """The rank's slice of one checkpoint tensor of a sub-layer (full_settings: its
    settings with the whole layer's shape and tp_split); tensors that are not
    sliced (Wscale, tlut) are returned as they are."""
    m, n = full_settings['shape']
    full = {'qtip_codes': (m, code_columns(full_settings, n)), 'SU': (n,), 'SV': (m,)}.get(suffix)
    if world_tp == 1 or full is None:
        return tensor
    if tuple(tensor.shape) != full:
        raise PackedFormatError('%s %s in the checkpoint, the layer\'s settings give %s'
                                % (suffix, tuple(tensor.shape), full))
    return tensor_parallel.shard_tensors(full_settings, {suffix: tensor}, rank, world_tp)[suffix]


def load_table(model_dir, path, where):
    """The table of quantlut_path (relative to the model directory): a safetensors
    file holding one tensor, or a tensor named "tlut"; returned as fp32."""
    from safetensors import safe_open
    full = path if os.path.isabs(path) else os.path.join(model_dir or '.', path)
    try:
        with safe_open(full, framework='pt') as f:
            names = list(f.keys())
            name = 'tlut' if 'tlut' in names else names[0] if len(names) == 1 else None
            if name is None:
                raise PackedFormatError('%s: quantlut_path %s holds %d tensors and none named tlut'
                                        % (where, full, len(names)))
            return f.get_tensor(name).to(torch.float32)
    except (OSError, FileNotFoundError) as e:
        raise PackedFormatError('%s: quantlut_path %s: %s' % (where, full, e)) from None


def uses_table(s):
    return s['quant_method'] == 'qtip' and trellis.code_name(s['decode_mode']) in TABLE_CODES


def table_shape(s):
    """(rows, V) of a table code's tlut: 2^Q for HYB, 2^L for LUT."""
    code = trellis.code_name(s['decode_mode'])
    return (1 << (s['tlut_bits'] if code == 'quantlut_sym' else s['L']), s['V'])


def code_dtype(s):
    return torch.int32 if s['quant_method'] == 'quip#' and s['codebook'] != 'e8p12' else torch.int16


def shard_index(shard_id, count, where):
    """vLLM's shard id of a stacked layer -> the sub-layer index."""
    if shard_id is None and count == 1:
        return 0
    i = QKV_SHARDS.get(shard_id) if isinstance(shard_id, str) else shard_id
    if not isinstance(i, int) or not 0 <= i < count:
        raise ValueError('%s: shard id %r: expected one of %d sub-layers (q/k/v or 0..%d); '
                         'a checkpoint with fused q/k/v or gate/up tensors is not a qtip-pack '
                         'directory' % (where, shard_id, count, count - 1))
    return i


class Plan:
    """One vLLM linear layer: its sub-layers' names and settings, and the shapes of
    the parameters that hold them all."""

    def __init__(self, prefix, names, settings, n, out_sizes, tables=None):
        """tables: {sub-layer index: table} read from quantlut_path, for the
        sub-layers whose table is not in the checkpoint."""
        self.prefix, self.names, self.settings = prefix, list(names), list(settings)
        self.tables = dict(tables or {})
        self.n, self.out_sizes = n, list(out_sizes)
        self.offsets = [sum(out_sizes[:i]) for i in range(len(out_sizes))]
        for name, s, m in zip(self.names, self.settings, self.out_sizes):
            if 'shape' in s and tuple(s['shape']) != (m, n):
                raise PackedFormatError('%s: quantized with shape %s, the model\'s layer is %s'
                                        % (name, s['shape'], (m, n)))
            packs = (n * s['K']) % 16 == 0 if s['quant_method'] == 'qtip' else n % 8 == 0
            if not packs:
                raise PackedFormatError('%s: input size %d does not pack at K=%s' % (name, n, s.get('K')))
        self.columns = max(code_columns(s, n) for s in self.settings)
        self.codes_dtype = torch.int32 if torch.int32 in map(code_dtype, self.settings) else torch.int16
        tables = [table_shape(s) for i, s in enumerate(self.settings) if self.stored_table(i)]
        self.table = (max(r for r, _ in tables), max(v for _, v in tables)) if tables else None

    def stored_table(self, i):
        """Whether sub-layer i's table is a tensor of the checkpoint."""
        return uses_table(self.settings[i]) and i not in self.tables

    def shapes(self):
        """{suffix: (shape, dtype)} of the layer's parameters (tlut only if a
        sub-layer reads a table)."""
        S, M = len(self.names), sum(self.out_sizes)
        out = {'qtip_codes': ((M, self.columns), self.codes_dtype), 'SU': ((S, self.n), torch.float32),
               'SV': ((M,), torch.float32), 'Wscale': ((S,), torch.float32)}
        if self.table:
            out['tlut'] = ((S,) + self.table, torch.float32)
        return out

    def needed(self):
        """The (suffix, sub-layer) pairs the checkpoint must provide."""
        return {(sfx, i) for i in range(len(self.names))
                for sfx in ('qtip_codes', 'SU', 'SV', 'Wscale') + (('tlut',) if self.stored_table(i) else ())}

    def expected(self, suffix, i):
        """(shape, dtype) of sub-layer i's tensor as stored in the checkpoint."""
        s, m = self.settings[i], self.out_sizes[i]
        return {'qtip_codes': ((m, code_columns(s, self.n)), code_dtype(s)), 'SU': ((self.n,), torch.float32),
                'SV': ((m,), torch.float32), 'Wscale': ((), torch.float32),
                'tlut': (table_shape(s) if uses_table(s) else None, torch.float32)}[suffix]

    def slot(self, param, suffix, i):
        """The part of param that holds sub-layer i's tensor."""
        shape, _ = self.expected(suffix, i)
        if suffix in ('qtip_codes', 'SV'):
            rows = param.narrow(0, self.offsets[i], self.out_sizes[i])
            return rows.narrow(1, 0, shape[1]) if suffix == 'qtip_codes' else rows
        if suffix == 'tlut':
            return param[i].narrow(0, 0, shape[0]).narrow(1, 0, shape[1])
        return param[i]

    def sub_tensors(self, params, i):
        """Sub-layer i's tensors (views of params) by suffix, as QTIPLinear takes them."""
        out = {sfx: self.slot(params[sfx], sfx, i) for sfx, j in self.needed() if j == i}
        if i in self.tables:
            out['tlut'] = self.tables[i]
        return out
