#!/usr/bin/env bash
# eval_wikitext.sh — qtip-eval against the reference figure: SmolLM2-135M (the
# converted GGUF, scripts/run-default.sh makes it) on the WikiText-2 raw test split,
# first 20 non-overlapping windows of 512 tokens, no special tokens: perplexity
# 34.973 (measured by the torch route's reference run). Too slow for CI (about 3
# minutes on 1 busy core), hence a benchmark. Exit 1 when the figure differs.
#   bench/eval_wikitext.sh SMOLLM2_HF_DIR wiki.test.raw [threads]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || { echo "usage: $0 SMOLLM2_HF_DIR wiki.test.raw [threads]" >&2; exit 2; }
out=$("$here/scripts/qtip-eval" "$1" --text "$2" --windows 20 --ctx 512 --threads "${3:-1}" --json)
echo "$out"
python3 - "$out" <<'PY'
import json, sys
ppl = json.loads(sys.argv[1])['perplexity']
ok = abs(ppl - 34.973) < 0.001
print('perplexity %.4f, reference 34.973: %s' % (ppl, 'ok' if ok else 'DIFFERS'))
sys.exit(0 if ok else 1)
PY
