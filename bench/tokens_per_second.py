#!/usr/bin/env python3
"""tokens_per_second.py — batch-1 greedy decode speed of packed models through the
torch path (python/qtip: transformers' from_pretrained with qtip.hf, every quantized
linear a QTIPLinear, which runs the library's CPU matvec for <= 32 rows) against
the original Hugging Face model, in the same run.

  bench/tokens_per_second.py ORIGINAL_DIR PACKED_DIR [PACKED_DIR...]
      [--tokens 32] [--reps 3] [--threads 1] [--prompt TEXT] [--json]

Each model: the prompt is run once (prefill), then --tokens tokens are generated
one at a time, greedily, with the KV cache; tok/s counts those decode steps only
(the prefill is reported apart). The models take turns within each repetition
(on a shared machine the load falls on all of them alike) and the median of
--reps is reported (one thread: CPU time, robust on a shared machine; more: wall
time), with the ratio to the original and how many of the generated
tokens equal the original's. Everything in fp32 (QTIPLinear computes in fp32).
--threads sets torch's and libqtip's threads. Needs torch and transformers (the
project's .venv); libqtip.so as python/qtip/cpu_matvec.py finds it (build/ beside
python/, or $QTIP_BIN / $QTIP_LIB).
"""
import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault('HF_HUB_OFFLINE', '1')
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache  # noqa: E402

import qtip.hf  # noqa: E402,F401  (registers the qtip quantization method)
from qtip import cpu_matvec  # noqa: E402


def load(d):
    return AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()


def generate(model, prompt_ids, tokens, clock):
    """Greedy decode: (prefill seconds, decode seconds, generated ids)."""
    out_ids = []
    with torch.no_grad():
        past = DynamicCache()
        t0 = clock()
        out = model(input_ids=prompt_ids, past_key_values=past, use_cache=True)
        nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        t1 = clock()
        for _ in range(tokens):
            out_ids.append(int(nxt))
            out = model(input_ids=nxt, past_key_values=past, use_cache=True)
            nxt = out.logits[:, -1].argmax(-1, keepdim=True)
        t2 = clock()
    return t1 - t0, t2 - t1, out_ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('original')
    ap.add_argument('packed', nargs='+')
    ap.add_argument('--tokens', type=int, default=32)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--prompt', default='The history of the printing press begins')
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    lib = cpu_matvec.library()
    if lib is None:
        sys.exit('libqtip.so not found (build it, or set QTIP_BIN): the packed models would not '
                 'run the library matvec')
    lib.qtip_set_threads(a.threads)
    names = [a.original] + a.packed
    models = [load(d) for d in names]
    ids = AutoTokenizer.from_pretrained(a.original)(a.prompt, return_tensors='pt')['input_ids']
    # one thread: the process's CPU time (robust on a shared machine, as
    # bench_matvec); more: wall time
    clock = time.process_time if a.threads == 1 else time.perf_counter
    for m in models:  # warm-up: first-call allocations, the library contexts
        generate(m, ids, 2, clock)
    runs = [[] for _ in models]
    for _ in range(a.reps):
        for i, m in enumerate(models):
            runs[i].append(generate(m, ids, a.tokens, clock))
    ref_ids = runs[0][0][2]
    rows = []
    for d, r in zip(names, runs):
        decode_s = statistics.median(x[1] for x in r)
        rows.append({'model': d, 'tok_s': a.tokens / decode_s,
                     'prefill_ms': 1e3 * statistics.median(x[0] for x in r),
                     'same_tokens': sum(p == q for p, q in zip(r[0][2], ref_ids))})
    for row in rows:
        row['vs_original'] = row['tok_s'] / rows[0]['tok_s']
    meta = {'tokens': a.tokens, 'reps': a.reps, 'threads': a.threads, 'prompt_tokens': ids.shape[1],
            'matvec_kernel': lib.qtip_matvec_simd().decode(),
            'clock': 'CPU time' if a.threads == 1 else 'wall time'}
    if a.json:
        print(json.dumps({'bench': 'tokens_per_second', **meta, 'models': rows}))
        return
    print('batch-1 greedy decode, %(tokens)d tokens after a %(prompt_tokens)d-token prompt, '
          '%(threads)d thread(s) (%(clock)s), median of %(reps)d, matvec kernel %(matvec_kernel)s' % meta)
    print('%-8s %9s %12s %12s %12s  %s' % ('', 'tok/s', 'vs original', 'prefill ms', 'same tokens', 'model'))
    for i, row in enumerate(rows):
        print('%-8s %9.2f %11.2fx %12.1f %8d/%-3d  %s' % ('original' if i == 0 else 'packed', row['tok_s'],
              row['vs_original'], row['prefill_ms'], row['same_tokens'], a.tokens, row['model']))


if __name__ == '__main__':
    main()
