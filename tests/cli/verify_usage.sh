# qtip-verify / qtip-pack: usage errors exit 2, a directory that is not a packed model exits non-zero.
set -u
B="$QTIP_BIN"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$B/qtip-verify" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no argument should exit 2"
"$B/qtip-verify" --bogus "$T" >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option should exit 2"
"$B/qtip-verify" --hessians "$T" "$T" >/dev/null 2>&1; [ $? -eq 2 ] || fail "--hessians without --original should exit 2"
"$B/qtip-pack" "$T" >/dev/null 2>&1; [ $? -eq 2 ] || fail "qtip-pack without -o should exit 2"
"$B/qtip-pack" -o "$T/out" --format nope "$T" x >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --format should exit 2"
echo '{}' > "$T/config.json"
out=$("$B/qtip-verify" "$T" 2>&1); rc=$?
[ $rc -ne 0 ] || fail "empty directory verified"
echo "$out" | grep -q "quantize_config.json\|quantization_config" || fail "message should name the missing file: $out"
"$B/qtip-pack" -o "$T/out" "$T" "$T/none.safetensors" >/dev/null 2>&1; [ $? -eq 1 ] || fail "pack of a bad model should exit 1"
[ ! -e "$T/out" ] || fail "failed pack left an output"
echo ok
