"""A packed model directory as qtip-pack writes it (docs/formats/model-dir.md):
config.json with quantization_config, quantize_config.json with per-layer
settings, weights in model.safetensors or shards listed by
model.safetensors.index.json. Per quantized linear P: P.qtip_codes, P.SU, P.SV,
P.Wscale and, for HYB/LUT, P.tlut."""
import json
import os

from safetensors import safe_open

PACKED_SUFFIXES = ('qtip_codes', 'SU', 'SV', 'Wscale', 'tlut')
# 1: whole-layer transforms; 2: the same with tp_size > 1, each layer's sharded
# side transformed per shard (tp_split; docs/formats/model-dir.md)
LAYOUT_VERSIONS = (1, 2)


class PackedFormatError(ValueError):
    """The directory is not a packed qtip model this reader understands."""


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise PackedFormatError('%s: missing (not a qtip-pack output directory?)' % path) from None
    except json.JSONDecodeError as e:
        raise PackedFormatError('%s: not JSON: %s' % (path, e)) from None


def weight_files(d):
    """{tensor name: shard path} of a model directory, single file or sharded."""
    index = os.path.join(d, 'model.safetensors.index.json')
    if os.path.exists(index):
        wm = _read_json(index).get('weight_map')
        if not isinstance(wm, dict):
            raise PackedFormatError('%s: no weight_map' % index)
        return {k: os.path.join(d, v) for k, v in wm.items()}
    single = os.path.join(d, 'model.safetensors')
    if not os.path.exists(single):
        raise PackedFormatError('%s: neither model.safetensors nor model.safetensors.index.json' % d)
    with safe_open(single, framework='pt') as f:
        return {k: single for k in f.keys()}


def load_tensors(d):
    """Every tensor of the directory, as stored (dtype and shape unchanged)."""
    by_file = {}
    for name, path in weight_files(d).items():
        by_file.setdefault(path, []).append(name)
    out = {}
    for path, names in by_file.items():
        with safe_open(path, framework='pt') as f:
            for name in names:
                out[name] = f.get_tensor(name)
    return out


def check_quantization_config(qc, where):
    """Refuse a config.json quantization_config this reader does not understand;
    where: the config.json, for the message."""
    if not isinstance(qc, dict) or qc.get('format') != 'qtip':
        raise PackedFormatError('%s: no quantization_config of format "qtip" '
                                '(not written by qtip-pack --format qtip)' % where)
    if qc.get('layout_version') not in LAYOUT_VERSIONS:
        raise PackedFormatError('%s: layout_version %r, this reader knows 1 and 2'
                                % (where, qc.get('layout_version')))
    tp = qc.get('tp_size', 1)
    if (qc['layout_version'] == 2) != (isinstance(tp, int) and tp > 1):
        raise PackedFormatError('%s: layout_version %r with tp_size %r (2 exactly when tp_size > 1)'
                                % (where, qc['layout_version'], tp))


def read_layers(path):
    """quantize_config.json's "layers": {module prefix: settings}."""
    layers = _read_json(path).get('layers')
    if not isinstance(layers, dict) or not layers:
        raise PackedFormatError('%s: no "layers"' % path)
    return layers


class PackedModel:
    """config (dict), quantization (config's quantization_config), layers
    ({module prefix: settings from quantize_config.json}), tensors (name -> tensor)."""

    def __init__(self, d):
        self.path = d
        self.config = _read_json(os.path.join(d, 'config.json'))
        self.quantization = self.config.get('quantization_config')
        check_quantization_config(self.quantization, os.path.join(d, 'config.json'))
        self.layers = read_layers(os.path.join(d, 'quantize_config.json'))
        self.tensors = load_tensors(d)
        for prefix in self.layers:
            for s in ('qtip_codes', 'SU', 'SV', 'Wscale'):
                if prefix + '.' + s not in self.tensors:
                    raise PackedFormatError('%s: layer %s has no tensor %s.%s' % (d, prefix, prefix, s))

    def layer_tensors(self, prefix):
        return {s: self.tensors[prefix + '.' + s] for s in PACKED_SUFFIXES
                if prefix + '.' + s in self.tensors}

    def plain_tensors(self):
        """The tensors that are not part of a quantized linear (copied unchanged)."""
        packed = {p + '.' + s for p in self.layers for s in PACKED_SUFFIXES}
        return {k: v for k, v in self.tensors.items() if k not in packed}
