#!/usr/bin/env bash
# scripts/pt_to_safetensors.py on a .pt built by hand in torch.save's zip layout
# (archive/data.pkl with _rebuild_tensor_v2 + persistent storage ids, archive/data/0..),
# QuIP#'s centred format {flatH, mu, n, ct}; then qtip-hessian import recovers
# E[x x^T] = sym(flatH) + mu mu^T exactly.
set -eu
H="$QTIP_BIN/qtip-hessian"; S="$QTIP_SOURCE_DIR/scripts/pt_to_safetensors.py"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"
python3 - <<'PY'
import collections, io, pickle, struct, sys, types, zipfile
# Stand-ins whose pickled names are the ones torch writes.
torch = types.ModuleType("torch"); utils = types.ModuleType("torch._utils")
def _rebuild_tensor_v2(*a): pass
class FloatStorage: pass
_rebuild_tensor_v2.__module__ = "torch._utils"; FloatStorage.__module__ = "torch"
utils._rebuild_tensor_v2 = _rebuild_tensor_v2; torch.FloatStorage = FloatStorage; torch._utils = utils
sys.modules["torch"] = torch; sys.modules["torch._utils"] = utils
class St:
    def __init__(self, key, vals): self.key, self.vals = key, vals
class Tn:
    def __init__(self, st, size): self.st, self.size = st, size
    def __reduce__(self):
        stride = (self.size[1], 1) if len(self.size) == 2 else (1,)
        return (_rebuild_tensor_v2, (self.st, 0, self.size, stride, False, collections.OrderedDict()))
class P(pickle.Pickler):
    def persistent_id(self, o):
        return ("storage", FloatStorage, o.key, "cpu", len(o.vals)) if isinstance(o, St) else None
# E = [[5,4,3],[4,4,4],[3,4,5]], mu = (2,2,2): covariance = E - mu mu^T
flat = [1.0, 0.0, 0.0, -1.0, 0.0, 1.0]; mu = [2.0, 2.0, 2.0]
sf, sm = St("0", flat), St("1", mu)
buf = io.BytesIO(); P(buf, protocol=2).dump({"flatH": Tn(sf, (6,)), "mu": Tn(sm, (3,)), "n": 3, "ct": 2})
with zipfile.ZipFile("h.pt", "w") as z:
    z.writestr("archive/data.pkl", buf.getvalue())
    z.writestr("archive/byteorder", "little")
    z.writestr("archive/data/0", struct.pack("<6f", *flat))
    z.writestr("archive/data/1", struct.pack("<3f", *mu))
    z.writestr("archive/version", "3\n")
PY
python3 "$S" h.pt h.safetensors
"$H" import --site L0.up -o h.qh h.safetensors
"$H" export --full --dtype f64 -o full.st h.qh
python3 - <<'PY'
import json, struct
b = open("full.st", "rb").read(); hl = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + hl])
a, e = h["H"]["data_offsets"]; H = struct.unpack("<9d", b[8 + hl + a:8 + hl + e])
assert H == (5, 4, 3, 4, 4, 4, 3, 4, 5), H
PY
"$H" info --json h.qh | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['count']==2 and d['n']==3 and d['site']=='L0.up', d"
# a pickle that names anything else is refused
python3 -c "
import io, pickle, zipfile, os
with zipfile.ZipFile('evil.pt', 'w') as z: z.writestr('archive/data.pkl', pickle.dumps(os.getcwd, protocol=2))"
if python3 "$S" evil.pt x.safetensors 2>err.txt; then echo "FAIL evil pickle accepted"; exit 1; fi
grep -q "refusing" err.txt
echo ok
