#!/usr/bin/env bash
# qtip-verify through the command on corrupted copies of a packed model: a flipped
# bit in a packed code tensor (caught by the checksums recorded at pack time, with
# no original), a truncated shard, a missing tensor, a wrong config field, a
# non-finite scale, a copied tensor (bias) that differs from the original's: each
# exits 3 (verification failed) with a message naming what is wrong; an unreadable
# directory or --original exits 1 (docs/cmd/qtip-verify.md).
set -u
B="$QTIP_BIN"
for t in qtip-hessian qtip-quantize qtip-pack qtip-verify; do
  [ -x "$B/$t" ] || { echo "FAIL $t not built"; exit 1; }
done
command -v python3 >/dev/null || { echo "skip: python3 is needed to write the test model"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$2"; then echo "FAIL $1"; cat "$T/err" 2>/dev/null; fail=1; fi; }

python3 - "$T" <<'PY'
import json, os, random, struct, sys
d = sys.argv[1]; rnd = random.Random(5302)
os.makedirs(d + '/model'); os.makedirs(d + '/act')
layers = [("model.layers.0.mlp.up_proj", 96, 64), ("model.layers.0.mlp.down_proj", 64, 96)]
hdr, blobs, off = {}, [], 0
for name, m, n in layers:
    b = struct.pack('<%df' % (m * n), *[rnd.gauss(0, 0.02) for _ in range(m * n)])
    hdr[name + ".weight"] = {"dtype": "F32", "shape": [m, n], "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
    b = struct.pack('<%df' % m, *[rnd.gauss(0, 0.1) for _ in range(m)])
    hdr[name + ".bias"] = {"dtype": "F32", "shape": [m], "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
    rows = []
    for _ in range(n + 32):
        z = 0.0
        for j in range(n):
            z = 0.8 * z + rnd.gauss(0, 1); rows.append(z)
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (n + 32, n)
    h += ' ' * (-(len(h) + 11) % 64) + '\n'
    open('%s/act/%s.npy' % (d, name), 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode() + struct.pack('<%df' % len(rows), *rows))
hj = json.dumps(hdr).encode(); hj += b' ' * (-len(hj) % 8)
open(d + '/model/model.safetensors', 'wb').write(struct.pack('<Q', len(hj)) + hj + b''.join(blobs))
json.dump({"model_type": "llama", "torch_dtype": "float32"}, open(d + '/model/config.json', 'w'))
PY
[ $? -eq 0 ] || { echo "FAIL writing the test model"; exit 1; }
mkdir -p "$T/hess" "$T/art"
for L in model.layers.0.mlp.up_proj model.layers.0.mlp.down_proj; do
  "$B/qtip-hessian" accumulate -o "$T/hess/$L.safetensors" "$T/act/$L.npy" >/dev/null || { echo "FAIL hessian"; exit 1; }
  "$B/qtip-quantize" --decode-mode 1mad --L 8 --K 2 --V 1 --tlut-bits 0 --tensor "$L" \
     --hessian "$T/hess/$L.safetensors" -o "$T/art/$L.safetensors" "$T/model" >/dev/null || { echo "FAIL quantize"; exit 1; }
done
"$B/qtip-pack" -o "$T/packed" "$T/model" "$T"/art/*.safetensors || { echo "FAIL qtip-pack"; exit 1; }
V=("$B/qtip-verify" --original "$T/model" --hessians "$T/hess")
"${V[@]}" "$T/packed" >/dev/null 2>"$T/err"; rc=$?
check "clean copy verifies (rc $rc)" '[ $rc -eq 0 ]'

fresh() { rm -rf "$T/c"; cp -r "$T/packed" "$T/c"; }
# patch <file> <python expression over bytearray b>
patch() { python3 - "$1" "$2" <<'PY'
import json, struct, sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read())
n = struct.unpack('<Q', b[:8])[0]
def off(name): return 8 + n + json.loads(bytes(b[8:8 + n]))[name]["data_offsets"][0]
exec(sys.argv[2])
open(p, 'wb').write(bytes(b))
PY
}

fresh; patch "$T/c/model.safetensors" 'b[off("model.layers.0.mlp.down_proj.qtip_codes") + 100] ^= 0x10'
"$B/qtip-verify" "$T/c" >/dev/null 2>"$T/err"; rc=$?
check "flipped code bit, no --original: exits 3 naming the tensor and its checksum (rc $rc)" \
  '[ $rc -eq 3 ] && grep -q "down_proj.qtip_codes" "$T/err" && grep -q "checksum" "$T/err"'

# a copied tensor that differs from the original's (the bias bit flipped in a copy
# of the original: the packed files still match their recorded checksums)
rm -rf "$T/orig2"; cp -r "$T/model" "$T/orig2"
patch "$T/orig2/model.safetensors" 'b[off("model.layers.0.mlp.up_proj.bias") + 8] ^= 0x01'
"$B/qtip-verify" --original "$T/orig2" "$T/packed" >/dev/null 2>"$T/err"; rc=$?
check "flipped bias bit against --original exits 3 naming the tensor (rc $rc)" \
  '[ $rc -eq 3 ] && grep -q "copied tensor .model.layers.0.mlp.up_proj.bias. differs" "$T/err"'
"$B/qtip-verify" --original "$T/no-such-original" "$T/packed" >/dev/null 2>"$T/err"; rc=$?
check "unreadable --original exits 1 (rc $rc)" '[ $rc -eq 1 ] && grep -q "original" "$T/err"'

fresh; sz=$(stat -c %s "$T/c/model.safetensors"); truncate -s $((sz - 64)) "$T/c/model.safetensors"
"${V[@]}" "$T/c" >/dev/null 2>"$T/err"; rc=$?
check "truncated shard exits 3 naming the file (rc $rc)" '[ $rc -eq 3 ] && grep -q "model.safetensors" "$T/err"'

fresh; patch "$T/c/model.safetensors" 'i = b.find(b"up_proj.SV\""); b[i + 8] = ord("X")'
"${V[@]}" "$T/c" >/dev/null 2>"$T/err"; rc=$?
check "missing tensor exits 3 naming it (rc $rc)" \
  '[ $rc -eq 3 ] && grep -q "model.layers.0.mlp.up_proj.SV" "$T/err" && grep -q missing "$T/err"'

fresh; sed -i 's/"K": 2/"K": 3/' "$T/c/config.json"
"${V[@]}" "$T/c" >/dev/null 2>"$T/err"; rc=$?
check "wrong config field exits 3 naming it (rc $rc)" '[ $rc -eq 3 ] && grep -q "'"'"'K'"'"'" "$T/err"'

fresh; patch "$T/c/model.safetensors" 'o = off("model.layers.0.mlp.up_proj.Wscale"); b[o:o + 4] = struct.pack("<f", float("nan"))'
"${V[@]}" "$T/c" >/dev/null 2>"$T/err"; rc=$?
check "non-finite Wscale exits 3 naming it (rc $rc)" '[ $rc -eq 3 ] && grep -q "up_proj.Wscale" "$T/err"'

"$B/qtip-verify" "$T/does-not-exist" >/dev/null 2>"$T/err"; rc=$?
check "missing directory exits 1 (rc $rc)" '[ $rc -eq 1 ] && grep -q "does-not-exist" "$T/err"'
fresh; rm "$T/c/quantize_config.json"
"$B/qtip-verify" "$T/c" >/dev/null 2>"$T/err"; rc=$?
check "unreadable quantize_config.json exits 1 (rc $rc)" '[ $rc -eq 1 ] && grep -q "quantize_config.json" "$T/err"'
"$B/qtip-verify" >/dev/null 2>&1; rc=$?
check "no directory is a usage error (rc $rc)" '[ $rc -eq 2 ]'
exit $fail
