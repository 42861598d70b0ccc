"""The quantize stage: every linear through qtip-quantize, --jobs at a time,
each job with its share of the thread budget and, with --devices, its slot's GPU
(round-robin over the slots); a layer is redone only when its record says it is
missing or stale."""
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from . import state, tools
from .digest import file_sha256, text_sha256
from .progress import Stage
from .settings import for_layer

RESULT_FIELDS = ('bits_per_weight', 'proxy_loss', 'proxy_loss_rotated', 'seconds', 'shape')


def thread_shares(threads, jobs):
    """Threads per job slot: the budget split evenly, the remainder to the first slots."""
    jobs = max(1, min(jobs, threads))
    return [threads // jobs + (1 if i < threads % jobs else 0) for i in range(jobs)]


def parse_devices(text):
    """'0,1' -> [0, 1]: the GPUs the quantize jobs use ('' or None: none, the CPU)."""
    if not text:
        return []
    try:
        devices = [int(x) for x in text.split(',')]
    except ValueError:
        devices = None
    if not devices or any(d < 0 for d in devices):
        raise ValueError('--devices must be GPU indices separated by commas, e.g. 0,1; found %r'
                         % text)
    return devices


def slot_device(devices, slot):
    """The GPU of job slot `slot`: the devices round-robin over the slots (None: the CPU)."""
    return devices[slot % len(devices)] if devices else None


class Layer:
    """One linear: its artifact, record and per-layer config under OUT; its
    inputs are hashed only when freshness is asked (--dry-run hashes nothing)."""

    def __init__(self, run, prefix, shape):
        self.run, self.prefix, self.shape = run, prefix, shape
        self.artifact = os.path.join(run.out, 'layers', prefix + '.safetensors')
        self.record_path = os.path.join(run.state_dir, 'layers', prefix + '.json')
        self.config_path = os.path.join(run.state_dir, 'layers', prefix + '.config.json')
        self.settings = for_layer(run.settings, prefix)
        self._inputs = None

    @property
    def inputs(self):
        if self._inputs is None:
            run = self.run
            self._inputs = {
                'weight': run.tensor_digest(self.prefix + '.weight'),
                'hessian': run.hessian_digest(self.prefix),
                'settings': text_sha256(self.settings),
                'tool': run.tool_versions['qtip-quantize'],
            }
        return self._inputs

    def fresh(self):
        rec = state.read_json(self.record_path)
        now = file_sha256(self.artifact) if os.path.exists(self.artifact) else None
        return state.is_fresh(rec, self.inputs, {'artifact': now}), rec

    def command(self, threads, device=None):
        """The qtip-quantize command line (its --config written by write_config); device:
        a GPU index for --device cuda:<k>, None for the CPU."""
        run = self.run
        args = [os.path.join(run.bin, 'qtip-quantize'), '--no-progress', '--json',
                '--threads', str(threads), '--tensor', self.prefix, '--config', self.config_path,
                '-o', self.artifact]
        if device is not None:
            args += ['--device', 'cuda:%d' % device]
        if run.hessian_dir:
            args += ['--hessian', os.path.join(run.hessian_dir, self.prefix + '.safetensors')]
        else:
            args += ['--identity-hessian']
        return args + [run.model]

    def write_config(self):
        state.write_json_atomic(self.config_path, self.settings)

    def quantize(self, threads, device=None):
        inputs = self.inputs  # before the run: a missing Hessian is named here
        self.write_config()
        t0 = time.monotonic()
        out = json.loads(tools.run(self.command(threads, device), 'qtip-quantize ' + self.prefix))
        result = {k: out.get(k) for k in RESULT_FIELDS}
        result['wall_seconds'] = round(time.monotonic() - t0, 3)
        result['threads'] = threads
        if device is not None:
            result['device'] = 'cuda:%d' % device
        rec = {'inputs': inputs, 'outputs': {'artifact': file_sha256(self.artifact)},
               'result': result}
        state.write_json_atomic(self.record_path, rec)
        return rec


def layer_groups(run, per_task):
    """The layers of each cluster quantize task: name order, per_task at a time."""
    layers = [Layer(run, p, s) for p, s in run.linears]
    return [layers[k:k + per_task] for k in range(0, len(layers), per_task)]


def quantize_layers(layers, threads):
    """A cluster task's layers, one after another, each skipped when fresh."""
    os.makedirs(os.path.join(layers[0].run.out, 'layers'), exist_ok=True)
    for layer in layers:
        if not layer.fresh()[0]:
            layer.quantize(threads)


def read_records(run):
    """{prefix: record} of every layer, for pack in its own task; a missing one
    names the layer."""
    records = {}
    for p, _ in run.linears:
        rec = state.read_json(os.path.join(run.state_dir, 'layers', p + '.json'))
        if not rec:
            raise tools.ToolError('layer %s has not been quantized: no record' % p)
        records[p] = rec
    return records


def run_stage(run):
    """Quantize what is stale; {prefix: record} and the prefixes redone."""
    os.makedirs(os.path.join(run.out, 'layers'), exist_ok=True)
    state.remove_stale_temporaries(os.path.join(run.state_dir, 'layers'))
    layers = [Layer(run, p, s) for p, s in run.linears]
    records, todo = {}, []
    for layer in layers:
        ok, rec = layer.fresh()
        if ok:
            records[layer.prefix] = rec
        else:
            todo.append(layer)
    # largest first: the last jobs to start are the short ones (better balance)
    todo.sort(key=lambda l: (-l.shape[0] * l.shape[1], l.prefix))
    stage = Stage('quantize', sum(l.shape[0] * l.shape[1] for l in todo), len(todo),
                  enabled=run.progress)
    shares = thread_shares(run.threads, run.jobs)
    free, lock = list(range(len(shares))), threading.Lock()

    def job(layer):
        with lock:
            slot = free.pop()
        try:
            return layer.quantize(shares[slot], slot_device(run.devices, slot))
        finally:
            with lock:
                free.append(slot)

    with ThreadPoolExecutor(max_workers=len(shares)) as pool:
        futures = {pool.submit(job, layer): layer for layer in todo}
        for fut in as_completed(futures):
            layer, rec = futures[fut], fut.result()
            records[layer.prefix] = rec
            with lock:
                stage.advance(layer.shape[0] * layer.shape[1], '%s proxy %.5f' % (
                    layer.prefix, rec['result']['proxy_loss'] or 0.0))
    seconds = stage.finish('%d quantized, %d reused' % (len(todo), len(layers) - len(todo)))
    return records, [l.prefix for l in todo], seconds
