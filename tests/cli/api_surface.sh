#!/usr/bin/env bash
# The public API's fence (tests/api_surface.py): every public function is stable or
# experimental, has a definition and a caller, cmd/ calls no experimental function,
# and no public header shows a third-party type.
set -eu
command -v python3 >/dev/null || { echo "skipped: python3 not found"; exit 77; }
exec python3 "$QTIP_SOURCE_DIR/tests/api_surface.py" "$QTIP_SOURCE_DIR"
