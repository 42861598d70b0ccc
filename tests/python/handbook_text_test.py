#!/usr/bin/env python3
"""calib/text_debian_handbook.py on the installed debian-handbook package:

  handbook_text_test.py WORK   two runs give byte-identical files; calibration and
                               evaluation share no paragraph and no chapter, hold
                               more than MIN_WORDS words each, and no HTML tag or
                               entity is left

Needs the Debian package debian-handbook (scripts/setup-python.sh installs it); a
missing package fails the test, never skips it.
"""
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EXTRACTOR = os.path.join(HERE, '..', '..', 'calib', 'text_debian_handbook.py')
MIN_WORDS = {'calibration': 50000, 'evaluation': 20000}
TAG = re.compile(r'</?[A-Za-z][A-Za-z0-9]*(\s[^<>]*)?/?>')
ENTITY = re.compile(r'&(#[0-9]+|#x[0-9a-fA-F]+|[A-Za-z]+);')


def extract(work, run):
    paths = {k: '%s/%s-%d.txt' % (work, k, run) for k in MIN_WORDS}
    p = subprocess.run([sys.executable, EXTRACTOR, paths['calibration'], paths['evaluation']],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stderr
    print(p.stdout, end='')
    return paths, p.stdout


def main(work):
    os.makedirs(work, exist_ok=True)
    first, provenance = extract(work, 1)
    second, _ = extract(work, 2)
    text = {}
    for kind in MIN_WORDS:
        with open(first[kind], 'rb') as f1, open(second[kind], 'rb') as f2:
            data = f1.read()
            assert data == f2.read(), '%s differs between two runs' % kind
        text[kind] = data.decode('utf-8')
        words = len(text[kind].split())
        assert words > MIN_WORDS[kind], '%s: %d words' % (kind, words)
        for pattern in (TAG, ENTITY):
            m = pattern.search(text[kind])
            assert m is None, '%s holds markup: %r' % (kind, m.group(0))
    paras = {k: set(t.split('\n\n')) for k, t in text.items()}
    shared = paras['calibration'] & paras['evaluation']
    assert not shared, 'paragraphs in both files: %s' % sorted(shared)[:3]
    chapters = [set(line.partition('(debian-handbook): ')[2].split('; '))
                for line in provenance.splitlines()]
    assert len(chapters) == 2 and all(chapters) and not chapters[0] & chapters[1], chapters


if __name__ == '__main__':
    main(sys.argv[1])
