#!/usr/bin/env bash
# setup.sh — install qtip's dependencies (Debian packages) and build it.
#   scripts/setup.sh [build-dir]      (default: build)
# Needs root (or sudo) for apt-get; skips apt-get when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}

PKGS=(build-essential cmake pkg-config libopenblas-dev liblapacke-dev libzstd-dev
      libjansson-dev libxxhash-dev zstd python3 python3-pip python3-numpy python3-venv unzip
      slurm-wlm munge)  # the last two: tests/slurm starts a real single-node Slurm
. scripts/debian-packages.sh
install_debian_packages setup "${PKGS[@]}"

# The project's Python: a venv of Debian's python3 that sees Debian's packages
# (numpy now; torch later). A python3 earlier on PATH may be another interpreter
# without them. Scripts and tests run with .venv/bin first on PATH (scripts/test.sh).
if [ ! -x .venv/bin/python3 ]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
.venv/bin/python3 -c 'import numpy' 2>/dev/null || { echo "setup: .venv/bin/python3 cannot import numpy" >&2; exit 1; }

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DQTIP_WERROR=ON ${QTIP_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
