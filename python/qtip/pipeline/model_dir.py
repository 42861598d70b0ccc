"""What the driver needs to know of a Hugging Face model directory: its weight
files, its quantizable linears and per-tensor digests."""
import json
import os
import struct

# The suffixes qtip-pack quantizes (lib/io/model_dir.c, linear_suffixes): the
# driver quantizes exactly the layers qtip-pack requires artifacts for; a
# mismatch makes qtip-pack fail, which the end-to-end test would show.
LINEAR_SUFFIXES = (
    '.q_proj', '.k_proj', '.v_proj', '.o_proj', '.gate_proj', '.up_proj', '.down_proj',
    '.attention.self.query', '.attention.self.key', '.attention.self.value',
    '.attention.output.dense', '.intermediate.dense', '.output.dense',
)


class ModelDirError(ValueError):
    pass


def weight_map(d):
    """{tensor name: file path} of a single-file or sharded safetensors model."""
    index = os.path.join(d, 'model.safetensors.index.json')
    if os.path.exists(index):
        with open(index) as f:
            return {k: os.path.join(d, v) for k, v in json.load(f)['weight_map'].items()}
    single = os.path.join(d, 'model.safetensors')
    if not os.path.exists(single):
        raise ModelDirError('%s: neither model.safetensors nor model.safetensors.index.json '
                            '(a Hugging Face model directory is expected)' % d)
    return {k: single for k in read_header(single) if k != '__metadata__'}


def read_header(path):
    with open(path, 'rb') as f:
        (n,) = struct.unpack('<Q', f.read(8))
        return json.loads(f.read(n))


def linears(d):
    """[(prefix, [out, in])] of the quantizable linears, in name order."""
    out = []
    for path in sorted(set(weight_map(d).values())):
        for name, info in read_header(path).items():
            if name == '__metadata__' or not name.endswith('.weight') or len(info['shape']) != 2:
                continue
            prefix = name[:-len('.weight')]
            if prefix.endswith(LINEAR_SUFFIXES):
                out.append((prefix, info['shape']))
    if not out:
        raise ModelDirError('%s: no quantizable linear (expected names ending in %s)'
                            % (d, ', '.join(LINEAR_SUFFIXES[:7])))
    return sorted(out)


def tensor_digests(d, cache):
    """{tensor name: digest} of every tensor of the model (cached per file)."""
    out = {}
    for path in sorted(set(weight_map(d).values())):
        out.update(cache.tensors(path))
    return out


def files_digest(d, cache):
    """{relative path: digest} of every regular file of the model directory:
    the inputs of qtip-pack besides the artifacts."""
    out = {}
    for root, dirs, files in os.walk(d):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(root, name)
            if os.path.isfile(p):
                out[os.path.relpath(p, d)] = cache.file(p)
    return out
