"""The driver's settings file: a quantize_config.json (the fields qtip-quantize
--config reads) with optional per-layer overrides:

    {"decode_mode": "hyb", "K": 2,
     "overrides": [{"layers": "*.mlp.down_proj", "K": 3},
                   {"layers": ["model.layers.0.*"], "codebook": "e8p12"}]}

"layers" is a glob (fnmatch) or a list of globs over module prefixes; every
matching override applies, in file order, later ones winning. A layer's
effective settings are written to a per-layer config for qtip-quantize and are
part of its step record: changing them makes exactly the affected layers stale."""
import fnmatch
import json

OVERRIDES = 'overrides'


class SettingsError(ValueError):
    pass


def load(path):
    if path is None:
        return {}
    try:
        with open(path) as f:
            s = json.load(f)
    except (OSError, ValueError) as e:
        raise SettingsError('%s: %s' % (path, e)) from None
    if not isinstance(s, dict):
        raise SettingsError('%s: expected a JSON object' % path)
    for i, o in enumerate(s.get(OVERRIDES, [])):
        if not isinstance(o, dict) or 'layers' not in o:
            raise SettingsError('%s: overrides[%d] needs a "layers" glob' % (path, i))
    return s


def with_tp(settings, tp):
    """qtip-run --tp N: every layer's tp_size (qtip-quantize --tp; each layer's side
    follows its name). None leaves the settings file's."""
    if tp is None:
        return settings
    if tp < 1:
        raise SettingsError('--tp %d: expected a tensor-parallel degree of at least 1' % tp)
    return dict(settings, tp_size=tp)


def _matches(patterns, prefix):
    if isinstance(patterns, str):
        patterns = [patterns]
    return any(fnmatch.fnmatchcase(prefix, p) for p in patterns)


def for_layer(settings, prefix):
    """The effective quantize_config of one layer (no override entries left)."""
    eff = {k: v for k, v in settings.items() if k != OVERRIDES}
    for o in settings.get(OVERRIDES, []):
        if _matches(o['layers'], prefix):
            eff.update({k: v for k, v in o.items() if k != 'layers'})
    return eff


def unused_overrides(settings, prefixes):
    """Override entries that match no layer (most likely a typo)."""
    return [o['layers'] for o in settings.get(OVERRIDES, [])
            if not any(_matches(o['layers'], p) for p in prefixes)]
