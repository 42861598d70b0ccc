"""The library's CPU matvec (lib/qtip_matvec.h, docs/matvec.md) through ctypes.

QTIPLinear runs a layer with it on the CPU when libqtip.so is found: the codes
are decoded tile by tile inside the multiply, never as a dense weight. Where the
library is looked for, first hit wins: $QTIP_LIB (the .so itself), $QTIP_BIN (a
build directory), the build/ directory beside python/, the system's loader path.
QTIP_TORCH_ONLY=1 turns it off (the torch ops then run, as without a library).

The structures below mirror qtip_layer_info and qtip_quant_params field for
field (lib/qtip_quant.h, lib/qtip_trellis.h); the test compares this path's
outputs with the torch path's, so a drifting layout shows there.
"""
import ctypes
import ctypes.util
import os

import torch

MAX_BATCH = 32  # QTIP_MATVEC_MAX_BATCH


class _TrellisParams(ctypes.Structure):
    _fields_ = [('L', ctypes.c_int), ('K', ctypes.c_int), ('V', ctypes.c_int), ('Q', ctypes.c_int),
                ('code', ctypes.c_int), ('td_x', ctypes.c_int), ('td_y', ctypes.c_int)]


class _QuantParams(ctypes.Structure):
    _fields_ = [('method', ctypes.c_int), ('trellis', _TrellisParams), ('e8p', ctypes.c_int),
                ('sigma_reg', ctypes.c_double), ('damping_tries', ctypes.c_int),
                ('scale_override', ctypes.c_double), ('seed', ctypes.c_uint64),
                ('refine_passes', ctypes.c_int), ('ldlq', ctypes.c_int), ('device', ctypes.c_int),
                ('tail_biting', ctypes.c_int), ('device_index', ctypes.c_int), ('tp_size', ctypes.c_int),
                ('tp_split', ctypes.c_int)]


_FLOATS = ctypes.POINTER(ctypes.c_float)


class _LayerInfo(ctypes.Structure):
    _fields_ = [('params', _QuantParams), ('m', ctypes.c_int64), ('n', ctypes.c_int64),
                ('tensor', ctypes.c_char_p), ('proxy_loss', ctypes.c_double),
                ('proxy_loss_rotated', ctypes.c_double), ('damping', ctypes.c_double),
                ('wscale', ctypes.c_float), ('bits_per_weight', ctypes.c_double),
                ('seconds', ctypes.c_double), ('weights_checksum', ctypes.c_char_p),
                ('hessian_checksum', ctypes.c_char_p), ('refine_count', ctypes.c_int),
                ('refine_losses', ctypes.POINTER(ctypes.c_double)), ('code_cols', ctypes.c_int64),
                ('code_is_i32', ctypes.c_int), ('codes', ctypes.c_void_p), ('SU', _FLOATS),
                ('SV', _FLOATS), ('tlut', _FLOATS), ('tlut_rows', ctypes.c_size_t),
                ('tlut_cols', ctypes.c_size_t)]


def _candidates():
    if os.environ.get('QTIP_LIB'):
        yield os.environ['QTIP_LIB']
    if os.environ.get('QTIP_BIN'):
        yield os.path.join(os.environ['QTIP_BIN'], 'libqtip.so')
    yield os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'build', 'libqtip.so')
    found = ctypes.util.find_library('qtip')
    if found:
        yield found


_lib = None
_lib_tried = False


def library():
    """The loaded libqtip (prototypes set), or None when none is found or
    QTIP_TORCH_ONLY is set."""
    global _lib, _lib_tried
    if os.environ.get('QTIP_TORCH_ONLY'):
        return None
    if not _lib_tried:
        _lib_tried = True
        for path in _candidates():
            if os.path.exists(path) or not os.path.dirname(path):
                try:
                    _lib = _prototypes(ctypes.CDLL(path))
                    break
                except (OSError, AttributeError):
                    continue
    return _lib


def _prototypes(lib):
    vp = ctypes.c_void_p
    lib.qtip_quant_default_params.restype = _QuantParams
    lib.qtip_quant_default_params.argtypes = [ctypes.c_int]
    lib.qtip_code_from_name.argtypes = [ctypes.c_char_p]
    lib.qtip_e8p_from_name.argtypes = [ctypes.c_char_p]
    lib.qtip_matvec_create.argtypes = [ctypes.POINTER(_LayerInfo), ctypes.POINTER(vp)]
    lib.qtip_matvec_apply_batch.argtypes = [vp, _FLOATS, ctypes.c_int64, _FLOATS]
    lib.qtip_matvec_free.argtypes = [vp]
    lib.qtip_matvec_free.restype = None
    lib.qtip_last_error.restype = ctypes.c_char_p
    return lib


def _ptr(t):
    return ctypes.cast(t.data_ptr(), _FLOATS)


class CpuMatvec:
    """One layer's matvec context, made from QTIPLinear's settings and packed
    tensors (copied by the library: the tensors may change after)."""

    def __init__(self, lib, settings, method, m, n, codes, SU, SV, Wscale, tlut):
        self.lib, self.m, self.n = lib, m, n
        info = _LayerInfo()
        if method == 'qtip':
            info.params = lib.qtip_quant_default_params(0)
            t = info.params.trellis
            t.code = lib.qtip_code_from_name(settings['decode_mode'].encode())
            t.L, t.K, t.V, t.Q = settings['L'], settings['K'], settings['V'], settings['tlut_bits']
            t.td_x, t.td_y = settings['td_x'], settings['td_y']
            info.params.trellis = t
        else:
            info.params = lib.qtip_quant_default_params(1)
            info.params.e8p = lib.qtip_e8p_from_name(settings['codebook'].encode())
        keep = [codes.contiguous(), SU.to(torch.float32).contiguous(), SV.to(torch.float32).contiguous()]
        info.m, info.n = m, n
        info.tensor = b'QTIPLinear'
        info.weights_checksum = info.hessian_checksum = b''
        info.wscale = float(Wscale.reshape(-1)[0])
        info.code_cols = keep[0].shape[1]
        info.code_is_i32 = int(keep[0].dtype == torch.int32)
        info.codes = keep[0].data_ptr()
        info.SU, info.SV = _ptr(keep[1]), _ptr(keep[2])
        if tlut is not None:
            keep.append(tlut.to(torch.float32).contiguous())
            info.tlut = _ptr(keep[3])
            info.tlut_rows, info.tlut_cols = keep[3].shape
        self.ctx = ctypes.c_void_p()
        if lib.qtip_matvec_create(ctypes.byref(info), ctypes.byref(self.ctx)) != 0:
            raise ValueError('qtip_matvec_create: %s' % lib.qtip_last_error().decode())

    def __del__(self):
        if getattr(self, 'ctx', None):
            self.lib.qtip_matvec_free(self.ctx)

    def __call__(self, x):
        """x (..., n) fp32 on the CPU -> (..., m) fp32."""
        rows = x.reshape(-1, self.n).to(torch.float32).contiguous()
        out = torch.empty(rows.shape[0], self.m, dtype=torch.float32)
        for i in range(0, rows.shape[0], MAX_BATCH):
            xb, yb = rows[i:i + MAX_BATCH], out[i:i + MAX_BATCH]
            if self.lib.qtip_matvec_apply_batch(self.ctx, _ptr(xb), xb.shape[0], _ptr(yb)) != 0:
                raise RuntimeError('qtip_matvec_apply_batch: %s' % self.lib.qtip_last_error().decode())
        return out.reshape(*x.shape[:-1], self.m)
