#!/usr/bin/env bash
# setup.sh — install qtip's dependencies (Debian packages) and build it.
#   scripts/setup.sh [build-dir]      (default: build)
# Needs root (or sudo) for apt-get; skips apt-get when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}

PKGS=(build-essential cmake pkg-config libopenblas-dev liblapacke-dev libzstd-dev
      libjansson-dev libxxhash-dev zstd python3 python3-pip python3-numpy unzip)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "setup: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# What the tests need (tests/cli/*.sh write their inputs with python3; test_npy
# round-trips through numpy): missing, they would be reported as skipped.
python3 -c 'import numpy' 2>/dev/null || { echo "setup: python3 cannot import numpy" >&2; exit 1; }

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DQTIP_WERROR=ON ${QTIP_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
