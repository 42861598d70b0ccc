#!/usr/bin/env bash
# Each command's --help agrees with docs/cmd/<command>.md, the way git keeps its
# -h output and its manual in step (t0450): every synopsis line of the help is a
# line of the page's synopsis, and every option the help lists ("-o, --output
# <out>", "--max <n>") appears in the page in backquotes, spelled the same.
# qtip-hessian is checked for the command and each subcommand. Every mismatch
# fails: there is no list of tolerated ones.
set -u
D="$QTIP_SOURCE_DIR/docs/cmd"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
# the help's synopsis lines and option columns, one per line: "S <line>" / "O <option>"
parse_help() {
  awk '/^usage: |^   or: / { sub(/^(usage|   or): /, ""); print "S " $0; next }
       /^options:$/ { opt = 1; next }
       /^$/ { opt = 0; next }
       opt && match($0, /^ +-/) && RLENGTH <= 9 { sub(/^ +/, ""); sub(/  +.*$/, ""); print "O " $0 }'
}
check_page() { # page help-text-file
  local page=$1 md="$D/$1.md" kind line
  [ -f "$md" ] || { echo "$page: no page $md"; return; }
  while IFS= read -r line; do
    kind=${line%% *}; line=${line#? }
    if [ "$kind" = S ]; then
      grep -qxF -- "    $line" "$md" || echo "$page: synopsis: $line"
    else
      grep -qF -- "\`$line\`" "$md" || echo "$page: option: $line"
    fi
  done < <(parse_help < "$2")
}
n=0
for exe in "$QTIP_BIN"/qtip-*; do
  [ -x "$exe" ] || continue
  name=$(basename "$exe"); n=$((n + 1))
  "$exe" --help > "$T/help" || echo "$name: --help failed"
  check_page "$name" "$T/help"
  # subcommands: the second word of each synopsis line that has one without a dash
  for sub in $(parse_help < "$T/help" | awk '$1 == "S" && $3 !~ /^[-<]/ { print $3 }' | sort -u); do
    "$exe" "$sub" --help > "$T/help.$sub" || echo "$name $sub: --help failed"
    check_page "$name" "$T/help.$sub"
  done
done > "$T/found"
[ $n -eq 5 ] || { echo "FAIL expected the five commands in $QTIP_BIN, found $n"; exit 1; }
if [ -s "$T/found" ]; then
  echo "FAIL --help and docs/cmd disagree:"; sort -u "$T/found"; exit 1
fi
echo "checked $n commands: every synopsis line and option of --help is in docs/cmd"
