"""python -m qtip.report (the default job's table): rows from qtip-run and
qtip-eval --rtn-bits summaries, bits weighted by layer size (checked against a
hand count), stages reused from another run left blank, and a summary scored on
other windows or another original refused rather than mixed into the table."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PY = os.path.join(HERE, '..', '..', 'python')

EVAL = {'windows': 8, 'ctx': 512, 'tokens_scored': 4088, 'special_tokens': False,
        'reference_perplexity': 24.9, 'perplexity': 30.0, 'kl_mean': 0.25, 'top1_agreement': 0.75}


def run_summary(hessians, bits):
    # 576x576 at bits[0], 576x1536 at bits[1]: weighted mean by hand below
    return {'layers': [{'shape': [576, 576], 'bits_per_weight': bits[0]},
                       {'shape': [576, 1536], 'bits_per_weight': bits[1]}],
            'hessians': hessians, 'quantized': 2,
            'stages': {'quantize': {'seconds': 1300.4}, 'pack': {'redone': True, 'seconds': 0.74},
                       'verify': {'redone': False, 'seconds': 20}, 'eval': {'redone': True, 'seconds': 70}},
            'eval': dict(EVAL)}


def report(d, names, **files):
    paths = []
    for n in names:
        p = os.path.join(d, n + '.json')
        with open(p, 'w') as f:
            json.dump(files[n.replace('-', '_')], f)
        paths.append(p)
    return subprocess.run([sys.executable, '-m', 'qtip.report'] + paths, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=PY))


def main():
    fails = []
    with tempfile.TemporaryDirectory() as d:
        rtn = dict(EVAL, perplexity=90.0, rtn={'bits': 2, 'group': 128, 'bits_per_weight': 2.25}, seconds=41)
        r = report(d, ['hyb', 'e8p', 'rtn-2bit'],
                   hyb=run_summary({'source': 'captured', 'seconds': 120.2, 'redone': True}, [2, 2]),
                   e8p=run_summary({'source': 'given', 'dir': 'h'}, [2, 4]), rtn_2bit=rtn)
        lines = r.stdout.splitlines()
        want_bits = (576 * 576 * 2 + 576 * 1536 * 4) / (576 * 576 + 576 * 1536)  # 3.4545...
        checks = [
            (r.returncode == 0, 'exit 0 (%s)' % r.stderr.strip()),
            (len(lines) >= 6 and lines[2].startswith('| original') and '| 24.900 |' in lines[2], 'original row'),
            (len(lines) >= 6 and lines[3] == '| hyb | 2.00 | 30.000 | 0.2500 | 0.7500 | 120 | 1300 | 0.7 |  | 70 |',
             'captured run row: %r' % (lines[3] if len(lines) > 3 else None)),
            (len(lines) >= 6 and lines[4].startswith('| e8p | %.2f |' % want_bits) and '| 0.2500 | 0.7500 |  | 1300 |' in lines[4],
             'given-Hessians row, weighted bits %.2f: %r' % (want_bits, lines[4] if len(lines) > 4 else None)),
            (len(lines) >= 6 and lines[5].startswith('| rtn-2bit (round-to-nearest, groups of 128) | 2.25 | 90.000 |')
             and lines[5].endswith('|  |  |  |  | 41 |'), 'rtn row: %r' % (lines[5] if len(lines) > 5 else None)),
        ]
        other = run_summary({'source': 'given'}, [2, 2])
        other['eval']['windows'] = 4
        r2 = report(d, ['hyb', 'other'], hyb=run_summary({'source': 'given'}, [2, 2]), other=other)
        checks.append((r2.returncode == 1 and 'other was scored on other windows' in r2.stderr
                       and 'windows' in r2.stderr, 'mixed windows refused: %r' % r2.stderr))
        noeval = run_summary({'source': 'given'}, [2, 2])
        del noeval['eval']
        r3 = report(d, ['noeval'], noeval=noeval)
        checks.append((r3.returncode == 1 and 'noeval: the run has no evaluation' in r3.stderr,
                       'a run without eval refused: %r' % r3.stderr))
        for ok, what in checks:
            print('%s %s' % ('ok  ' if ok else 'FAIL', what))
            if not ok:
                fails.append(what)
    return 1 if fails else 0


if __name__ == '__main__':
    sys.exit(main())
