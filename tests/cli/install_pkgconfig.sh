#!/usr/bin/env bash
# `cmake --install` puts the library, the headers and qtip.pc in place, and a
# program outside the tree builds against them with pkg-config alone.
set -eu
if [ -n "${QTIP_TEST_SANITIZED:-}" ]; then echo "skipped: sanitized build (the release pass runs it)"; exit 77; fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$QTIP_BIN" --prefix "$tmp/prefix" >/dev/null
cat > "$tmp/use.c" <<'C'
#include <qtip.h>
#include <stdio.h>
#include <string.h>
int main(void) {
    printf("%s\n", qtip_version_string());
    return strcmp(qtip_version_string(), QTIP_VERSION_STRING) != 0;
}
C
pcdir=$(dirname "$(find "$tmp/prefix" -name qtip.pc | head -1)")
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs --static qtip)
cc -o "$tmp/use" "$tmp/use.c" $flags
ver=$(LD_LIBRARY_PATH="$pcdir/.." "$tmp/use")
echo "linked against installed libqtip $ver"
[ -f "$tmp/prefix/include/qtip/qtip.h" ]
