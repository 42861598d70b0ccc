#!/usr/bin/env bash
# setup-python.sh — the Python route (calibration capture, evaluation, python/qtip)
# into the project's .venv: Debian's torch 1.13 and the openmp OpenBLAS, and the
# pinned PyPI set of python/requirements.txt under python/constraints.txt.
#   scripts/setup-python.sh
# Idempotent: a second run checks the Debian packages and a stamp (the checksum of
# both pin files) and returns in about a second. Needs root (or sudo) for apt-get.
# Facts behind every choice: README.md (Python) and the comments below.
set -euo pipefail
cd "$(dirname "$0")/.."

# debian-handbook (The Debian Administrator's Handbook as HTML; 98 MB with its
# translations, 8 MB of it English): the English prose the default job calibrates
# and evaluates on (calib/text_debian_handbook.py)
PKGS=(python3-torch libopenblas0-openmp python3-venv python3-numpy debian-handbook)
. scripts/debian-packages.sh
install_debian_packages setup-python "${PKGS[@]}"

# The same venv scripts/setup.sh makes: Debian's python3, so Debian's torch and
# numpy are visible (--system-site-packages).
if [ ! -x .venv/bin/python3 ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
SITE=$(.venv/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

# BLAS for Python only. Debian's torch calls libblas.so.3, whose system alternative
# is the pthread OpenBLAS that libopenblas-dev (the C build's) pulls in: it
# oversubscribes torch's OpenMP threads (forward passes 2.5x slower). A .pth hook
# preloads the openmp copy at interpreter start, so torch binds to it by soname;
# the C tools and the system alternative are left alone.
cp python/qtip_openmp_blas.py "$SITE/qtip_openmp_blas.py"
echo 'import qtip_openmp_blas' > "$SITE/qtip_openmp_blas.pth"
# python/qtip importable from the venv without an install step (the source tree
# is the package; edits need no reinstall)
echo "$PWD/python" > "$SITE/qtip_source.pth"

STAMP=.venv/.qtip-python-pins
want=$(cat python/requirements.txt python/constraints.txt | sha256sum | cut -c1-64)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ] ||
   ! .venv/bin/python3 -c 'import transformers, tokenizers, safetensors, gguf, accelerate' 2>/dev/null; then
  echo "setup-python: pip install -r python/requirements.txt" >&2
  .venv/bin/python3 -m pip install -q --disable-pip-version-check \
    -r python/requirements.txt -c python/constraints.txt
  echo "$want" > "$STAMP"
fi
HF_HUB_OFFLINE=1 .venv/bin/python3 - <<'PY'
import torch, numpy, transformers, qtip_openmp_blas
assert numpy.__version__.split('.')[0] == '1', 'numpy 2 breaks Debian torch 1.13'
assert torch.__version__.startswith('1.13'), torch.__version__
blas = qtip_openmp_blas.loaded_blas()
assert 'openmp' in blas, 'torch would use ' + blas
PY
