"""The library's decode-GEMV on a CUDA device (qtip_cuda_matvec_*, lib/qtip_matvec.h,
docs/matvec.md "On a GPU") through ctypes.

QTIPLinear runs a layer with it when its input is a CUDA tensor of at most 32
rows and libqtip (with its CUDA plugin, libqtip_cuda.so) is found: the packed
tensors stay where the module keeps them (their data_ptr() is handed over, not
copied), the codes are decoded inside the kernel, and the work is queued on the
current torch stream. Where the plugin or a device is missing, create() says why
and the module falls back to the torch ops. The library is found as for the CPU
matvec (qtip.cpu_matvec: $QTIP_LIB, $QTIP_BIN, build/, the loader path).
"""
import ctypes

import torch

from . import cpu_matvec

MAX_BATCH = cpu_matvec.MAX_BATCH


def _prototypes(lib):
    vp = ctypes.c_void_p
    if getattr(lib, '_qtip_cuda_prototypes', False):
        return lib
    i32, i64, f32p = ctypes.c_int, ctypes.c_int64, ctypes.POINTER(ctypes.c_float)
    lib.qtip_cuda_matvec_create_flat.argtypes = [
        i32, ctypes.c_char_p, i32, i32, i32, i32, i32, i32,  # device, code, L K V Q td_x td_y
        i64, i64, vp, i64, vp, vp, ctypes.c_float, vp,      # m, n, codes, code_cols, SU, SV, wscale, tlut
        ctypes.POINTER(vp)]
    lib.qtip_cuda_matvec_apply.argtypes = [vp, vp, vp, ctypes.c_int64, vp]
    lib.qtip_cuda_matvec_free.argtypes = [vp]
    lib.qtip_cuda_matvec_free.restype = None
    lib._qtip_cuda_prototypes = True
    return lib


def library():
    """libqtip with the CUDA entries' prototypes, or None (as cpu_matvec.library)."""
    lib = cpu_matvec.library()
    if lib is None or not hasattr(lib, 'qtip_cuda_matvec_create_flat'):
        return None
    return _prototypes(lib)


class CudaMatvec:
    """One layer's device context. The tensors (on one CUDA device) must stay
    alive and unchanged while the context lives: QTIPLinear drops it whenever a
    packed tensor is replaced."""

    def __init__(self, lib, settings, method, m, n, codes, SU, SV, Wscale, tlut):
        self.lib, self.m, self.n = lib, m, n
        self.device = codes.device
        code, trellis = cpu_matvec.flat_code(settings, method)
        f32 = dict(device=self.device, dtype=torch.float32)
        self.keep = [codes.contiguous(), SU.to(**f32).contiguous(), SV.to(**f32).contiguous()]
        if tlut is not None:
            self.keep.append(tlut.to(**f32).contiguous())
        tptr = self.keep[3].data_ptr() if tlut is not None else None
        self.ctx = ctypes.c_void_p()
        index = self.device.index if self.device.index is not None else torch.cuda.current_device()
        if lib.qtip_cuda_matvec_create_flat(
                index, code.encode(), *trellis, m, n, self.keep[0].data_ptr(), self.keep[0].shape[1],
                self.keep[1].data_ptr(), self.keep[2].data_ptr(), float(Wscale.reshape(-1)[0]), tptr,
                ctypes.byref(self.ctx)) != 0:
            self.ctx = None
            raise RuntimeError('qtip_cuda_matvec_create_flat: %s' % lib.qtip_last_error().decode())

    def __del__(self):
        if getattr(self, 'ctx', None):
            self.lib.qtip_cuda_matvec_free(self.ctx)

    def __call__(self, x):
        """x (..., n) on this device, at most 32 rows -> (..., m) fp32."""
        rows = x.reshape(-1, self.n).to(torch.float32).contiguous()
        out = torch.empty(rows.shape[0], self.m, dtype=torch.float32, device=self.device)
        stream = torch.cuda.current_stream(self.device).cuda_stream
        if self.lib.qtip_cuda_matvec_apply(self.ctx, rows.data_ptr(), out.data_ptr(), rows.shape[0],
                                           stream) != 0:
            raise RuntimeError('qtip_cuda_matvec_apply: %s' % self.lib.qtip_last_error().decode())
        return out.reshape(*x.shape[:-1], self.m)
