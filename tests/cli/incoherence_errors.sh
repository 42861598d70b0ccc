#!/usr/bin/env bash
# qtip-incoherence: usage errors exit 2, bad input exits 1 with a message naming the
# file, the tensor and what is wrong (unsupported order: the nearest supported ones);
# --list-sizes covers the model dimensions.
set -eu
Q="$QTIP_BIN/qtip-incoherence"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT; cd "$T"
python3 - <<'PY'
import json, struct
hdr = {"odd": {"dtype": "F32", "shape": [6, 6], "data_offsets": [0, 144]},
       "cube": {"dtype": "F32", "shape": [2, 2, 2], "data_offsets": [144, 176]}}
h = json.dumps(hdr).encode(); h += b" " * ((8 - len(h) % 8) % 8)
open("w.safetensors", "wb").write(struct.pack("<Q", len(h)) + h + struct.pack("<44f", *([1.0] * 44)))
PY
expect() { # expect CODE PATTERN cmd...
    local code=$1 pat=$2; shift 2
    set +e; "$@" > out.txt 2> err.txt; local rc=$?; set -e
    [ "$rc" -eq "$code" ] || { echo "exit $rc, expected $code: $*"; cat err.txt; exit 1; }
    grep -q -- "$pat" err.txt || { echo "stderr lacks '$pat': $*"; cat err.txt; exit 1; }
}
expect 2 "usage:" "$Q"
expect 2 "missing --tensor" "$Q" w.safetensors
expect 2 "usage:" "$Q" --list-sizes --tensor odd
expect 1 "'missing'" "$Q" --tensor missing w.safetensors
expect 1 "3 dimensions" "$Q" --tensor cube w.safetensors
expect 1 "nearest supported orders are 4 and 8" "$Q" --tensor odd w.safetensors
expect 1 "nope.safetensors" "$Q" --tensor odd nope.safetensors
[ ! -e out.safetensors ]
"$Q" --list-sizes > sizes.txt
for d in 384 896 1536 2048 2560 3072 3584 4096 4864 5120 6144 6912 8192 11008 12288 13824 \
         14336 18944 27648 28672 29568 53248; do
    grep -q "^$d	" sizes.txt || { echo "size $d not listed"; exit 1; }
done
grep -q "^11008	172	2^6	williamson k=43$" sizes.txt
"$Q" --list-sizes --max 100 --json > sizes.json
python3 -c "import json; d = json.load(open('sizes.json')); assert d[-1]['n'] == 100 and d[-1]['k'] == 100, d[-1]"
echo ok
