"""The Hessians step: calib/capture.py over --text in --capture-shards shards
(windows i, i+n, ...), then `capture.py merge` of the shards, site group by site
group (--sites g/m). The local driver runs the shards one after another and one
merge group; a cluster run gives each shard and each group a task of its own.
The merged files do not depend on m nor on the order the tasks ran in, so both
write the same OUT/hessians/ (docs/cmd/capture.md: merge)."""
import glob
import hashlib
import os
import sys

from . import state, tools
from .digest import file_sha256
from .steps import dir_step

CAPTURE_DIR = 'capture'  # under OUT/.state/: the shards (their provenance holds timings)


def shard_name(i, n):
    return 'shard-%d-of-%d' % (i, n)


def shard_dir(run, i, n):
    return os.path.join(run.state_dir, CAPTURE_DIR, shard_name(i, n))


def capture_command(run, i, n):
    a = run.a
    return [sys.executable, tools.CAPTURE, 'capture', '--model', run.model,
            '-o', shard_dir(run, i, n), '--windows', str(a.windows), '--ctx', str(a.ctx),
            '--seed', str(a.seed), '--shard', '%d/%d' % (i, n), '--threads', str(run.threads),
            '--qtip-bin', run.bin, '--no-progress', '--json',
            *[os.path.abspath(t) for t in a.text]]


def merge_command(run, g, m):
    n = run.a.capture_shards
    return [sys.executable, tools.CAPTURE, 'merge', '-o', run.hessian_dir,
            '--sites', '%d/%d' % (g, m), '--qtip-bin', run.bin, '--no-progress', '--json',
            *[shard_dir(run, i, n) for i in range(n)]]


def capture_shard(run, i):
    """Shard i of --capture-shards: OUT/.state/capture/shard-i-of-n."""
    a, n = run.a, run.a.capture_shards
    inputs = {'model': run.tensor_digests, 'text': [run.cache.file(t) for t in a.text],
              'windows': a.windows, 'ctx': a.ctx, 'seed': a.seed, 'shard': [i, n]}
    return dir_step(run, 'capture', shard_dir(run, i, n), inputs,
                    lambda: tools.run(capture_command(run, i, n), 'calibration capture'),
                    record=os.path.join(CAPTURE_DIR, shard_name(i, n) + '.json'))


def _group_files(run, g, m):
    """The merged files of site group g (and their hard links) and the provenance."""
    prov = state.read_json(os.path.join(shard_dir(run, 0, run.a.capture_shards), 'capture.json'))
    if not prov:
        raise tools.ToolError('capture shard 0 has not finished: no %s'
                              % os.path.join(shard_dir(run, 0, run.a.capture_shards), 'capture.json'))
    names = ['capture.json']
    for site in prov['sites'][g::m]:
        names += [mem + '.safetensors' for mem in site['members']]
    return [os.path.join(run.hessian_dir, x) for x in sorted(set(names))]


def _files_sha256(paths):
    h = hashlib.sha256()
    for p in paths:
        if not os.path.exists(p):
            return None
        h.update(os.path.basename(p).encode() + b'\0' + file_sha256(p).encode())
    return h.hexdigest()


def merge_group(run, g, m):
    """Site group g of m merged from every shard into OUT/hessians/."""
    n = run.a.capture_shards
    shards = []
    for i in range(n):
        rec = state.read_json(os.path.join(run.state_dir, CAPTURE_DIR, shard_name(i, n) + '.json'))
        if not rec:
            raise tools.ToolError('capture shard %d/%d has no record: it has not finished' % (i, n))
        shards.append(rec['outputs'])
    inputs = {'shards': shards, 'sites': [g, m]}
    rec_path = os.path.join(run.state_dir, CAPTURE_DIR, 'merge-%d-of-%d.json' % (g, m))
    rec = state.read_json(rec_path)
    if state.is_fresh(rec, inputs, {'files': _files_sha256(_group_files(run, g, m))}):
        return {'redone': False}
    if not run.task:  # a killed merge's provenance temporary (nothing else writes there now)
        for t in glob.glob(os.path.join(run.hessian_dir, 'capture.json.*.tmp')):
            os.unlink(t)
    tools.run(merge_command(run, g, m), 'Hessian merge')
    state.write_json_atomic(rec_path, {'inputs': inputs,
                                       'outputs': {'files': _files_sha256(_group_files(run, g, m))}})
    return {'redone': True}


def stage(run):
    """The local driver's Hessians: nothing to do for --hessians or identity."""
    a = run.a
    if a.hessians:
        return {'source': 'given', 'dir': run.hessian_dir}
    if not a.text:
        return {'source': 'identity'}
    if not os.path.exists(tools.CAPTURE):
        raise tools.ToolError('calibration capture (calib/capture.py) is not in this checkout: '
                              'give existing Hessians with --hessians DIR')
    shards = [capture_shard(run, i) for i in range(a.capture_shards)]
    merged = merge_group(run, 0, 1)
    return {'source': 'captured', 'dir': run.hessian_dir, 'shards': a.capture_shards,
            'redone': merged['redone'] or any(s['redone'] for s in shards),
            'seconds': round(sum(s['seconds'] for s in shards), 3)}
