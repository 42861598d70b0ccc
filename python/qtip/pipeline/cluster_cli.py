"""qtip-run status | resume | task: the subcommands of a cluster run
(python/qtip/pipeline/slurm.py; docs/cmd/qtip-run.md)."""
import argparse
import json
import sys

from . import model_dir, settings as settings_mod, slurm, slurm_status, tasks, tools


def parse_args(argv):
    ap = argparse.ArgumentParser(prog='qtip-run', description='A cluster run of qtip-run --slurm.')
    sub = ap.add_subparsers(dest='command', required=True)
    s = sub.add_parser('status', help='done / running / pending / failed tasks per stage')
    s.add_argument('output', help='the run directory (qtip-run -o)')
    s.add_argument('--json', action='store_true', help='every task as JSON')
    r = sub.add_parser('resume', help='resubmit the tasks neither done nor queued')
    r.add_argument('output')
    r.add_argument('--json', action='store_true', help='the submitted job ids as JSON')
    t = sub.add_parser('task', help='run one task of the plan (what each array task runs)')
    t.add_argument('output')
    t.add_argument('stage', choices=tasks.STAGES)
    t.add_argument('index', nargs='?', type=int, help='task index (default $SLURM_ARRAY_TASK_ID)')
    return ap.parse_args(argv)


def main(argv):
    a = parse_args(argv)
    try:
        if a.command == 'task':
            slurm.task_main(a.output, a.stage, a.index)
            return 0
        if a.command == 'resume':
            sub = slurm_status.resume(a.output)
            if a.json or not sys.stdout.isatty():
                print(json.dumps(sub, indent=1))
            else:
                from .driver import print_jobs
                print_jobs(sub)
            return 0
        states = slurm_status.task_states(a.output)
        if a.json:
            print(json.dumps({'stages': slurm_status.summarize(states), 'tasks': states}, indent=1))
        else:
            slurm_status.format_status(states, sys.stdout)
        done = all(r['state'] == 'done' for rows in states.values() for r in rows)
        return 0 if done else 3
    except (tools.ToolError, model_dir.ModelDirError, settings_mod.SettingsError,
            slurm.SlurmError, OSError) as e:
        print('qtip-run %s: error: %s' % (a.command, e), file=sys.stderr)
        return 1
