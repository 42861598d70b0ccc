#!/usr/bin/env python3
"""Every function of lib/ and cmd/ (*.c, and *.h with bodies) is at most LIMIT
lines, counted from the first line of its signature to its closing brace
(docs/contributing.md: "Every function under 80 lines").

usage: function_length.py [--limit N] [--top N] DIR...   report, exit 1 on a breach
       function_length.py --self-test                   the measure on known inputs

A function is a top-level '{' whose preceding code ends with ')': comments,
strings, character literals and preprocessor lines (with continuations) are
blanked first, so braces inside them do not count. Its signature starts at the
first code line after the previous top-level ';' or '}' (or preprocessor line).
"""
import os
import re
import sys
import tempfile

LIMIT = 80


def blank(text):
    """The text with comments, literals and preprocessor lines replaced by spaces
    (newlines kept, so line numbers hold)."""
    out, i, n = [], 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == '#' or (at_line_start and c in ' \t' and re.match(r'[ \t]*#', text[i:])):
            j = i
            while j < n and text[j] != '\n':  # a directive, with its continuations
                if text[j] == '\\' and j + 1 < n and text[j + 1] == '\n':
                    j += 2
                    out.append('\n')
                    continue
                j += 1
            out.append(' ')
            i = j
            continue
        if text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:j]))
            i = j
            continue
        if text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i))
            i = j
            continue
        if c in '"\'':
            j = i + 1
            while j < n and text[j] != c and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            out.append(' ' * (min(j + 1, n) - i))
            i = j + 1
            continue
        at_line_start = c == '\n' or (at_line_start and c in ' \t')
        out.append(c)
        i += 1
    return ''.join(out)


def functions(text):
    """(name, first line, last line) of each function body in a C source text."""
    code = blank(text)
    found, depth, start, open_at, name = [], 0, None, None, None
    line = 1
    for i, c in enumerate(code):
        if c == '\n':
            line += 1
            continue
        if depth == 0 and start is None and not c.isspace():
            start = line
        if c == '{':
            if depth == 0:
                head = code[:i].rstrip()
                is_fn = head.endswith(')')
                m = re.search(r'(\w+)\s*\([^;{}]*\)\s*$', head) if is_fn else None
                open_at, name = (start, m.group(1) if m else '?') if is_fn else (None, None)
            depth += 1
        elif c == '}':
            depth -= 1
            if depth == 0:
                if open_at is not None:
                    found.append((name, open_at, line))
                open_at, start = None, None
        elif c == ';' and depth == 0:
            start = None
    return found


def scan(dirs):
    rows = []
    for d in dirs:
        for root, _, files in os.walk(d):
            for f in sorted(files):
                if f.endswith(('.c', '.h')):
                    p = os.path.join(root, f)
                    with open(p, encoding='utf-8', errors='replace') as fh:
                        for name, a, b in functions(fh.read()):
                            rows.append((b - a + 1, p, a, name))
    return sorted(rows, reverse=True)


def self_test():
    def body(lines):  # a function of exactly `lines` lines
        inner = ''.join('    x += %d; /* { */\n' % k for k in range(lines - 4))
        return 'static int f(int x,\n             int y)\n{\n' + inner + '    return x; }\n'
    cases = [
        (body(LIMIT), [LIMIT]),
        (body(LIMIT + 1), [LIMIT + 1]),
        ('struct s { int a; };\nstatic const int t[] = {1, 2};\nint g(void) { return "}"[0]; }\n', [1]),
        ('#define M(x) { \\\n  x; }\nint h(void)\n{\n    return \'{\';\n}\n', [4]),
    ]
    ok = True
    for text, want in cases:
        got = [b - a + 1 for _, a, b in functions(text)]
        if got != want:
            print('self-test: measured %s, expected %s for a case starting %r' % (got, want, text[:40]))
            ok = False
    with tempfile.TemporaryDirectory() as t:
        with open(os.path.join(t, 'long.c'), 'w') as fh:
            fh.write(body(LIMIT + 1))
        if scan([t])[0][0] <= LIMIT:
            print('self-test: an %d-line function passed' % (LIMIT + 1))
            ok = False
    return ok


def main(argv):
    global LIMIT
    if argv[:1] == ['--self-test']:
        return 0 if self_test() else 1
    top = 5
    while argv and argv[0] in ('--limit', '--top'):
        if argv[0] == '--limit':
            LIMIT = int(argv[1])
        else:
            top = int(argv[1])
        argv = argv[2:]
    rows = scan(argv)
    bad = [r for r in rows if r[0] > LIMIT]
    for n, p, a, name in bad:
        print('FAIL %s:%d: %s() is %d lines (limit %d)' % (p, a, name, n, LIMIT))
    for n, p, a, name in rows[:top]:
        print('longest: %s:%d: %s() %d lines' % (p, a, name, n))
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
