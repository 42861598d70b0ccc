#!/usr/bin/env bash
# Behaviour manifest: the fixed command lines of tests/manifest/run.sh reproduce the
# recorded checksums byte for byte (tests/manifest/expected.txt), with --threads 2 and
# again with --threads 1. A difference lists the files that changed.
#   QTIP_MANIFEST_UPDATE=1 ctest -R behaviour_manifest   rewrites expected.txt (a change
#   of behaviour on purpose: say why in the commit message)
set -u
M="$QTIP_SOURCE_DIR/tests/manifest"
command -v python3 >/dev/null || { echo "FAIL python3 is needed to write the manifest inputs"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
bash "$M/run.sh" "$QTIP_BIN" "$T/a" > "$T/got.txt" 2>"$T/err" || { cat "$T/err"; echo "FAIL run.sh"; exit 1; }
if [ -n "${QTIP_MANIFEST_UPDATE:-}" ]; then cp "$T/got.txt" "$M/expected.txt"; echo "updated"; exit 0; fi
fail=0
if ! diff "$M/expected.txt" "$T/got.txt"; then echo "FAIL outputs differ from the manifest"; fail=1; fi
# one thread: the same bytes (the quantizer's --threads is the only thread knob run.sh sets)
sed 's/--threads 2/--threads 1/' "$M/run.sh" > "$T/run1.sh"
cp "$M/gen_inputs.py" "$T/"
bash "$T/run1.sh" "$QTIP_BIN" "$T/b" > "$T/got1.txt" 2>/dev/null || { echo "FAIL run.sh --threads 1"; fail=1; }
cmp -s "$T/got.txt" "$T/got1.txt" || { diff "$T/got.txt" "$T/got1.txt"; echo "FAIL --threads 1 differs"; fail=1; }
[ $fail -eq 0 ] && echo "manifest: $(wc -l < "$M/expected.txt") outputs identical"
exit $fail
