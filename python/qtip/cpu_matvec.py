"""The library's CPU matvec (lib/qtip_matvec.h, docs/matvec.md) through ctypes.

QTIPLinear runs a layer with it on the CPU when libqtip.so is found: the codes
are decoded tile by tile inside the multiply, never as a dense weight. Where the
library is looked for, first hit wins: $QTIP_LIB (the .so itself), $QTIP_BIN (a
build directory), the build/ directory beside python/, the system's loader path.
QTIP_TORCH_ONLY=1 turns it off (the torch ops then run, as without a library).

The context is made by qtip_matvec_create_flat, which takes plain values: no
library structure is mirrored here (a mirror read garbage once when the C
structure gained a field), so the two sides cannot drift apart silently.
"""
import ctypes
import ctypes.util
import os

import torch

MAX_BATCH = 32  # QTIP_MATVEC_MAX_BATCH


_FLOATS = ctypes.POINTER(ctypes.c_float)


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
    vp, i32, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
    lib.qtip_matvec_create_flat.argtypes = [
        ctypes.c_char_p, ctypes.c_char_p, i32, i32, i32, i32, i32, i32,  # tensor, code, L K V Q td_x td_y
        i64, i64, vp, i64, i32,  # m, n, codes, code_cols, code_is_i32
        _FLOATS, _FLOATS, ctypes.c_float, _FLOATS, i64, i64,  # SU, SV, wscale, tlut, rows, cols
        ctypes.POINTER(vp)]
    lib.qtip_matvec_apply_batch.argtypes = [vp, _FLOATS, ctypes.c_int64, _FLOATS]
    lib.qtip_matvec_free.argtypes = [vp]
    lib.qtip_matvec_free.restype = None
    lib.qtip_last_error.restype = ctypes.c_char_p
    lib.qtip_matvec_simd.restype = ctypes.c_char_p
    lib.qtip_set_threads.argtypes = [i32]
    lib.qtip_set_threads.restype = None
    return lib


def _ptr(t):
    return ctypes.cast(t.data_ptr(), _FLOATS)


def flat_code(settings, method):
    """(code name, [L, K, V, Q, td_x, td_y]) of a layer, as the flat create entries
    take them (the six are ignored for an E8P codebook)."""
    if method == 'qtip':
        return settings['decode_mode'], [settings[k] for k in ('L', 'K', 'V', 'tlut_bits', 'td_x', 'td_y')]
    return settings['codebook'], [0] * 6


class CpuMatvec:
    """One layer's matvec context, made from QTIPLinear's settings and packed
    tensors (copied by the library: the tensors may change after)."""

    def __init__(self, lib, settings, method, m, n, codes, SU, SV, Wscale, tlut, name='QTIPLinear'):
        self.lib, self.m, self.n = lib, m, n
        code, trellis = flat_code(settings, method)
        keep = [codes.contiguous(), SU.to(torch.float32).contiguous(), SV.to(torch.float32).contiguous()]
        table, rows, cols = None, 0, 0
        if tlut is not None:
            keep.append(tlut.to(torch.float32).contiguous())
            table, (rows, cols) = _ptr(keep[3]), keep[3].shape
        self.ctx = ctypes.c_void_p()
        st = lib.qtip_matvec_create_flat(
            name.encode(), code.encode(), *trellis, m, n, keep[0].data_ptr(), keep[0].shape[1],
            int(keep[0].dtype == torch.int32), _ptr(keep[1]), _ptr(keep[2]),
            float(Wscale.reshape(-1)[0]), table, rows, cols, ctypes.byref(self.ctx))
        if st != 0:
            raise ValueError('qtip_matvec_create_flat: %s' % lib.qtip_last_error().decode())

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
