"""Slurm mode: the tasks of python/qtip/pipeline/tasks.py as one job array per
stage, each array waiting (afterok) for the one before; status from the tasks'
done files, squeue and scontrol (no accounting database); resume resubmits what
is neither done nor queued.

Nothing heavy runs at submission: it reads the model's safetensors headers and
writes OUT/.state/slurm/plan.json (the driver's options, for the tasks). Every
task reads the plan and its inputs from OUT and writes only there (atomically):
nodes share the output directory and nothing else. Files under OUT/.state/slurm/:
  plan.json        the options of the run            jobs.json  every submission
  done/<stage>.<i>.json  task i of stage finished    ../logs/<stage>.<i>.log"""
import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

from . import state, tasks, tools
from .run import Run

SBATCH_OPTIONS = ('partition', 'account', 'time', 'cpus_per_task')


class SlurmError(RuntimeError):
    pass


def slurm_dir(out):
    return os.path.join(out, '.state', 'slurm')


def log_path(out, stage, index='%a'):
    return os.path.join(out, '.state', 'logs', '%s.%s.log' % (stage, index))


def slurm_command(args):
    """(exit status, stdout, stderr) of a Slurm client command (sbatch, squeue, scontrol)."""
    exe = shutil.which(args[0])
    if not exe:
        raise SlurmError('%s not found: is this a Slurm login node?' % args[0])
    p = subprocess.run([exe] + args[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr.strip()


def write_plan(a):
    """OUT/.state/slurm/plan.json: the options with absolute paths; the settings
    file copied beside it (tasks may run where the original is not)."""
    d = slurm_dir(os.path.abspath(a.output))
    os.makedirs(d, exist_ok=True)
    opts = dict(vars(a))
    for k in ('model', 'output', 'hessians', 'bin'):
        if opts.get(k):
            opts[k] = os.path.abspath(opts[k])
    for k in ('text', 'eval_text'):
        if opts.get(k):
            opts[k] = [os.path.abspath(t) for t in opts[k]]
    if a.settings:
        with open(a.settings) as f:
            state.write_text_atomic(os.path.join(d, 'settings.json'), f.read())
        opts['settings'] = os.path.join(d, 'settings.json')
    opts['bin'] = tools.find_bin(a.bin)
    state.write_json_atomic(os.path.join(d, 'plan.json'), opts)
    return argparse.Namespace(**opts)


def read_plan(out):
    plan = state.read_json(os.path.join(slurm_dir(os.path.abspath(out)), 'plan.json'))
    if plan is None:
        raise SlurmError('%s: no .state/slurm/plan.json: not a run submitted with --slurm' % out)
    return argparse.Namespace(**plan)


def task_main(out, stage, index):
    """One array task (qtip-run task OUT STAGE [INDEX]); threads from Slurm's
    --cpus-per-task when given."""
    a = read_plan(out)
    # --threads is a setting (capture's and eval's float sums depend on it), so it
    # wins; without it, the cores Slurm gave the task
    a.threads = a.threads or int(os.environ.get('SLURM_CPUS_PER_TASK') or 0)
    i = int(index if index is not None else os.environ.get('SLURM_ARRAY_TASK_ID', 0))
    t0 = time.monotonic()
    run = Run(a, task=True)
    n = tasks.counts(run).get(stage)
    if n is None or not 0 <= i < n:
        raise SlurmError('this run has no task %s %d' % (stage, i))
    tasks.run_task(run, stage, i)
    tasks.mark_done(run, stage, i, time.monotonic() - t0)


def _array_spec(indices, throttle):
    parts, start = [], None
    idx = sorted(indices)
    for k, v in enumerate(idx):
        if start is None:
            start = v
        if k + 1 == len(idx) or idx[k + 1] != v + 1:
            parts.append(str(start) if start == v else '%d-%d' % (start, v))
            start = None
    return ','.join(parts) + ('%%%d' % throttle if throttle else '')


def sbatch(a, out, stage, indices, after):
    """Submit tasks `indices` of stage as one array; after: job ids to wait for."""
    wrap = 'exec env PYTHONPATH=%s %s -m qtip.pipeline.driver task %s %s' % (
        shlex.quote(tools.PYTHON_DIR), shlex.quote(sys.executable), shlex.quote(out), stage)
    args = ['sbatch', '--parsable', '--job-name', 'qtip-' + stage,
            '--array', _array_spec(indices, a.array_throttle),
            '--output', log_path(out, stage), '--open-mode', 'append',
            '--kill-on-invalid-dep', 'yes', '--chdir', out]
    if after:
        args += ['--dependency', 'afterok:' + ':'.join(after)]
    for opt in SBATCH_OPTIONS:
        if getattr(a, opt, None):
            args += ['--' + opt.replace('_', '-'), str(getattr(a, opt))]
    if a.threads and not a.cpus_per_task:
        args += ['--cpus-per-task', str(a.threads)]
    if a.gpus_per_task and stage in tasks.GPU_STAGES:
        args += ['--gpus-per-task', str(a.gpus_per_task)]
    for extra in a.sbatch_arg or []:
        args += shlex.split(extra)
    rc, stdout, err = slurm_command(args + ['--wrap', wrap])
    if rc != 0:
        raise SlurmError('sbatch for %s failed (exit %d): %s' % (stage, rc, err))
    return stdout.strip().split(';')[0]


def _record_jobs(out, submitted):
    path = os.path.join(slurm_dir(out), 'jobs.json')
    jobs = state.read_json(path) or {}
    for stage, sub in submitted.items():
        jobs.setdefault(stage, []).append(sub)
    state.write_json_atomic(path, jobs)


def submit(a, todo, waits=None):
    """todo: {stage: [indices]} in dependency order; waits: {stage: [job ids of
    tasks still queued]} that downstream stages must also wait for."""
    out = os.path.abspath(a.output)
    os.makedirs(os.path.dirname(log_path(out, 'x')), exist_ok=True)
    waits = {s: list(v) for s, v in (waits or {}).items()}
    submitted = {}
    for stage, indices in todo.items():
        if not indices:
            continue
        up = tasks.upstream(stage, set(todo) | set(waits))
        job = sbatch(a, out, stage, indices, waits.get(up, []) if up else [])
        submitted[stage] = {'job': job, 'tasks': sorted(indices)}
        waits.setdefault(stage, []).append(job)
        _record_jobs(out, {stage: submitted[stage]})
    return submitted


def submit_run(a):
    """qtip-run --slurm: a fresh plan; every task of every stage."""
    a = write_plan(a)
    out = os.path.abspath(a.output)
    shutil.rmtree(os.path.join(slurm_dir(out), 'done'), ignore_errors=True)
    run = Run(a, task=True)  # headers only: nothing is hashed here
    return submit(a, {s: list(range(n)) for s, n in tasks.counts(run).items()})


def dry_run(a):
    """The command lines of every task, stage by stage (nothing submitted)."""
    a = write_plan(a)
    run = Run(a, task=True)
    return {s: [tasks.commands(run, s, i) for i in range(n)] for s, n in tasks.counts(run).items()}
