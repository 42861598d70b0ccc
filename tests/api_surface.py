#!/usr/bin/env python3
"""The public API's fence (docs/contributing.md, "Public API: stable and experimental").

Parses the public headers lib/qtip.h and lib/qtip_*.h, lists every public function
with its status (stable, or experimental: declared inside `#ifdef QTIP_EXPERIMENTAL`)
and fails on:
  - a declared function without a definition in lib/;
  - a dead function: no caller outside its definition file (stable: in cmd/ or lib/,
    unless USER_FACING below names its role; experimental: in cmd/, lib/, kernels/,
    tests/ or bench/);
  - a third-party type (jansson, zstd, xxhash, OpenBLAS/LAPACK) or header in a
    public header;
  - cmd/ calling an experimental function (the build also refuses it: cmd/ is
    compiled without QTIP_EXPERIMENTAL and with -Werror=implicit-function-declaration).

Usage: api_surface.py [SOURCE_DIR] [--list]
"""
import os
import re
import sys

# Stable functions whose role is a library user's, not a command's: no caller in
# cmd/ or lib/ is needed. Each says why it is public.
USER_FACING = {
    "qtip_quantize_layer": "quantizes a layer held in memory (the commands read files)",
    # the CPU matvec (qtip_matvec.h): a serving engine's, the commands run no model
    "qtip_matvec_create": "a packed layer held in memory, ready to run on the CPU",
    "qtip_matvec_create_flat": "the same from plain values, for ctypes callers (no struct mirror)",
    "qtip_matvec_open": "a layer of a packed directory, ready to run on the CPU",
    "qtip_matvec_free": "releases a CPU matvec context",
    "qtip_matvec_shape": "the layer's out and in features",
    "qtip_matvec_apply": "runs the layer on one input vector",
    "qtip_matvec_apply_batch": "runs the layer on up to 32 input vectors",
    "qtip_matvec_simd": "names the kernel in use (avx2 or portable)",
    # the same layer on a GPU (the CUDA plugin's decode-GEMV): a serving engine's
    "qtip_cuda_matvec_create": "a packed layer in device memory, ready to run on a GPU",
    "qtip_cuda_matvec_create_flat": "the same from plain values, for ctypes callers (no struct mirror)",
    "qtip_cuda_matvec_apply": "runs the layer on device inputs, on a CUDA stream",
    "qtip_cuda_matvec_free": "releases a GPU matvec context",
}

THIRD_PARTY = re.compile(
    r"\b(json_t|json_error_t|ZSTD_\w+|XXH\w+|cblas_\w+|CBLAS_\w+|lapack_\w+|LAPACK_\w+|"
    r"openblas_\w+|blasint)\b|#\s*include\s*[<\"](jansson|zstd|xxhash|cblas|lapacke|"
    r"openblas)\w*\.h")

CALLER_DIRS = ("cmd", "lib", "kernels", "tests", "bench")
SOURCE_EXT = (".c", ".h", ".cu", ".cuh", ".cpp")


def strip_comments(text, strings=False):
    """Remove /* */ and // comments (and string/char literals when `strings`),
    keeping newlines so that line numbers survive."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1] if not strings else c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


DECL = re.compile(r"^[A-Za-z_][\w\s\*]*?\b(qtip_\w+)\s*\(", re.S)


def header_functions(path):
    """(name, experimental) for each function declared in a public header."""
    text = strip_comments(open(path).read())
    found, stmt, depth, stack, directive = [], [], 0, [], False
    for line in text.split("\n"):
        s = line.strip()
        if directive:  # continuation of a multi-line #define
            directive = s.endswith("\\")
            continue
        if s.startswith("#"):
            directive = s.endswith("\\")
            word = s[1:].split()
            if word and word[0] in ("if", "ifdef", "ifndef"):
                stack.append(word[1] if len(word) > 1 and word[0] != "ifndef" else "")
            elif word and word[0] == "endif":
                stack.pop()
            continue
        if "__cplusplus" in stack:  # extern "C" { ... }
            continue
        experimental = "QTIP_EXPERIMENTAL" in stack
        for ch in line:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            stmt.append(ch)
            if ch == ";" or (ch == "}" and depth == 0):
                body = "".join(stmt).strip()
                stmt = []
                if depth == 0 and not body.startswith(("typedef", "extern \"C\"")):
                    m = DECL.match(body)
                    if m:
                        found.append((m.group(1), experimental))
        stmt.append(" ")
    return found


def sources(root):
    for top in CALLER_DIRS:
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if f.endswith(SOURCE_EXT):
                    yield os.path.relpath(os.path.join(d, f), root)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), ".."))
    listing = "--list" in argv
    headers = sorted(os.path.join("lib", f) for f in os.listdir(os.path.join(root, "lib"))
                     if re.fullmatch(r"qtip(_\w+)?\.h", f))
    problems = []

    funcs = {}
    for h in headers:
        raw = open(os.path.join(root, h)).read()
        for no, line in enumerate(strip_comments(raw).split("\n"), 1):
            m = THIRD_PARTY.search(line)
            if m:
                problems.append(f"{h}:{no}: third-party type or header '{m.group(0)}'")
        for name, exp in header_functions(os.path.join(root, h)):
            if name in funcs:
                problems.append(f"{h}: '{name}' declared twice")
            funcs[name] = (h, exp)

    code = {f: strip_comments(open(os.path.join(root, f), errors="replace").read(), True)
            for f in sources(root) if f not in headers}
    defined_in = {}
    for f, text in code.items():
        if not f.startswith("lib/") or not f.endswith(".c"):
            continue
        for m in re.finditer(r"\b(qtip_\w+)\s*\([^;{}()]*(?:\([^()]*\)[^;{}()]*)*\)\s*\{", text):
            defined_in.setdefault(m.group(1), f)

    users = {name: set() for name in funcs}
    ident = re.compile(r"\bqtip_\w+\b")
    for f, text in code.items():
        for name in set(ident.findall(text)) & users.keys():
            users[name].add(f)

    stable = experimental = 0
    for name in sorted(funcs, key=lambda n: (funcs[n][0], n)):
        header, exp = funcs[name]
        stable += not exp
        experimental += exp
        where = defined_in.get(name)
        if where is None:
            problems.append(f"{header}: '{name}' is declared but not defined in lib/")
        outside = {u for u in users[name] if u != where}
        in_cmd = sorted(u for u in outside if u.startswith("cmd/"))
        if exp:
            if in_cmd:
                problems.append(f"{in_cmd[0]}: calls experimental '{name}' ({header}); "
                                "a function a command needs is stable: move it out of "
                                "the QTIP_EXPERIMENTAL block")
            if not outside:
                problems.append(f"{header}: experimental '{name}' has no caller outside "
                                f"{where or 'its declaration'} (cmd/ lib/ kernels/ tests/ bench/): delete it")
        elif name not in USER_FACING and not any(u.startswith(("cmd/", "lib/"))
                                                 for u in outside):
            problems.append(f"{header}: stable '{name}' has no caller in cmd/ or lib/ "
                            f"outside {where or 'its declaration'}: make it experimental, delete it, or name "
                            "its user-facing role in USER_FACING (tests/api_surface.py)")
        if listing:
            print(f"{'experimental' if exp else 'stable':12} {name:44} {header}  "
                  f"callers: {len(outside)}")

    print(f"public functions: {stable + experimental} "
          f"(stable {stable}, experimental {experimental})")
    for p in problems:
        print("api_surface: " + p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
