#!/usr/bin/env python3
"""Convert a reference tools' torch Hessian file (.pt) to safetensors, without torch.

    pt_to_safetensors.py IN.pt OUT.safetensors

Reads the zip layout torch.save writes (<archive>/data.pkl + <archive>/data/<key>
storages) with a restricted unpickler: only tensor rebuilds, storages, OrderedDict
and plain Python values are accepted. Writes the tensors it finds (`flatH`, `H`,
`mu`, ... in their stored dtype) and the integers `n`, `ct` as I64 scalars, the
layout `qtip-hessian import` reads (docs/formats/hessian.md). Standard library only.
"""
import collections, io, json, os, pickle, struct, sys, zipfile

# storage class name -> (safetensors dtype, struct format, item size)
STORAGES = {
    "FloatStorage": ("F32", "f", 4), "DoubleStorage": ("F64", "d", 8),
    "HalfStorage": ("F16", "e", 2), "BFloat16Storage": ("BF16", None, 2),
    "LongStorage": ("I64", "q", 8), "IntStorage": ("I32", "i", 4),
}
DTYPES = {"float32": "FloatStorage", "float64": "DoubleStorage", "float16": "HalfStorage",
          "bfloat16": "BFloat16Storage", "int64": "LongStorage", "int32": "IntStorage"}


class Storage:
    def __init__(self, kind, data):
        self.kind, self.data = kind, data


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def raw(self):
        """Bytes of the tensor in C order (contiguous tensors only, as torch.save writes them)."""
        item = STORAGES[self.storage.kind][2]
        numel = 1
        for s in self.size:
            numel *= s
        want, acc = [], 1
        for s in reversed(self.size):
            want.append(acc)
            acc *= s
        if numel > 1 and tuple(reversed(want)) != self.stride:
            raise ValueError("non-contiguous tensor (stride %s)" % (self.stride,))
        b = self.storage.data[self.offset * item:(self.offset + numel) * item]
        if len(b) != numel * item:
            raise ValueError("storage too short for the tensor")
        return b


class StorageType:
    def __init__(self, name):
        self.name = name


def rebuild_tensor(storage, offset, size, stride, *rest):
    return Tensor(storage, offset, size, stride)


class Unpickler(pickle.Unpickler):
    def __init__(self, f, zf, prefix):
        super().__init__(f)
        self.zf, self.prefix = zf, prefix

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor"):
            return rebuild_tensor
        if module == "torch" and name in STORAGES:
            return StorageType(name)
        if module == "torch" and name in DTYPES:
            return StorageType(DTYPES[name])
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError("refusing to load %s.%s" % (module, name))

    def persistent_load(self, pid):
        # ('storage', storage_type, key, location, numel)
        if not isinstance(pid, tuple) or pid[0] != "storage":
            raise pickle.UnpicklingError("unknown persistent id %r" % (pid,))
        kind = pid[1].name if isinstance(pid[1], StorageType) else str(pid[1])
        if kind not in STORAGES:
            raise pickle.UnpicklingError("unsupported storage %s" % kind)
        data = self.zf.read("%s/data/%s" % (self.prefix, pid[2]))
        return Storage(kind, data)


def load_pt(path):
    with zipfile.ZipFile(path) as zf:
        pkl = [n for n in zf.namelist() if n.endswith("/data.pkl")]
        if len(pkl) != 1:
            raise ValueError("%s: not a torch zip file (no single */data.pkl)" % path)
        prefix = pkl[0][: -len("/data.pkl")]
        return Unpickler(io.BytesIO(zf.read(pkl[0])), zf, prefix).load()


def write_safetensors(path, tensors, metadata):
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def convert(src, dst):
    obj = load_pt(src)
    if not isinstance(obj, dict):
        raise ValueError("%s: expected a dict, found %s" % (src, type(obj).__name__))
    tensors = collections.OrderedDict()
    for k in ("n", "ct"):
        if k in obj:
            v = obj[k]
            v = int.from_bytes(v.raw(), "little", signed=True) if isinstance(v, Tensor) else int(v)
            tensors[k] = ("I64", (), struct.pack("<q", v))
    for k, v in obj.items():
        if isinstance(v, Tensor):
            if k in tensors:
                continue
            tensors[k] = (STORAGES[v.storage.kind][0], v.size, v.raw())
    if "flatH" not in tensors and "H" not in tensors:
        raise ValueError("%s: no 'flatH' or 'H' tensor (keys: %s)" % (src, ", ".join(map(str, obj))))
    write_safetensors(dst, tensors, {"source": os.path.basename(src), "converter": "pt_to_safetensors.py"})


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[2].strip() if len(argv) == 3 else __doc__, file=sys.stderr)
        return 2
    try:
        convert(argv[1], argv[2])
    except (OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile, KeyError) as e:
        print("pt_to_safetensors: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
