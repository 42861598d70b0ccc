#!/usr/bin/env python3
"""`vllm serve` of a packed model with our plugin, for scripts/gpu-check-vllm.sh
(issue 17): one completion checked against the transformers path, and batch-1
decode tokens/s of the packed model against the original in fp16.

  vllm_serve_check.py --vllm VLLM_BIN --packed DIR --original DIR \
      --reference TRANSFORMERS_JSON --log LOG_DIR [--port 8765] [--extra-args "..."]

Completion: the prompt's token ids (from transformers_next_token.py's JSON, so both
sides see the same ids), greedy, top-5 log-probs, token ids returned as ids. Pass:
vLLM's first token is the transformers path's (or, when the transformers path's
top-2 are within MARGIN nats, one of those two) and its log-prob of the transformers
path's top token is within LOGPROB_TOL nats (vLLM serves fp16 activations, the
transformers path is fp32: their log-probs differ by about 1e-2 on SmolLM2).
Speed: one request at a time (batch 1), ignore_eos; decode tokens/s =
(N - 1) / (t(N tokens) - t(1 token)), best of REPEATS, for the packed model
(--quantization qtip) and the original (--dtype float16), same flags otherwise.
Prints one line per result and writes LOG_DIR/vllm.json; exit 0 when the completion
check passes and both servers ran.
"""
import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

LOGPROB_TOL = 0.15
MARGIN = 0.1
DECODE_TOKENS = 128
REPEATS = 3
START_TIMEOUT = 600


def post(port, body, timeout=300):
    req = urllib.request.Request('http://127.0.0.1:%d/v1/completions' % port,
                                 data=json.dumps(body).encode(),
                                 headers={'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def wait_healthy(proc, port, log_path):
    """Until GET /health answers 200; False when the server exits or START_TIMEOUT."""
    t0 = time.time()
    while time.time() - t0 < START_TIMEOUT:
        if proc.poll() is not None:
            print('vllm serve exited %d while starting (log: %s)' % (proc.returncode, log_path))
            return False
        try:
            with urllib.request.urlopen('http://127.0.0.1:%d/health' % port, timeout=5) as r:
                if r.status == 200:
                    print('vllm serve ready after %.0f s' % (time.time() - t0))
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(2)
    print('vllm serve not ready after %d s (log: %s)' % (START_TIMEOUT, log_path))
    return False


class Server:
    """`vllm serve` in its own process group, stopped on exit from the block."""

    def __init__(self, vllm, model, port, args, log_path):
        self.cmd = [vllm, 'serve', model, '--port', str(port), '--host', '127.0.0.1'] + args
        self.port, self.log_path = port, log_path

    def __enter__(self):
        print('$ ' + ' '.join(shlex.quote(c) for c in self.cmd))
        self.log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.ready = wait_healthy(self.proc, self.port, self.log_path)
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def check_completion(port, model, ref):
    """vLLM's greedy completion of the reference prompt ids against the transformers path."""
    r = post(port, {'model': model, 'prompt': ref['prompt_ids'], 'max_tokens': len(ref['greedy']),
                    'temperature': 0, 'logprobs': 5, 'return_tokens_as_token_ids': True})
    lp = r['choices'][0]['logprobs']
    ids = [int(t.split(':')[-1]) for t in lp['tokens']]
    first_top = {int(k.split(':')[-1]): v for k, v in lp['top_logprobs'][0].items()}
    (t0, l0), (t1, l1) = ref['top'][0], ref['top'][1]
    allowed = {t0, t1} if l0 - l1 < MARGIN else {t0}
    d = abs(first_top[t0] - l0) if t0 in first_top else float('inf')
    ok = ids[0] in allowed and d <= LOGPROB_TOL
    print('completion: vLLM first token %d, transformers %d (top-2 margin %.3f); log-prob of %d: '
          'vLLM %.4f, transformers %.4f, |d| %.4f (tol %.2f) -> %s' % (
              ids[0], t0, l0 - l1, t0, first_top.get(t0, float('nan')), l0, d, LOGPROB_TOL,
              'ok' if ok else 'FAIL'))
    same = sum(a == b for a, b in zip(ids, ref['greedy']))
    print('completion: greedy %d tokens, %d equal to the transformers path (fp16 vs fp32: '
          'reported, not checked): %r' % (len(ids), same, r['choices'][0]['text']))
    return {'ok': ok, 'vllm_ids': ids, 'logprob_diff': d, 'greedy_equal': same}


def decode_tokens_per_s(port, model, prompt_ids):
    """Batch-1 decode speed: (N - 1) tokens over t(N) - t(1), best of REPEATS."""
    def timed(n):
        t = time.perf_counter()
        post(port, {'model': model, 'prompt': prompt_ids, 'max_tokens': n, 'temperature': 0,
                    'ignore_eos': True})
        return time.perf_counter() - t
    timed(DECODE_TOKENS)  # warm-up
    best = 0.0
    for _ in range(REPEATS):
        dt = timed(DECODE_TOKENS) - timed(1)
        best = max(best, (DECODE_TOKENS - 1) / dt if dt > 0 else 0.0)
    return best


def serve_and_measure(a, name, model, args, ref, result):
    log_path = os.path.join(a.log, 'vllm-serve-%s.log' % name)
    with Server(a.vllm, model, a.port, args, log_path) as s:
        if not s.ready:
            result[name] = {'ok': False, 'error': 'server did not start (%s)' % log_path}
            return False
        entry = {}
        if name == 'packed':
            entry = check_completion(a.port, model, ref)
        entry['decode_tok_s'] = decode_tokens_per_s(a.port, model, ref['prompt_ids'])
        entry.setdefault('ok', True)
        print('%s: batch-1 decode %.1f tokens/s' % (name, entry['decode_tok_s']))
        result[name] = entry
        return entry['ok']


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--vllm', required=True)
    p.add_argument('--packed', required=True)
    p.add_argument('--original', required=True)
    p.add_argument('--reference', required=True)
    p.add_argument('--log', required=True)
    p.add_argument('--port', type=int, default=8765)
    p.add_argument('--extra-args', default='--enforce-eager --max-model-len 1024')
    a = p.parse_args()
    with open(a.reference) as f:
        ref = json.load(f)
    extra = shlex.split(a.extra_args)
    result = {'extra_args': extra}
    ok = serve_and_measure(a, 'packed', a.packed, ['--quantization', 'qtip', '--dtype', 'float16'] + extra,
                           ref, result)
    ok &= serve_and_measure(a, 'fp16', a.original, ['--dtype', 'float16'] + extra, ref, result)
    if result.get('packed', {}).get('decode_tok_s') and result.get('fp16', {}).get('decode_tok_s'):
        print('batch-1 decode: packed %.1f tok/s vs fp16 %.1f tok/s (ratio %.2f)' % (
            result['packed']['decode_tok_s'], result['fp16']['decode_tok_s'],
            result['packed']['decode_tok_s'] / result['fp16']['decode_tok_s']))
    with open(os.path.join(a.log, 'vllm.json'), 'w') as f:
        json.dump(result, f, indent=1)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
