"""Finding and running the qtip-* commands and the Python stages."""
import os
import shutil
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
PYTHON_DIR = os.path.join(REPO, 'python')
CAPTURE = os.path.join(REPO, 'calib', 'capture.py')


class ToolError(RuntimeError):
    pass


def find_bin(bin_dir):
    """The directory holding qtip-quantize: --bin, $QTIP_BIN, the repo's build/, PATH."""
    for d in (bin_dir, os.environ.get('QTIP_BIN'), os.path.join(REPO, 'build')):
        if d and os.access(os.path.join(d, 'qtip-quantize'), os.X_OK):
            return os.path.abspath(d)
    p = shutil.which('qtip-quantize')
    if p:
        return os.path.dirname(p)
    raise ToolError('qtip-quantize not found: build the project (scripts/setup.sh), '
                    'or give --bin DIR or QTIP_BIN')


def run(args, what, cwd=None):
    """stdout of a command; a failure raises ToolError with its stderr."""
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    if p.returncode != 0:
        raise ToolError('%s failed (exit %d): %s\n%s' % (what, p.returncode, ' '.join(args),
                                                         p.stderr.strip()[-2000:]))
    return p.stdout


def version(bin_dir, tool):
    return run([os.path.join(bin_dir, tool), '--version'], tool).strip()


def python_env():
    env = dict(os.environ, HF_HUB_OFFLINE='1')
    env['PYTHONPATH'] = PYTHON_DIR + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
    return env


def run_python(args, what, cwd=None):
    p = subprocess.run([sys.executable] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=python_env(), cwd=cwd)
    if p.returncode != 0:
        raise ToolError('%s failed (exit %d)\n%s' % (what, p.returncode, p.stderr.strip()[-3000:]))
    return p.stdout
