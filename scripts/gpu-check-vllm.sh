#!/usr/bin/env bash
# gpu-check-vllm.sh — the vLLM part of scripts/gpu-check.sh (issue 17), kept in its own
# script: `vllm serve` of a packed SmolLM2 with our plugin (python/qtip_vllm), one
# completion checked against the transformers path (qtip.load_causal_lm, fp32), and
# batch-1 decode tokens/s of the 2-bit model against the fp16 original
# (tests/gpu/vllm_serve_check.py).
#   scripts/gpu-check-vllm.sh <build-dir> <log-dir>
# The GPU machine has no network, so nothing is installed or downloaded here:
#   QTIP_VLLM_VENV    venv with vLLM and the plugin (default: .venv-vllm, made by
#                     scripts/setup-vllm.sh)
#   QTIP_SMOLLM2_DIR  SmolLM2-135M-Instruct as a Hugging Face directory (default:
#                     models/smollm2/hf, made by scripts/run-default.sh)
#   QTIP_VLLM_PACKED  a packed directory of it to serve (default: made here with
#                     qtip-run --identity-hessian on the GPU, HYB K=2, into <log-dir>)
#   QTIP_VLLM_ARGS    vllm serve flags for both servers (default in vllm_serve_check.py)
#   QTIP_GPU_CHECK_DRY_RUN=1  check what is present and print the commands, run none
# Exit 0: passed; 77: skipped, the reason as the last line ("skipped: ..."); else failed.
set -uo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:?usage: gpu-check-vllm.sh <build-dir> <log-dir>}"
log="${2:?usage: gpu-check-vllm.sh <build-dir> <log-dir>}"
venv="${QTIP_VLLM_VENV:-$src/.venv-vllm}"
model="${QTIP_SMOLLM2_DIR:-$src/models/smollm2/hf}"
packed="${QTIP_VLLM_PACKED:-$log/smollm2-run/packed}"
dry="${QTIP_GPU_CHECK_DRY_RUN:-0}"
mkdir -p "$log"
skip() { echo "skipped: $*"; exit 77; }
run() { echo "\$ $*"; [ "$dry" = 1 ] || "$@"; }

vpy="$venv/bin/python3"
[ -x "$vpy" ] && "$vpy" -c 'import vllm, qtip_vllm' >/dev/null 2>&1 ||
  skip "vLLM not installed (scripts/setup-vllm.sh)"
[ -f "$model/config.json" ] && ls "$model"/*.safetensors >/dev/null 2>&1 ||
  skip "no SmolLM2 at $model (QTIP_SMOLLM2_DIR; scripts/run-default.sh makes models/smollm2/hf)"

# The transformers path needs accelerate, which vLLM's venv lacks: the project's .venv
# (scripts/setup-python.sh, the pinned transformers) when present, else vLLM's.
tpy="$src/.venv/bin/python3"
"$tpy" -c 'import torch, transformers, accelerate' >/dev/null 2>&1 || tpy="$vpy"

if [ ! -f "$packed/config.json" ]; then
  [ -z "${QTIP_VLLM_PACKED:-}" ] || { echo "QTIP_VLLM_PACKED=$packed has no config.json"; exit 1; }
  devices=0; nvidia-smi -L >/dev/null 2>&1 || devices=""
  run env QTIP_BIN="$build" "$src/scripts/qtip-run" -q --identity-hessian --jobs 4 \
    ${devices:+--devices "$devices"} -o "$log/smollm2-run" "$model" || { echo "qtip-run failed"; exit 1; }
fi
run "$tpy" "$src/tests/gpu/transformers_next_token.py" "$packed" "$log/transformers.json" ||
  { echo "the transformers path failed ($tpy)"; exit 1; }
run "$vpy" "$src/tests/gpu/vllm_serve_check.py" --vllm "$venv/bin/vllm" --packed "$packed" \
  --original "$model" --reference "$log/transformers.json" --log "$log" \
  ${QTIP_VLLM_ARGS:+--extra-args "$QTIP_VLLM_ARGS"} || exit $?
[ "$dry" = 1 ] && skip "dry run (QTIP_GPU_CHECK_DRY_RUN=1): the commands above were not run"
exit 0
