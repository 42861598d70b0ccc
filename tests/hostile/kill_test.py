#!/usr/bin/env python3
"""kill -9 every writing command at several moments (Python standard library only).

  kill_test.py BIN_DIR WORK_DIR

For each command that writes (accumulate, merge, export, import, incoherence, quantize,
pack, verify --dequantize), on inputs large enough that it runs a moment: start it,
kill -9 its process group at 20, 40, 60, 80 and 95 % of the time a full run takes
(measured first, so the moments fall inside the run on a fast or a sanitized build),
and once more as soon as a new entry (its temporary) appears beside the output (polled
every 0.5 ms, so one kill falls inside the write whatever the build's speed), and
assert that
  - nothing partial sits under the final name: it holds the previous output (a
    sentinel file; no directory where none was), or the complete output (the bytes
    of the measured run: a kill after the rename);
then rerun it to completion and assert that
  - it succeeds, and the temporaries the killed runs left beside the output are gone
    (they are ours: the rerun must clean them), while files that are not ours survive.
Prints one line per failure and "N passed, M failed"; exit status 0 when all passed.
"""
import hashlib, json, os, shutil, signal, struct, subprocess, sys, time

B, W = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SENTINEL = b'QTIP-HOSTILE-SENTINEL: a previous output that must survive\n'
FRACTIONS = (0.2, 0.4, 0.6, 0.8, 0.95)
FOREIGN = ('keep-me.tmp', '.keep-me', 'notes.txt')   # not ours: a rerun must leave them
LAYER = 'model.layers.0.mlp.up_proj'
M, N = 512, 1024


def rand_bytes(k, seed):
    """k float32 values in [-1, 1), deterministic."""
    out, x = [], seed
    for _ in range(k):
        x = (x * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        out.append(((x >> 40) / float(1 << 24)) * 2.0 - 1.0)
    return struct.pack('<%df' % k, *out)


def st_file(path, tensors):
    hdr, off, blobs = {}, 0, []
    for name, dt, shape, raw in tensors:
        hdr[name] = {'dtype': dt, 'shape': shape, 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw); off += len(raw)
    hj = json.dumps(hdr).encode(); hj += b' ' * (-len(hj) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(hj)) + hj + b''.join(blobs))


def sh(cmd, cwd):
    r = subprocess.run(['bash', '-c', cmd], cwd=cwd, env=dict(os.environ, B=B),
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit('kill_test.py: input command failed: %s\n%s' % (cmd, r.stderr.decode()))


def make_inputs(d):
    os.makedirs(d + '/model')
    block = rand_bytes(256 * N, 1)                        # 256 distinct rows, repeated
    rows = 16 * 256
    hl = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, N)
    hl += ' ' * (-(len(hl) + 11) % 64) + '\n'
    with open(d + '/a.npy', 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hl)) + hl.encode() + block * 16)
    w = rand_bytes(M * N, 2)
    st_file(d + '/model/model.safetensors',
            [('model.embed_tokens.weight', 'F32', [2048, N], rand_bytes(2048, 3) * N),
             (LAYER + '.weight', 'F32', [M, N], w)])
    with open(d + '/model/config.json', 'w') as f:
        f.write('{"architectures": ["LlamaForCausalLM"], "model_type": "llama"}')
    sh('$B/qtip-hessian accumulate -q -o h.safetensors a.npy', d)
    sh('$B/qtip-hessian export -q -o flat.safetensors h.safetensors', d)
    sh('$B/qtip-quantize -q --decode-mode 1mad --L 8 --K 2 --V 1 --tlut-bits 0 --tensor %s '
       '--hessian h.safetensors -o art.safetensors model' % LAYER, d)
    sh('$B/qtip-pack -q -o packed model art.safetensors', d)


I = '../../in/'
COMMANDS = [  # tag, command run in its own output directory, output name, is a directory
    ('accumulate', '$B/qtip-hessian accumulate -q -o out.safetensors %sa.npy %sa.npy' % (I, I), 'out.safetensors', False),
    ('merge', '$B/qtip-hessian merge -q -o out.safetensors %sh.safetensors %sh.safetensors %sh.safetensors' % (I, I, I), 'out.safetensors', False),
    ('export', '$B/qtip-hessian export -q --full --dtype f64 -o out.safetensors %sh.safetensors' % I, 'out.safetensors', False),
    ('import', '$B/qtip-hessian import -q -o out.safetensors %sflat.safetensors' % I, 'out.safetensors', False),
    ('incoherence', '$B/qtip-incoherence -q --tensor %s.weight --hessian %sh.safetensors -o out.safetensors %smodel/model.safetensors'
     % (LAYER, I, I), 'out.safetensors', False),
    ('quantize', '$B/qtip-quantize -q --decode-mode 1mad --L 8 --K 2 --V 1 --tlut-bits 0 --tensor %s --hessian %sh.safetensors '
     '-o out.safetensors %smodel' % (LAYER, I, I), 'out.safetensors', False),
    ('pack', '$B/qtip-pack -q -o packed %smodel %sart.safetensors' % (I, I), 'packed', True),
    ('dequantize', '$B/qtip-verify -q --dequantize deq --dtype f32 %spacked' % I, 'deq', True),
]


def entries(d):
    return set(os.listdir(d))


def reset(d, out, is_dir):
    p = os.path.join(d, out)
    if is_dir:
        shutil.rmtree(p, ignore_errors=True)
    else:
        with open(p, 'wb') as f:
            f.write(SENTINEL)


def untouched(d, out, is_dir):
    p = os.path.join(d, out)
    if is_dir:
        return not os.path.lexists(p)
    with open(p, 'rb') as f:
        return f.read() == SENTINEL


def digest(p):
    """sha256 of a file, or of a directory's names and file contents."""
    h = hashlib.sha256()
    if not os.path.lexists(p):
        return None
    if os.path.isdir(p):
        for root, dirs, files in sorted(os.walk(p)):
            for n in sorted(files):
                q = os.path.join(root, n)
                h.update(os.path.relpath(q, p).encode() + b'\0')
                with open(q, 'rb') as f:
                    h.update(f.read())
    else:
        with open(p, 'rb') as f:
            h.update(f.read())
    return h.hexdigest()


def one(tag, cmd, out, is_dir):
    d = os.path.join(W, 'k', tag)
    os.makedirs(d)
    fails, left = [], set()
    t0 = time.monotonic()
    r = subprocess.run(['bash', '-c', cmd], cwd=d, env=dict(os.environ, B=B), stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    full = time.monotonic() - t0
    if r.returncode != 0:
        return ['first run exit %d: %s' % (r.returncode, r.stderr.decode('utf-8', 'replace')[:200])], 0
    complete = digest(os.path.join(d, out))
    for t in [f * full for f in FRACTIONS] + [None]:
        reset(d, out, is_dir)
        before = entries(d)
        p = subprocess.Popen(['bash', '-c', cmd], cwd=d, env=dict(os.environ, B=B), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        if t is not None:
            time.sleep(t)
        else:           # kill as soon as something new appears beside the output
            while p.poll() is None and not (entries(d) - before - {out}):
                time.sleep(0.0005)
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc = p.wait()
        when = 'at %.2fs' % t if t is not None else 'when its temporary appeared'
        if rc == 0:
            continue            # finished before the kill: a complete output, nothing to check
        if not untouched(d, out, is_dir) and digest(os.path.join(d, out)) != complete:
            fails.append('after kill %s: %s under the final name is neither the previous output nor the complete one'
                         % (when, out))
        left |= entries(d) - before - {out}
    for name in FOREIGN:
        with open(os.path.join(d, name), 'wb') as f:
            f.write(b'not ours\n')
    reset(d, out, is_dir)
    r = subprocess.run(['bash', '-c', cmd], cwd=d, env=dict(os.environ, B=B), stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)
    if r.returncode != 0:
        fails.append('rerun exit %d: %s' % (r.returncode, ' '.join(r.stderr.decode('utf-8', 'replace').split())[:200]))
    now = entries(d)
    stale = sorted(left & now)
    if stale:
        fails.append('rerun left %d stale temporaries of the killed runs: %s' % (len(stale), ', '.join(stale[:3])))
    gone = [n for n in FOREIGN if n not in now]
    if gone:
        fails.append('rerun removed files that are not ours: ' + ', '.join(gone))
    if r.returncode == 0 and untouched(d, out, is_dir):
        fails.append('rerun succeeded but did not write ' + out)
    return fails, len(left)


def main():
    shutil.rmtree(W, ignore_errors=True)
    make_inputs(os.path.join(W, 'in'))
    passed = failed = hits = 0
    for tag, cmd, out, is_dir in COMMANDS:
        fails, nleft = one(tag, cmd, out, is_dir)
        hits += 1 if nleft else 0
        for f in fails:
            print('FAIL kill-%s | %s | %s' % (tag, cmd, f))
        if fails:
            failed += 1
        else:
            passed += 1
    # the cleanup check bites only where a kill fell inside the write: say how often
    print('kill test: %d passed, %d failed (kills left temporaries for %d of %d commands)'
          % (passed, failed, hits, len(COMMANDS)))
    return 1 if failed else 0


sys.exit(main())
