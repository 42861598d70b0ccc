"""The linear input sites of a Llama-family causal LM, and how many of them one
capture pass streams at once.

A site is one tensor that feeds one or more linears: q/k/v read the same
normalized hidden state, gate/up too, so a block has four sites and seven
linears. Each site gets one Hessian file; the linears sharing it get hard links.
"""
from dataclasses import dataclass, field

# The seven linears of a block, grouped by the input they share (first member
# carries the hook and names the site's file).
SITE_GROUPS = (
    ('qkv', 'self_attn', ('q_proj', 'k_proj', 'v_proj')),
    ('o', 'self_attn', ('o_proj',)),
    ('gate_up', 'mlp', ('gate_proj', 'up_proj')),
    ('down', 'mlp', ('down_proj',)),
)
LINEAR_PATHS = tuple('%s.%s' % (parent, name) for _, parent, names in SITE_GROUPS
                     for name in names)

# qtip-hessian accumulate's buffers (lib/hessian/hessian.c): a block of at most
# 4096 rows and 64 MiB of doubles, plus one read block of the raw input.
BLOCK_MAX_ROWS = 4096
BLOCK_MAX_BYTES = 64 << 20
# what a process holds besides its buffers (code, libraries, OpenBLAS's own
# buffers): 7-10 MiB measured (VmHWM) on SmolLM2's sites
PROCESS_OVERHEAD_BYTES = 12 << 20


class CaptureError(Exception):
    """A refusal or failure the user can act on; the message names the defect."""


@dataclass
class Site:
    name: str          # e.g. model.layers.3.self_attn.qkv (recorded in the Hessian)
    layer: int         # decoder block index
    dim: int           # input features
    members: list      # module prefixes sharing the input, hook on members[0]
    files: list = field(default_factory=list)  # <prefix>.safetensors per member

    @property
    def file(self):
        return self.files[0]


def accumulator_bytes(dim, f32_input=True):
    """Peak memory of one `qtip-hessian accumulate` reading raw rows of dim
    columns: S (n x n doubles), the double block and the raw read block."""
    rows = max(1, min(BLOCK_MAX_ROWS, BLOCK_MAX_BYTES // (8 * dim)))
    return (8 * dim * dim + rows * dim * 8 + rows * dim * (4 if f32_input else 8)
            + PROCESS_OVERHEAD_BYTES)


def _describe(model):
    cfg = getattr(model, 'config', None)
    arch = ','.join(getattr(cfg, 'architectures', None) or [type(model).__name__])
    return "model %s (model_type '%s')" % (arch, getattr(cfg, 'model_type', '?'))


def find_sites(model):
    """The sites of every decoder block, in forward order; CaptureError naming
    what is missing when the model is not of the Llama family."""
    from torch import nn
    need = ('qtip captures Llama-family causal LMs, whose blocks model.layers[i] hold '
            'the nn.Linear modules %s' % ', '.join(LINEAR_PATHS))
    base = getattr(model, 'model', None)
    layers = getattr(base, 'layers', None)
    if not isinstance(layers, nn.ModuleList) or len(layers) == 0:
        top = ', '.join(n for n, _ in model.named_children())
        raise CaptureError('%s is not supported: missing model.layers (top-level modules: %s); %s'
                           % (_describe(model), top, need))
    sites, missing = [], []
    for i, block in enumerate(layers):
        for key, parent, names in SITE_GROUPS:
            mods = []
            for name in names:
                path = '%s.%s' % (parent, name)
                try:
                    mod = block.get_submodule(path)
                except AttributeError:
                    mod = None
                if not isinstance(mod, nn.Linear):
                    missing.append('model.layers.%d.%s' % (i, path))
                mods.append(mod)
            if any(not isinstance(m, nn.Linear) for m in mods):
                continue
            dims = {m.in_features for m in mods}
            if len(dims) != 1:
                raise CaptureError('model.layers.%d: %s have different input sizes %s'
                                   % (i, '/'.join(names), sorted(dims)))
            prefixes = ['model.layers.%d.%s.%s' % (i, parent, n) for n in names]
            sites.append(Site('model.layers.%d.%s.%s' % (i, parent, key), i, dims.pop(),
                              prefixes, [p + '.safetensors' for p in prefixes]))
    if missing:
        shown = ', '.join(missing[:6]) + (' and %d more' % (len(missing) - 6)
                                          if len(missing) > 6 else '')
        raise CaptureError('%s is not supported: missing %s; %s' % (_describe(model), shown, need))
    return sites


def group_sites(sites, budget_bytes, queue_bytes_per_site):
    """Consecutive sites whose accumulators (plus the queued activations) fit in
    budget_bytes, one capture pass per group; a site larger than the budget
    gets a pass of its own."""
    groups, cur, used = [], [], 0
    for s in sites:
        need = accumulator_bytes(s.dim) + queue_bytes_per_site(s.dim)
        if cur and used + need > budget_bytes:
            groups.append(cur)
            cur, used = [], 0
        cur.append(s)
        used += need
    if cur:
        groups.append(cur)
    return groups
