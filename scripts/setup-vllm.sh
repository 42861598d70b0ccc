#!/usr/bin/env bash
# setup-vllm.sh — vLLM and the qtip plugin (python/qtip_vllm) in their own venv,
# .venv-vllm: vLLM needs torch 2.x, and the project's .venv must keep Debian's
# torch 1.13 (scripts/setup-python.sh), so the two never share site-packages.
#   scripts/setup-vllm.sh
# Idempotent: a second run checks a stamp (the pins below) and returns at once.
# First run: about 13 min and 9.6 GB on the 2-core CI machine (docs/serving-vllm.md).
set -euo pipefail
cd "$(dirname "$0")/.."

# vLLM pins torch exactly; 0.34.0 cannot be installed from PyPI (its pin
# flashinfer-python==0.7.3 is not published there), 0.33.0 can. CUDA wheels come
# with it from PyPI (there is no CPU-only vLLM wheel there). The plugin is installed
# editable so its entry point (vllm.general_plugins) is registered.
VLLM_PINS=(vllm==0.33.0)
PKGS=(python3-venv)
. scripts/debian-packages.sh
install_debian_packages setup-vllm "${PKGS[@]}"

if [ ! -x .venv-vllm/bin/pip ]; then
  rm -rf .venv-vllm
  /usr/bin/python3 -m venv .venv-vllm
fi
STAMP=.venv-vllm/.qtip-vllm-pins
want=$(printf '%s\n' "${VLLM_PINS[@]}" | cat - python/qtip_vllm/pyproject.toml | sha256sum | cut -c1-64)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ] ||
   ! .venv-vllm/bin/python3 -c 'import importlib.util as u; assert u.find_spec("vllm")' 2>/dev/null ||
   ! .venv-vllm/bin/python3 -m pip show -q qtip-vllm 2>/dev/null; then
  echo "setup-vllm: pip install ${VLLM_PINS[*]} (several GB)" >&2
  .venv-vllm/bin/python3 -m pip install -q --disable-pip-version-check "${VLLM_PINS[@]}"
  .venv-vllm/bin/python3 -m pip install -q --disable-pip-version-check --no-deps -e python/qtip_vllm
  echo "$want" > "$STAMP"
fi
# python/qtip (the decoder the plugin runs) importable without an install step, as
# in .venv (scripts/setup-python.sh)
SITE=$(.venv-vllm/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$PWD/python" > "$SITE/qtip_source.pth"
