#!/usr/bin/env python3
"""qtip-run --slurm on a real single-node Slurm (tests/slurm/cluster.sh starts it),
on the real SmolLM2-135M reduced to two blocks (the python_smollm2 fixture's
WORK/model), E8P12, Hessians captured in two shards.

  slurm_test.py WORK SMOLLM2_WORK
    local   qtip-run (no Slurm) -> WORK/local
    arrays  --slurm: capture 2 shards, merge 3 tasks, quantize 4 layers per task,
            pack, verify, eval -> WORK/slurm, byte-identical to WORK/local outside
            .state/; status says done; --dry-run prints qtip-* lines
    faults  --slurm with --hessians (a copy of WORK/local/hessians, one file
            truncated), a layer per task: one quantize task scancel'ed while it
            runs, the truncated one fails; status reports both (exit 3); the file
            restored, resume finishes; byte-identical to WORK/local
SLURM_CONF (from cluster.sh) names the cluster; QTIP_BIN the build directory."""
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, '..', '..'))
QTIP_RUN = os.path.join(REPO, 'scripts', 'qtip-run')
LICENSES = '/usr/share/common-licenses'
SETTINGS = ['--text', LICENSES + '/GPL-2', '--windows', '4', '--ctx', '128',
            '--capture-shards', '2', '--threads', '1', '--eval-text', LICENSES + '/GPL-3',
            '--eval-windows', '4', '--eval-ctx', '128']
TIMEOUT = 240


def sh(args, ok=(0,)):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode in ok, '%s failed (%d):\n%s' % (' '.join(args[:3]), p.returncode,
                                                         p.stderr[-4000:])
    return p


def qtip_run(work, out, *extra):
    return sh([QTIP_RUN, work + '/model', '-o', out, '--settings', work + '/settings.json',
               *SETTINGS, *extra, '--json']).stdout


def status(out):
    p = sh([QTIP_RUN, 'status', out, '--json'], ok=(0, 3))
    return p.returncode, json.loads(p.stdout)


def queued():
    return sh(['squeue', '-h', '-o', '%A']).stdout.split()


def wait_idle(what):
    t0 = time.monotonic()
    while queued():
        assert time.monotonic() - t0 < TIMEOUT, '%s: jobs still queued after %d s' % (what, TIMEOUT)
        time.sleep(0.5)
    return time.monotonic() - t0


def tree(d):
    """{relative path: bytes} outside .state/."""
    out = {}
    for root, dirs, files in os.walk(d):
        dirs[:] = sorted(x for x in dirs if not (root == d and x == '.state'))
        for name in files:
            p = os.path.join(root, name)
            with open(p, 'rb') as f:
                out[os.path.relpath(p, d)] = f.read()
    return out


def same_tree(a, b, skip=()):
    ta, tb = tree(a), tree(b)
    for k in skip:
        ta = {p: v for p, v in ta.items() if not p.startswith(k)}
        tb = {p: v for p, v in tb.items() if not p.startswith(k)}
    assert sorted(ta) == sorted(tb), sorted(set(ta) ^ set(tb))
    bad = [p for p in ta if ta[p] != tb[p]]
    assert not bad, 'differ from the local run: %s' % bad[:10]
    return len(ta)


def local(work):
    t0 = time.monotonic()
    shutil.rmtree(work + '/local', ignore_errors=True)
    qtip_run(work, work + '/local')
    print('local run: %.1f s' % (time.monotonic() - t0))


def arrays(work):
    out = work + '/slurm'
    shutil.rmtree(out, ignore_errors=True)
    dry = json.loads(qtip_run(work, out, '--dry-run', '--layers-per-task', '4', '--merge-tasks', '3'))
    assert [len(dry[s]) for s in ('capture', 'merge', 'quantize', 'pack', 'verify', 'eval')] == \
        [2, 3, 4, 1, 1, 1], {s: len(v) for s, v in dry.items()}
    assert 'capture.py capture' in dry['capture'][1][0] and '--shard 1/2' in dry['capture'][1][0]
    assert all(l.split()[0].endswith('/qtip-quantize') for t in dry['quantize'] for l in t)
    assert sum(len(t) for t in dry['quantize']) == 14
    t0 = time.monotonic()
    jobs = json.loads(qtip_run(work, out, '--slurm', '--layers-per-task', '4', '--merge-tasks', '3'))
    print('submitted in %.1f s: %s' % (time.monotonic() - t0, {s: j['job'] for s, j in jobs.items()}))
    print('job arrays ran in %.1f s' % wait_idle('arrays'))
    rc, st = status(out)
    assert rc == 0 and all(c['done'] == sum(c.values()) for c in st['stages'].values()), st['stages']
    for stage, rows in st['tasks'].items():  # per-task logs under predictable names
        assert all(os.path.exists(r['log']) for r in rows), stage
    print('identical to the local run: %d files' % same_tree(out, work + '/local'))


def cancel_when_running(out):
    """scancel the first quantize task seen running (not task 0, which fails)."""
    jobs = json.load(open(out + '/.state/slurm/jobs.json'))
    job = jobs['quantize'][-1]['job']
    t0 = time.monotonic()
    while time.monotonic() - t0 < TIMEOUT:
        for line in sh(['squeue', '-h', '-r', '-j', job, '-o', '%K %T']).stdout.splitlines():
            task, st = line.split()
            if st == 'RUNNING' and task != '0':
                sh(['scancel', '%s_%s' % (job, task)])
                return int(task)
        time.sleep(0.05)
    raise AssertionError('no quantize task ran')


def faults(work):
    out, hess = work + '/faults', work + '/hess-copy'
    for d in (out, hess):
        shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(work + '/local/hessians', hess)
    victim = hess + '/model.layers.0.mlp.down_proj.safetensors'  # quantize task 0
    good = open(victim, 'rb').read()
    with open(victim, 'wb') as f:
        f.write(good[:len(good) // 2])
    args = [QTIP_RUN, work + '/model', '-o', out, '--settings', work + '/settings.json',
            '--hessians', hess] + SETTINGS[6:] + ['--slurm', '--layers-per-task', '1', '--json']
    sh(args)
    cancelled = cancel_when_running(out)
    wait_idle('faults')
    rc, st = status(out)
    q = {r['task']: r for r in st['tasks']['quantize']}
    print('status after the faults: %s' % st['stages'])
    print('  task 0: %s; task %d: %s' % (q[0]['detail'], cancelled, q[cancelled]['detail']))
    assert rc == 3
    assert q[0]['state'] == 'failed' and q[0]['detail'].startswith('FAILED'), q[0]
    assert q[cancelled]['state'] == 'failed' and 'CANCELLED' in q[cancelled]['detail'], q[cancelled]
    assert st['stages']['quantize']['done'] == 12, st['stages']
    assert st['stages']['pack']['done'] == 0
    assert 'qtip-quantize' in open(q[0]['log']).read(), 'the failing task logs the error'
    with open(victim, 'wb') as f:
        f.write(good)
    t0 = time.monotonic()
    sub = json.loads(sh([QTIP_RUN, 'resume', out, '--json']).stdout)
    assert sorted(sub['quantize']['tasks']) == sorted([0, cancelled]), sub
    assert set(sub) == {'quantize', 'pack', 'verify', 'eval'}, sub
    wait_idle('resume')
    print('resume finished in %.1f s' % (time.monotonic() - t0))
    rc, st = status(out)
    assert rc == 0, st['stages']
    assert json.loads(sh([QTIP_RUN, 'resume', out, '--json']).stdout) == {}, 'nothing left'
    print('identical to the local run: %d files' % same_tree(out, work + '/local', skip=('hessians',)))


if __name__ == '__main__':
    work, smollm2 = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    assert os.environ.get('SLURM_CONF'), 'run under tests/slurm/cluster.sh'
    os.makedirs(work, exist_ok=True)
    for name in ('model', 'settings.json'):
        dst = os.path.join(work, name)
        if not os.path.lexists(dst):
            os.symlink(os.path.join(smollm2, name), dst)
    for step in sys.argv[3:] or ['local', 'arrays', 'faults']:
        t0 = time.monotonic()
        {'local': local, 'arrays': arrays, 'faults': faults}[step](work)
        print('%s: %.1f s' % (step, time.monotonic() - t0))
