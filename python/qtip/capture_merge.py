"""Merge capture directories of disjoint shards (capture --shard i/n) into one:
`qtip-hessian merge` per site (fp64 sums, the same Hessians as one job up to
fp64 rounding), the members' hard links, and the union provenance."""
import json
import os
import subprocess

from .capture_sites import CaptureError

# provenance entries every shard of one setting must share
_SAME = ('model', 'tokenizer', 'text', 'sites')
_SAME_WINDOWS = ('count', 'ctx', 'seed', 'selection')


def _load(d):
    path = os.path.join(d, 'capture.json')
    try:
        with open(path) as f:
            prov = json.load(f)
    except (OSError, ValueError) as e:
        raise CaptureError('%s: not a capture directory (%s)' % (d, e)) from None
    if prov.get('format') != 'qtip.capture':
        raise CaptureError('%s: format is %r, expected qtip.capture' % (path, prov.get('format')))
    return prov


def _check(provs, dirs):
    first = provs[0]
    n = first['windows']['shard'][1]
    seen = set()
    for p, d in zip(provs, dirs):
        for key in _SAME:
            if p[key] != first[key]:
                raise CaptureError("%s: '%s' differs from %s's: not shards of one setting"
                                   % (d, key, dirs[0]))
        for key in _SAME_WINDOWS:
            if p['windows'][key] != first['windows'][key]:
                raise CaptureError("%s: windows '%s' differs from %s's" % (d, key, dirs[0]))
        i, ni = p['windows']['shard']
        if ni != n:
            raise CaptureError('%s: shard %d/%d, others are of %d' % (d, i, ni, n))
        if i in seen:
            raise CaptureError('%s: shard %d/%d given twice' % (d, i, n))
        seen.add(i)
    return sorted(seen), n


def merge(args, exe):
    from .capture import PROVENANCE, _write_json, dir_bytes
    from .capture_text import parse_shard
    provs = [_load(d) for d in args.shards]
    shards, n = _check(provs, args.shards)
    g, m = parse_shard(args.sites)
    os.makedirs(args.output, exist_ok=True)
    # every group writes the same provenance: m jobs need no final step
    for site in provs[0]['sites'][g::m]:
        parts = [os.path.join(d, site['file']) for d in args.shards]
        r = subprocess.run([exe, 'merge', '-q', '--no-progress', '-o',
                            os.path.join(args.output, site['file'])] + parts,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise CaptureError('qtip-hessian merge for %s failed: %s'
                               % (site['site'], r.stderr.decode('utf-8', 'replace').strip()))
        src = os.path.join(args.output, site['file'])
        for member in site['members'][1:]:
            dst = os.path.join(args.output, member + '.safetensors')
            if os.path.lexists(dst):
                os.unlink(dst)
            os.link(src, dst)
    merged = dict(provs[0])
    starts = sorted(s for p in provs for s in p['windows']['starts'])
    merged['windows'] = dict(provs[0]['windows'], shard=None, shards_merged=shards,
                             shards_of=n, starts=starts,
                             complete=len(shards) == n)
    merged['windows'].pop('sha256_16', None)
    merged['tokens'] = sum(p['tokens'] for p in provs)
    merged['merged_from'] = [os.path.basename(os.path.normpath(d)) for d in args.shards]
    for key in ('seconds', 'memory', 'passes', 'pass_detail', 'capture_cpu_s'):
        merged.pop(key, None)
    _write_json(os.path.join(args.output, PROVENANCE), merged)
    return {'output': args.output, 'shards': shards, 'of': n, 'complete': len(shards) == n,
            'tokens': merged['tokens'], 'sites': len(provs[0]['sites']),
            'disk_bytes': dir_bytes(args.output)}
