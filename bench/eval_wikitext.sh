#!/usr/bin/env bash
# eval_wikitext.sh — qtip-eval against the reference figure: SmolLM2-135M (the
# converted GGUF, scripts/run-default.sh makes it) on the WikiText-2 raw test split,
# first 20 non-overlapping windows of 512 tokens, no special tokens: perplexity
# 34.973 (measured by the torch route's reference run). Too slow for CI (about 3
# minutes per model on 1 busy core), hence a benchmark. Exit 1 when the figure differs.
# Each PACKED directory (qtip-pack output of the same model, e.g. out/default/packed)
# is scored on the same windows: perplexity, KL and top-1 agreement to the original.
#   bench/eval_wikitext.sh SMOLLM2_HF_DIR wiki.test.raw [threads] [PACKED_DIR...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: $0 SMOLLM2_HF_DIR wiki.test.raw [threads] [PACKED_DIR...]" >&2; exit 2; }
model=$1 text=$2 threads=${3:-1}
shift $(( $# >= 3 ? 3 : 2 ))
out=$("$here/scripts/qtip-eval" "$model" --text "$text" --windows 20 --ctx 512 --threads "$threads" --json)
echo "$out"
python3 - "$out" <<'PY'
import json, sys
ppl = json.loads(sys.argv[1])['perplexity']
ok = abs(ppl - 34.973) < 0.001
print('original: perplexity %.4f, reference 34.973: %s' % (ppl, 'ok' if ok else 'DIFFERS'))
sys.exit(0 if ok else 1)
PY
for packed in "$@"; do
  q=$("$here/scripts/qtip-eval" "$packed" --reference "$model" --text "$text" --windows 20 --ctx 512 \
      --threads "$threads" --json)
  python3 - "$packed" "$q" <<'PY'
import json, sys
e = json.loads(sys.argv[2])
print('%s: perplexity %.4f (original %.4f), KL %.4f, top-1 agreement %.4f'
      % (sys.argv[1], e['perplexity'], e['reference_perplexity'], e['kl_mean'], e['top1_agreement']))
PY
done
