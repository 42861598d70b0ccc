#!/usr/bin/env bash
# qtip-quantize --tp: a small Llama-shaped model (q/o/up/down, hidden 128,
# intermediate 192) quantized for tensor-parallel degrees 2 and 4, packed and
# verified (proxy loss recomputed equal to the recorded one, the forward check run
# with the transforms per shard as the ranks apply them), dequantized; tp 1 is
# byte-identical to no --tp; refusals with their exit codes: an indivisible
# dimension, a shard without a Hadamard order or whole tiles, a name without a
# side, mixed degrees in one directory, an export, a tampered degree.
# (The sharded products against the dequantized weight: tests/python/tp_test.py.)
set -u
B="$QTIP_BIN"
for t in qtip-hessian qtip-quantize qtip-pack qtip-verify; do
  [ -x "$B/$t" ] || { echo "FAIL $t not built"; exit 1; }
done
command -v python3 >/dev/null || { echo "skip: python3 is needed to write the test model"; exit 77; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$2"; then echo "FAIL $1"; fail=1; fi; }

python3 - "$T" <<'PY'
import json, os, random, struct, sys
d = sys.argv[1]; rnd = random.Random(1717)
os.makedirs(d + '/model'); os.makedirs(d + '/act')
layers = [("model.layers.0.self_attn.q_proj", 128, 128), ("model.layers.0.self_attn.o_proj", 128, 128),
          ("model.layers.0.mlp.up_proj", 192, 128), ("model.layers.0.mlp.down_proj", 128, 192)]
hdr, blobs, off = {}, [], 0
def add(name, shape, vals):
    global off
    b = struct.pack('<%df' % len(vals), *vals)
    hdr[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
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
add("model.norm.weight", [128], [1.0] * 128)
hj = json.dumps(hdr).encode(); hj += b' ' * (-len(hj) % 8)
with open(d + '/model/model.safetensors', 'wb') as f:
    f.write(struct.pack('<Q', len(hj)) + hj + b''.join(blobs))
json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 128,
           "intermediate_size": 192}, open(d + '/model/config.json', 'w'))
open(d + '/layers', 'w').write('\n'.join(n for n, _, _ in layers) + '\n')
PY
M="$T/model"
mapfile -t LAYERS < "$T/layers"
mkdir "$T/h"
for L in "${LAYERS[@]}"; do
  "$B/qtip-hessian" accumulate -o "$T/h/$L.safetensors" "$T/act/$L.npy" >/dev/null \
    || { echo "FAIL qtip-hessian $L"; exit 1; }
done
SMALL=(--decode-mode 1mad --L 12 --K 2)
quant() { # quant <layer> <out> <options...>
  local L=$1 out=$2; shift 2
  "$B/qtip-quantize" "${SMALL[@]}" --tensor "$L" --hessian "$T/h/$L.safetensors" -o "$out" "$@" "$M"
}

# tp 1, by option or by config, writes the bytes of a run without --tp
D=model.layers.0.mlp.down_proj
quant $D "$T/plain.st" -q; quant $D "$T/tp1.st" -q --tp 1
echo '{"tp_size": 1, "tp_split": "auto"}' > "$T/tp1.json"; quant $D "$T/tp1c.st" -q --config "$T/tp1.json"
check "tp 1 byte-identical to no --tp" 'cmp -s "$T/plain.st" "$T/tp1.st" && cmp -s "$T/plain.st" "$T/tp1c.st"'
check "tp 1 artifact is format version 1" 'grep -aq "\"format_version\":\"1\"" "$T/plain.st" && ! grep -aq tp_size "$T/plain.st"'

for tp in 2 4; do
  A="$T/a$tp"; mkdir -p "$A"
  for L in "${LAYERS[@]}"; do
    out=$(quant "$L" "$A/$L.st" --tp $tp --json); rc=$?
    check "tp $tp: quantize $L (rc $rc)" '[ $rc -eq 0 ]'
    split=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["tp_size"], d["tp_split"], 0 < d["proxy_loss"] < 0.3)' <<<"$out")
    case $L in *o_proj|*down_proj) want="$tp input True" ;; *) want="$tp output True" ;; esac
    check "tp $tp: $L reports tp_size, split, proxy loss ($split)" '[ "$split" = "$want" ]'
  done
  check "tp $tp: artifact is format version 2" 'grep -aq "\"format_version\":\"2\"" "$A/$D.st" && grep -aq "\"tp_split\":\"input\"" "$A/$D.st"'
  "$B/qtip-pack" -o "$T/p$tp" "$M" "$A"/*.st >/dev/null; rc=$?
  check "tp $tp: pack (rc $rc)" '[ $rc -eq 0 ]'
  cfg=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["quantization_config"]; q=json.load(open(sys.argv[2]))["layers"]; print(c["layout_version"], c["tp_size"], "tp_split" in c, q["model.layers.0.mlp.up_proj"]["tp_split"], q["model.layers.0.self_attn.o_proj"]["tp_split"])' "$T/p$tp/config.json" "$T/p$tp/quantize_config.json")
  check "tp $tp: config records the degree and each layer's side ($cfg)" '[ "$cfg" = "2 $tp False output input" ]'
  v=$("$B/qtip-verify" --original "$M" --hessians "$T/h" --json "$T/p$tp"); rc=$?
  res=$(python3 -c 'import json,sys; d=json.load(sys.stdin); L=d["layers"]; print(len(L), all(l["proxy_matches"] for l in L), max(l["forward_max_error"] for l in L) < 1e-5, max(l["rel_error"] for l in L) < 0.5)' <<<"$v" 2>&1)
  check "tp $tp: verify (rc $rc): layers, proxy matches, forward per shard, rel error: $res" '[ $rc -eq 0 ] && [ "$res" = "4 True True True" ]'
  "$B/qtip-verify" --dequantize "$T/d$tp" "$T/p$tp" >/dev/null; rc=$?
  check "tp $tp: --dequantize (rc $rc)" '[ $rc -eq 0 ] && [ -s "$T/d$tp/model.safetensors" ]'
  "$B/qtip-verify" --artifact "$A/$D.st" --dequantize "$T/art$tp.st" >/dev/null; rc=$?
  check "tp $tp: --artifact --dequantize (rc $rc)" '[ $rc -eq 0 ]'
done

# refusals: exit 1 naming the layer, the dimension and the shard; exit 2 for usage
err=$(quant model.layers.0.self_attn.q_proj "$T/x.st" --tp 3 2>&1); rc=$?
check "tp 3 on 128 out-features: exit 1 naming it (rc $rc: $err)" '[ $rc -eq 1 ] && grep -q "q_proj.*out-features 128 is not divisible by tensor-parallel degree 3" <<<"$err"'
err=$(quant model.layers.0.mlp.up_proj "$T/x.st" --tp 16 2>&1); rc=$?
check "tp 16 on 192: shards of 12 are no whole tiles (rc $rc: $err)" '[ $rc -eq 1 ] && grep -q "up_proj.*out-features 192 split 16 ways gives shards of 12" <<<"$err"'
err=$(quant model.layers.0.mlp.down_proj "$T/x.st" --tp 64 2>&1); rc=$?
check "tp 64 on 192 in-features: shard of 3 has no Hadamard (rc $rc: $err)" '[ $rc -eq 1 ] && grep -q "in-features 192 split 64 ways gives shards of 3.*no hadamard" <<<"$err"'
err=$("$B/qtip-quantize" --tensor model.norm --identity-hessian --tp 2 -o "$T/x.st" "$M" 2>&1); rc=$?
check "a name without a side: exit 2 (rc $rc)" '[ $rc -eq 2 ] && grep -q "give --tp-split input or output" <<<"$err"'
err=$(quant $D "$T/x.st" --tp 2 --tp-split sideways 2>&1); rc=$?
check "--tp-split sideways: exit 2 (rc $rc)" '[ $rc -eq 2 ]'
err=$(quant $D "$T/x.st" --tp 0 2>&1); rc=$?
check "--tp 0: exit 2 (rc $rc)" '[ $rc -eq 2 ]'
echo '{"tp_size": 2, "tp_split": "diagonal"}' > "$T/bad.json"
err=$(quant $D "$T/x.st" --config "$T/bad.json" 2>&1); rc=$?
check "config tp_split diagonal: exit 2 (rc $rc: $err)" '[ $rc -eq 2 ] && grep -q "tp_split" <<<"$err"'
check "no output left by the refusals" '[ ! -e "$T/x.st" ]'

# one directory, one degree; exports have whole-layer transforms only
err=$("$B/qtip-pack" -o "$T/mix" "$M" "$T/a2/model.layers.0.self_attn.q_proj.st" "$T/a2/model.layers.0.self_attn.o_proj.st" \
      "$T/a4/model.layers.0.mlp.up_proj.st" "$T/a4/model.layers.0.mlp.down_proj.st" 2>&1); rc=$?
check "mixed degrees refused (rc $rc: $err)" '[ $rc -ne 0 ] && grep -q "tensor-parallel degrees 2 and 4" <<<"$err" && [ ! -e "$T/mix" ]'
err=$("$B/qtip-pack" --format qtip-reference -o "$T/ref" "$M" "$T/a2"/*.st 2>&1); rc=$?
check "export of a tp layer refused (rc $rc: $err)" '[ $rc -eq 1 ] && grep -q "per-shard Hadamard" <<<"$err"'

# a tampered degree: a layer's tp_size, the model's layout_version
cp -r "$T/p2" "$T/t1"
python3 - "$T/t1/quantize_config.json" <<'PY'
import json, sys
q = json.load(open(sys.argv[1])); q["layers"]["model.layers.0.mlp.up_proj"]["tp_size"] = 4
json.dump(q, open(sys.argv[1], 'w'))
PY
err=$("$B/qtip-verify" "$T/t1" 2>&1); rc=$?
check "a layer's tp_size changed: refused (rc $rc: $err)" '[ $rc -ne 0 ] && grep -q "tp_size" <<<"$err"'
cp -r "$T/p2" "$T/t2"
for f in config.json quantize_config.json; do
  python3 - "$T/t2/$f" <<'PY'
import json, sys
q = json.load(open(sys.argv[1]))
(q.get("quantization_config") or q)["layout_version"] = 1
json.dump(q, open(sys.argv[1], 'w'))
PY
done
err=$("$B/qtip-verify" "$T/t2" 2>&1); rc=$?
check "layout_version 1 with tp_size 2: refused (rc $rc: $err)" '[ $rc -ne 0 ] && grep -q "layout_version 1, expected 2" <<<"$err"'

[ $fail -eq 0 ] && echo "quantize_tp: all checks passed"
exit $fail
