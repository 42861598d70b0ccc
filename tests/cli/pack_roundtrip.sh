#!/usr/bin/env bash
# The issue's round trip through the commands: a small real-shaped HF model (dims
# with Hadamard factors 12, 20, 28 and 172), qtip-hessian accumulate of correlated
# activations, qtip-quantize per layer (1MAD L=8 K=2, one E8P12 layer: mixed),
# qtip-pack (single file and sharded), qtip-verify --json: every layer's proxy loss
# equals the one qtip-quantize reported (1e-6 relative), the recorded weights
# checksum is confirmed, the forward check passes, and --dequantize writes a plain
# model (sharded above --max-shard-size) whose weights are the decoded ones, and
# equal bit for bit to what --artifact decodes from each artifact alone.
set -u
B="$QTIP_BIN"
for t in qtip-hessian qtip-quantize qtip-pack qtip-verify; do
  [ -x "$B/$t" ] || { echo "FAIL $t not built"; exit 1; }
done
command -v python3 >/dev/null || { echo "skip: python3 is needed to write the test model"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$2"; then echo "FAIL $1"; fail=1; fi; }

# model (F32 safetensors, stdlib only) and one .npy of activations per layer
python3 - "$T" <<'PY'
import json, os, random, struct, sys
d = sys.argv[1]; rnd = random.Random(5301)
os.makedirs(d + '/model'); os.makedirs(d + '/act')
layers = [("model.layers.0.self_attn.q_proj", 192, 192), ("model.layers.0.self_attn.o_proj", 320, 192),
          ("model.layers.0.mlp.up_proj", 2752, 192), ("model.layers.0.mlp.down_proj", 192, 448),
          ("model.layers.1.mlp.gate_proj", 448, 320)]
hdr, blobs, off = {}, [], 0
def add(name, shape, vals):
    global off
    b = struct.pack('<%df' % len(vals), *vals)
    hdr[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
add("model.embed_tokens.weight", [16, 192], [rnd.gauss(0, 1) for _ in range(16 * 192)])
for name, m, n in layers:
    add(name + ".weight", [m, n], [rnd.gauss(0, 0.02) for _ in range(m * n)])
    rows = []
    for _ in range(n + 64):
        z = 0.0
        for j in range(n):
            z = 0.8 * z + rnd.gauss(0, 1); rows.append(z)
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (n + 64, n)
    h += ' ' * (-(len(h) + 11) % 64) + '\n'
    with open('%s/act/%s.npy' % (d, name), 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode() + struct.pack('<%df' % len(rows), *rows))
add("model.norm.weight", [192], [1.0] * 192)
hj = json.dumps(hdr).encode(); hj += b' ' * (-len(hj) % 8)
with open(d + '/model/model.safetensors', 'wb') as f:
    f.write(struct.pack('<Q', len(hj)) + hj + b''.join(blobs))
json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 192,
           "torch_dtype": "float32"}, open(d + '/model/config.json', 'w'))
json.dump({"version": "1.0"}, open(d + '/model/tokenizer.json', 'w'))
with open(d + '/layers.txt', 'w') as f:
    for name, m, n in layers: f.write(name + '\n')
PY
[ $? -eq 0 ] || { echo "FAIL writing the test model"; exit 1; }

mkdir -p "$T/hess" "$T/art"
declare -A LOSS
while read -r L; do
  "$B/qtip-hessian" accumulate --site "$L" -o "$T/hess/$L.safetensors" "$T/act/$L.npy" >/dev/null \
    || { echo "FAIL qtip-hessian accumulate $L"; exit 1; }
  if [ "$L" = model.layers.1.mlp.gate_proj ]; then
    Q=(--codebook e8p12 --refine-passes 1)
  else
    Q=(--decode-mode 1mad --L 8 --K 2 --V 1 --tlut-bits 0)
  fi
  out=$("$B/qtip-quantize" "${Q[@]}" --seed 3 --tensor "$L" --hessian "$T/hess/$L.safetensors" \
        -o "$T/art/$L.safetensors" --json "$T/model") || { echo "FAIL qtip-quantize $L"; exit 1; }
  LOSS[$L]=$(python3 -c 'import json,sys; print(repr(json.load(sys.stdin)["proxy_loss"]))' <<<"$out")
done < "$T/layers.txt"

"$B/qtip-pack" --allow-mixed -o "$T/packed" "$T/model" "$T"/art/*.safetensors; rc=$?
check "qtip-pack (rc $rc)" '[ $rc -eq 0 ] && [ -s "$T/packed/model.safetensors" ] && [ -s "$T/packed/tokenizer.json" ]'
"$B/qtip-pack" --allow-mixed -o "$T/packed" "$T/model" "$T"/art/*.safetensors 2>"$T/err"; rc=$?
check "qtip-pack refuses an existing output (rc $rc)" '[ $rc -eq 1 ] && grep -q "already exists" "$T/err"'
"$B/qtip-pack" -o "$T/nomix" "$T/model" "$T"/art/*.safetensors 2>"$T/err"; rc=$?
check "qtip-pack refuses mixed settings without --allow-mixed (rc $rc)" \
  '[ $rc -eq 1 ] && grep -q "different settings" "$T/err" && [ ! -e "$T/nomix" ]'

verify_json() { # dir -> checks every layer against qtip-quantize's losses
  local dir=$1 tag=$2
  "$B/qtip-verify" --original "$T/model" --hessians "$T/hess" --dequantize "$dir.deq" --dtype f32 \
     --max-shard-size 1000000 --json "$dir" >"$T/v.json"; local rc=$?
  check "$tag: qtip-verify (rc $rc)" '[ $rc -eq 0 ]'
  local losses=""
  for L in "${!LOSS[@]}"; do losses+="$L=${LOSS[$L]} "; done
  python3 - "$T/v.json" $losses <<'PY' || { echo "FAIL $tag: report"; fail=1; }
import json, sys
r = json.load(open(sys.argv[1])); want = dict(a.split('=') for a in sys.argv[2:])
assert r["ok"] and r["failures"] == 0, r
assert len(r["layers"]) == 5, len(r["layers"])
for l in r["layers"]:
    q = float(want[l["name"]])
    assert l["proxy_matches"] and abs(l["proxy_loss"] - q) <= 1e-6 * q, (l, q)
    assert l["recorded_proxy_loss"] == q, (l, q)
    assert l["weights_checksum_ok"] is True, l
    assert l["forward_max_error"] < 1e-5, l
    assert 0 < l["rel_error"] < 1, l
    print("  %-34s proxy %.6f (quantize %.6f) rel %.4f fwd %.1e" % (l["name"], l["proxy_loss"], q, l["rel_error"], l["forward_max_error"]))
PY
  check "$tag: dequantized model is sharded" '[ -s "$dir.deq/model.safetensors.index.json" ] && [ -s "$dir.deq/config.json" ] && [ -s "$dir.deq/tokenizer.json" ]'
  check "$tag: dequantized config has no quantization_config" '! grep -q quantization_config "$dir.deq/config.json"'
}
verify_json "$T/packed" single

"$B/qtip-pack" --allow-mixed --max-shard-size 100000 -o "$T/packed_sh" "$T/model" "$T"/art/*.safetensors; rc=$?
check "qtip-pack sharded (rc $rc)" '[ $rc -eq 0 ] && [ -s "$T/packed_sh/model.safetensors.index.json" ] && [ ! -e "$T/packed_sh/model.safetensors" ]'
verify_json "$T/packed_sh" sharded
check "sharded and single packs dequantize to the same weights" \
  'python3 - "$T/packed.deq" "$T/packed_sh.deq" <<'"'"'PY'"'"'
import json, struct, sys, glob
def tensors(d):
    out = {}
    for p in sorted(glob.glob(d + "/*.safetensors")):
        b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
        for k, v in h.items():
            if k != "__metadata__": out[k] = b[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]]
    return out
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
sys.exit(0 if a == b and len(a) == 7 else 1)
PY'

# qtip-verify --artifact: one artifact decoded to a plain weight file, bit for bit
# the weight that pack -> verify --dequantize writes (f32 and bf16)
for dt in f32 bf16; do
  "$B/qtip-verify" --original "$T/model" --dequantize "$T/packed.deq_$dt" --dtype $dt "$T/packed" >/dev/null 2>"$T/err" \
    || { echo "FAIL verify --dequantize --dtype $dt"; cat "$T/err"; fail=1; }
  while read -r L; do
    "$B/qtip-verify" --artifact "$T/art/$L.safetensors" --dequantize "$T/w_${dt}_$L.safetensors" --dtype $dt 2>"$T/err" \
      || { echo "FAIL verify --artifact $L"; cat "$T/err"; fail=1; }
  done < "$T/layers.txt"
  check "--artifact ($dt) equals the dequantized model's weights bit for bit" \
    'python3 - "$T" $dt <<'"'"'PY'"'"'
import json, struct, sys, glob
T, dt = sys.argv[1], sys.argv[2]
def tensors(paths):
    out = {}
    for p in paths:
        b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
        for k, v in h.items():
            if k != "__metadata__": out[k] = (v["dtype"], v["shape"], b[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]])
    return out
deq = tensors(glob.glob(T + "/packed.deq_" + dt + "/*.safetensors"))
names = [l.strip() for l in open(T + "/layers.txt")]
for L in names:
    one = tensors([T + "/w_%s_%s.safetensors" % (dt, L)])
    assert list(one) == [L + ".weight"], list(one)
    assert one[L + ".weight"] == deq[L + ".weight"], L
    assert one[L + ".weight"][0] == {"f32": "F32", "bf16": "BF16"}[dt]
PY'
done
"$B/qtip-verify" --artifact "$T/art/none.safetensors" --dequantize "$T/none.out" 2>"$T/err"; rc=$?
check "--artifact of a missing file exits 1 (rc $rc)" '[ $rc -eq 1 ] && grep -q "none.safetensors" "$T/err" && [ ! -e "$T/none.out" ]'
"$B/qtip-verify" --artifact "$T/art/x.safetensors" "$T/packed" >/dev/null 2>&1; rc=$?
check "--artifact without --dequantize is a usage error (rc $rc)" '[ $rc -eq 2 ]'

# a threshold below the achieved proxy loss: exit 3
"$B/qtip-verify" --original "$T/model" --hessians "$T/hess" --max-proxy-loss 0.001 "$T/packed" >/dev/null 2>"$T/err"; rc=$?
check "--max-proxy-loss exceeded exits 3 (rc $rc)" '[ $rc -eq 3 ] && grep -q "exceeds" "$T/err"'
exit $fail
