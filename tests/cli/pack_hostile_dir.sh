#!/usr/bin/env bash
# qtip-pack on model directories as strangers ship them (issue 13): files copied
# verbatim (tokenizer, configs, anything not parsed) are copied only when they are
# regular files or links resolving inside the model directory (or, for a Hugging
# Face cache snapshot, inside its blobs/); a link leaving it is refused naming the
# link and its target unless --follow-links; a FIFO, socket or dangling link is
# refused with a message, without blocking; sub-directories (sentence-transformers'
# 1_Pooling/) are copied recursively; parsed weights may be links anywhere. An HF
# cache snapshot made of links into ../../blobs/ packs and verifies end to end.
set -u
B="$QTIP_BIN"
for t in qtip-quantize qtip-pack qtip-verify; do
  [ -x "$B/$t" ] || { echo "FAIL $t not built"; exit 1; }
done
command -v python3 >/dev/null || { echo "FAIL python3 is needed to write the test model"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$2"; then echo "FAIL $1"; cat "$T/err" 2>/dev/null; fail=1; fi; }

python3 - "$T" <<'PY'
import json, os, random, struct, sys
d = sys.argv[1]; rnd = random.Random(5303)
m = d + '/model'; os.makedirs(m + '/1_Pooling')
hdr, blobs, off = {}, [], 0
for name, shape in (("model.layers.0.mlp.up_proj.weight", [64, 64]), ("model.layers.0.mlp.up_proj.bias", [64])):
    cnt = shape[0] * (shape[1] if len(shape) > 1 else 1)
    b = struct.pack('<%df' % cnt, *[rnd.gauss(0, 0.02) for _ in range(cnt)])
    hdr[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)
hj = json.dumps(hdr).encode(); hj += b' ' * (-len(hj) % 8)
open(m + '/model.safetensors', 'wb').write(struct.pack('<Q', len(hj)) + hj + b''.join(blobs))
json.dump({"model_type": "llama", "torch_dtype": "float32"}, open(m + '/config.json', 'w'))
json.dump({"version": "1.0"}, open(m + '/tokenizer.json', 'w'))
json.dump([{"idx": 0, "path": "", "type": "Transformer"}, {"idx": 1, "path": "1_Pooling", "type": "Pooling"}],
          open(m + '/modules.json', 'w'))
json.dump({"word_embedding_dimension": 64, "pooling_mode_mean_tokens": True}, open(m + '/1_Pooling/config.json', 'w'))
PY
[ $? -eq 0 ] || { echo "FAIL writing the test model"; exit 1; }
L=model.layers.0.mlp.up_proj
"$B/qtip-quantize" --decode-mode 1mad --L 8 --K 2 --V 1 --tlut-bits 0 --identity-hessian --tensor $L -o "$T/art.safetensors" \
  "$T/model" >/dev/null 2>"$T/err" || { echo "FAIL qtip-quantize"; cat "$T/err"; exit 1; }
pack() { "$B/qtip-pack" "$@" "$T/art.safetensors" >/dev/null 2>"$T/err"; }
variant() { rm -rf "$T/$1"; cp -r "$T/model" "$T/$1"; }

# sub-directories are copied, and carried on by verify --dequantize
pack -o "$T/out" "$T/model"; rc=$?
check "plain model packs (rc $rc)" '[ $rc -eq 0 ]'
check "1_Pooling/ and modules.json copied" \
  'cmp -s "$T/model/1_Pooling/config.json" "$T/out/1_Pooling/config.json" && cmp -s "$T/model/modules.json" "$T/out/modules.json"'
"$B/qtip-verify" --original "$T/model" --dequantize "$T/out.deq" "$T/out" >/dev/null 2>"$T/err"; rc=$?
check "packed model verifies and dequantizes (rc $rc)" '[ $rc -eq 0 ] && cmp -s "$T/model/1_Pooling/config.json" "$T/out.deq/1_Pooling/config.json"'

# a copied file linking outside the model directory: refused, named with its target
echo "not for sharing" > "$T/secret.txt"
variant m_out; ln -s "$T/secret.txt" "$T/m_out/tokenizer_config.json"
pack -o "$T/o_out" "$T/m_out"; rc=$?
check "link leaving the directory is refused naming link and target (rc $rc)" \
  '[ $rc -eq 1 ] && grep -q "tokenizer_config.json" "$T/err" && grep -q "secret.txt" "$T/err" && grep -q -- "--follow-links" "$T/err" && [ ! -e "$T/o_out" ]'
pack --follow-links -o "$T/o_follow" "$T/m_out"; rc=$?
check "--follow-links copies the target as a regular file (rc $rc)" \
  '[ $rc -eq 0 ] && [ -f "$T/o_follow/tokenizer_config.json" ] && [ ! -L "$T/o_follow/tokenizer_config.json" ] && cmp -s "$T/secret.txt" "$T/o_follow/tokenizer_config.json"'
variant m_dirout; mkdir "$T/elsewhere"; echo x > "$T/elsewhere/f"; ln -s "$T/elsewhere" "$T/m_dirout/2_Dense"
pack -o "$T/o_dirout" "$T/m_dirout"; rc=$?
check "directory link leaving the model is refused (rc $rc)" '[ $rc -eq 1 ] && grep -q "2_Dense" "$T/err"'

# links inside the directory, and parsed weights linked from anywhere: accepted
variant m_in; mv "$T/m_in/tokenizer.json" "$T/m_in/1_Pooling/tok.json"; ln -s 1_Pooling/tok.json "$T/m_in/tokenizer.json"
mkdir "$T/shared"; mv "$T/m_in/model.safetensors" "$T/shared/"; ln -s "$T/shared/model.safetensors" "$T/m_in/model.safetensors"
pack -o "$T/o_in" "$T/m_in"; rc=$?
check "inner links and linked weights are accepted (rc $rc)" \
  '[ $rc -eq 0 ] && [ -f "$T/o_in/tokenizer.json" ] && [ ! -L "$T/o_in/tokenizer.json" ] && cmp -s "$T/model/tokenizer.json" "$T/o_in/tokenizer.json"'

# special files: refused with a message, never opened (a FIFO would block)
variant m_fifo; mkfifo "$T/m_fifo/vocab.txt"
timeout 30 "$B/qtip-pack" -o "$T/o_fifo" "$T/m_fifo" "$T/art.safetensors" >/dev/null 2>"$T/err"; rc=$?
check "FIFO is refused without blocking (rc $rc)" '[ $rc -eq 1 ] && grep -q "vocab.txt" "$T/err" && grep -q "FIFO" "$T/err"'
variant m_sock; python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$T/m_sock/sock"
pack -o "$T/o_sock" "$T/m_sock"; rc=$?
check "socket is refused (rc $rc)" '[ $rc -eq 1 ] && grep -q "socket" "$T/err"'
variant m_dang; ln -s "$T/nothing-here" "$T/m_dang/merges.txt"
pack -o "$T/o_dang" "$T/m_dang"; rc=$?
check "dangling link is refused (rc $rc)" '[ $rc -eq 1 ] && grep -q "merges.txt" "$T/err" && grep -q "does not resolve" "$T/err"'
check "no refused pack left an output or a temporary" '! ls -d "$T"/o_out* "$T"/o_dirout* "$T"/o_fifo* "$T"/o_sock* "$T"/o_dang* 2>/dev/null | grep -q .'

# a Hugging Face cache snapshot: every file a link into ../../blobs/ (nested ones deeper)
C="$T/hub/models--org--tiny"; S="$C/snapshots/0123abcd"
mkdir -p "$C/blobs" "$S/1_Pooling"
for f in config.json model.safetensors tokenizer.json modules.json 1_Pooling/config.json; do
  h=$(sha256sum "$T/model/$f" | cut -c1-40); cp "$T/model/$f" "$C/blobs/$h"
  up=../../blobs; case $f in */*) up=../../../blobs;; esac
  ln -s "$up/$h" "$S/$f"
done
pack -o "$T/o_hf" "$S"; rc=$?
check "HF cache snapshot packs (rc $rc)" '[ $rc -eq 0 ]'
for f in tokenizer.json modules.json 1_Pooling/config.json; do
  check "HF snapshot: $f copied as a regular file" '[ -f "$T/o_hf/$f" ] && [ ! -L "$T/o_hf/$f" ] && cmp -s "$T/model/$f" "$T/o_hf/$f"'
done
"$B/qtip-verify" --original "$S" "$T/o_hf" >/dev/null 2>"$T/err"; rc=$?
check "HF snapshot pack verifies against the snapshot (rc $rc)" '[ $rc -eq 0 ]'
check "HF snapshot pack equals the plain pack" 'cmp -s "$T/out/model.safetensors" "$T/o_hf/model.safetensors"'
ln -s ../../../../secret.txt "$S/README.md"
pack -o "$T/o_hf2" "$S"; rc=$?
check "HF snapshot link leaving the cache tree is refused (rc $rc)" '[ $rc -eq 1 ] && grep -q "README.md" "$T/err"'
exit $fail
