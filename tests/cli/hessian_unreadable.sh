#!/usr/bin/env bash
# Missing, truncated or non-Hessian inputs: exit 1 naming the file, and a
# previous output stays byte-identical with no temporary left beside it.
set -u
H="$QTIP_BIN/qtip-hessian"; G="python3 $QTIP_SOURCE_DIR/tests/cli/hessian_gen.py"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"; fail=0
$G npy a.npy 20 6 1
"$H" accumulate -o out.qh a.npy >/dev/null || { echo "FAIL setup"; exit 1; }
cp out.qh before.qh
head -c 150 a.npy > trunc.npy
echo "not a hessian" > junk.qh
check() { # expected-name cmd...
  local name=$1; shift
  err=$("$@" 2>&1); rc=$?
  [ $rc -eq 1 ] && grep -q "'$name'" <<<"$err" || { echo "FAIL $*: rc $rc '$err'"; fail=1; }
  cmp -s out.qh before.qh || { echo "FAIL $*: previous output changed"; fail=1; }
}
check missing.npy "$H" accumulate -o out.qh a.npy missing.npy
check trunc.npy "$H" accumulate -o out.qh a.npy trunc.npy
check junk.qh "$H" merge -o out.qh before.qh junk.qh
check missing.qh "$H" info missing.qh
ls | grep -q tmp && { echo "FAIL temporary files left: $(ls)"; fail=1; }
exit $fail
