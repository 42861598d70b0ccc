"""The default job's table: one row per quantized model, read from the JSON
summaries of its runs, all scored on the same windows against the same original.

  python -m qtip.report [--out TABLE.md] SUMMARY.json...

A SUMMARY is qtip-run's (--json; a packed model with its stages' wall times)
or qtip-eval's with --rtn-bits (the round-to-nearest baseline). The row's name
is the file's name without .json. The first row of the table is the original,
from the reference perplexity the summaries share; a summary scored on other
windows or against another original is an error, not a silently mixed table."""
import argparse
import json
import os
import sys

STAGES = ('hessians', 'quantize', 'pack', 'verify', 'eval')


class ReportError(ValueError):
    pass


def bits_of_run(s):
    """Weighted bits per weight over a qtip-run summary's linears."""
    w = sum(l['shape'][0] * l['shape'][1] for l in s['layers'])
    return sum(l['bits_per_weight'] * l['shape'][0] * l['shape'][1] for l in s['layers']) / w


def stage_seconds(s):
    """{stage: seconds run in this summary's run, or None when reused from another}."""
    out = {}
    for name in STAGES:
        st = s.get('hessians') if name == 'hessians' else s.get('stages', {}).get(name)
        if not st or st.get('source') == 'given':
            out[name] = None
        elif name == 'quantize':
            out[name] = st['seconds'] if s.get('quantized') else None
        else:
            out[name] = st['seconds'] if st.get('redone', True) else None
    return out


def row(name, s):
    """One table row from a summary: name, bits, eval, seconds per stage."""
    if 'rtn' in s:  # qtip-eval --rtn-bits
        ev = s
        bits = s['rtn']['bits_per_weight']
        secs = dict.fromkeys(STAGES)
        secs['eval'] = s.get('seconds')
        label = '%s (round-to-nearest, groups of %d)' % (name, s['rtn']['group'])
    elif 'layers' in s:  # qtip-run
        ev = s.get('eval')
        if not ev:
            raise ReportError('%s: the run has no evaluation (give qtip-run --eval-text)' % name)
        bits, secs, label = bits_of_run(s), stage_seconds(s), name
    else:
        raise ReportError('%s: neither a qtip-run nor a qtip-eval --rtn-bits summary' % name)
    if 'reference_perplexity' not in ev:
        raise ReportError('%s: scored without --reference (no KL or top-1 agreement)' % name)
    return {'name': label, 'bits': bits, 'eval': ev, 'seconds': secs}


def same_windows(rows):
    keys = ('windows', 'ctx', 'tokens_scored', 'special_tokens')
    first = rows[0]['eval']
    for r in rows[1:]:
        ev = r['eval']
        diff = [k for k in keys if ev.get(k) != first.get(k)]
        if diff or abs(ev['reference_perplexity'] - first['reference_perplexity']) > \
                1e-6 * first['reference_perplexity']:
            raise ReportError('%s was scored on other windows or another original than %s (%s)'
                              % (r['name'], rows[0]['name'], ', '.join(diff) or 'reference perplexity'))


def fmt_s(x):
    return '' if x is None else '%.1f' % x if x < 10 else '%.0f' % x


def table(rows):
    same_windows(rows)
    ev0 = rows[0]['eval']
    lines = ['| model | bits/weight | perplexity | KL to the original | top-1 agreement | '
             + ' | '.join('%s s' % ('capture' if s == 'hessians' else s) for s in STAGES) + ' |',
             '|---|---:|---:|---:|---:|' + '---:|' * len(STAGES),
             '| original (fp32 weights) | 32 | %.3f | 0 | 1 |%s' % (ev0['reference_perplexity'],
                                                          ' |' * len(STAGES))]
    for r in rows:
        ev = r['eval']
        lines.append('| %s | %.2f | %.3f | %.4f | %.4f | %s |' % (
            r['name'], r['bits'], ev['perplexity'], ev['kl_mean'], ev['top1_agreement'],
            ' | '.join(fmt_s(r['seconds'][s]) for s in STAGES)))
    lines.append('')
    lines.append('%d windows of %d tokens (%d scored), no special tokens%s; wall seconds per stage '
                 '(blank: not run for that row: Hessians given, a step reused by a resumed run, '
                 'or not one of its stages).'
                 % (ev0['windows'], ev0['ctx'], ev0['tokens_scored'],
                    '' if not ev0.get('special_tokens') else ' (special tokens added)'))
    return '\n'.join(lines) + '\n'


def main(argv=None):
    ap = argparse.ArgumentParser(prog='python -m qtip.report', description=__doc__.split('\n\n')[0])
    ap.add_argument('summaries', nargs='+')
    ap.add_argument('--out', help='also write the table (markdown) to this file')
    a = ap.parse_args(argv)
    try:
        rows = []
        for p in a.summaries:
            with open(p) as f:
                rows.append(row(os.path.basename(p)[:-5] if p.endswith('.json') else p, json.load(f)))
        text = table(rows)
    except (OSError, ValueError, KeyError) as e:
        print('qtip.report: error: %s' % e, file=sys.stderr)
        return 1
    sys.stdout.write(text)
    if a.out:
        with open(a.out + '.tmp', 'w') as f:
            f.write(text)
        os.replace(a.out + '.tmp', a.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
