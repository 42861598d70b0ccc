"""The steps after quantize (pack, verify, eval) and the two shapes of step
record they share with the Hessians: one output directory, one output file.
Each step's command line is built by one function, used to run it and by
qtip-run --dry-run to print it."""
import json
import os
import shutil
import time

from . import model_dir, settings as settings_mod, state, tools
from .digest import dir_sha256, file_sha256
from .progress import Stage

EVAL_SCRIPT = os.path.join(tools.REPO, 'scripts', 'qtip-eval')


def dir_step(run, name, out_dir, inputs, make, record=None):
    """A step whose output is one directory: redo it (from scratch) when stale."""
    rec_path = os.path.join(run.state_dir, record or name + '.json')
    now = dir_sha256(out_dir) if os.path.isdir(out_dir) else None
    rec = state.read_json(rec_path)
    if state.is_fresh(rec, inputs, {name: now}):
        return {'redone': False, 'seconds': rec['seconds'], 'digest': now}
    stage = Stage(name, 1, enabled=run.progress)
    shutil.rmtree(out_dir, ignore_errors=True)
    make()
    digest = dir_sha256(out_dir)
    seconds = round(stage.finish(), 3)
    state.write_json_atomic(rec_path, {'inputs': inputs, 'outputs': {name: digest}, 'seconds': seconds})
    return {'redone': True, 'seconds': seconds, 'digest': digest}


def file_step(run, name, out_file, inputs, make):
    """A step whose output is one file (its content from make())."""
    rec_path = os.path.join(run.state_dir, name + '.json')
    now = file_sha256(out_file) if os.path.exists(out_file) else None
    rec = state.read_json(rec_path)
    if state.is_fresh(rec, inputs, {name: now}):
        return {'redone': False, 'seconds': rec['seconds']}
    # this step's own temporaries only: a cluster's verify and eval run at once
    state.remove_stale_temporaries(os.path.dirname(out_file), os.path.basename(out_file))
    stage = Stage(name, 1, enabled=run.progress)
    t0 = time.monotonic()
    text = make()
    state.write_text_atomic(out_file, text)
    seconds = round(time.monotonic() - t0, 3)
    stage.finish()
    state.write_json_atomic(rec_path, {'inputs': inputs, 'outputs': {name: file_sha256(out_file)},
                                       'seconds': seconds})
    return {'redone': True, 'seconds': seconds}


def _mixed(run):
    return len({json.dumps(settings_mod.for_layer(run.settings, p), sort_keys=True)
                for p, _ in run.linears}) > 1


def pack_command(run):
    arts = sorted(os.path.join(run.out, 'layers', p + '.safetensors') for p, _ in run.linears)
    return ([os.path.join(run.bin, 'qtip-pack'), '-q', '-o', os.path.join(run.out, 'packed'),
             run.model] + (['--allow-mixed'] if _mixed(run) else []) + arts)


def stage_pack(run, records):
    inputs = {'artifacts': {p: records[p]['outputs']['artifact'] for p, _ in run.linears},
              'model_files': model_dir.files_digest(run.model, run.cache),
              'tool': run.tool_versions['qtip-pack'], 'allow_mixed': _mixed(run)}
    return dir_step(run, 'pack', os.path.join(run.out, 'packed'), inputs,
                    lambda: tools.run(pack_command(run), 'qtip-pack'))


def packed_digest(run):
    """The packed directory's digest as pack recorded it (verify and eval tasks)."""
    rec = state.read_json(os.path.join(run.state_dir, 'pack.json'))
    if not rec:
        raise tools.ToolError('pack has not finished: no record %s'
                              % os.path.join(run.state_dir, 'pack.json'))
    return {'digest': rec['outputs']['pack']}


def verify_command(run):
    # run inside OUT naming 'packed': the report holds no path of this run's
    # directory, so a run elsewhere writes the same bytes
    args = [os.path.join(run.bin, 'qtip-verify'), '-q', '--json', '--original', run.model]
    if run.hessian_dir:
        args += ['--hessians', run.hessian_dir]
    return args + ['packed']


def stage_verify(run, pack):
    hess = {p: run.hessian_digest(p) for p, _ in run.linears} if run.hessian_dir else {}
    inputs = {'packed': pack['digest'], 'hessians': hess, 'model': run.tensor_digests,
              'tool': run.tool_versions['qtip-verify']}
    return file_step(run, 'verify', os.path.join(run.out, 'verify.json'), inputs,
                     lambda: tools.run(verify_command(run), 'qtip-verify', cwd=run.out))


def eval_args(run):
    """qtip-eval's arguments, run inside OUT (scripts/qtip-eval or python -m qtip.eval)."""
    a = run.a
    return ['packed', '--reference', run.model, '--text',
            *[os.path.abspath(t) for t in a.eval_text], '--windows', str(a.eval_windows),
            '--ctx', str(a.eval_ctx), '--threads', str(run.threads), '--json']


def stage_eval(run, pack):
    a = run.a
    if not a.eval_text:
        return None
    inputs = {'packed': pack['digest'], 'model': run.tensor_digests,
              'text': [run.cache.file(os.path.abspath(t)) for t in a.eval_text],
              'windows': a.eval_windows, 'ctx': a.eval_ctx, 'threads': run.threads}

    def make():
        # wall time goes to the step record: eval.json stays byte-identical
        out = json.loads(tools.run_python(['-m', 'qtip.eval'] + eval_args(run), 'qtip-eval',
                                          cwd=run.out))
        out.pop('seconds', None)
        out.pop('reference', None)  # the model directory, recorded in .state/
        return json.dumps(out, indent=1, sort_keys=True) + '\n'
    return file_step(run, 'eval', os.path.join(run.out, 'eval.json'), inputs, make)


def summary(run, hess, records, redone, qseconds, steps):
    layers = []
    for p, shape in run.linears:
        r = records[p]['result']
        layers.append({'layer': p, 'shape': shape, 'bits_per_weight': r['bits_per_weight'],
                       'proxy_loss': r['proxy_loss'], 'seconds': r['seconds'],
                       'threads': r['threads'], 'redone': p in redone})
    out = {'model': run.model, 'output': run.out, 'hessians': hess, 'jobs': run.jobs,
           'threads': run.threads, 'layers': layers, 'quantized': len(redone),
           'reused': len(layers) - len(redone),
           'stages': dict({'quantize': {'seconds': round(qseconds, 3)}}, **steps)}
    if 'eval' in steps:
        out['eval'] = state.read_json(os.path.join(run.out, 'eval.json'))
    verify = state.read_json(os.path.join(run.out, 'verify.json')) or {}
    out['verify_ok'] = verify.get('ok')
    return out
