"""The inputs of one pipeline run (local driver or one cluster task) and the
digests every step compares."""
import os
import sys

from . import model_dir, settings as settings_mod, state, tools
from .digest import DigestCache, tensor_digest
from .quantize import parse_devices

STATE = '.state'


class Run:
    """a: the driver's options (argparse namespace, or the plan's copy of it).
    task: one task of a cluster run; it shares OUT with other tasks running at
    the same moment, so it neither clears temporaries nor rewrites the digest
    cache, and hashes only the tensors it reads."""

    def __init__(self, a, task=False):
        self.a, self.task = a, task
        self.model, self.out = os.path.abspath(a.model), os.path.abspath(a.output)
        self.state_dir = os.path.join(self.out, STATE)
        os.makedirs(self.state_dir, exist_ok=True)
        if not task:
            state.remove_stale_temporaries(self.state_dir)
            state.remove_stale_temporaries(self.out)  # verify.json, eval.json
        self.bin = tools.find_bin(a.bin)
        self.tool_versions = {t: tools.version(self.bin, t)
                              for t in ('qtip-quantize', 'qtip-pack', 'qtip-verify')}
        self.settings = settings_mod.with_tp(settings_mod.load(a.settings), getattr(a, 'tp', None))
        self.jobs, self.threads = a.jobs, a.threads or os.cpu_count() or 1
        self.devices = parse_devices(getattr(a, 'devices', None))  # plans before --devices: none
        self.progress = sys.stderr.isatty() and not getattr(a, 'quiet', False) and not task
        self.cache = DigestCache(os.path.join(self.state_dir, 'digests.json'))
        self.linears = model_dir.linears(self.model)
        self.hessian_dir = hessian_dir(a, self.out)
        self._tensor_digests = None
        self._hessian_digests = {}

    @property
    def tensor_digests(self):
        """{tensor: digest} of the whole model (cached per file across runs)."""
        if self._tensor_digests is None:
            self._tensor_digests = model_dir.tensor_digests(self.model, self.cache)
        return self._tensor_digests

    def tensor_digest(self, name):
        if self.task and self._tensor_digests is None:
            return tensor_digest(model_dir.weight_map(self.model)[name], name)
        return self.tensor_digests[name]

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

    def save_cache(self):
        if not self.task:
            self.cache.save()


def hessian_dir(a, out):
    """Where the layers' Hessians are: --hessians, OUT/hessians when captured, or
    None (identity)."""
    if a.hessians:
        return os.path.abspath(a.hessians)
    if a.text:
        return os.path.join(out, 'hessians')
    if a.identity_hessian:
        return None
    raise tools.ToolError('give --hessians DIR, --text FILE... or --identity-hessian')
