#!/usr/bin/env python3
"""Fixed inputs of the behaviour manifest (Python standard library only).

  gen_inputs.py DIR

Writes DIR/model (an F16 Llama-shaped model directory with a sub-directory), DIR/act
(one activation .npy per input site, 3-D and 2-D) and DIR/act_st.safetensors.
Everything is a function of the fixed seeds below: the manifest's checksums depend on it.
"""
import json, os, random, struct, sys

d = sys.argv[1]
rnd = random.Random(20261202)
os.makedirs(d + '/model/1_Pooling', exist_ok=True)
os.makedirs(d + '/act', exist_ok=True)
# (name, out, in): dims with Hadamard factors 12 (192) and 20 (320), powers of two
LAYERS = [("model.layers.0.self_attn.q_proj", 128, 256),
          ("model.layers.0.self_attn.o_proj", 256, 128),
          ("model.layers.0.mlp.gate_proj", 192, 256),
          ("model.layers.0.mlp.up_proj", 320, 192),
          ("model.layers.0.mlp.down_proj", 128, 320),
          ("model.layers.1.self_attn.q_proj", 256, 256),
          ("model.layers.1.self_attn.o_proj", 256, 256),
          ("model.layers.1.mlp.down_proj", 192, 256)]
hdr, blobs, off = {}, [], 0

def add(name, shape, vals):
    global off
    b = struct.pack('<%de' % len(vals), *vals)
    hdr[name] = {"dtype": "F16", "shape": shape, "data_offsets": [off, off + len(b)]}
    blobs.append(b); off += len(b)

def npy(path, shape, vals):
    h = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % ", ".join(map(str, shape))
    h += ' ' * (-(len(h) + 11) % 64) + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode() +
                struct.pack('<%df' % len(vals), *vals))

def acts(n, rows):
    out = []
    for _ in range(rows):
        z = 0.0
        for j in range(n):
            z = 0.8 * z + rnd.gauss(0, 1)
            out.append(z * (20.0 if j == 3 else 1.0))
    return out

add("model.embed_tokens.weight", [16, 256], [rnd.gauss(0, 1) for _ in range(16 * 256)])
for name, m, n in LAYERS:
    add(name + ".weight", [m, n], [rnd.gauss(0, 0.02) for _ in range(m * n)])
    rows = n + 96
    a = acts(n, rows)
    if rows % 4 == 0:
        npy('%s/act/%s.npy' % (d, name), [rows // 4, 4, n], a)
    else:
        npy('%s/act/%s.npy' % (d, name), [rows, n], a)
add("model.layers.0.self_attn.q_proj.bias", [128], [rnd.gauss(0, 0.1) for _ in range(128)])
add("model.norm.weight", [256], [1.0] * 256)
hj = json.dumps(hdr, sort_keys=True).encode(); hj += b' ' * (-len(hj) % 8)
with open(d + '/model/model.safetensors', 'wb') as f:
    f.write(struct.pack('<Q', len(hj)) + hj + b''.join(blobs))

def subset(sub, keep):
    # a model directory holding some of the tensors: the export formats need one method
    os.makedirs(d + '/' + sub, exist_ok=True)
    h2, b2, o2 = {}, [], 0
    for k in sorted(keep):
        v = hdr[k]; a0, a1 = v["data_offsets"]
        blob = b''.join(blobs)[a0:a1]
        h2[k] = {"dtype": v["dtype"], "shape": v["shape"], "data_offsets": [o2, o2 + len(blob)]}
        b2.append(blob); o2 += len(blob)
    j = json.dumps(h2, sort_keys=True).encode(); j += b' ' * (-len(j) % 8)
    with open(d + '/' + sub + '/model.safetensors', 'wb') as f:
        f.write(struct.pack('<Q', len(j)) + j + b''.join(b2))
    with open(d + '/' + sub + '/config.json', 'w') as f:
        json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}, f)
subset('model_t', ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.q_proj.bias", "model.norm.weight"])
subset('model_e', ["model.layers.1.self_attn.q_proj.weight", "model.norm.weight"])
with open(d + '/model/config.json', 'w') as f:
    json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
               "torch_dtype": "float16"}, f, sort_keys=True)
with open(d + '/model/tokenizer.json', 'w') as f:
    json.dump({"version": "1.0"}, f)
with open(d + '/model/1_Pooling/config.json', 'w') as f:
    json.dump({"word_embedding_dimension": 256}, f)

# a safetensors activation file holding two tensors (accumulate --tensor)
a = acts(128, 200)
b1 = struct.pack('<%df' % len(a), *a); b0 = struct.pack('<4f', 1, 2, 3, 4)
h = json.dumps({"other": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                "acts": {"dtype": "F32", "shape": [200, 128], "data_offsets": [16, 16 + len(b1)]}}).encode()
h += b' ' * (-len(h) % 8)
with open(d + '/act_st.safetensors', 'wb') as f:
    f.write(struct.pack('<Q', len(h)) + h + b0 + b1)
with open(d + '/layers.txt', 'w') as f:
    for name, m, n in LAYERS:
        f.write(name + '\n')
