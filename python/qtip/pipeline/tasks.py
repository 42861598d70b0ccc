"""A run cut into tasks for a cluster: the stages in dependency order, how many
tasks each has, what task i does (the same step code as the local driver) and
the ordinary command lines it runs (qtip-run --dry-run).

  capture  --capture-shards tasks   calib/capture.py capture --shard i/n
  merge    --merge-tasks tasks      calib/capture.py merge --sites g/m
  quantize one per --layers-per-task qtip-quantize, layer after layer
  pack     1                        qtip-pack
  verify   1                        qtip-verify
  eval     1 (with --eval-text)     qtip-eval

A task's work is skipped when its step records say it is fresh, so running a
task twice, or one of another layout, costs only the hashing. A finished task
writes OUT/.state/slurm/done/<stage>.<i>.json (what `status` and `resume` read)."""
import os
import shlex
import sys

from . import hessians, quantize, state, steps

STAGES = ('capture', 'merge', 'quantize', 'pack', 'verify', 'eval')
AFTER = {'merge': 'capture', 'quantize': 'merge', 'pack': 'quantize', 'verify': 'pack',
         'eval': 'pack'}
GPU_STAGES = ('capture', 'quantize', 'eval')  # --gpus-per-task goes to these only


def merge_tasks(run):
    """--merge-tasks, at most one per site (four per block)."""
    blocks = sum(1 for p, _ in run.linears if p.endswith('.q_proj')) or 1
    return max(1, min(run.a.merge_tasks, 4 * blocks))


def counts(run):
    """{stage: tasks} of this run, in dependency order."""
    a = run.a
    out = {}
    if a.text:
        out['capture'] = a.capture_shards
        out['merge'] = merge_tasks(run)
    out['quantize'] = -(-len(run.linears) // a.layers_per_task)
    out['pack'] = out['verify'] = 1
    if a.eval_text:
        out['eval'] = 1
    return out


def upstream(stage, present):
    """The stage this one waits for (skipping absent ones), or None."""
    s = AFTER.get(stage)
    while s and s not in present:
        s = AFTER.get(s)
    return s


def run_task(run, stage, i):
    if stage == 'capture':
        hessians.capture_shard(run, i)
    elif stage == 'merge':
        hessians.merge_group(run, i, merge_tasks(run))
    elif stage == 'quantize':
        quantize.quantize_layers(quantize.layer_groups(run, run.a.layers_per_task)[i], run.threads)
    elif stage == 'pack':
        steps.stage_pack(run, quantize.read_records(run))
    elif stage == 'verify':
        steps.stage_verify(run, steps.packed_digest(run))
    elif stage == 'eval':
        steps.stage_eval(run, steps.packed_digest(run))
    else:
        raise ValueError('no stage %r' % stage)
    run.save_cache()


def commands(run, stage, i):
    """Shell lines of task i: the qtip-* / capture commands it runs when stale."""
    def in_out(argv):
        return 'cd %s && %s' % (shlex.quote(run.out), shlex.join(argv))
    if stage == 'capture':
        return [shlex.join(hessians.capture_command(run, i, run.a.capture_shards))]
    if stage == 'merge':
        return [shlex.join(hessians.merge_command(run, i, merge_tasks(run)))]
    if stage == 'quantize':
        lines = []
        for layer in quantize.layer_groups(run, run.a.layers_per_task)[i]:
            layer.write_config()  # the --config the line names
            lines.append(shlex.join(layer.command(run.threads)))
        return lines
    if stage == 'pack':
        return [shlex.join(steps.pack_command(run))]
    if stage == 'verify':
        return [in_out(steps.verify_command(run)) + ' > verify.json']
    return [in_out([steps.EVAL_SCRIPT] + steps.eval_args(run)) + ' > eval.json']


def done_path(out, stage, i):
    return os.path.join(out, '.state', 'slurm', 'done', '%s.%d.json' % (stage, i))


def mark_done(run, stage, i, seconds):
    state.write_json_atomic(done_path(run.out, stage, i), {
        'job': os.environ.get('SLURM_JOB_ID'), 'host': os.uname().nodename,
        'seconds': round(seconds, 3), 'python': sys.executable})
