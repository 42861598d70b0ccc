#!/usr/bin/env bash
# The two export formats end to end (docs/formats/exports.md): qtip-pack refuses a
# qtip-reference dimension without a factor of QTIP's get_hadK (exit 1, naming the
# layer and the dimension) and accepts quip-for-all orders 76 and 84 (once refused);
# SU/SV are in the model's dtype (QTIP's SV in F32); qtip-verify checks each export
# (exit 0), its dequantized weights equal the canonical directory's (quip-for-all bit
# for bit; qtip-reference within 1e-6, SV carrying Wscale), and a tampered export
# fails with exit 3 and a message naming the tensor or the file.
set -u
B="$QTIP_BIN"
command -v python3 >/dev/null || { echo "skip: python3 is needed to write the test model"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
fail=0
check() { if ! eval "$2"; then echo "FAIL $1"; fail=1; fi; }

python3 - <<'PY'
import json, os, random, struct
def model(d, layers, dtype, seed):
    rnd = random.Random(seed)
    os.makedirs(d)
    hdr, blobs, off = {}, [], 0
    def add(name, shape, vals):
        nonlocal off
        b = struct.pack('<%de' % len(vals), *vals)
        hdr[name] = {"dtype": "F16", "shape": shape, "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    add("model.embed_tokens.weight", [16, 64], [rnd.gauss(0, 1) for _ in range(16 * 64)])
    for name, m, n in layers:
        add(name + ".weight", [m, n], [rnd.gauss(0, 0.02) for _ in range(m * n)])
    hj = json.dumps(hdr).encode(); hj += b' ' * (-len(hj) % 8)
    open(d + '/model.safetensors', 'wb').write(struct.pack('<Q', len(hj)) + hj + b''.join(blobs))
    json.dump({"model_type": "llama", "torch_dtype": dtype}, open(d + '/config.json', 'w'))
# 96 = 12 * 8; 352 = 44 * 8 (no factor of QTIP's); 152 = 76 * 2, 168 = 84 * 2
model('model_t', [("model.layers.0.self_attn.q_proj", 64, 96)], 'float16', 1)
model('model_t44', [("model.layers.0.mlp.up_proj", 352, 64)], 'float16', 2)
model('model_e', [("model.layers.1.self_attn.q_proj", 88, 64), ("model.layers.1.mlp.up_proj", 152, 168)],
      'bfloat16', 3)
PY
[ $? -eq 0 ] || { echo "FAIL writing the test models"; exit 1; }
q() { "$B/qtip-quantize" -q --threads 2 --identity-hessian "$@"; }
q --tensor model.layers.0.self_attn.q_proj -o a0.safetensors model_t || exit 1
q --tensor model.layers.0.mlp.up_proj -o a1.safetensors model_t44 || exit 1
q --codebook e8p12 --tensor model.layers.1.self_attn.q_proj -o e0.safetensors model_e || exit 1
q --codebook e8p12 --tensor model.layers.1.mlp.up_proj -o e1.safetensors model_e || exit 1

"$B/qtip-pack" -q --format qtip-reference -o ref44 model_t44 a1.safetensors 2>err; rc=$?
check "qtip-reference of 352 exits 1 (got $rc)" '[ $rc -eq 1 ] && [ ! -e ref44 ]'
check "the refusal names layer, dimension and reason: $(cat err)" \
  'grep -q "model.layers.0.mlp.up_proj.*output dimension 352 cannot be exported to qtip-reference.*get_hadK" err'
"$B/qtip-pack" -q --format qtip-reference -o ref model_t a0.safetensors || { echo "FAIL pack ref"; exit 1; }
"$B/qtip-pack" -q -o canon_t model_t a0.safetensors || exit 1
"$B/qtip-pack" -q --format quip-for-all -o q4a model_e e0.safetensors e1.safetensors ||
  { echo "FAIL pack quip-for-all with orders 44, 76 and 84"; exit 1; }
"$B/qtip-pack" -q -o canon_e model_e e0.safetensors e1.safetensors || exit 1

dtypes() { python3 - "$1" <<'PY'
import json, struct, sys
b = open(sys.argv[1] + '/model.safetensors', 'rb').read(); n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
print(' '.join(sorted({k.rsplit('.', 1)[1] + '=' + v['dtype'] for k, v in h.items() if k.rsplit('.', 1)[-1] in ('SU', 'SV')})))
PY
}
check "qtip-reference SU in the model dtype, SV F32 ($(dtypes ref))" '[ "$(dtypes ref)" = "SU=F16 SV=F32" ]'
check "quip-for-all SU/SV in the model dtype ($(dtypes q4a))" '[ "$(dtypes q4a)" = "SU=BF16 SV=BF16" ]'

for p in "ref model_t canon_t" "q4a model_e canon_e"; do
  read -r d orig canon <<<"$p"
  "$B/qtip-verify" --json --original "$orig" --dequantize "dq_$d" --dtype f32 "$d" >"v_$d.json" 2>err; rc=$?
  check "qtip-verify of the $d export exits 0 (got $rc: $(cat err))" '[ $rc -eq 0 ]'
  check "$d: report ok" 'grep -q "\"ok\": true" "v_$d.json"'
  "$B/qtip-verify" -q --original "$orig" --dequantize "dq_$canon" --dtype f32 "$canon" >/dev/null || exit 1
done
check "quip-for-all export decodes bit for bit like the canonical directory" \
  'cmp -s dq_q4a/model.safetensors dq_canon_e/model.safetensors'
check "qtip-reference export decodes like the canonical directory (1e-6)" 'python3 - <<'"'"'PY'"'"'
import json, struct
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        s, e = v["data_offsets"]; raw = b[8 + n + s: 8 + n + e]
        out[k] = struct.unpack("<%df" % (len(raw) // 4), raw) if v["dtype"] == "F32" else raw
    return out
a, c = load("dq_ref/model.safetensors"), load("dq_canon_t/model.safetensors")
assert a.keys() == c.keys()
w = "model.layers.0.self_attn.q_proj.weight"
mx = max(abs(x) for x in c[w]); d = max(abs(x - y) for x, y in zip(a[w], c[w]))
assert 0 < mx and d <= 1e-6 * mx, (d, mx)
PY'

# tampering: exit 3 and the message names the defect
tamper() { # name, dir, python edit of dir "tam", expected message pattern
  local what=$1 pat=$4
  rm -rf tam; cp -r "$2" tam
  python3 -c "$3" || { echo "FAIL $what: edit"; fail=1; return; }
  "$B/qtip-verify" tam >/dev/null 2>err; rc=$?
  check "$what: exit 3 (got $rc)" '[ $rc -eq 3 ]'
  check "$what: message $(cat err)" 'grep -q "$pat" err'
}
FLIP='import json, struct, sys
p = "tam/model.safetensors"; b = bytearray(open(p, "rb").read()); n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n]); b[8 + n + h[NAME]["data_offsets"][0] + 3] ^= 4; open(p, "wb").write(b)'
tamper "trellis byte" ref "NAME = 'model.layers.0.self_attn.q_proj.trellis'; $FLIP" \
  "tensor 'model.layers.0.self_attn.q_proj.trellis': checksum mismatch"
tamper "SV byte" ref "NAME = 'model.layers.0.self_attn.q_proj.SV'; $FLIP" "q_proj.SV': checksum mismatch"
tamper "Qidxs byte" q4a "NAME = 'model.layers.1.mlp.up_proj.Qidxs'; $FLIP" \
  "tensor 'model.layers.1.mlp.up_proj.Qidxs': checksum mismatch"
PRE='import json; p = "tam/" + F; c = json.load(open(p)); '
POST='; json.dump(c, open(p, "w"))'
tamper "quip_params.K" ref "F = 'config.json'; ${PRE}c['quip_params']['K'] = 3${POST}" \
  "field 'quip_params' is not what the qtip-reference loader needs"
tamper "quip-for-all codebook" q4a "F = 'config.json'; ${PRE}c['quantization_config']['codebook'] = 'E8P12RVQ4B'${POST}" \
  "field 'quantization_config' is not what the quip-for-all loader needs"
tamper "quantization_config.json" q4a "F = 'quantization_config.json'; ${PRE}c['use_rand'] = True${POST}" \
  "quantization_config.json' differs from config.json's quantization_config"
tamper "torch_dtype" q4a "F = 'config.json'; ${PRE}c['torch_dtype'] = 'float16'${POST}" \
  "tensor 'model.layers.1.[a-z_.]*SU' has dtype BF16, expected F16"
tamper "hostile torch_dtype" ref "F = 'config.json'; ${PRE}c['torch_dtype'] = 'int8'${POST}" "torch_dtype int8"
tamper "format name" ref "F = 'quantize_config.json'; ${PRE}c['format'] = 'gguf'${POST}" \
  "names format 'gguf', which qtip-pack does not write"
exit $fail
