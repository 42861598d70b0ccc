"""qtip-run: a Hugging Face causal LM directory to a packed, verified and
evaluated QTIP / QuIP# model, resumable after kill -9 at any moment.

  qtip-run MODEL_DIR -o OUT (--hessians DIR | --text FILE...) [--settings quantize_config.json]
           [--jobs N] [--threads T] [--eval-text FILE...] [--json]

Stages, each with a record in OUT/.state/ (inputs' checksums and settings,
outputs' checksums; docs: python/qtip/pipeline/state.py):
  hessians   --hessians DIR (used as they are) or calib/capture.py over --text
  quantize   qtip-quantize per linear -> OUT/layers/<prefix>.safetensors
  pack       qtip-pack -> OUT/packed
  verify     qtip-verify --original --hessians -> OUT/verify.json
  eval       qtip-eval (perplexity, KL, top-1 vs the original) -> OUT/eval.json
Everything outside OUT/.state/ is byte-identical to an uninterrupted run's;
OUT/.state/ also holds the timings. The summary (JSON: per layer proxy loss,
seconds, bits; stages; eval) goes to stdout when it is not a terminal or with
--json; progress lines go to stderr when it is a terminal."""
import argparse
import json
import os
import shutil
import sys
import time

from . import model_dir, quantize, settings as settings_mod, state, tools
from .digest import DigestCache, dir_sha256, file_sha256
from .progress import Stage


class Run:
    """The inputs of one driver run and the digests every stage compares."""

    def __init__(self, a):
        self.model, self.out = os.path.abspath(a.model), os.path.abspath(a.output)
        self.state_dir = os.path.join(self.out, '.state')
        os.makedirs(self.state_dir, exist_ok=True)
        state.remove_stale_temporaries(self.state_dir)
        state.remove_stale_temporaries(self.out)  # verify.json, eval.json
        self.bin = tools.find_bin(a.bin)
        self.tool_versions = {t: tools.version(self.bin, t)
                              for t in ('qtip-quantize', 'qtip-pack', 'qtip-verify')}
        self.settings = settings_mod.load(a.settings)
        self.jobs, self.threads = a.jobs, a.threads or os.cpu_count() or 1
        self.progress = sys.stderr.isatty() and not a.quiet
        self.cache = DigestCache(os.path.join(self.state_dir, 'digests.json'))
        self.linears = model_dir.linears(self.model)
        self.tensor_digests = model_dir.tensor_digests(self.model, self.cache)
        self.hessian_dir = None
        self._hessian_digests = {}

    def hessian_path(self, prefix):
        if self.hessian_dir is None:
            return None
        p = os.path.join(self.hessian_dir, prefix + '.safetensors')
        if not os.path.exists(p):
            raise tools.ToolError('no Hessian for %s: %s is missing' % (prefix, p))
        return p

    def hessian_digest(self, prefix):
        p = self.hessian_path(prefix)
        if p is None:
            return 'identity'
        if p not in self._hessian_digests:
            self._hessian_digests[p] = self.cache.file(p)
        return self._hessian_digests[p]


def stage_hessians(run, a):
    """Use --hessians, or capture them over --text with calib/capture.py."""
    if a.hessians:
        run.hessian_dir = os.path.abspath(a.hessians)
        return {'source': 'given', 'dir': run.hessian_dir}
    if not a.text:
        if a.identity_hessian:
            return {'source': 'identity'}
        raise tools.ToolError('give --hessians DIR, --text FILE... or --identity-hessian')
    if not os.path.exists(tools.CAPTURE):
        raise tools.ToolError('calibration capture (calib/capture.py) is not in this checkout: '
                              'give existing Hessians with --hessians DIR')
    hdir = os.path.join(run.out, 'hessians')
    inputs = {'model': run.tensor_digests, 'text': [run.cache.file(t) for t in a.text],
              'windows': a.windows, 'ctx': a.ctx, 'seed': a.seed}
    rec_path = os.path.join(run.state_dir, 'hessians.json')
    now = dir_sha256(hdir) if os.path.isdir(hdir) else None
    rec = state.read_json(rec_path)
    redone = not state.is_fresh(rec, inputs, {'hessians': now})
    if redone:
        stage = Stage('hessians', 1, enabled=run.progress)
        shutil.rmtree(hdir, ignore_errors=True)
        # the interface of calib/capture.py capture (docs/cmd/capture.md)
        tools.run_python([tools.CAPTURE, 'capture', '--model', run.model, '-o', hdir,
                          '--windows', str(a.windows), '--ctx', str(a.ctx), '--seed', str(a.seed),
                          '--threads', str(run.threads), '--qtip-bin', run.bin, '--no-progress',
                          '--json', *[os.path.abspath(t) for t in a.text]], 'calibration capture')
        rec = {'inputs': inputs, 'outputs': {'hessians': dir_sha256(hdir)},
               'seconds': round(stage.finish(), 3)}
        state.write_json_atomic(rec_path, rec)
    run.hessian_dir = hdir
    return {'source': 'captured', 'dir': hdir, 'redone': redone, 'seconds': rec['seconds']}


def stage_pack(run, records):
    packed = os.path.join(run.out, 'packed')
    arts = sorted(os.path.join(run.out, 'layers', p + '.safetensors') for p, _ in run.linears)
    mixed = len({json.dumps(settings_mod.for_layer(run.settings, p), sort_keys=True)
                 for p, _ in run.linears}) > 1
    inputs = {'artifacts': {p: records[p]['outputs']['artifact'] for p, _ in run.linears},
              'model_files': model_dir.files_digest(run.model, run.cache),
              'tool': run.tool_versions['qtip-pack'], 'allow_mixed': mixed}
    return _dir_step(run, 'pack', packed, inputs, lambda: tools.run(
        [os.path.join(run.bin, 'qtip-pack'), '-q', '-o', packed, run.model] +
        (['--allow-mixed'] if mixed else []) + arts, 'qtip-pack'))


def _dir_step(run, name, out_dir, inputs, make):
    """A step whose output is one directory: redo it (from scratch) when stale."""
    rec_path = os.path.join(run.state_dir, name + '.json')
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


def _file_step(run, name, out_file, inputs, make):
    """A step whose output is one file (its content from make())."""
    rec_path = os.path.join(run.state_dir, name + '.json')
    now = file_sha256(out_file) if os.path.exists(out_file) else None
    rec = state.read_json(rec_path)
    if state.is_fresh(rec, inputs, {name: now}):
        return {'redone': False, 'seconds': rec['seconds']}
    stage = Stage(name, 1, enabled=run.progress)
    t0 = time.monotonic()
    text = make()
    state.write_text_atomic(out_file, text)
    seconds = round(time.monotonic() - t0, 3)
    stage.finish()
    state.write_json_atomic(rec_path, {'inputs': inputs, 'outputs': {name: file_sha256(out_file)},
                                       'seconds': seconds})
    return {'redone': True, 'seconds': seconds}


def stage_verify(run, pack):
    # run inside OUT naming 'packed': the report holds no path of this run's
    # directory, so a run elsewhere writes the same bytes
    args = [os.path.join(run.bin, 'qtip-verify'), '-q', '--json', '--original', run.model]
    hess = {}
    if run.hessian_dir:
        args += ['--hessians', run.hessian_dir]
        hess = {p: run.hessian_digest(p) for p, _ in run.linears}
    inputs = {'packed': pack['digest'], 'hessians': hess, 'model': run.tensor_digests,
              'tool': run.tool_versions['qtip-verify']}
    return _file_step(run, 'verify', os.path.join(run.out, 'verify.json'), inputs,
                      lambda: tools.run(args + ['packed'], 'qtip-verify', cwd=run.out))


def stage_eval(run, a, pack):
    if not a.eval_text:
        return None
    texts = [os.path.abspath(t) for t in a.eval_text]
    inputs = {'packed': pack['digest'], 'model': run.tensor_digests,
              'text': [run.cache.file(t) for t in texts], 'windows': a.eval_windows,
              'ctx': a.eval_ctx, 'threads': run.threads}
    args = ['-m', 'qtip.eval', 'packed', '--reference', run.model,
            '--text', *texts, '--windows', str(a.eval_windows), '--ctx', str(a.eval_ctx),
            '--threads', str(run.threads), '--json']
    def make():
        # wall time goes to the step record: eval.json stays byte-identical
        out = json.loads(tools.run_python(args, 'qtip-eval', cwd=run.out))
        out.pop('seconds', None)
        out.pop('reference', None)  # the model directory, recorded in .state/
        return json.dumps(out, indent=1, sort_keys=True) + '\n'
    return _file_step(run, 'eval', os.path.join(run.out, 'eval.json'), inputs, make)


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
    ev = os.path.join(run.out, 'eval.json')
    if 'eval' in steps:
        out['eval'] = state.read_json(ev)
    verify = state.read_json(os.path.join(run.out, 'verify.json')) or {}
    out['verify_ok'] = verify.get('ok')
    return out


def parse_args(argv):
    ap = argparse.ArgumentParser(prog='qtip-run', description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('model', help='Hugging Face model directory (safetensors)')
    ap.add_argument('-o', '--output', required=True, help='run directory (created; reused to resume)')
    ap.add_argument('--hessians', help='existing Hessians, <prefix>.safetensors per linear')
    ap.add_argument('--identity-hessian', action='store_true', help='no calibration (H = I; lower quality)')
    ap.add_argument('--text', nargs='+', help='calibration text files (calib/capture.py)')
    ap.add_argument('--windows', type=int, default=64, help='calibration windows (default 64)')
    ap.add_argument('--ctx', type=int, default=512, help='calibration window tokens (default 512)')
    ap.add_argument('--seed', type=int, default=0, help='calibration window seed')
    ap.add_argument('--settings', help='quantize_config.json with optional "overrides"')
    ap.add_argument('--jobs', type=int, default=1, help='parallel qtip-quantize jobs (default 1)')
    ap.add_argument('--threads', type=int, default=0, help='thread budget shared by the jobs (0: all cores)')
    ap.add_argument('--eval-text', nargs='+', help='held-out text: perplexity, KL and top-1 vs the original')
    ap.add_argument('--eval-windows', type=int, default=8)
    ap.add_argument('--eval-ctx', type=int, default=512)
    ap.add_argument('--bin', help='directory of the qtip-* commands (default: $QTIP_BIN, build/, PATH)')
    ap.add_argument('--json', action='store_true', help='summary as JSON even on a terminal')
    ap.add_argument('-q', '--quiet', action='store_true', help='no progress lines')
    a = ap.parse_args(argv)
    if a.jobs < 1 or a.threads < 0:
        ap.error('--jobs must be >= 1 and --threads >= 0')
    return a


def print_table(s, f=sys.stdout):
    for l in s['layers']:
        print('%-44s %5dx%-5d %4.2f bits  proxy %.5f  %6.1f s%s' % (
            l['layer'], l['shape'][0], l['shape'][1], l['bits_per_weight'], l['proxy_loss'],
            l['seconds'], '' if l['redone'] else '  (reused)'), file=f)
    print('%d layers quantized, %d reused; verify %s' % (
        s['quantized'], s['reused'], 'ok' if s['verify_ok'] else 'FAILED'), file=f)
    if s.get('eval'):
        print(json.dumps(s['eval'], indent=1), file=f)


def main(argv=None):
    a = parse_args(argv)
    try:
        run = Run(a)
        hess = stage_hessians(run, a)
        records, redone, qseconds = quantize.run_stage(run)
        steps = {'pack': stage_pack(run, records)}
        steps['verify'] = stage_verify(run, steps['pack'])
        ev = stage_eval(run, a, steps['pack'])
        if ev is not None:
            steps['eval'] = ev
        run.cache.save()
    except (tools.ToolError, model_dir.ModelDirError, settings_mod.SettingsError) as e:
        print('qtip-run: error: %s' % e, file=sys.stderr)
        return 1
    s = summary(run, hess, records, redone, qseconds, steps)
    for st in steps.values():
        st.pop('digest', None)
    state.write_json_atomic(os.path.join(run.state_dir, 'summary.json'), s)
    if a.json or not sys.stdout.isatty():
        json.dump(s, sys.stdout, indent=1)
        sys.stdout.write('\n')
    else:
        print_table(s)
    return 0


if __name__ == '__main__':
    sys.exit(main())
