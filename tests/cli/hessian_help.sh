#!/usr/bin/env bash
# qtip-hessian: --help/--version for the command and each subcommand; bad usage exits 2.
set -u
H="$QTIP_BIN/qtip-hessian"; fail=0
for sub in "" accumulate merge info export import; do
  out=$("$H" $sub --help); rc=$?
  [ $rc -eq 0 ] && grep -q "^usage: qtip-hessian $sub" <<<"$out" || { echo "FAIL '$sub --help' rc $rc"; fail=1; }
  "$H" $sub --version | grep -q "libqtip" || { echo "FAIL '$sub --version'"; fail=1; }
done
"$H" 2>/dev/null; [ $? -eq 2 ] || { echo "FAIL no subcommand should exit 2"; fail=1; }
err=$("$H" frobnicate 2>&1); [ $? -eq 2 ] && grep -q "'frobnicate'" <<<"$err" || { echo "FAIL unknown subcommand: $err"; fail=1; }
err=$("$H" accumulate x.npy 2>&1); [ $? -eq 2 ] && grep -q -- "-o" <<<"$err" || { echo "FAIL missing -o: $err"; fail=1; }
err=$("$H" accumulate --dim 8 -o x x 2>&1); [ $? -eq 2 ] || { echo "FAIL --dim without --dtype: $err"; fail=1; }
err=$("$H" accumulate --dim 8 --dtype f7 -o x x 2>&1); [ $? -eq 2 ] && grep -q "'f7'" <<<"$err" || { echo "FAIL bad dtype: $err"; fail=1; }
exit $fail
