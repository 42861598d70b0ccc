#!/usr/bin/env bash
# The behaviour manifest: a fixed set of command lines over fixed inputs
# (gen_inputs.py), and the SHA-256 of every file they write plus their --json output
# (less timings). tests/cli/behaviour_manifest.sh compares it with expected.txt, so a
# refactor that changes any output byte is caught; a change made on purpose updates
# expected.txt in the same commit and says why in its message.
#   run.sh BIN_DIR WORK_DIR > manifest.txt
set -euo pipefail
B=$1 T=$2
HERE=$(cd "$(dirname "$0")" && pwd)
# OpenBLAS picks its kernels by CPU (AVX-512 and AVX2 kernels round differently), so
# the recorded bytes hold for one kernel family: pin the AVX2 one (Debian's OpenBLAS is
# built with DYNAMIC_ARCH, which honours OPENBLAS_CORETYPE). Our own SIMD paths
# (hadamard_simd.c, viterbi_fast.c) also take their AVX2 branch on such a CPU.
grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo ||
  { echo "run.sh: the manifest was recorded with AVX2+FMA kernels; this CPU lacks them" >&2; exit 1; }
export OPENBLAS_CORETYPE=Haswell
python3 "$HERE/gen_inputs.py" "$T"
cd "$T"
q() { "$B/qtip-quantize" --threads 2 "$@"; }
strip_times() { python3 -c '
import json, sys
def clean(v):
    if isinstance(v, dict):
        return {k: clean(x) for k, x in v.items() if k not in ("seconds", "threads", "wall_seconds", "output", "path")}
    if isinstance(v, list):
        return [clean(x) for x in v]
    return v
print(json.dumps(clean(json.load(sys.stdin)), sort_keys=True))'; }

mkdir -p hess art json
# Hessians: every site from .npy (3-D and 2-D), two halves merged, safetensors input
while read -r L; do
  "$B/qtip-hessian" accumulate -q --site "$L" -o "hess/$L.safetensors" "act/$L.npy"
done < layers.txt
L0=model.layers.0.self_attn.q_proj
"$B/qtip-hessian" accumulate -q --site part -o p1.safetensors act/$L0.npy act/model.layers.1.self_attn.q_proj.npy
"$B/qtip-hessian" accumulate -q --site part -o p2.safetensors act/model.layers.1.self_attn.o_proj.npy
"$B/qtip-hessian" merge -q -o merged.safetensors p1.safetensors p2.safetensors
"$B/qtip-hessian" accumulate -q --tensor acts -o st.safetensors act_st.safetensors
"$B/qtip-hessian" export -q -o flat.safetensors "hess/$L0.safetensors"
"$B/qtip-hessian" export -q --full --dtype f64 -o full.safetensors "hess/$L0.safetensors"
"$B/qtip-hessian" import -q --site "$L0" -o imported.safetensors flat.safetensors
"$B/qtip-hessian" info --json "hess/$L0.safetensors" | strip_times > json/info.json

# incoherence of one layer
"$B/qtip-incoherence" --tensor model.layers.0.mlp.up_proj.weight --seed 7 \
  --hessian hess/model.layers.0.mlp.up_proj.safetensors -o inc.safetensors --json model/model.safetensors \
  | strip_times > json/incoherence.json

# one layer per code and codebook
set_for() {
  case $1 in
    model.layers.0.self_attn.q_proj) echo "--seed 1" ;;
    model.layers.0.self_attn.o_proj) echo "--decode-mode 1mad --L 12 --K 3 --V 1 --tlut-bits 0" ;;
    model.layers.0.mlp.gate_proj)    echo "--decode-mode 3inst --L 12 --K 4 --V 1 --tlut-bits 0" ;;
    model.layers.0.mlp.up_proj)      echo "--decode-mode 2mad --L 10 --K 2 --V 1 --tlut-bits 0" ;;
    model.layers.0.mlp.down_proj)    echo "--decode-mode lut --L 10 --K 2 --V 1 --tlut-bits 10 --no-ldlq" ;;
    model.layers.1.self_attn.q_proj) echo "--codebook e8p12" ;;
    model.layers.1.self_attn.o_proj) echo "--codebook e8p12-rvq3 --refine-passes 2" ;;
    model.layers.1.mlp.down_proj)    echo "--codebook e8p12-rvq4 --seed 5" ;;
  esac
}
while read -r L; do
  # shellcheck disable=SC2046
  q $(set_for "$L") --tensor "$L" --hessian "hess/$L.safetensors" -o "art/$L.safetensors" --json model \
    | strip_times > "json/quantize.$L.json"
done < layers.txt
q --decode-mode hyb --K 3 --tensor $L0 --identity-hessian -o art_identity.safetensors model >/dev/null
q --decode-mode 1mad --L 8 --K 2 --V 1 --tlut-bits 0 --tail-biting best-of-4 --tensor $L0 \
  --hessian imported.safetensors -o art_best4.safetensors model >/dev/null

# packs: mixed single file, sharded, and the two export formats
"$B/qtip-pack" -q --allow-mixed -o packed model art/*.safetensors
"$B/qtip-pack" -q --allow-mixed --max-shard-size 60000 -o packed_sh model art/*.safetensors
"$B/qtip-pack" -q --format qtip-reference -o packed_ref model_t art/$L0.safetensors
"$B/qtip-pack" -q --format quip-for-all -o packed_q4a model_e art/model.layers.1.self_attn.q_proj.safetensors

# verify: reports and dequantized models
"$B/qtip-verify" --original model --hessians hess --json packed | strip_times > json/verify.json
"$B/qtip-verify" --original model --hessians hess --dequantize deq --dtype f32 --json packed_sh | strip_times > json/verify_sh.json
"$B/qtip-verify" --dequantize deq16 --max-shard-size 100000 packed > json/verify_table.txt

# the manifest: every file written, in a fixed order
find . -type f ! -path './act/*' ! -path './model*/*' ! -name act_st.safetensors ! -name layers.txt \
  | LC_ALL=C sort | while read -r f; do
    printf '%s  %s\n' "$(sha256sum < "$f" | cut -c1-64)" "${f#./}"
  done
