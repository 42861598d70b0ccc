# qtip-verify / qtip-pack (and qtip-quantize's typed options): usage errors exit 2, a directory that is not a packed model exits non-zero.
set -u
B="$QTIP_BIN"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$B/qtip-verify" >/dev/null 2>&1; [ $? -eq 2 ] || fail "no argument should exit 2"
"$B/qtip-verify" --bogus "$T" >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option should exit 2"
"$B/qtip-verify" --hessians "$T" "$T" >/dev/null 2>&1; [ $? -eq 2 ] || fail "--hessians without --original should exit 2"
"$B/qtip-pack" "$T" >/dev/null 2>&1; [ $? -eq 2 ] || fail "qtip-pack without -o should exit 2"
"$B/qtip-pack" -o "$T/out" --format nope "$T" x >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --format should exit 2"
# a bad value: exit 2 and the one wording of cli_parse, "<option>: expected <what>, got '<value>'"
bad_value() { # expected-substring command...
  local want=$1; shift
  local err; err=$("$@" 2>&1 >/dev/null); local rc=$?
  [ $rc -eq 2 ] || fail "$* should exit 2, got $rc"
  grep -qF -- "$want" <<<"$err" || fail "$*: expected the message '$want', got: $err"
}
bad_value "error: --format: expected one of qtip, qtip-reference, quip-for-all, got 'nope'" \
  "$B/qtip-pack" -o "$T/out" --format nope "$T" x
bad_value "error: --max-shard-size: expected a non-negative integer, got '-5'" \
  "$B/qtip-pack" -o "$T/out" --max-shard-size -5 "$T" x
bad_value "error: --dtype: expected one of f16, bf16, f32, got 'f64'" "$B/qtip-verify" --dtype f64 "$T"
bad_value "error: --max-proxy-loss: expected a number >= 0, got '-1'" "$B/qtip-verify" --max-proxy-loss -1 "$T"
bad_value "error: --forward-tol: expected a number >= 0, got 'nan'" "$B/qtip-verify" --forward-tol nan "$T"
bad_value "error: expected 1 packed directory, got 2" "$B/qtip-verify" "$T" "$T"
bad_value "error: expected 0 arguments besides --artifact, got 1" "$B/qtip-verify" --artifact a --dequantize b "$T"
bad_value "error: missing --dequantize <out.safetensors>" "$B/qtip-verify" --artifact a
Q="$B/qtip-quantize -o $T/u --identity-hessian --tensor x"
bad_value "error: --K: expected an integer from 1 to 4, got '9'" $Q --K 9 "$T"
bad_value "error: --method: expected one of trellis, e8p, got 'quip'" $Q --method quip "$T"
bad_value "error: --device: expected cpu, cuda, cuda:<k> or auto, got 'gpu'" $Q --device gpu "$T"
bad_value "error: --codebook: expected e8p12, e8p12-rvq3 or e8p12-rvq4, got 'e9'" $Q --codebook e9 "$T"
bad_value "error: --decode-mode: expected 1mad, 2mad, 3inst, lut or hyb, got '9mad'" $Q --decode-mode 9mad "$T"
bad_value "error: --seed: expected a non-negative integer, got '-1'" $Q --seed -1 "$T"
bad_value "error: --tail-biting: expected two-pass or best-of-<n> with n from 1 to 65536, got 'best-of-0'" \
  $Q --tail-biting best-of-0 "$T"
bad_value "error: --sigma-reg: expected a number from 0 to 1e+06, got '-0.5'" $Q --sigma-reg -0.5 "$T"
[ ! -e "$T/u" ] || fail "a usage error wrote an output"
echo '{}' > "$T/config.json"
out=$("$B/qtip-verify" "$T" 2>&1); rc=$?
[ $rc -ne 0 ] || fail "empty directory verified"
echo "$out" | grep -q "quantize_config.json\|quantization_config" || fail "message should name the missing file: $out"
"$B/qtip-pack" -o "$T/out" "$T" "$T/none.safetensors" >/dev/null 2>&1; [ $? -eq 1 ] || fail "pack of a bad model should exit 1"
[ ! -e "$T/out" ] || fail "failed pack left an output"
echo ok
