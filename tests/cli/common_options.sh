#!/usr/bin/env bash
# Every command: --help (exit 0, synopsis on stdout), --version (exit 0, the
# library version), an unknown option (exit 2, names the option), -h == --help; a
# bad value of a typed option is worded one way in every command (cli.c).
set -u
fail=0; n=0
want=$(sed -n 's/^#define QTIP_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' "$QTIP_SOURCE_DIR/lib/qtip.h" | paste -sd.)
for exe in "$QTIP_BIN"/qtip-*; do
  [ -x "$exe" ] || continue
  name=$(basename "$exe"); n=$((n + 1))
  out=$("$exe" --help); rc=$?
  [ $rc -eq 0 ] && grep -q "^usage: $name" <<<"$out" || { echo "FAIL $name --help (rc $rc)"; fail=1; }
  [ "$("$exe" -h)" = "$out" ] || { echo "FAIL $name -h differs from --help"; fail=1; }
  out=$("$exe" --version); rc=$?
  [ $rc -eq 0 ] && grep -q "$want" <<<"$out" || { echo "FAIL $name --version: '$out'"; fail=1; }
  err=$("$exe" --no-such-option 2>&1 >/dev/null); rc=$?
  [ $rc -eq 2 ] && grep -q "no-such-option" <<<"$err" || { echo "FAIL $name bad option: rc $rc, '$err'"; fail=1; }
  err=$("$exe" --threads x 2>&1 >/dev/null); rc=$?
  [ $rc -eq 2 ] && grep -qx "$name: error: --threads: expected an integer from 0 to 4096, got 'x'" <<<"$err" \
    || { echo "FAIL $name --threads x: rc $rc, '$err'"; fail=1; }
  err=$("$exe" --threads 2>&1 >/dev/null); rc=$?
  [ $rc -eq 2 ] && grep -qx "$name: error: --threads: requires a value" <<<"$err" \
    || { echo "FAIL $name --threads without a value: rc $rc, '$err'"; fail=1; }
done
[ $n -gt 0 ] || { echo "FAIL no commands found in $QTIP_BIN"; fail=1; }
echo "checked $n commands"
exit $fail
