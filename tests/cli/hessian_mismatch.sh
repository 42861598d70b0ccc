#!/usr/bin/env bash
# Dimensions that differ between inputs, and partials of different sites or
# dimensions: exit 1 naming both files; --force-site merges sites anyway.
set -u
H="$QTIP_BIN/qtip-hessian"; G="python3 $QTIP_SOURCE_DIR/tests/cli/hessian_gen.py"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"; fail=0
$G npy a.npy 20 6 1; $G npy b.npy 20 7 2
err=$("$H" accumulate -o x.qh a.npy b.npy 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "'a.npy'" <<<"$err" && grep -q "'b.npy'" <<<"$err" || { echo "FAIL dims: rc $rc '$err'"; fail=1; }
"$H" accumulate --site s1 -o p1.qh a.npy >/dev/null && "$H" accumulate --site s2 -o p2.qh a.npy >/dev/null \
  && "$H" accumulate --site s1 -o p3.qh b.npy >/dev/null || { echo "FAIL setup"; exit 1; }
err=$("$H" merge -o m.qh p1.qh p2.qh 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "'p2.qh'" <<<"$err" && grep -q "'s2'" <<<"$err" || { echo "FAIL sites: rc $rc '$err'"; fail=1; }
err=$("$H" merge -o m.qh p1.qh p3.qh 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "'p3.qh'" <<<"$err" || { echo "FAIL merge dims: rc $rc '$err'"; fail=1; }
[ ! -e m.qh ] || { echo "FAIL output written on error"; fail=1; }
"$H" merge --force-site -o m.qh p1.qh p2.qh >/dev/null || { echo "FAIL --force-site"; fail=1; }
exit $fail
