#!/usr/bin/env python3
"""Run the cases written by gen_cases.py (Python standard library only).

  run_cases.py BIN_DIR CASES_DIR [ID_REGEX]

Each case runs in its own directory with a timeout (a hang is a failure), in its own
process group (a FIFO reader left blocked is killed with it), at most two at a time.
It passes when all hold:
  - the exit code is one of those expected (a signal never is);
  - stderr matches every expected word and none of the refused ones;
  - stderr holds no sanitizer report (ASan, LSan, UBSan);
  - the case directory is unchanged, except the declared outputs of a command that
    succeeded: sentinels of previous outputs, inputs, and no temporary left behind;
  - its peak RSS stays under the bound, where one is set (the zstd bomb);
  - its post-check succeeds, where one is set.
Prints one line per failing case and "N passed, M failed"; writes CASES_DIR/results.json.
Exit status 0 when every case passed.
"""
import concurrent.futures, hashlib, json, os, re, signal, subprocess, sys, tempfile, threading, time

SANITIZER = re.compile(r'runtime error:|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|MemorySanitizer')


def snapshot(root):
    """path -> what it is, without following links or opening special files."""
    snap = {}
    for d, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            p = os.path.join(d, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if os.path.islink(p):
                snap[rel] = 'link:' + os.readlink(p)
            elif os.path.isdir(p):
                snap[rel] = 'dir'
            elif os.path.isfile(p):
                with open(p, 'rb') as f:
                    snap[rel] = 'file:%s:%o' % (hashlib.sha256(f.read()).hexdigest(), st.st_mode)
            else:
                snap[rel] = 'special:%o' % st.st_mode
    return snap


def under(rel, outputs):
    return any(rel == o or rel.startswith(o.rstrip('/') + '/') for o in outputs)


def run_one(c, bin_dir, cases_dir):
    d = os.path.join(cases_dir, 'c', c['id'])
    before = snapshot(d)
    env = dict(os.environ, B=bin_dir, S=os.path.join(cases_dir, 'seed'))
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(['bash', '-c', c['cmd']], cwd=d, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        t = threading.Timer(c['timeout'], kill)
        t0 = time.monotonic()
        t.start()
        _, status, ru = os.wait4(p.pid, 0)
        t.cancel()
        seconds = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        try:  # anything the command left running in its group goes with it
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        err.seek(0)
        stderr = err.read().decode('utf-8', 'replace')
    got = p.returncode
    problems = []
    if timed_out.is_set():
        problems.append('timeout after %ss' % c['timeout'])
    elif got not in c['exit']:
        problems.append('exit %s' % (got if got >= 0 else 'signal %d' % -got))
    for w in c['words']:
        if not re.search(w, stderr, re.I):
            problems.append('stderr lacks /%s/' % w)
    for w in c['not_words']:
        if re.search(w, stderr, re.I):
            problems.append('stderr has /%s/' % w)
    if SANITIZER.search(stderr):
        problems.append('sanitizer report')
    after = snapshot(d)
    allowed = c['outputs'] if got == 0 and not timed_out.is_set() else []
    changed = sorted(k for k in set(before) | set(after)
                     if before.get(k) != after.get(k) and not under(k, allowed))
    if changed:
        problems.append('changed: ' + ', '.join(changed[:4]) + (' ...' if len(changed) > 4 else ''))
    if c.get('rss_mb') and ru.ru_maxrss > c['rss_mb'] * 1024:
        problems.append('peak RSS %d MB > %d MB' % (ru.ru_maxrss // 1024, c['rss_mb']))
    if c.get('post') and got == 0 and not problems:
        r = subprocess.run(['bash', '-c', c['post']], cwd=d, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        if r.returncode != 0:
            problems.append('post-check failed: %s' % r.stderr.decode('utf-8', 'replace').strip()[:200])
    return {'id': c['id'], 'cls': c['cls'], 'cmd': c['cmd'], 'expected': c['exit'], 'got': got,
            'problems': problems, 'stderr': stderr, 'seconds': round(seconds, 3)}


def main():
    bin_dir, cases_dir = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    pick = re.compile(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else None
    with open(os.path.join(cases_dir, 'cases.json')) as f:
        cases = [c for c in json.load(f) if not pick or pick.search(c['id'])]
    seed_before = snapshot(os.path.join(cases_dir, 'seed'))
    jobs = int(os.environ.get('QTIP_HOSTILE_JOBS', '2'))
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        results = list(ex.map(lambda c: run_one(c, bin_dir, cases_dir), cases))
    if snapshot(os.path.join(cases_dir, 'seed')) != seed_before:
        print('FAIL the shared seed inputs changed during the run')
        results.append({'id': 'seed-untouched', 'cls': 'output=input', 'problems': ['seed changed']})
    failed = [r for r in results if r['problems']]
    for r in failed:
        if 'cmd' not in r:
            continue
        m = SANITIZER.search(r['stderr'])   # show the report rather than what came before it
        text = r['stderr'][max(0, m.start() - 120):] if m else r['stderr']
        excerpt = ' '.join(text.split())[:240]
        print('FAIL %s | %s | expected %s, got %s | %s | stderr: %s' % (
            r['id'], r['cmd'], '/'.join(map(str, r['expected'])), r['got'], '; '.join(r['problems']), excerpt))
    with open(os.path.join(cases_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=0)
    print('%d passed, %d failed' % (len(results) - len(failed), len(failed)))
    return 1 if failed else 0


sys.exit(main())
