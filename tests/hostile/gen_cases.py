#!/usr/bin/env python3
"""Hostile-input cases for the qtip commands (Python standard library only).

  gen_cases.py BIN_DIR OUT_DIR

Writes OUT_DIR/seed (valid inputs: a model directory, a sharded one, .npy activations
v1/v2/v3 2-D and 3-D, and, made with the commands of BIN_DIR, a Hessian, a layer
artifact and a packed directory), one directory OUT_DIR/c/<id> per case holding the
case's own inputs and sentinel outputs, and OUT_DIR/cases.json, which run_cases.py
executes. Every case is derived from a seed by one systematic edit, so a failing case
names one defect. The expected results are the TARGET behaviour of issue 13, not
necessarily today's.

A case is {id, cls, cmd, exit, words, not_words, outputs, timeout, rss_mb, post}:
  cmd        bash command run in OUT_DIR/c/<id>; $B is BIN_DIR, $S is OUT_DIR/seed
  exit       list of accepted exit codes (0 accepted, 1 input error, 2 usage, 3 mismatch)
  words      regexes that must all occur in stderr (case-insensitive): the file, the
             key or tensor, the defect; loose on purpose, wording is being changed
  not_words  regexes that must not occur (a message naming the wrong defect)
  outputs    paths the command may create or change when it succeeds; anything else
             in the case directory changing is a failure (sentinels, inputs, leftovers)
  post       bash command that must succeed after the case (checks of the output)
"""
import json, os, shutil, socket, struct, subprocess, sys

B, OUT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SEED = OUT + '/seed'
SENTINEL = b'QTIP-HOSTILE-SENTINEL: a previous output that must survive\n'
LAYER = 'model.layers.0.self_attn.q_proj'
W = LAYER + '.weight'
M, N = 64, 128                 # the linear layer: out x in features
Q = '--decode-mode 1mad --L 8 --K 2 --V 1 --tlut-bits 0 -q'   # a fast trellis setting
CASES = []

# ---------------------------------------------------------------- deterministic data
class Rng:
    """xorshift64*: the seeds' values, fixed whatever the Python version."""
    def __init__(self, s): self.s = s
    def next(self):
        x = self.s
        x ^= (x >> 12); x ^= (x << 25) & 0xFFFFFFFFFFFFFFFF; x ^= (x >> 27)
        self.s = x
        return (x * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF
    def unif(self): return (self.next() >> 11) / float(1 << 53) * 2.0 - 1.0

rng = Rng(0x9E3779B97F4A7C15)

def vals(k, scale):
    return [rng.unif() * scale for _ in range(k)]

# ---------------------------------------------------------------- file formats
def st_bytes(tensors, meta=None):
    """safetensors from [(name, dtype, shape, raw bytes)], padded like the writers."""
    hdr, off, blobs = {}, 0, []
    if meta is not None:
        hdr['__metadata__'] = meta
    for name, dt, shape, raw in tensors:
        hdr[name] = {'dtype': dt, 'shape': shape, 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw); off += len(raw)
    return st_raw(json.dumps(hdr).encode(), b''.join(blobs))

def st_raw(hj, data):
    hj += b' ' * (-len(hj) % 8)
    return struct.pack('<Q', len(hj)) + hj + data

def st_split(b):
    n = struct.unpack('<Q', b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:], n

def f16(xs): return struct.pack('<%de' % len(xs), *xs)
def f32(xs): return struct.pack('<%df' % len(xs), *xs)

def npy_bytes(shape, data, ver=1, quote="'", descr='<f4', extra_keys='', shape_text=None,
              fortran='False', magic=b'\x93NUMPY'):
    q = quote
    st = shape_text if shape_text is not None else \
        '(%s)' % (', '.join(map(str, shape)) + (',' if len(shape) == 1 else ''))
    h = '{%sdescr%s: %s%s%s, %sfortran_order%s: %s, %sshape%s: %s, %s}' % (
        q, q, q, descr, q, q, q, fortran, q, q, st, extra_keys)
    pre = 10 if ver == 1 else 12
    h += ' ' * (-(len(h) + 1 + pre) % 64) + '\n'
    hb = h.encode('utf-8')
    ln = struct.pack('<H', len(hb)) if ver == 1 else struct.pack('<I', len(hb))
    return magic + bytes([ver, 0]) + ln + hb + data

def zstd_frame(data, block=1 << 17, last=True):
    """A zstd frame of raw blocks (no compression needed to test the readers)."""
    out = bytearray(b'\x28\xb5\x2f\xfd\x00\x38')      # magic, FHD 0, window 128 KiB
    if not data:
        out += struct.pack('<I', 1)[:3]
    for i in range(0, len(data), block):
        chunk = data[i:i + block]
        lastb = 1 if (last and i + block >= len(data)) else 0
        out += struct.pack('<I', lastb | (0 << 1) | (len(chunk) << 3))[:3] + chunk
    return bytes(out)

def zstd_bomb(total):
    """total zero bytes as RLE blocks: 4 bytes of frame per 128 KiB of output."""
    out = bytearray(b'\x28\xb5\x2f\xfd\x00\x38')
    nblk = total >> 17
    for i in range(nblk):
        out += struct.pack('<I', (1 if i == nblk - 1 else 0) | (1 << 1) | ((1 << 17) << 3))[:3] + b'\0'
    return bytes(out)

# ---------------------------------------------------------------- seeds
def write(path, b, mode='wb'):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(b)

def run(*args):
    r = subprocess.run(list(args), cwd=SEED, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit('gen_cases.py: seed command failed: %s\n%s' % (' '.join(args), r.stderr.decode()))

WVALS = vals(M * N, 0.02)
BIAS = vals(M, 0.1)
MODEL_TENSORS = [('model.embed_tokens.weight', 'F16', [8, N], f16(vals(8 * N, 1.0))),
                 (W, 'F16', [M, N], f16(WVALS)),
                 (LAYER + '.bias', 'F32', [M], f32(BIAS)),
                 ('model.norm.weight', 'F32', [N], f32([1.0] * N))]
CONFIG = json.dumps({'architectures': ['LlamaForCausalLM'], 'model_type': 'llama',
                     'hidden_size': N}).encode()
SIDE_FILES = {'config.json': CONFIG,
              'tokenizer.json': b'{"version": "1.0", "model": {"type": "BPE"}}',
              'tokenizer_config.json': b'{"model_max_length": 512}',
              'modules.json': b'[{"idx": 1, "path": "1_Pooling", "type": "Pooling"}]',
              '1_Pooling/config.json': b'{"word_embedding_dimension": 128}',
              'extra/deeper/notes.txt': b'a file two directories down\n'}

def model_dir(d, tensors=MODEL_TENSORS, side=SIDE_FILES):
    write(d + '/model.safetensors', st_bytes(tensors))
    for k, v in side.items():
        write(d + '/' + k, v)

def sharded_dir(d):
    a, b = MODEL_TENSORS[:2], MODEL_TENSORS[2:]
    write(d + '/model-00001-of-00002.safetensors', st_bytes(a))
    write(d + '/model-00002-of-00002.safetensors', st_bytes(b))
    wm = {t[0]: 'model-00001-of-00002.safetensors' for t in a}
    wm.update({t[0]: 'model-00002-of-00002.safetensors' for t in b})
    write(d + '/model.safetensors.index.json',
          json.dumps({'metadata': {'total_size': 1}, 'weight_map': wm}, indent=1).encode())
    write(d + '/config.json', CONFIG)

def make_seeds():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(SEED)
    model_dir(SEED + '/model')
    sharded_dir(SEED + '/model_sh')
    rows = 3 * N
    acts = []
    for r in range(rows):
        acts += [x + (0.5 if (j == 3) else 0.0) for j, x in enumerate(vals(N, 1.0))]
    A = f32(acts)
    write(SEED + '/a1.npy', npy_bytes([rows, N], A, ver=1))
    write(SEED + '/a2.npy', npy_bytes([rows // 4, 4, N], A, ver=2))
    write(SEED + '/a3.npy', npy_bytes([rows, N], A, ver=3))
    write(SEED + '/a64.npy', npy_bytes([rows, 64], A[:rows * 64 * 4], ver=1))
    write(SEED + '/act.safetensors', st_bytes([('other', 'F32', [4], f32([1, 2, 3, 4])),
                                               ('acts', 'F32', [rows, N], A)]))
    write(SEED + '/raw.f32', A)
    run(B + '/qtip-hessian', 'accumulate', '-q', '--site', LAYER, '-o', 'h.safetensors', 'a1.npy')
    run(B + '/qtip-hessian', 'accumulate', '-q', '--site', LAYER, '-o', 'h64.safetensors', 'a64.npy')
    run(B + '/qtip-hessian', 'export', '-q', '-o', 'flat.safetensors', 'h.safetensors')
    run(B + '/qtip-quantize', *Q.split(), '--tensor', LAYER, '--hessian', 'h.safetensors',
        '-o', 'art.safetensors', 'model')
    run(B + '/qtip-pack', '-q', '-o', 'packed', 'model', 'art.safetensors')
    write(SEED + '/outside/secret.txt', b'bytes outside the model directory\n')

def seed(name):
    with open(SEED + '/' + name, 'rb') as f:
        return f.read()

# ---------------------------------------------------------------- cases
def case(cid, cls, cmd, exit, words=(), not_words=(), files=None, outputs=(), timeout=8,
         rss_mb=None, post=None, setup=None):
    """files: {relative path: bytes} written into the case directory; outputs the
    command may write; setup(dir) makes links, FIFOs, sockets."""
    assert all(c['id'] != cid for c in CASES), cid
    d = OUT + '/c/' + cid
    os.makedirs(d)
    for k, v in (files or {}).items():
        if isinstance(v, tuple) and v[0] == 'copytree':
            shutil.copytree(SEED + '/' + v[1], d + '/' + k, symlinks=True)
        else:
            write(d + '/' + k, v)
    if setup:
        setup(d)
    CASES.append({'id': cid, 'cls': cls, 'cmd': cmd, 'exit': list(exit) if isinstance(exit, (list, tuple)) else [exit],
                  'words': list(words), 'not_words': list(not_words), 'outputs': list(outputs),
                  'timeout': timeout, 'rss_mb': rss_mb, 'post': post})

OUTF = {'out.safetensors': SENTINEL}
OUTS = ['out.safetensors', 'packed']    # what a command that succeeds may write    # the previous output every writing command finds
TRUNC = r'truncat|short|end|past|larger than|incomplete|missing|expected|too small'
MALFORMED = r'invalid|malformed|expected|missing|not an?|unknown|must|bad|unsupported|overflow|shape|offset|dtype|duplicate|repeated|utf|nest|depth|exceed'

def esc(name): return name.replace('.', r'\.')

# Post-checks of accepted cases: the output holds the same tensors as the seed made from
# the plain input (the result is right, not only the exit code).
SAME_TENSORS = '''import json, struct, sys
def tensors(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]] for k, v in h.items() if k != '__metadata__'}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
bad = [k for k in sys.argv[3:] if k not in a or a[k] != b[k]]
sys.exit('tensors differ from the seed: ' + ', '.join(bad) if bad else 0)
'''
SAME_H = 'python3 $S/../same_tensors.py out.safetensors $S/h.safetensors count sum_x sum_xxT_tril'
SAME_ART = 'python3 $S/../same_tensors.py out.safetensors $S/art.safetensors codes SU SV Wscale'

# Consumers of each kind of file: (tag, command with {f} the file, expected exit code
# of a malformed file, extra words). Each writes out.safetensors when it succeeds.
WEIGHT_USERS = [('quantize', '$B/qtip-quantize %s --tensor %s --hessian $S/h.safetensors -o out.safetensors {f}' % (Q, LAYER), 1),
                ('incoherence', '$B/qtip-incoherence -q --tensor %s -o out.safetensors {f}' % W, 1)]
HESSIAN_USERS = [('quantize', '$B/qtip-quantize %s --tensor %s --hessian {f} -o out.safetensors $S/model' % (Q, LAYER), 1),
                 ('info', '$B/qtip-hessian info {f}', 1),
                 ('merge', '$B/qtip-hessian merge -q -o out.safetensors {f} $S/h.safetensors', 1),
                 ('export', '$B/qtip-hessian export -q -o out.safetensors {f}', 1),
                 ('incoherence', '$B/qtip-incoherence -q --tensor %s --hessian {f} -o out.safetensors $S/model/model.safetensors' % W, 1)]
ART_USERS = [('pack', '$B/qtip-pack -q -o packed $S/model {f}', 1)]
ACTST_USERS = [('accumulate', '$B/qtip-hessian accumulate -q --tensor acts -o out.safetensors {f}', 1)]
NPY_USERS = [('accumulate', '$B/qtip-hessian accumulate -q -o out.safetensors {f}', 1)]

ST_KINDS = [  # kind, seed file, tensor to edit, users
    ('weights', 'model/model.safetensors', W, WEIGHT_USERS),
    # quantize, info and incoherence: the three ways a Hessian file is loaded today
    ('hessian', 'h.safetensors', 'sum_xxT_tril', [HESSIAN_USERS[i] for i in (0, 1, 4)]),
    ('artifact', 'art.safetensors', 'codes', ART_USERS),
    ('actst', 'act.safetensors', 'acts', ACTST_USERS),
]

def st_cases():
    """Truncations at each header boundary and data samples, and header edits, for each
    safetensors-based input kind, given to each command that reads it."""
    for kind, sname, tensor, users in ST_KINDS:
        b = seed(sname)
        h, data, n = st_split(b)
        cuts = sorted({0, 1, 7, 8, 9, 8 + n // 3, 8 + n // 2, 8 + n - 1, 8 + n, 8 + n + 1,
                       8 + n + len(data) // 2, len(b) - 1} |
                      {8 + n + v['data_offsets'][0] + 1 for k, v in h.items() if k != '__metadata__'})
        fn = 'x_%s.safetensors' % kind
        for tag, cmd, code in users:
            for c in cuts:
                if c >= len(b):
                    continue
                case('st-%s-%s-cut%d' % (kind, tag, c), 'truncation', cmd.format(f=fn), code,
                     [esc(fn), TRUNC + '|' + MALFORMED], files=dict(OUTF, **{fn: b[:c]}), outputs=OUTS)
        edits = st_header_edits(h, data, n, tensor)
        for ename, (eb, ewords) in edits.items():
            for tag, cmd, code in users:
                case('st-%s-%s-%s' % (kind, tag, ename), 'header', cmd.format(f=fn), code,
                     [esc(fn)] + ewords, files=dict(OUTF, **{fn: eb}), outputs=OUTS)

def st_header_edits(h, data, n, t):
    """name -> (file bytes, words) for one edit of the header of a valid file."""
    et = esc(t)
    def ed(fn):
        h2 = json.loads(json.dumps(h)); fn(h2[t] if t in h2 else h2, h2)
        return st_raw(json.dumps(h2).encode(), data)
    hj = json.dumps(h).encode()
    other = next(k for k in h if k not in ('__metadata__', t))
    e = {
        'hlen-zero': (struct.pack('<Q', 0) + hj + data, [r'header|json|empty|invalid']),
        'hlen-2p63': (struct.pack('<Q', 1 << 63) + hj + data, [r'header length|larger|exceed|limit']),
        'hlen-max': (struct.pack('<Q', (1 << 64) - 1) + hj + data, [r'header length|larger|exceed|limit']),
        'hlen-plus1': (struct.pack('<Q', len(hj) + 1) + hj + data, [MALFORMED + '|json|' + TRUNC]),
        'hlen-minus1': (struct.pack('<Q', len(hj) - 1) + hj + data, [r'json|invalid|malformed']),
        'dtype-unknown': (ed(lambda x, _: x.update(dtype='F17')), [et, r'dtype|F17']),
        'dtype-lower': (ed(lambda x, _: x.update(dtype='f32')), [et, r'dtype']),
        'dtype-number': (ed(lambda x, _: x.update(dtype=32)), [et, r'dtype']),
        'dtype-fp8': (ed(lambda x, _: x.update(dtype='F8_E4M3')), [et, r'F8_E4M3|dtype|unsupported']),
        'shape-float': (ed(lambda x, _: x.update(shape=[float(s) for s in x['shape']] or [1.0])), [et, r'shape|integer']),
        'shape-half': (ed(lambda x, _: x.update(shape=[s + 0.5 for s in x['shape']] or [0.5])), [et, r'shape|integer']),
        'shape-negative': (ed(lambda x, _: x.update(shape=[-1] + x['shape'][1:])), [et, r'shape|negative']),
        'shape-string': (ed(lambda x, _: x.update(shape=[str(s) for s in x['shape']] or ['1'])), [et, r'shape|integer']),
        'shape-overflow': (ed(lambda x, _: x.update(shape=[1 << 32, 1 << 32, 1 << 2])), [et, r'overflow|shape']),
        'shape-overflow62': (ed(lambda x, _: x.update(shape=[1 << 62, 8])), [et, r'overflow|shape']),
        'shape-wraps-to-size': (ed(lambda x, _: x.update(shape=[(1 << 64) // 4 + 1, 4] if x['dtype'] != 'F64' else [(1 << 64) // 8 + 1, 1])), [et, r'overflow|shape']),
        'shape-not-array': (ed(lambda x, _: x.update(shape=7)), [et, r'shape']),
        'shape-size-mismatch': (ed(lambda x, _: x.update(shape=[2] + x['shape'][1:] if x['shape'] else [2])), [et, r'shape|bytes|size|hold']),
        'shape-9dims': (ed(lambda x, _: x.update(shape=[1] * 9)), [et, r'dimension|shape|unsupported']),
        'offsets-past-end': (ed(lambda x, _: x.update(data_offsets=[x['data_offsets'][0], len(data) + 8])), [et, r'past|truncat|offset']),
        'offsets-reversed': (ed(lambda x, _: x.update(data_offsets=x['data_offsets'][::-1])), [et, r'offset|begin|past|truncat']),
        'offsets-negative': (ed(lambda x, _: x.update(data_offsets=[-8, x['data_offsets'][1]])), [et, r'offset|negative|integer']),
        'offsets-float': (ed(lambda x, _: x.update(data_offsets=[float(v) for v in x['data_offsets']])), [et, r'offset|integer']),
        'offsets-huge': (ed(lambda x, _: x.update(data_offsets=[1 << 62, (1 << 62) + 8])), [et, r'offset|past|overflow|truncat']),
        # beyond int64: the JSON parser itself refuses the number, so no tensor is named
        'offsets-2p64': (ed(lambda x, _: x.update(data_offsets=[0, 1 << 64])), [r'too big|integer|overflow|offset|range']),
        'offsets-overlap': (ed(lambda x, hh: x.update(data_offsets=hh[other]['data_offsets'][:1] + [hh[other]['data_offsets'][0] + x['data_offsets'][1] - x['data_offsets'][0]])),
                            [r'overlap|offset']),
        'missing-dtype': (ed(lambda x, _: x.pop('dtype')), [et, r'dtype|missing']),
        'missing-shape': (ed(lambda x, _: x.pop('shape')), [et, r'shape|missing']),
        'missing-offsets': (ed(lambda x, _: x.pop('data_offsets')), [et, r'data_offsets|missing']),
        'entry-not-object': (ed(lambda x, hh: hh.update({t: [1, 2]})), [et, r'object|entry|missing']),
        'not-object': (st_raw(b'[1, 2, 3]', data), [r'object|json']),
        'json-garbage': (st_raw(b'{"a": ', data), [r'json|invalid']),
        'duplicate-key': (st_raw(hj[:-1] + b', "' + t.encode() + b'": ' + json.dumps(h[t]).encode() + b'}', data),
                          [r'duplicate|twice|repeated']),
        'non-utf8-key': (st_raw(hj[:-1] + b', "\xff\xfe": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}', data),
                         [r'utf|invalid|encoding']),
        'deep-nesting': (st_raw(hj[:-1] + b', "__deep": ' + b'[' * 200000 + b']' * 200000 + b'}', data),
                         [r'nest|depth|deep|json|invalid']),
        'metadata-not-strings': (ed(lambda x, hh: hh.update({'__metadata__': dict(hh.get('__metadata__', {}), bad=[1])})),
                                 [r'__metadata__|metadata|string']),
    }
    return e

def hessian_meta_cases():
    """A Hessian whose metadata lies must be refused naming the key and the defect."""
    b = seed('h.safetensors')
    h, data, _ = st_split(b)
    nw = r"\bn\b|sum_x"   # the key, or the tensor whose size contradicts it
    edits = {'n-wrong': ('n', '127', nw), 'n-text': ('n', 'abc', nw), 'n-negative': ('n', '-128', nw), 'count-wrong': ('count', '999', r'count'),
             'count-negative': ('count', '-1', r'count'), 'format-other': ('format', 'other', r'format'),
             'version-2': ('format_version', '2', r'version'), 'layout-other': ('layout', 'col-major', r'layout'),
             'has-mean-text': ('has_mean', 'maybe', r'has_mean'), 'count-missing': ('count', None, r'count'),
             'n-missing': ('n', None, nw)}
    for ename, (key, val, word) in edits.items():
        h2 = json.loads(json.dumps(h))
        if val is None:
            h2['__metadata__'].pop(key)
        else:
            h2['__metadata__'][key] = val
        eb = st_raw(json.dumps(h2).encode(), data)
        for tag, cmd, code in HESSIAN_USERS:
            case('hmeta-%s-%s' % (ename, tag), 'message', cmd.format(f='hx.safetensors'), code,
                 [r'hx\.safetensors', word], [r'neither', r'use .?import'],
                 files=dict(OUTF, **{'hx.safetensors': eb}), outputs=OUTS)
    # the count tensor negative, the triangle of the wrong length
    t = h['count']['data_offsets']
    neg = data[:t[0]] + struct.pack('<q', -5) + data[t[1]:]
    for tag, cmd, code in HESSIAN_USERS:
        case('hmeta-count-tensor-negative-%s' % tag, 'message', cmd.format(f='hx.safetensors'), code,
             [r'hx\.safetensors', r'count'], [r'neither'],
             files=dict(OUTF, **{'hx.safetensors': st_raw(json.dumps(h).encode(), neg)}), outputs=OUTS)

def npy_cases():
    """.npy: cuts inside the header (missing keys), every key missing, quoting, data
    length against the shape, shapes that wrap, unsupported dtypes, versions."""
    A = seed('raw.f32')
    rows = len(A) // (4 * N)
    acc = '$B/qtip-hessian accumulate -q -o out.safetensors {f}'
    for ver in (1, 2, 3):
        good = npy_bytes([rows, N], A, ver=ver)
        hl = struct.unpack('<H', good[8:10])[0] + 10 if ver == 1 else struct.unpack('<I', good[8:12])[0] + 12
        hdr_txt = good[:hl]
        cuts = {0, 3, 6, 7, 8, 9, 10, 11, 12, hl - 1, hl, hl + 1, hl + 4 * N, len(good) - 1}
        for key in (b'descr', b'fortran_order', b'shape', b'}'):
            p = hdr_txt.find(key)
            cuts |= {p, p + 3, p + len(key) + 2}
        for c in sorted(cuts):
            fn = 'cut.npy'
            # a cut inside the header with the length field intact: the header is short
            case('npy-v%d-cut%d' % (ver, c), 'truncation', acc.format(f=fn), 1,
                 [r'cut\.npy', TRUNC + '|' + MALFORMED], files=dict(OUTF, **{fn: good[:c]}), outputs=OUTS)
        # a header missing a key, the length field consistent (the strchr(NULL) case)
        for key in ('descr', 'fortran_order', 'shape'):
            txt = {'descr': "{'fortran_order': False, 'shape': (%d, %d), }",
                   'fortran_order': "{'descr': '<f4', 'shape': (%d, %d), }",
                   'shape': "{'descr': '<f4', 'fortran_order': False, }"}[key]
            txt = txt % (rows, N) if '%d' in txt else txt
            txt += ' ' * (-(len(txt) + 1 + (10 if ver == 1 else 12)) % 64) + '\n'
            ln = struct.pack('<H', len(txt)) if ver == 1 else struct.pack('<I', len(txt))
            b = b'\x93NUMPY' + bytes([ver, 0]) + ln + txt.encode() + A
            case('npy-v%d-missing-%s' % (ver, key), 'header', acc.format(f='m.npy'), 1,
                 [r'm\.npy', key, r'missing|no key|lacks|expected'], files=dict(OUTF, **{'m.npy': b}), outputs=OUTS)
        accept = {'double-quotes': npy_bytes([rows, N], A, ver=ver, quote='"'),
                  'v-3d': npy_bytes([rows // 4, 4, N], A, ver=ver),
                  'shape-L-suffix': npy_bytes(None, A, ver=ver, shape_text='(%dL, %dL)' % (rows, N))}
        for ename, b in accept.items():
            case('npy-v%d-accept-%s' % (ver, ename), 'accept', acc.format(f='ok.npy'), 0,
                 files=dict(OUTF, **{'ok.npy': b}), outputs=OUTS, post=SAME_H)
        bad = {'data-longer': (npy_bytes([rows, N], A + b'\0' * 16 * N, ver=ver), [r'continue|longer|extra|after|more|trailing']),
               'data-longer-partial-row': (npy_bytes([rows, N], A + b'\0' * 4, ver=ver), [r'continue|longer|extra|after|more|trailing']),
               'data-shorter': (npy_bytes([rows, N], A[:-4 * N], ver=ver), [TRUNC]),
               'data-shorter-1byte': (npy_bytes([rows, N], A[:-1], ver=ver), [TRUNC]),
               'shape-wraps': (npy_bytes([1 << 32, 1 << 32, 1 << 2, N], A, ver=ver), [r'overflow|shape']),
               'shape-wraps-bytes': (npy_bytes([(1 << 64) // (4 * N) + 1, N], A, ver=ver), [r'overflow|shape|truncat']),
               'shape-negative': (npy_bytes([-1, N], A, ver=ver), [r'shape|negative']),
               'shape-float': (npy_bytes(None, A, ver=ver, shape_text='(%d.0, %d)' % (rows, N)), [r'shape']),
               'shape-9dims': (npy_bytes([1] * 8 + [N], A[:4 * N], ver=ver), [r'dimension|shape|8']),
               'descr-complex': (npy_bytes([rows, N], A, ver=ver, descr='<c8'), [r'c8|dtype|descr|unsupported']),
               'descr-bigendian': (npy_bytes([rows, N], A, ver=ver, descr='>f4'), [r'big-endian|>f4']),
               'descr-unicode': (npy_bytes([rows, N], A, ver=ver, descr='<U10'), [r'U10|dtype|descr|unsupported']),
               'fortran-2d': (npy_bytes([rows, N], A, ver=ver, fortran='True'), [r'fortran']),
               'unknown-key': (npy_bytes([rows, N], A, ver=ver, extra_keys="'bogus': 1, "), [r'bogus|unknown|key']),
               'repeated-key': (npy_bytes([rows, N], A, ver=ver, extra_keys="'shape': (%d, %d), " % (rows, N)), [r'shape|repeat|duplicate|twice']),
               'bad-magic': (npy_bytes([rows, N], A, ver=ver, magic=b'\x93NUMPX'), [r'magic|not a|recogni|unknown|format']),
               'non-utf8-header': (npy_bytes(None, A, ver=ver, shape_text='(%d, %d)' % (rows, N), extra_keys="'\xff': 1, ").replace(b'\xc3\xbf', b'\xff\xfe'),
                                   [r'utf|invalid|key|unknown']),
               'hlen-past-end': (good[:8] + (struct.pack('<H', 65535) if ver == 1 else struct.pack('<I', 1 << 20)) + good[hl - (hl - (10 if ver == 1 else 12)):hl][:100],
                                 [TRUNC + '|header|length'])}
        for ename, (b, w) in bad.items():
            case('npy-v%d-%s' % (ver, ename), 'header', acc.format(f='e.npy'), 1,
                 [r'e\.npy'] + w, files=dict(OUTF, **{'e.npy': b}), outputs=OUTS)
    for ver in (4, 0):
        case('npy-version-%d' % ver, 'header', acc.format(f='e.npy'), 1, [r'e\.npy', r'version'],
             files=dict(OUTF, **{'e.npy': npy_bytes([rows, N], A, ver=ver)}), outputs=OUTS)
    # NaN and Inf in an activation row: refused naming the file and the row
    for what, v in (('nan', float('nan')), ('inf', float('inf'))):
        bad = bytearray(A); bad[4 * (5 * N + 7):4 * (5 * N + 8)] = struct.pack('<f', v)
        case('npy-%s-row' % what, 'nonfinite', acc.format(f='e.npy'), 1, [r'e\.npy', r'\b5\b|row', r'nan|inf|finite'],
             files=dict(OUTF, **{'e.npy': npy_bytes([rows, N], bytes(bad))}), outputs=OUTS)
        case('npy-%s-row-skipped' % what, 'accept', '$B/qtip-hessian accumulate -q --skip-nonfinite -o out.safetensors e.npy', 0,
             files=dict(OUTF, **{'e.npy': npy_bytes([rows, N], bytes(bad))}), outputs=OUTS)

def special_file_cases():
    """FIFOs, sockets, devices and directories where a file is read: refused, no hang."""
    fifo = lambda name: (lambda d: os.mkfifo(d + '/' + name))
    words = [r'fifo|special|not a regular|regular file|pipe']
    roles = [
        ('weights-quantize', '$B/qtip-quantize %s --tensor %s --hessian $S/h.safetensors -o out.safetensors w.safetensors' % (Q, LAYER), 'w.safetensors', 1),
        ('weights-incoherence', '$B/qtip-incoherence -q --tensor %s -o out.safetensors w.safetensors' % W, 'w.safetensors', 1),
        ('hessian-quantize', '$B/qtip-quantize %s --tensor %s --hessian hx.safetensors -o out.safetensors $S/model' % (Q, LAYER), 'hx.safetensors', 1),
        ('hessian-info', '$B/qtip-hessian info hx.safetensors', 'hx.safetensors', 1),
        ('hessian-merge', '$B/qtip-hessian merge -q -o out.safetensors $S/h.safetensors hx.safetensors', 'hx.safetensors', 1),
        ('hessian-export', '$B/qtip-hessian export -q -o out.safetensors hx.safetensors', 'hx.safetensors', 1),
        ('hessian-import', '$B/qtip-hessian import -q -o out.safetensors hx.safetensors', 'hx.safetensors', 1),
        ('hessian-incoherence', '$B/qtip-incoherence -q --tensor %s --hessian hx.safetensors -o out.safetensors $S/model/model.safetensors' % W, 'hx.safetensors', 1),
        ('activation', '$B/qtip-hessian accumulate -q -o out.safetensors act.npy', 'act.npy', 1),
        ('activation-raw', '$B/qtip-hessian accumulate -q --dim %d --dtype f32 -o out.safetensors act.raw' % N, 'act.raw', 1),
        ('artifact', '$B/qtip-pack -q -o packed $S/model art.safetensors', 'art.safetensors', 1),
        ('config-quantize', '$B/qtip-quantize %s --config qc.json --tensor %s --hessian $S/h.safetensors -o out.safetensors $S/model' % (Q, LAYER), 'qc.json', 1),
    ]
    for role, cmd, name, code in roles:
        case('fifo-%s' % role, 'special', cmd, code, [esc(name)] + words, files=dict(OUTF), setup=fifo(name),
             outputs=OUTS, timeout=5)
    # inside directories: a shard, the weights of a model dir, a packed file, a model side file
    def fifo_in(tree, rel):
        def s(d):
            p = d + '/' + tree + '/' + rel
            os.unlink(p); os.mkfifo(p)
        return s
    dirs = [('shard', 'model_sh', 'model-00001-of-00002.safetensors',
             '$B/qtip-quantize %s --tensor %s --hessian $S/h.safetensors -o out.safetensors model_sh' % (Q, LAYER), 1),
            ('model-weights', 'model', 'model.safetensors',
             '$B/qtip-quantize %s --tensor %s --hessian $S/h.safetensors -o out.safetensors model' % (Q, LAYER), 1),
            ('model-weights-pack', 'model', 'model.safetensors', '$B/qtip-pack -q -o packed model $S/art.safetensors', 1),
            ('model-tokenizer-pack', 'model', 'tokenizer.json', '$B/qtip-pack -q -o packed model $S/art.safetensors', 1),
            ('model-config-pack', 'model', 'config.json', '$B/qtip-pack -q -o packed model $S/art.safetensors', 1),
            ('packed-file', 'packed', 'model.safetensors', '$B/qtip-verify packed', [1, 3]),
            ('packed-config', 'packed', 'config.json', '$B/qtip-verify packed', 1),
            ('original-file', 'model', 'model.safetensors', '$B/qtip-verify --original model $S/packed', 1)]
    for role, tree, rel, cmd, code in dirs:
        case('fifo-%s' % role, 'special', cmd, code, [esc(os.path.basename(rel))] + words,
             files=dict(OUTF, **{tree: ('copytree', tree)}), setup=fifo_in(tree, rel), outputs=OUTS, timeout=5)
    # a socket in a model directory is not silently skipped by pack
    def sock(d):
        s = socket.socket(socket.AF_UNIX); s.bind(d + '/model/agent.sock'); s.close()
    case('socket-in-model-pack', 'special', '$B/qtip-pack -q -o packed model $S/art.safetensors', 1,
         [r'agent\.sock', r'socket|special|not a regular|regular file'], files={'model': ('copytree', 'model')}, setup=sock)
    # device files given directly (standard paths on every Linux)
    for role, cmd in (('activation', '$B/qtip-hessian accumulate -q -o out.safetensors /dev/zero'),
                      ('activation-raw', '$B/qtip-hessian accumulate -q --dim 128 --dtype f32 -o out.safetensors /dev/zero'),
                      ('hessian-info', '$B/qtip-hessian info /dev/zero'),
                      ('weights-quantize', '$B/qtip-quantize %s --tensor %s --identity-hessian -o out.safetensors /dev/zero' % (Q, LAYER)),
                      ('hessian-quantize', '$B/qtip-quantize %s --tensor %s --hessian /dev/null -o out.safetensors $S/model' % (Q, LAYER))):
        case('device-%s' % role, 'special', cmd, 1, [r'/dev/(zero|null)', r'device|special|not a regular|regular file|empty'],
             files=dict(OUTF), outputs=OUTS, timeout=5)
    # a directory where a file is expected
    for role, cmd in (('hessian-quantize', '$B/qtip-quantize %s --tensor %s --hessian hdir -o out.safetensors $S/model' % (Q, LAYER)),
                      ('activation', '$B/qtip-hessian accumulate -q -o out.safetensors hdir'),
                      ('artifact', '$B/qtip-pack -q -o packed $S/model hdir')):
        case('dir-as-%s' % role, 'special', cmd, 1, [r'hdir', r'director|not a regular|regular file'],
             files=dict(OUTF, **{'hdir/x': b'x'}), outputs=OUTS)

def link_cases():
    """Links: parsed files may be links anywhere; copied files only inside the model
    directory or its HF cache tree unless --follow-links; dangling links refused."""
    pack = '$B/qtip-pack -q -o packed model $S/art.safetensors'
    def link(rel, target):
        def s(d):
            p = d + '/model/' + rel
            if os.path.lexists(p): os.unlink(p)
            os.symlink(target, p)
        return s
    tree = {'model': ('copytree', 'model'), 'outside/secret.txt': seed('outside/secret.txt')}
    case('link-tokenizer-outside-pack', 'link', pack, 1, [r'tokenizer\.json', r'link|outside'],
         files=tree, setup=link('tokenizer.json', '../outside/secret.txt'))
    case('link-readme-outside-pack', 'link', pack, 1, [r'README\.md', r'link|outside'],
         files=tree, setup=link('README.md', '../outside/secret.txt'))
    case('link-tokenizer-outside-follow', 'accept', '$B/qtip-pack -q --follow-links -o packed model $S/art.safetensors', 0,
         files=tree, setup=link('tokenizer.json', '../outside/secret.txt'), outputs=['packed'],
         post='cmp packed/tokenizer.json outside/secret.txt')
    case('link-subdir-outside-pack', 'link', pack, 1, [r'1_Pooling|outside', r'link|outside'],
         files=tree, setup=lambda d: (shutil.rmtree(d + '/model/1_Pooling'), os.symlink('../outside', d + '/model/1_Pooling')))
    case('link-tokenizer-inside-pack', 'accept', pack, 0, files=tree, outputs=['packed'],
         setup=link('tokenizer2.json', 'tokenizer.json'), post='cmp packed/tokenizer2.json model/tokenizer.json')
    case('link-dangling-pack', 'link', pack, 1, [r'README\.md', r'dangling|link|no such|not exist|missing'],
         files=tree, setup=link('README.md', 'nowhere.md'))
    case('link-loop-pack', 'link', pack, 1, [r'loop\.json', r'link|loop|too many'],
         files=tree, setup=link('loop.json', 'loop.json'))
    # parsed weights: a link anywhere is accepted
    wl = lambda d: (os.makedirs(d + '/store'), os.rename(d + '/model/model.safetensors', d + '/store/w.safetensors'),
                    os.symlink('../store/w.safetensors', d + '/model/model.safetensors'))
    case('link-weights-elsewhere-pack', 'accept', pack, 0, files={'model': ('copytree', 'model')}, setup=wl,
         outputs=['packed'], post='$B/qtip-verify -q packed >/dev/null')
    case('link-weights-elsewhere-quantize', 'accept',
         '$B/qtip-quantize %s --tensor %s --hessian $S/h.safetensors -o out.safetensors model' % (Q, LAYER), 0,
         files=dict(OUTF, model=('copytree', 'model')), setup=wl, outputs=OUTS, post=SAME_ART)
    case('link-shard-elsewhere-quantize', 'accept',
         '$B/qtip-quantize %s --tensor %s --hessian $S/h.safetensors -o out.safetensors model_sh' % (Q, LAYER), 0,
         files=dict(OUTF, model_sh=('copytree', 'model_sh')),
         setup=lambda d: (os.makedirs(d + '/store'), os.rename(d + '/model_sh/model-00001-of-00002.safetensors', d + '/store/s1'),
                          os.symlink('../store/s1', d + '/model_sh/model-00001-of-00002.safetensors')), outputs=OUTS, post=SAME_ART)
    case('link-hessian-quantize', 'accept',
         '$B/qtip-quantize %s --tensor %s --hessian hl.safetensors -o out.safetensors $S/model' % (Q, LAYER), 0,
         files=dict(OUTF), setup=lambda d: os.symlink(SEED + '/h.safetensors', d + '/hl.safetensors'), outputs=OUTS,
         post=SAME_ART)
    case('link-dangling-hessian', 'link',
         '$B/qtip-quantize %s --tensor %s --hessian hl.safetensors -o out.safetensors $S/model' % (Q, LAYER), 1,
         [r'hl\.safetensors', r'dangling|link|no such|not exist|cannot open'],
         files=dict(OUTF), setup=lambda d: os.symlink('gone.safetensors', d + '/hl.safetensors'))
    # a Hugging Face cache snapshot: every file a link into ../../blobs/
    def hf(d):
        root = d + '/hub/models--org--tiny'
        os.makedirs(root + '/blobs'); os.makedirs(root + '/snapshots/0123abcd/1_Pooling'); os.makedirs(root + '/refs')
        write(root + '/refs/main', b'0123abcd')
        for rel in ['model.safetensors'] + list(SIDE_FILES):
            if rel.startswith('extra/'):
                continue
            blob = 'blob%02d' % len(os.listdir(root + '/blobs'))
            shutil.copyfile(SEED + '/model/' + rel, root + '/blobs/' + blob)
            depth = rel.count('/')
            os.symlink('../' * (2 + depth) + 'blobs/' + blob, root + '/snapshots/0123abcd/' + rel)
    snap = 'hub/models--org--tiny/snapshots/0123abcd'
    case('hf-cache-pack', 'accept', '$B/qtip-pack -q -o packed %s $S/art.safetensors' % snap, 0, setup=hf, outputs=['packed'],
         post='cmp packed/tokenizer.json $S/model/tokenizer.json && cmp packed/1_Pooling/config.json $S/model/1_Pooling/config.json '
              '&& test ! -L packed/tokenizer.json && $B/qtip-verify -q packed >/dev/null')
    case('hf-cache-quantize', 'accept', '$B/qtip-quantize %s --tensor %s --hessian $S/h.safetensors -o out.safetensors %s' % (Q, LAYER, snap),
         0, files=dict(OUTF), setup=hf, outputs=OUTS, post=SAME_ART)
    # sub-directories of the model are copied (MiniLM's 1_Pooling), at any depth
    case('subdirs-copied-pack', 'accept', '$B/qtip-pack -q -o packed $S/model $S/art.safetensors', 0, outputs=['packed'],
         post='cmp packed/1_Pooling/config.json $S/model/1_Pooling/config.json && cmp packed/extra/deeper/notes.txt $S/model/extra/deeper/notes.txt')

def nonfinite_cases():
    """NaN/Inf in weights and Hessians: refused naming the entry."""
    for what, v in (('nan', float('nan')), ('inf', float('inf')), ('neginf', float('-inf'))):
        wv = list(WVALS); wv[N + 5] = v
        t = [(W, 'F16', [M, N], f16(wv)) if x[0] == W else x for x in MODEL_TENSORS]
        for tag, cmd, code in WEIGHT_USERS:
            case('weights-%s-%s' % (what, tag), 'nonfinite', cmd.format(f='w.safetensors'), 1,
                 [r'w\.safetensors', esc(W) + '|' + esc(LAYER), r'nan|inf|finite'],
                 files=dict(OUTF, **{'w.safetensors': st_bytes(t)}), outputs=OUTS)
        h, data, _ = st_split(seed('h.safetensors'))
        centered = ('export-centered', '$B/qtip-hessian export -q --centered -o out.safetensors {f}', 1)
        for tname in ('sum_xxT_tril', 'sum_x'):
            o = h[tname]['data_offsets'][0] + 8 * 3
            bad = data[:o] + struct.pack('<d', v) + data[o + 8:]
            # info reports finiteness, it does not refuse; sum_x (the mean) is used by
            # merge and by export --centered only
            users = [u for u in HESSIAN_USERS if u[0] != 'info'] if tname == 'sum_xxT_tril' else \
                [HESSIAN_USERS[2], centered]
            for tag, cmd, code in users:
                case('hessian-%s-%s-%s' % (what, tname, tag), 'nonfinite', cmd.format(f='hx.safetensors'), 1,
                     [r'hx\.safetensors', tname + r'|nan|inf', r'nan|inf|finite'],
                     files=dict(OUTF, **{'hx.safetensors': st_raw(json.dumps(h).encode(), bad)}), outputs=OUTS)
    # a weight whose values are all 3e38: finite, but its squares overflow
    t = [(W, 'F32', [M, N], f32([3e38] * (M * N))) if x[0] == W else x for x in MODEL_TENSORS]
    for tag, cmd, code in WEIGHT_USERS[:1]:
        case('weights-3e38-%s' % tag, 'message', cmd.format(f='w.safetensors'), 1,
             [r'w\.safetensors|' + esc(LAYER), r'overflow|large|range|finite|scale'], [r'-nan', r'value 0 is'],
             files=dict(OUTF, **{'w.safetensors': st_bytes(t)}), outputs=OUTS)

def mismatch_cases():
    """Mismatched dimensions between files that must agree."""
    q = '$B/qtip-quantize %s --tensor %s --hessian $S/h64.safetensors -o out.safetensors $S/model' % (Q, LAYER)
    case('dims-hessian-n-quantize', 'mismatch', q, 1, [r'h64\.safetensors', r'\b64\b', r'\b128\b'], files=dict(OUTF), outputs=OUTS)
    case('dims-hessian-n-incoherence', 'mismatch',
         '$B/qtip-incoherence -q --tensor %s --hessian $S/h64.safetensors -o out.safetensors $S/model/model.safetensors' % W, 1,
         [r'h64\.safetensors', r'\b64\b', r'\b128\b'], files=dict(OUTF), outputs=OUTS)
    case('dims-merge-n', 'mismatch', '$B/qtip-hessian merge -q -o out.safetensors $S/h.safetensors $S/h64.safetensors', 1,
         [r'h64\.safetensors', r'h\.safetensors'], files=dict(OUTF), outputs=OUTS)
    case('dims-accumulate-n', 'mismatch', '$B/qtip-hessian accumulate -q -o out.safetensors $S/a1.npy $S/a64.npy', 1,
         [r'a64\.npy', r'a1\.npy'], files=dict(OUTF), outputs=OUTS)
    # an artifact of another shape: the model's tensor is 64 x 64
    small = [(W, 'F16', [M, 64], f16(WVALS[:M * 64])) if x[0] == W else x for x in MODEL_TENSORS]
    case('dims-artifact-shape-pack', 'mismatch', '$B/qtip-pack -q -o packed model $S/art.safetensors', 1,
         [esc(LAYER), r'shape|\b64\b'], files={'model/model.safetensors': st_bytes(small), 'model/config.json': CONFIG})
    case('dims-artifact-other-tensor-pack', 'mismatch', '$B/qtip-pack -q -o packed model $S/art.safetensors', 1,
         [r'art\.safetensors|' + esc(LAYER), r'no tensor|not in|missing|not found|does not'],
         files={'model/model.safetensors': st_bytes([x for x in MODEL_TENSORS if x[0] != W]), 'model/config.json': CONFIG})
    case('dims-original-shape-verify', 'mismatch', '$B/qtip-verify --original model $S/packed', [1, 3],
         [esc(LAYER), r'shape|\b64\b|checksum'], files={'model/model.safetensors': st_bytes(small), 'model/config.json': CONFIG})

def output_is_input_cases():
    """-o equal to an input path, a hard link of it, or a symlink to it: refused, the
    input untouched, for every command that writes."""
    cmds = [  # tag, files copied from the seed, command with {o} the output path, input name
        ('accumulate', {'in.npy': 'a1.npy'}, '$B/qtip-hessian accumulate -q -o {o} in.npy', 'in.npy'),
        ('merge', {'in.safetensors': 'h.safetensors'}, '$B/qtip-hessian merge -q -o {o} in.safetensors $S/h.safetensors', 'in.safetensors'),
        ('export', {'in.safetensors': 'h.safetensors'}, '$B/qtip-hessian export -q -o {o} in.safetensors', 'in.safetensors'),
        ('import', {'in.safetensors': 'flat.safetensors'}, '$B/qtip-hessian import -q -o {o} in.safetensors', 'in.safetensors'),
        ('incoherence-weights', {'in.safetensors': 'model/model.safetensors'},
         '$B/qtip-incoherence -q --tensor %s -o {o} in.safetensors' % W, 'in.safetensors'),
        ('incoherence-hessian', {'in.safetensors': 'h.safetensors'},
         '$B/qtip-incoherence -q --tensor %s --hessian in.safetensors -o {o} $S/model/model.safetensors' % W, 'in.safetensors'),
        ('quantize-weights', {'in.safetensors': 'model/model.safetensors'},
         '$B/qtip-quantize %s --tensor %s --hessian $S/h.safetensors -o {o} in.safetensors' % (Q, LAYER), 'in.safetensors'),
        ('quantize-hessian', {'in.safetensors': 'h.safetensors'},
         '$B/qtip-quantize %s --tensor %s --hessian in.safetensors -o {o} $S/model' % (Q, LAYER), 'in.safetensors'),
        ('quantize-config', {'in.safetensors': None},
         '$B/qtip-quantize %s --config in.safetensors --tensor %s --hessian $S/h.safetensors -o {o} $S/model' % (Q, LAYER), 'in.safetensors'),
    ]
    words = [r'also an input|same file|is an input|input file|overwrite']
    for tag, inputs, cmd, inp in cmds:
        files = {k: (seed(v) if v else b'{"method": "trellis"}') for k, v in inputs.items()}
        case('oeqi-%s-same' % tag, 'output=input', cmd.format(o=inp), [1, 2], [esc(inp)] + words, files=files)
        case('oeqi-%s-hardlink' % tag, 'output=input', cmd.format(o='o/hl'), [1, 2], [r'hl|' + esc(inp)] + words, files=files,
             setup=lambda d, inp=inp: (os.makedirs(d + '/o'), os.link(d + '/' + inp, d + '/o/hl')))
        case('oeqi-%s-symlink' % tag, 'output=input', cmd.format(o='sl'), [1, 2], [r'sl|' + esc(inp)] + words, files=files,
             setup=lambda d, inp=inp: os.symlink(inp, d + '/sl'))
    # a file inside a model directory given as the directory
    case('oeqi-quantize-model-file', 'output=input',
         '$B/qtip-quantize %s --tensor %s --hessian $S/h.safetensors -o model/model.safetensors model' % (Q, LAYER), [1, 2],
         [r'model\.safetensors'] + words, files={'model': ('copytree', 'model')})
    # directory outputs: pack and verify --dequantize over an input directory
    case('oeqi-pack-model', 'output=input', '$B/qtip-pack -q -o model model $S/art.safetensors', [1, 2],
         [r'model', words[0] + '|exist'], files={'model': ('copytree', 'model')})
    # an output inside the model directory: copying sub-directories must not copy it into itself
    case('oeqi-pack-inside-model', 'output=input', '$B/qtip-pack -q -o model/packed model $S/art.safetensors', [1, 2],
         [r'model', r'inside|within|input|itself'], files={'model': ('copytree', 'model')}, timeout=5)
    case('oeqi-pack-artifact', 'output=input', '$B/qtip-pack -q -o art.safetensors $S/model art.safetensors', [1, 2],
         [r'art\.safetensors', words[0] + '|exist'], files={'art.safetensors': seed('art.safetensors')})
    case('oeqi-verify-dequantize-packed', 'output=input', '$B/qtip-verify -q --dequantize packed packed', [1, 2],
         [r'packed', words[0] + '|exist'], files={'packed': ('copytree', 'packed')})
    case('oeqi-verify-dequantize-original', 'output=input', '$B/qtip-verify -q --original model --dequantize model $S/packed', [1, 2],
         [r'model', words[0] + '|exist'], files={'model': ('copytree', 'model')})

def stdin_cases():
    """stdin: empty, closed, closing inside the header or inside a row; zstd streams."""
    A = seed('raw.f32'); good = seed('a1.npy')
    acc = '$B/qtip-hessian accumulate -q -o out.safetensors'
    sw = [r'stdin|<stdin>|\B-\B|standard input']
    cs = [('empty', acc + ' - < /dev/null', [r'empty|no data|0 bytes|truncat|no (activation )?rows|nothing']),
          ('closed', acc + ' - <&-', [r'stdin|closed|read|bad file']),
          ('npy-header-cut', 'head -c 30 $S/a1.npy | ' + acc + ' -', [TRUNC]),
          ('npy-data-cut', 'head -c %d $S/a1.npy | ' % (len(good) - 100) + acc + ' -', [TRUNC]),
          ('raw-empty', acc + ' --dim %d --dtype f32 - < /dev/null' % N, [r'empty|no data|0 bytes|no (activation )?rows|nothing|0 rows']),
          ('raw-partial-row', 'head -c %d $S/raw.f32 | ' % (4 * N + 100) + acc + ' --dim %d --dtype f32 -' % N, [r'partial|truncat|row|multiple']),
          ('raw-closed', acc + ' --dim %d --dtype f32 - <&-' % N, [r'stdin|closed|read|bad file']),
          ('zstd-cut', 'head -c 200 z.npy.zst | ' + acc + ' -', [TRUNC + '|zstd|frame']),
          ('zstd-corrupt', acc + ' - < zc.npy.zst', [r'zstd|corrupt|decompress|frame|block'])]
    z = zstd_frame(good)
    zc = bytearray(z); zc[6] |= 0x06     # block type 3 (reserved) in the first block header
    for name, cmd, w in cs:
        case('stdin-%s' % name, 'stdin', cmd, 1, sw + w, files=dict(OUTF, **{'z.npy.zst': z, 'zc.npy.zst': bytes(zc)}),
             outputs=OUTS)
    case('stdin-npy-accept', 'accept', acc + ' - < $S/a1.npy', 0, files=dict(OUTF), outputs=OUTS, post=SAME_H)
    case('stdin-zstd-accept', 'accept', acc + ' - < z.npy.zst', 0, files=dict(OUTF, **{'z.npy.zst': z}), outputs=OUTS,
         post=SAME_H)

def zstd_cases():
    """zstd inputs truncated or corrupt, and a bomb: bounded memory and a clear error."""
    kinds = [('npy', 'a1.npy', NPY_USERS), ('hessian', 'h.safetensors', HESSIAN_USERS[:1] + HESSIAN_USERS[1:4]),
             ('weights', 'model/model.safetensors', WEIGHT_USERS), ('artifact', 'art.safetensors', ART_USERS)]
    for kind, sname, users in kinds:
        z = zstd_frame(seed(sname), block=1024)
        ext = '.npy.zst' if kind == 'npy' else '.safetensors'
        fn = 'z' + ext
        zc = bytearray(z); zc[6 + 3 + 1024] |= 0x06                  # second block: reserved type 3
        zg = bytearray(z); zg[4] |= 0x08                             # frame header: reserved bit set
        variants = {'accept': (z, 0), 'cut-frame-header': (z[:5], 1), 'cut-block': (z[:6 + 3 + 1000], 1),
                    'cut-last-block': (z[:-7], 1), 'corrupt-block-type': (bytes(zc), 1),
                    'reserved-bit': (bytes(zg), 1)}
        for tag, cmd, code in users:
            for vname, (vb, vcode) in variants.items():
                w = [esc(fn), r'zstd|truncat|corrupt|decompress|frame|block|' + TRUNC] if vcode else []
                post = {('npy', 'accumulate'): SAME_H, ('hessian', 'quantize'): SAME_ART, ('weights', 'quantize'): SAME_ART,
                        ('artifact', 'pack'): '$B/qtip-verify -q packed >/dev/null'}.get((kind, tag)) if vcode == 0 else None
                case('zstd-%s-%s-%s' % (kind, tag, vname), 'accept' if vcode == 0 else 'zstd', cmd.format(f=fn),
                     code if vcode else 0, w, files=dict(OUTF, **{fn: vb}), outputs=OUTS, post=post)
    bomb = zstd_bomb(1 << 30)
    bomb_users = [('quantize-hessian', HESSIAN_USERS[0][1]), ('quantize-weights', WEIGHT_USERS[0][1]),
                  ('incoherence-weights', WEIGHT_USERS[1][1]), ('info', HESSIAN_USERS[1][1]),
                  ('merge', HESSIAN_USERS[2][1]), ('pack-artifact', ART_USERS[0][1]),
                  ('accumulate', NPY_USERS[0][1])]
    for tag, cmd in bomb_users:
        case('zstd-bomb-%s' % tag, 'memory', cmd.format(f='bomb.safetensors'), 1,
             [r'bomb\.safetensors', r'header|limit|large|exceed|not a|recogni|format|magic|empty|zero'],
             files=dict(OUTF, **{'bomb.safetensors': bomb}), outputs=OUTS, rss_mb=256, timeout=20)

def sharded_cases():
    """The sharded index: missing shard, escaping names, a tensor twice, malformed JSON."""
    idx = json.loads(seed('model_sh/model.safetensors.index.json'))
    q = '$B/qtip-quantize %s --tensor %s --hessian $S/h.safetensors -o out.safetensors model_sh' % (Q, LAYER)
    def with_idx(obj):
        b = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        return lambda d: write(d + '/model_sh/model.safetensors.index.json', b)
    def wm(fn):
        j = json.loads(json.dumps(idx)); fn(j['weight_map']); return j
    edits = {'missing-shard': (wm(lambda m: m.update({W: 'model-00003-of-00002.safetensors'})), [r'00003|' + esc(W), r'no such|missing|cannot|not exist|no shard|holds']),
             'escaping-name': (wm(lambda m: m.update({W: '../outside.safetensors'})), [r'outside\.safetensors|' + esc(W), r'\.\./|escape|file name|directory']),
             'absolute-name': (wm(lambda m: m.update({W: '/nonexistent/x.safetensors'})), [esc(W) + r'|x\.safetensors', r'file name|directory|absolute']),
             'ghost-tensor': (wm(lambda m: m.update({'ghost': 'model-00001-of-00002.safetensors'})), [r'ghost', r'no shard|holds|missing|not']),
             'empty-map': ({'weight_map': {}}, [r'index', r'empty|weight_map|no tensor']),
             'map-not-object': ({'weight_map': [1]}, [r'index', r'weight_map|object']),
             'truncated': (json.dumps(idx).encode()[:40], [r'index', r'json|truncat|invalid']),
             'non-utf8': (json.dumps(idx).encode().replace(b'model-00002', b'model-\xff0002', 1), [r'index', r'utf|invalid|encoding']),
             'duplicate-key': (json.dumps(idx).encode().replace(b'"weight_map": {', b'"weight_map": {"%s": "model-00001-of-00002.safetensors", ' % W.encode(), 1),
                               [r'index', r'duplicate|twice|repeated'])}
    for ename, (obj, w) in edits.items():
        case('index-%s-quantize' % ename, 'index', q, 1, [r'index\.json|model_sh'] + w, files=dict(OUTF, model_sh=('copytree', 'model_sh')),
             setup=with_idx(obj), outputs=OUTS)
    # the same tensor in both shards
    sh2 = st_bytes(MODEL_TENSORS[1:])
    case('index-tensor-in-two-shards-quantize', 'index', q, 1, [esc(W) + r'|model\.norm', r'twice|two|both|duplicate|appears'],
         files=dict(OUTF, model_sh=('copytree', 'model_sh')), outputs=OUTS,
         setup=lambda d: write(d + '/model_sh/model-00002-of-00002.safetensors', sh2))
    case('sharded-accept-quantize', 'accept', q, 0, files=dict(OUTF, model_sh=('copytree', 'model_sh')), outputs=OUTS,
         post=SAME_ART)
    # a malformed config.json of the model: pack names it
    for ename, b in (('truncated', CONFIG[:20]), ('not-object', b'[1]'), ('non-utf8', CONFIG.replace(b'llama', b'll\xffma'))):
        case('config-%s-pack' % ename, 'header', '$B/qtip-pack -q -o packed model $S/art.safetensors', 1,
             [r'config\.json', r'json|invalid|object|utf|truncat'], files={'model': ('copytree', 'model')},
             setup=lambda d, b=b: write(d + '/model/config.json', b))

def packed_cases():
    """qtip-verify over a damaged packed directory."""
    h, data, n = st_split(seed('packed/model.safetensors'))
    codes = LAYER + '.qtip_codes'
    o = h[codes]['data_offsets'][0] + 37
    flipped = seed('packed/model.safetensors')[:8 + n + o] + bytes([data[o] ^ 0x10]) + seed('packed/model.safetensors')[8 + n + o + 1:]
    pk = lambda b: (lambda d: write(d + '/packed/model.safetensors', b))
    tree = {'packed': ('copytree', 'packed')}
    case('verify-flipped-code', 'verify', '$B/qtip-verify packed', 3, [esc(LAYER), r'checksum|mismatch|corrupt|differ'],
         files=tree, setup=pk(flipped))
    case('verify-flipped-code-original', 'verify', '$B/qtip-verify --original $S/model packed', 3, [esc(LAYER), r'checksum|mismatch|corrupt|differ|error'],
         files=tree, setup=pk(flipped))
    bias = LAYER + '.bias'
    ob = h[bias]['data_offsets'][0] + 6
    bflip = seed('packed/model.safetensors')[:8 + n + ob] + bytes([data[ob] ^ 0x01]) + seed('packed/model.safetensors')[8 + n + ob + 1:]
    case('verify-flipped-bias-original', 'verify', '$B/qtip-verify --original $S/model packed', 3, [esc(bias), r'differ|mismatch|bit|copied'],
         files=tree, setup=pk(bflip))
    case('verify-accept', 'accept', '$B/qtip-verify --original $S/model packed', 0, files=tree)
    case('verify-original-missing', 'verify', '$B/qtip-verify --original nowhere $S/packed', 1, [r'nowhere', r'no such|cannot|not exist|read'])
    case('verify-original-is-file', 'verify', '$B/qtip-verify --original $S/model/config.json $S/packed', 1,
         [r'config\.json', r'director|not a model|cannot|neither|safetensors'])
    hcut = seed('h.safetensors')[:300]
    # its checksum differs from the recorded one (3) or it cannot be read (1)
    case('verify-hessians-truncated', 'verify', '$B/qtip-verify --original $S/model --hessians hd $S/packed', [1, 3],
         [esc(LAYER) + r'\.safetensors', TRUNC + '|checksum'], files={'hd/%s.safetensors' % LAYER: hcut})
    case('verify-original-not-model', 'verify', '$B/qtip-verify --original empty $S/packed', 1, [r'empty', r'model\.safetensors|no such|cannot|neither'],
         files={'empty/README': b'x'})
    # truncated packed weights and damaged configs
    pb = seed('packed/model.safetensors')
    for c in sorted({0, 7, 8 + n // 2, 8 + n, 8 + n + o, len(pb) - 1}):
        case('verify-packed-cut%d' % c, 'truncation', '$B/qtip-verify packed', 3, [r'model\.safetensors', TRUNC + '|' + MALFORMED],
             files=tree, setup=pk(pb[:c]))
    for cfg in ('config.json', 'quantize_config.json'):
        cb = seed('packed/' + cfg)
        for ename, b in (('truncated', cb[:len(cb) // 2]), ('empty', b''), ('not-object', b'[]'), ('non-utf8', cb.replace(b'qtip', b'q\xfftip', 1))):
            # docs/cmd/qtip-verify.md: an unreadable config is 1, an invalid field 3
            case('verify-%s-%s' % (cfg.split('.')[0], ename), 'header', '$B/qtip-verify packed', [1, 3], [esc(cfg), r'json|invalid|object|utf|truncat|empty'],
                 files=tree, setup=lambda d, b=b, cfg=cfg: write(d + '/packed/' + cfg, b))
    # dequantize over a damaged packed directory leaves no output directory
    case('verify-dequantize-flipped', 'verify', '$B/qtip-verify --dequantize deq packed', 3, [esc(LAYER)], files=tree, setup=pk(flipped))

def usage_cases():
    """A few usage errors: exit 2, nothing written."""
    for cid, cmd in (('quantize-no-output', '$B/qtip-quantize %s --tensor %s --hessian $S/h.safetensors $S/model' % (Q, LAYER)),
                     ('quantize-bad-K', '$B/qtip-quantize --K 9 --tensor %s --hessian $S/h.safetensors -o out.safetensors $S/model' % LAYER),
                     ('hessian-no-subcommand', '$B/qtip-hessian -o out.safetensors'),
                     ('accumulate-dim-no-dtype', '$B/qtip-hessian accumulate --dim 4 -o out.safetensors $S/raw.f32'),
                     ('pack-no-artifacts', '$B/qtip-pack -o packed $S/model'),
                     ('verify-bad-dtype', '$B/qtip-verify --dequantize deq --dtype f8 $S/packed')):
        case('usage-%s' % cid, 'usage', cmd, 2, [r'usage|option|missing|invalid|expected|unknown|argument'], files=dict(OUTF))

def main():
    make_seeds()
    st_cases(); hessian_meta_cases(); npy_cases(); special_file_cases(); link_cases(); nonfinite_cases()
    mismatch_cases(); output_is_input_cases(); stdin_cases(); zstd_cases(); sharded_cases(); packed_cases(); usage_cases()
    write(OUT + '/same_tensors.py', SAME_TENSORS.encode())
    with open(OUT + '/cases.json', 'w') as f:
        json.dump(CASES, f, indent=0)
    print('%d cases in %s' % (len(CASES), OUT))

main()
