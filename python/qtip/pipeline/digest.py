"""Checksums of the driver's inputs and outputs (sha256, hex).

Model weights are hashed per tensor (a layer is stale only when its own weight
changes). Hashing a 7B model takes a while, so each file's digests are cached in
the run's state directory keyed by (size, mtime_ns, inode): an unchanged file is
not read again."""
import hashlib
import json
import os
import struct

CHUNK = 1 << 22


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            b = f.read(CHUNK)
            if not b:
                return h.hexdigest()
            h.update(b)


def dir_sha256(d):
    """One digest of every regular file under d (relative names and contents)."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(d):
        dirs.sort()
        for name in sorted(files):
            p = os.path.join(root, name)
            h.update(os.path.relpath(p, d).encode() + b'\0' + file_sha256(p).encode())
    return h.hexdigest()


def text_sha256(obj):
    """Digest of a JSON-able value (settings), independent of key order."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _read_header(f):
    (n,) = struct.unpack('<Q', f.read(8))
    return json.loads(f.read(n)), 8 + n


def _tensor_sha256(f, path, base, name, info):
    """sha256 of a tensor's dtype, shape and bytes (f: the open safetensors file)."""
    begin, end = info['data_offsets']
    f.seek(base + begin)
    h = hashlib.sha256(('%s %s\0' % (info['dtype'], info['shape'])).encode())
    left = end - begin
    while left:
        b = f.read(min(CHUNK, left))
        if not b:
            raise ValueError('%s: tensor %s is truncated' % (path, name))
        h.update(b)
        left -= len(b)
    return h.hexdigest()


def safetensors_digests(path):
    """{tensor name: sha256 of dtype, shape and bytes} of one safetensors file."""
    out = {}
    with open(path, 'rb') as f:
        header, base = _read_header(f)
        items = sorted(((k, v) for k, v in header.items() if k != '__metadata__'),
                       key=lambda kv: kv[1]['data_offsets'][0])
        for name, info in items:
            out[name] = _tensor_sha256(f, path, base, name, info)
    return out


def tensor_digest(path, name):
    """The digest safetensors_digests gives one tensor, reading only its bytes: a
    cluster task quantizing one layer hashes that layer, not the whole model."""
    with open(path, 'rb') as f:
        header, base = _read_header(f)
        if name not in header:
            raise ValueError('%s: no tensor %s' % (path, name))
        return _tensor_sha256(f, path, base, name, header[name])


class DigestCache:
    """Per-file digests cached by (size, mtime_ns, inode) in a JSON file."""

    def __init__(self, cache_path):
        from .state import read_json
        self.path = cache_path
        self.entries = read_json(cache_path) or {}
        self.dirty = False

    def _key(self, path):
        st = os.stat(path)
        return '%d:%d:%d' % (st.st_size, st.st_mtime_ns, st.st_ino)

    def _get(self, path, compute):
        apath = os.path.abspath(path)
        key = self._key(apath)
        e = self.entries.get(apath)
        if e and e['key'] == key:
            return e['value']
        value = compute(apath)
        self.entries[apath] = {'key': key, 'value': value}
        self.dirty = True
        return value

    def file(self, path):
        return self._get(path, file_sha256)

    def tensors(self, path):
        return self._get(path, safetensors_digests)

    def save(self):
        if self.dirty:
            from .state import write_json_atomic
            write_json_atomic(self.path, self.entries)
            self.dirty = False
