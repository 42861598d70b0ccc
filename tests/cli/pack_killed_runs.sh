#!/usr/bin/env bash
# Leftovers of killed runs (issue 13): qtip-pack and qtip-verify --dequantize write
# a model directory in "<out>.qtip-tmp.<host>-<pid>.<6 hex>" (the one temporary
# naming, lib/io/io_atomic.c) and rename it. A run
# killed with kill -9 leaves that temporary behind; the next run for the same
# output removes it when its pid is dead on this host, and touches nothing else:
# not a live run's temporary, not another output's, not a name that is not ours.
set -u
B="$QTIP_BIN"
for t in qtip-quantize qtip-pack qtip-verify; do
  [ -x "$B/$t" ] || { echo "FAIL $t not built"; exit 1; }
done
command -v python3 >/dev/null || { echo "FAIL python3 is needed to write the test model"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$2"; then echo "FAIL $1"; cat "$T/err" 2>/dev/null; fail=1; fi; }

python3 - "$T/model" <<'PY'
import json, os, random, struct, sys
m = sys.argv[1]; os.makedirs(m); rnd = random.Random(5304)
b = struct.pack('<4096f', *[rnd.gauss(0, 0.02) for _ in range(4096)])
hj = json.dumps({"model.layers.0.mlp.up_proj.weight": {"dtype": "F32", "shape": [64, 64], "data_offsets": [0, len(b)]}}).encode()
hj += b' ' * (-len(hj) % 8)
open(m + '/model.safetensors', 'wb').write(struct.pack('<Q', len(hj)) + hj + b)
json.dump({"model_type": "llama", "torch_dtype": "float32"}, open(m + '/config.json', 'w'))
PY
[ $? -eq 0 ] || { echo "FAIL writing the test model"; exit 1; }
"$B/qtip-quantize" --decode-mode 1mad --L 8 --K 2 --V 1 --tlut-bits 0 --identity-hessian \
  --tensor model.layers.0.mlp.up_proj -o "$T/art.safetensors" "$T/model" >/dev/null 2>"$T/err" \
  || { echo "FAIL qtip-quantize"; cat "$T/err"; exit 1; }
HOST=$(uname -n | tr '/' '_')

# a pid that was alive and was killed with kill -9: the state a killed run leaves
sleep 60 & dead=$!; kill -9 $dead; wait $dead 2>/dev/null
leftovers() { # <out>: a killed run's temporary with a partial shard, and what must stay
  mkdir -p "$1.qtip-tmp.$HOST-$dead.ab12cd" "$1.qtip-tmp.$HOST-$$.ef34a0" "$1.qtip-tmp.otherhost-$dead.c56d00" \
           "$1.tmp.e78f00" "$1-other.qtip-tmp.$HOST-$dead.a90b00"
  head -c 5000 /dev/urandom > "$1.qtip-tmp.$HOST-$dead.ab12cd/shard-00000.safetensors"
}
kept() { [ -d "$1.qtip-tmp.$HOST-$$.ef34a0" ] && [ -d "$1.qtip-tmp.otherhost-$dead.c56d00" ] && \
         [ -d "$1.tmp.e78f00" ] && [ -d "$1-other.qtip-tmp.$HOST-$dead.a90b00" ]; }

leftovers "$T/packed"
"$B/qtip-pack" -o "$T/packed" "$T/model" "$T/art.safetensors" 2>"$T/err"; rc=$?
check "qtip-pack after a killed run (rc $rc)" '[ $rc -eq 0 ] && [ -s "$T/packed/model.safetensors" ]'
check "qtip-pack removed the killed run's temporary" '[ ! -e "$T/packed.qtip-tmp.$HOST-$dead.ab12cd" ]'
check "qtip-pack kept a live run's, another host's, another output's and a foreign temporary" 'kept "$T/packed"'

leftovers "$T/deq"
"$B/qtip-verify" --dequantize "$T/deq" "$T/packed" >/dev/null 2>"$T/err"; rc=$?
check "qtip-verify --dequantize after a killed run (rc $rc)" '[ $rc -eq 0 ] && [ -s "$T/deq/model.safetensors" ]'
check "qtip-verify removed the killed run's temporary" '[ ! -e "$T/deq.qtip-tmp.$HOST-$dead.ab12cd" ]'
check "qtip-verify kept the others" 'kept "$T/deq"'

# an existing output (here: the input itself) is refused before anything is decoded
sum0=$(cat "$T"/packed/* | sha256sum)
"$B/qtip-verify" --dequantize "$T/packed" "$T/packed" >/dev/null 2>"$T/err"; rc=$?
check "--dequantize onto the packed input is refused, input untouched (rc $rc)" \
  '[ $rc -eq 1 ] && grep -q "is also an input" "$T/err" && [ "$(cat "$T"/packed/* | sha256sum)" = "$sum0" ]'
"$B/qtip-pack" -o "$T/model" "$T/model" "$T/art.safetensors" >/dev/null 2>"$T/err"; rc=$?
check "qtip-pack -o onto its model directory is refused (rc $rc)" '[ $rc -eq 1 ] && grep -q "is also an input" "$T/err"'
"$B/qtip-pack" -o "$T/model/sub" "$T/model" "$T/art.safetensors" >/dev/null 2>"$T/err"; rc=$?
check "qtip-pack -o inside its model directory is refused (rc $rc)" '[ $rc -eq 1 ] && grep -q "inside the input directory" "$T/err" && [ ! -e "$T/model/sub" ]'

# a real qtip-pack killed with kill -9 wherever it is (it may not have started, or
# may have finished: then its output goes), then rerun: nothing of it is left
"$B/qtip-pack" -o "$T/p2" "$T/model" "$T/art.safetensors" 2>/dev/null & pid=$!
kill -STOP $pid 2>/dev/null; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
rm -rf "$T/p2"
"$B/qtip-pack" -o "$T/p2" "$T/model" "$T/art.safetensors" 2>"$T/err"; rc=$?
check "rerun after kill -9 (rc $rc)" '[ $rc -eq 0 ] && ! ls -d "$T"/p2.qtip-tmp.* 2>/dev/null | grep -q .'
exit $fail
