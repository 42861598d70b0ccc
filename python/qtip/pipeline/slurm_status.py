"""qtip-run status / resume of a cluster run: each task's state from its done
file (written when it finished), else from squeue (queued or running), else
from scontrol (finished without its done file: failed, cancelled, timed out,
...; Slurm keeps finished jobs MinJobAge seconds, 300 by default), else
'failed' (submitted, now unknown to Slurm) or 'missing' (never submitted)."""
import os
import re

from . import state, tasks
from .run import Run
from .slurm import SlurmError, slurm_command, log_path, read_plan, slurm_dir, submit


def _squeue():
    """{(array job id, task index): (state, reason)} of the jobs queued now."""
    rc, out, err = slurm_command(['squeue', '-h', '-r', '-o', '%F|%K|%T|%r'])
    if rc != 0:
        raise SlurmError('squeue failed: %s' % err)
    found = {}
    for line in out.splitlines():
        job, task, st, reason = line.strip().split('|', 3)
        if task.isdigit():
            found[(job, int(task))] = (st, reason)
        elif task in ('N/A', ''):
            found[(job, 0)] = (st, reason)
    return found


def _indices(text):
    out = []
    for part in text.split('%')[0].split(','):
        if '-' in part:
            lo, hi = part.split('-')
            out += range(int(lo), int(hi) + 1)
        elif part.isdigit():
            out.append(int(part))
    return out


def _scontrol(job):
    """{task index: (state, reason, exit code)} of one array job Slurm still knows."""
    rc, out, _ = slurm_command(['scontrol', '-o', 'show', 'job', job])
    found = {}
    if rc != 0:
        return found
    for line in out.splitlines():
        f = dict(re.findall(r'(\w+)=(\S*)', line))
        for i in _indices(f.get('ArrayTaskId', '0')):
            found[i] = (f.get('JobState', '?'), f.get('Reason', ''), f.get('ExitCode', ''))
    return found


def task_states(out):
    """{stage: [{task, state, job, detail, log}]} in dependency order."""
    a = read_plan(out)
    out = os.path.abspath(a.output)
    counts = tasks.counts(Run(a, task=True))
    jobs = state.read_json(os.path.join(slurm_dir(out), 'jobs.json')) or {}
    queue, known = _squeue(), {}
    result = {}
    for stage, n in counts.items():
        rows = []
        for i in range(n):
            subs = [s for s in jobs.get(stage, []) if i in s['tasks']]
            job = subs[-1]['job'] if subs else None
            row = {'task': i, 'job': job, 'log': log_path(out, stage, i), 'detail': ''}
            if os.path.exists(tasks.done_path(out, stage, i)):
                row['state'] = 'done'
            elif job is None:
                row['state'] = 'missing'
            elif (job, i) in queue:
                st, reason = queue[(job, i)]
                row['state'] = 'running' if st == 'RUNNING' else 'pending'
                row['detail'] = st if reason in ('None', '') else '%s (%s)' % (st, reason)
            else:
                if job not in known:
                    known[job] = _scontrol(job)
                st, reason, code = known[job].get(i, ('UNKNOWN', '', ''))
                row['state'] = 'failed'
                row['detail'] = '%s exit %s%s' % (st, code, '' if reason in ('None', '') else
                                                  ', ' + reason)
            rows.append(row)
        result[stage] = rows
    return result


def summarize(states):
    """{stage: {done: n, running: n, pending: n, failed: n, missing: n}}."""
    out = {}
    for stage, rows in states.items():
        c = {k: 0 for k in ('done', 'running', 'pending', 'failed', 'missing')}
        for r in rows:
            c[r['state']] += 1
        out[stage] = c
    return out


def resume(out):
    """Resubmit every task neither done nor queued; downstream stages wait for
    them and for the tasks still queued. {stage: submission}."""
    a = read_plan(out)
    states = task_states(out)
    todo, waits = {}, {}
    for stage, rows in states.items():
        todo[stage] = [r['task'] for r in rows if r['state'] in ('failed', 'missing')]
        queued = ['%s_%d' % (r['job'], r['task']) for r in rows if r['state'] in ('pending', 'running')]
        if queued:
            waits[stage] = queued
    return submit(a, todo, waits)


def format_status(states, f):
    for stage, c in summarize(states).items():
        rows = states[stage]
        print('%-9s %3d tasks: %s' % (stage, len(rows), ', '.join(
            '%d %s' % (v, k) for k, v in c.items() if v)), file=f)
        for r in rows:
            if r['state'] == 'failed':
                print('  task %d (job %s): %s; log %s' % (r['task'], r['job'], r['detail'], r['log']),
                      file=f)
