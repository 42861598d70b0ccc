#!/usr/bin/env bash
# Hostile files at the io layer, through every command that writes a file:
#  - output = input: -o naming an input, a hard link or a symlink of it, is refused
#    with "is also an input" and the input keeps its bytes;
#  - special files (FIFO, directory, device) given as inputs are refused at once,
#    naming the path and its type, instead of blocking;
#  - a zstd bomb (32 KB that expands to 1 GiB of zeros) is refused with bounded
#    memory;
#  - a stale temporary of a killed run is removed by the next run; others are kept.
set -u
B="$QTIP_BIN"
command -v python3 >/dev/null || { echo "FAIL python3 is needed to write the inputs"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
cd "$T"
python3 "$QTIP_SOURCE_DIR/tests/manifest/gen_inputs.py" "$T" >/dev/null || { echo "FAIL gen_inputs"; exit 1; }
fail=0
L=model.layers.0.self_attn.q_proj
"$B/qtip-hessian" accumulate -q --site "$L" -o h.safetensors "act/$L.npy" || { echo "FAIL accumulate"; exit 1; }
"$B/qtip-hessian" accumulate -q --site "$L" -o h2.safetensors "act/$L.npy"
"$B/qtip-hessian" export -q -o flat.safetensors h.safetensors
ln h.safetensors h.hard
ln -s h.safetensors h.soft

# expect_refused <what> <file that must keep its bytes> <needle> <command...>
expect_refused() {
  local what=$1 keep=$2 needle=$3; shift 3
  local before; before=$(sha256sum < "$keep")
  timeout 60 "$@" > out.txt 2> err.txt; local rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 124 ]; then echo "FAIL $what: exit $rc"; cat err.txt; fail=1; fi
  grep -q -- "$needle" err.txt || { echo "FAIL $what: message lacks '$needle':"; cat err.txt; fail=1; }
  [ "$(sha256sum < "$keep")" = "$before" ] || { echo "FAIL $what: '$keep' changed"; fail=1; }
}
IN="is also an input"
expect_refused "accumulate -o its input" "act/$L.npy" "$IN" "$B/qtip-hessian" accumulate -q -o "act/$L.npy" "act/$L.npy"
expect_refused "merge -o a hard link" h.safetensors "$IN" "$B/qtip-hessian" merge -q -o h.hard h.safetensors h2.safetensors
expect_refused "export -o a symlink" h.safetensors "$IN" "$B/qtip-hessian" export -q -o h.soft h.safetensors
expect_refused "import -o ./input" flat.safetensors "$IN" "$B/qtip-hessian" import -q -o ./flat.safetensors flat.safetensors
expect_refused "incoherence -o weights" model/model.safetensors "$IN" \
  "$B/qtip-incoherence" --tensor "$L.weight" -o model/model.safetensors model/model.safetensors
expect_refused "incoherence -o hessian" h.safetensors "$IN" \
  "$B/qtip-incoherence" --tensor "$L.weight" --hessian h.safetensors -o h.hard model/model.safetensors
expect_refused "quantize -o hessian" h.safetensors "$IN" \
  "$B/qtip-quantize" --tensor "$L" --hessian h.safetensors -o h.soft model

# special files: refused by name and type, without blocking
mkfifo fifo
expect_refused "accumulate from a FIFO" h.safetensors "'fifo': it is a FIFO" "$B/qtip-hessian" accumulate -q -o x.safetensors fifo
expect_refused "merge of a FIFO" h.safetensors "'fifo': it is a FIFO" "$B/qtip-hessian" merge -q -o x.safetensors h.safetensors fifo
expect_refused "quantize with a FIFO hessian" h.safetensors "'fifo': it is a FIFO" \
  "$B/qtip-quantize" --tensor "$L" --hessian fifo -o x.safetensors model
expect_refused "quantize with FIFO weights" h.safetensors "'fifo': it is a FIFO" \
  "$B/qtip-quantize" --tensor "$L" --identity-hessian -o x.safetensors fifo
expect_refused "accumulate from a directory" h.safetensors "'act': it is a directory" \
  "$B/qtip-hessian" accumulate -q -o x.safetensors act
expect_refused "accumulate from a device" h.safetensors "it is a character device" \
  "$B/qtip-hessian" accumulate -q -o x.safetensors /dev/zero
[ -e x.safetensors ] && { echo "FAIL an output was written"; fail=1; }

# a zstd bomb as weights and as activations: refused, memory bounded
if command -v zstd >/dev/null; then
  head -c 1073741824 /dev/zero | zstd -q -1 > bomb.zst
  for cmd in "qtip-quantize --tensor $L --identity-hessian -o x.safetensors bomb.zst" \
             "qtip-hessian accumulate -q -o x.safetensors bomb.zst"; do
    # shellcheck disable=SC2086
    # 1.5 GB of address space, below what holding the expansion would take
    # (sanitizer builds reserve terabytes of shadow: no limit there)
    ( [ -n "${QTIP_TEST_SANITIZED:-}" ] || ulimit -v 1500000; exec "$B"/$cmd ) > out.txt 2> err.txt \
      && { echo "FAIL bomb accepted: $cmd"; fail=1; }
    grep -q "bomb.zst" err.txt || { echo "FAIL bomb: message lacks the file: $cmd"; cat err.txt; fail=1; }
  done
else
  echo "FAIL zstd (the command-line tool) is needed for the bomb case"; fail=1
fi

# a killed run's temporary (a dead pid) is removed by the next run; another's is kept
( exit 0 ) & dead=$!; wait $dead
host=$(uname -n)
touch "h.safetensors.qtip-tmp.$host-$dead.abcdef" "h.safetensors.qtip-tmp.$host-1.abcdef" \
  "h.safetensors.tmp.abcdef" "h.safetensors.qtip-tmp.elsewhere-$dead.abcdef"
"$B/qtip-hessian" accumulate -q --site "$L" -o h.safetensors "act/$L.npy" || { echo "FAIL rerun"; fail=1; }
[ -e "h.safetensors.qtip-tmp.$host-$dead.abcdef" ] && { echo "FAIL stale temporary kept"; fail=1; }
[ -e "h.safetensors.qtip-tmp.$host-1.abcdef" ] && [ -e "h.safetensors.tmp.abcdef" ] \
  && [ -e "h.safetensors.qtip-tmp.elsewhere-$dead.abcdef" ] \
  || { echo "FAIL a temporary that is not stale, or not ours, was removed"; fail=1; }

[ $fail -eq 0 ] && echo "io hostile: all refused as expected"
exit $fail
