"""qtip-run: a Hugging Face causal LM directory to a packed, verified and
evaluated QTIP / QuIP# model, resumable after kill -9 at any moment; locally,
or on a Slurm cluster as one job array per stage (docs/cmd/qtip-run.md).

  qtip-run MODEL_DIR -o OUT (--hessians DIR | --text FILE...) [--settings quantize_config.json]
           [--tp N] [--jobs N] [--threads T] [--devices 0,1] [--eval-text FILE...] [--json]
  qtip-run MODEL_DIR -o OUT ... --slurm [--partition P] [--time T] ... | --dry-run
  qtip-run status OUT      qtip-run resume OUT      qtip-run task OUT STAGE [INDEX]

Stages, each with a record in OUT/.state/ (inputs' checksums and settings,
outputs' checksums; docs: python/qtip/pipeline/state.py):
  hessians   --hessians DIR (used as they are) or calib/capture.py over --text
             (--capture-shards shards, then merged)
  quantize   qtip-quantize per linear -> OUT/layers/<prefix>.safetensors
  pack       qtip-pack -> OUT/packed
  verify     qtip-verify --original --hessians -> OUT/verify.json
  eval       qtip-eval (perplexity, KL, top-1 vs the original) -> OUT/eval.json
Everything outside OUT/.state/ is byte-identical to an uninterrupted run's, and
a cluster run's to a local one's with the same settings; OUT/.state/ also holds
the timings. The summary (JSON: per layer proxy loss, seconds, bits; stages;
eval) goes to stdout when it is not a terminal or with --json; progress lines go
to stderr when it is a terminal."""
import argparse
import json
import os
import sys

from . import hessians, model_dir, quantize, settings as settings_mod, slurm, state, steps, tools
from .quantize import parse_devices
from .run import Run

SUBCOMMANDS = ('status', 'resume', 'task')


def _local_options(ap):
    ap.add_argument('model', help='Hugging Face model directory (safetensors)')
    ap.add_argument('-o', '--output', required=True, help='run directory (created; reused to resume)')
    ap.add_argument('--hessians', help='existing Hessians, <prefix>.safetensors per linear')
    ap.add_argument('--identity-hessian', action='store_true', help='no calibration (H = I; lower quality)')
    ap.add_argument('--text', nargs='+', help='calibration text files (calib/capture.py)')
    ap.add_argument('--windows', type=int, default=64, help='calibration windows (default 64)')
    ap.add_argument('--ctx', type=int, default=512, help='calibration window tokens (default 512)')
    ap.add_argument('--seed', type=int, default=0, help='calibration window seed')
    ap.add_argument('--capture-shards', type=int, default=1,
                    help='calibration in N shards of the windows, merged (default 1; a setting)')
    ap.add_argument('--settings', help='quantize_config.json with optional "overrides"')
    ap.add_argument('--tp', type=int, help='tensor-parallel degree to serve at: every linear quantized with '
                    'qtip-quantize --tp N (the settings\' tp_size; default: theirs, else 1)')
    ap.add_argument('--jobs', type=int, default=1, help='parallel qtip-quantize jobs (default 1)')
    ap.add_argument('--threads', type=int, default=0, help='thread budget shared by the jobs (0: all cores)')
    ap.add_argument('--devices', default='',
                    help='GPUs for the quantize jobs, e.g. 0,1: job slot i runs qtip-quantize '
                         '--device cuda:<the (i mod count)-th> (default: the CPU)')
    ap.add_argument('--eval-text', nargs='+', help='held-out text: perplexity, KL and top-1 vs the original')
    ap.add_argument('--eval-windows', type=int, default=8)
    ap.add_argument('--eval-ctx', type=int, default=512)
    ap.add_argument('--bin', help='directory of the qtip-* commands (default: $QTIP_BIN, build/, PATH)')
    ap.add_argument('--json', action='store_true', help='summary as JSON even on a terminal')
    ap.add_argument('-q', '--quiet', action='store_true', help='no progress lines')


def _slurm_options(ap):
    g = ap.add_argument_group('Slurm (docs/cmd/qtip-run.md)')
    g.add_argument('--slurm', action='store_true', help='submit job arrays and print their ids')
    g.add_argument('--dry-run', action='store_true', help="print every task's command lines")
    g.add_argument('--layers-per-task', type=int, default=1, help='layers per quantize task (1)')
    g.add_argument('--merge-tasks', type=int, default=4, help='Hessian merge tasks (4)')
    g.add_argument('--array-throttle', type=int, default=0, help='at most N tasks of an array at once')
    g.add_argument('--partition', help='sbatch --partition')
    g.add_argument('--account', help='sbatch --account')
    g.add_argument('--time', help='sbatch --time of every task')
    g.add_argument('--cpus-per-task', type=int, help='sbatch --cpus-per-task (threads of a task)')
    g.add_argument('--gpus-per-task', help='sbatch --gpus-per-task (capture, quantize, eval)')
    g.add_argument('--sbatch-arg', action='append', help='more sbatch options, e.g. "--qos=long"')


def parse_args(argv):
    ap = argparse.ArgumentParser(prog='qtip-run', description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog='a cluster run: qtip-run status OUT | resume OUT | '
                                        'task OUT STAGE [INDEX] (each with --help)')
    _local_options(ap)
    _slurm_options(ap)
    a = ap.parse_args(argv)
    if a.jobs < 1 or a.threads < 0 or a.capture_shards < 1 or a.layers_per_task < 1 \
            or a.merge_tasks < 1 or a.array_throttle < 0:
        ap.error('--jobs, --capture-shards, --layers-per-task and --merge-tasks must be >= 1, '
                 '--threads and --array-throttle >= 0')
    try:
        parse_devices(a.devices)
    except ValueError as e:
        ap.error(str(e))
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


def run_local(a):
    run = Run(a)
    hess = hessians.stage(run)
    records, redone, qseconds = quantize.run_stage(run)
    done = {'pack': steps.stage_pack(run, records)}
    done['verify'] = steps.stage_verify(run, done['pack'])
    ev = steps.stage_eval(run, done['pack'])
    if ev is not None:
        done['eval'] = ev
    run.save_cache()
    s = steps.summary(run, hess, records, redone, qseconds, done)
    for st in done.values():
        st.pop('digest', None)
    state.write_json_atomic(os.path.join(run.state_dir, 'summary.json'), s)
    return s


def emit(obj, a, text):
    """JSON on stdout when asked or not a terminal, else text(obj)."""
    if a.json or not sys.stdout.isatty():
        json.dump(obj, sys.stdout, indent=1)
        sys.stdout.write('\n')
    else:
        text(obj)


def print_jobs(sub):
    for stage, s in sub.items():
        print('%-9s job %s  tasks %s' % (stage, s['job'], slurm._array_spec(s['tasks'], 0)))
    if not sub:
        print('nothing to submit: every task is done or queued')


def print_dry_run(plan):
    for stage, per_task in plan.items():
        for i, lines in enumerate(per_task):
            print('# %s task %d of %d' % (stage, i, len(per_task)))
            print('\n'.join(lines))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        from .cluster_cli import main as cluster_main
        return cluster_main(argv)
    a = parse_args(argv)
    try:
        if a.dry_run:
            emit(slurm.dry_run(a), a, print_dry_run)
        elif a.slurm:
            emit(slurm.submit_run(a), a, print_jobs)
        else:
            emit(run_local(a), a, print_table)
    except (tools.ToolError, model_dir.ModelDirError, settings_mod.SettingsError,
            slurm.SlurmError, OSError) as e:
        print('qtip-run: error: %s' % e, file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
