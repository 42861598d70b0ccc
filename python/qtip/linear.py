"""QTIPLinear: one quantized linear as a serving engine runs it.

Holds the packed tensors as they are in the packed directory (codes, SU, SV,
Wscale, tlut) and computes, for x (..., n):

    y = SV * U_m( Wscale * (Wr @ U_n^T(SU * x)) )          (+ bias)

with Wr decoded from the codes by torch ops (qtip.trellis, qtip.e8p) and U the
orthonormal Hadamard transforms (qtip.hadamard). Equivalent to x @ W_hat^T with
W_hat = diag(SV) U_m (Wscale * Wr) U_n^T diag(SU) (docs/formats/model-dir.md).
A layer quantized for tensor parallelism (tp_size > 1) has U block diagonal on
its sharded side (qtip.tensor_parallel); shard() gives one rank's plain layer.

On the CPU, when libqtip.so is found (qtip.cpu_matvec), inputs of at most 32
rows (token-by-token decoding) run in the library's matvec, which decodes the
codes tile by tile inside the multiply (docs/matvec.md). More rows (a prompt, an
evaluation window) decode the weight once and multiply it with one GEMM, as
serving engines split decode and prefill: the per-32-row decoding would
otherwise be repeated rows/32 times. On a CUDA device the same split holds with
the library's decode-GEMV kernels (qtip.cuda_matvec, libqtip_cuda.so: codes
decoded inside the kernel, on the current torch stream). Elsewhere, or without
the library (or its CUDA plugin and a device), the torch ops run.
"""
import warnings

import torch
from torch import nn

from . import cpu_matvec, cuda_matvec, e8p, hadamard, tensor_parallel, trellis
from .packed import PACKED_SUFFIXES


# the trellis codes that read a table (tlut); the others have none
TABLE_CODES = ('quantlut_sym', 'lut')


class QTIPLinear(nn.Module):
    def __init__(self, settings, tensors=None, bias=None, cache_decoded=False):
        """settings: the layer's entry of quantize_config.json; tensors: its packed
        tensors by suffix (qtip_codes, SU, SV, Wscale[, tlut]), or None to load them
        later with load_packed (from_pretrained: until then they are placeholders on
        the meta device, so the module's state dict names what the checkpoint must
        hold). bias: a tensor or parameter (a meta one is loaded later like any
        parameter). cache_decoded keeps the decoded Wr after the first forward
        (decode once, like a manifest)."""
        super().__init__()
        m, n = settings['shape']
        self.out_features, self.in_features = m, n
        self.settings = dict(settings)
        self.blocks = tensor_parallel.tp_blocks(settings)      # (out, in) Hadamard blocks
        self.method = settings.get('quant_method')
        if self.method not in ('qtip', 'quip#'):
            raise ValueError('layer quant_method %r: expected "qtip" or "quip#"' % self.method)
        if self.method == 'qtip':
            uses_table = trellis.code_name(settings['decode_mode']) in TABLE_CODES  # unknown codes fail here
        else:
            e8p.KINDS[settings['codebook']]
            uses_table = False
        for suffix in PACKED_SUFFIXES:
            needed = suffix != 'tlut' or uses_table
            self.register_buffer(suffix, torch.empty(0, device='meta') if needed else None)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.cache_decoded = cache_decoded
        self._wr = None
        self._mv = None
        self._cmv = None
        self._cuda_failed = False
        for suffix, t in (tensors or {}).items():
            self.load_packed(suffix, t)

    def load_packed(self, suffix, tensor):
        """Take one packed tensor as stored: the codes unchanged, signs, scales and
        table as fp32 (the precision this module computes in, whatever dtype the
        rest of the model has)."""
        if getattr(self, suffix, None) is None or suffix not in PACKED_SUFFIXES:
            raise ValueError('%s: not a packed tensor of this layer (%s)' % (suffix, self.extra_repr()))
        want = {'SU': (self.in_features,), 'SV': (self.out_features,)}.get(suffix)
        if want is not None and tuple(tensor.shape) != want:
            raise ValueError('%s has shape %s, the layer (%s) expects %s'
                             % (suffix, tuple(tensor.shape), self.extra_repr(), want))
        setattr(self, suffix, tensor if suffix == 'qtip_codes' else tensor.to(torch.float32))
        self._wr = None
        self._mv = None
        self._cmv = None

    def unloaded(self):
        """The packed tensors this layer needs and has not been given yet."""
        return [s for s in PACKED_SUFFIXES if getattr(self, s) is not None and getattr(self, s).is_meta]

    def decode_wr(self):
        """The rotated, normalized weight Wr (m x n, fp32) decoded from the codes."""
        if self._wr is not None:
            return self._wr
        s, m, n = self.settings, self.out_features, self.in_features
        if self.method == 'qtip':
            tile = s.get('tile_order', 'row-major')
            if tile not in ('row-major', 'mma', 'mma16x16'):
                raise ValueError('unknown tile_order %r' % tile)
            wr = trellis.decode(self.qtip_codes, m, n, code=s['decode_mode'], L=s['L'], K=s['K'],
                                V=s['V'], Q=s['tlut_bits'], td_x=s['td_x'], td_y=s['td_y'],
                                mma=tile != 'row-major', tlut=self.tlut)
        else:
            wr = e8p.decode(self.qtip_codes, m, n, s['codebook'])
        if self.cache_decoded:
            self._wr = wr
        return wr

    def dequantized_weight(self):
        """W_hat (m x n, fp32): the weight this layer multiplies by."""
        ob, ib = self.blocks
        W = self.decode_wr() * self.Wscale
        W = hadamard.had_transform(W.T, blocks=ob).T           # U_m (columns)
        W = hadamard.had_transform(W, blocks=ib)               # (.) U_n^T: rows r -> U_n r
        return W * self.SV.unsqueeze(1) * self.SU.unsqueeze(0)

    def packed_tensors(self):
        """The loaded packed tensors by suffix (tlut only when the code reads one)."""
        return {s: getattr(self, s) for s in PACKED_SUFFIXES if getattr(self, s) is not None}

    def shard(self, rank, count):
        """Rank `rank` of `count` (count divides tp_size) as a layer of its own, over
        views of this layer's tensors: the rows it outputs (tp_split output) or the
        inputs it reads (input: its output is a partial sum over ranks)."""
        if self.unloaded():
            raise ValueError('shard of a layer whose tensors are not loaded (%s)' % self.extra_repr())
        s = tensor_parallel.shard_settings(self.settings, rank, count)
        return QTIPLinear(s, tensor_parallel.shard_tensors(self.settings, self.packed_tensors(), rank, count),
                          cache_decoded=self.cache_decoded)

    def sharded_forward(self, x, count=None):
        """y computed as `count` ranks would (default: one per block): each rank from
        its own slice, outputs concatenated (output split) or summed (input split)."""
        count = count or tensor_parallel.tp_size(self.settings)
        if count == 1:
            return self(x)
        parts = [self.shard(r, count) for r in range(count)]
        if self.settings['tp_split'] == 'output':
            return torch.cat([p(x) for p in parts], dim=-1)
        k = self.in_features // count
        return sum(p(x[..., r * k:(r + 1) * k]) for r, p in enumerate(parts))

    def library_matvec(self, x):
        """The library's matvec context for input x, or None where the torch ops
        run: x not on the CPU, x needing a gradient, no libqtip, tensors not
        loaded, more than 32 rows (one decode and a GEMM are then cheaper)."""
        lib = cpu_matvec.library()
        if lib is None or x.device.type != 'cpu' or (x.requires_grad and torch.is_grad_enabled()) \
                or self.unloaded() or x.numel() > cpu_matvec.MAX_BATCH * self.in_features:
            return None
        if self.blocks != (1, 1):   # the library's transforms span whole dimensions: per shard
            if self._mv is None:
                self._mv = _ShardedMatvec(self)
            return self._mv
        if self._mv is None:
            self._mv = cpu_matvec.CpuMatvec(lib, self.settings, self.method, self.out_features,
                                            self.in_features, self.qtip_codes, self.SU, self.SV,
                                            self.Wscale, self.tlut)
        return self._mv

    def device_matvec(self, x):
        """The library's CUDA decode-GEMV context for input x, or None where the
        torch ops run: x not on a CUDA device or needing a gradient, a layer
        quantized for tensor parallelism (the kernels' transforms span whole
        dimensions), no libqtip,
        no plugin or device (said once, then not tried again), tensors not loaded
        or not on x's device, more than 32 rows."""
        if x.device.type != 'cuda' or self.blocks != (1, 1) or self._cuda_failed or (x.requires_grad and torch.is_grad_enabled()) \
                or self.unloaded() or self.qtip_codes.device != x.device \
                or x.numel() > cuda_matvec.MAX_BATCH * self.in_features:
            return None
        lib = cuda_matvec.library()
        if lib is None:
            return None
        if self._cmv is None or self._cmv.device != x.device:
            try:
                self._cmv = cuda_matvec.CudaMatvec(lib, self.settings, self.method, self.out_features,
                                                   self.in_features, self.qtip_codes, self.SU, self.SV,
                                                   self.Wscale, self.tlut)
            except RuntimeError as e:
                self._cuda_failed = True
                warnings.warn('QTIPLinear: the torch ops run on %s: %s' % (x.device, e))
                return None
        return self._cmv

    def forward(self, x):
        dtype = x.dtype
        mv = self.library_matvec(x) or self.device_matvec(x)
        if mv is not None:
            y = mv(x)
            if self.bias is not None:
                y = y + self.bias.to(torch.float32)
            return y.to(dtype)
        ob, ib = self.blocks
        x1 = x.to(torch.float32) * self.SU
        x2 = hadamard.had_transform(x1, inverse=True, blocks=ib)   # U_n^T (SU x)
        y2 = torch.matmul(x2, self.decode_wr().T) * self.Wscale
        y = hadamard.had_transform(y2, blocks=ob) * self.SV        # SV U_m (...)
        if self.bias is not None:
            y = y + self.bias.to(torch.float32)
        return y.to(dtype)

    def extra_repr(self):
        s = self.settings
        what = s.get('decode_mode', s.get('codebook'))
        tp = ', tp_size=%d (%s)' % (s['tp_size'], s['tp_split']) if tensor_parallel.tp_size(s) > 1 else ''
        return 'in_features=%d, out_features=%d, %s K=%s%s' % (self.in_features, self.out_features, what,
                                                              s.get('K'), tp)


class _ShardedMatvec:
    """The library matvec of a tensor-parallel layer, one context per block (each
    block's shard is a plain layer): what the ranks compute, on one CPU."""

    def __init__(self, layer):
        self.split = layer.settings['tp_split']
        self.count = tensor_parallel.tp_size(layer.settings)
        self.k = layer.in_features // self.count
        self.shards = [layer.shard(r, self.count) for r in range(self.count)]
        self.mvs = [sh.library_matvec(torch.zeros(1, sh.in_features)) for sh in self.shards]

    def __call__(self, x):
        if self.split == 'output':
            return torch.cat([mv(x) for mv in self.mvs], dim=-1)
        return sum(mv(x[..., r * self.k:(r + 1) * self.k]) for r, mv in enumerate(self.mvs))
