"""Preload the openmp OpenBLAS before torch is imported (scripts/setup-python.sh
installs this module and a .pth line that imports it at interpreter start).

Debian's torch links libblas.so.3 / liblapack.so.3 by soname; the dynamic linker
reuses an object already loaded under that soname, so loading the openmp copies
first makes torch use them whatever the system alternative points at (the C
build's libopenblas-dev selects the pthread variant, which oversubscribes torch's
OpenMP threads). Set QTIP_SYSTEM_BLAS=1 to keep the system choice.
"""
import ctypes
import os
import sysconfig

# Debian's multiarch library directory, e.g. lib/x86_64-linux-gnu/openblas-openmp
_DIR = os.path.join('/usr/lib', sysconfig.get_config_var('MULTIARCH') or '', 'openblas-openmp')


def _preload():
    if os.environ.get('QTIP_SYSTEM_BLAS') or not os.path.isdir(_DIR):
        return
    for name in ('libblas.so.3', 'liblapack.so.3'):
        path = os.path.join(_DIR, name)
        if os.path.exists(path):
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)


def loaded_blas():
    """The path of the libblas.so.3 mapped into this process ('' if none)."""
    with open('/proc/self/maps') as f:
        for line in f:
            if 'libblas.so.3' in line or 'libopenblas' in line:
                return line.split()[-1]
    return ''


_preload()
