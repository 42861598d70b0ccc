#!/usr/bin/env bash
# Each command's --help agrees with docs/cmd/<command>.md, the way git keeps its
# -h output and its manual in step (t0450): every synopsis line of the help is a
# line of the page's synopsis, and every option the help lists ("-o, --output
# <out>", "--max <n>") appears in the page in backquotes, spelled the same.
# qtip-hessian is checked for the command and each subcommand. Known mismatches
# are listed in help_doc_mismatches.txt (one "<page>: <line>" each) until the page
# is fixed; an entry that no longer mismatches fails too, so the list only shrinks.
set -u
D="$QTIP_SOURCE_DIR/docs/cmd" K="$QTIP_SOURCE_DIR/tests/cli/help_doc_mismatches.txt"
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
sort -u "$T/found" > "$T/found.sorted"
grep -v '^#' "$K" | sed '/^$/d' | sort -u > "$T/known"
fail=0
new=$(comm -23 "$T/found.sorted" "$T/known")
fixed=$(comm -13 "$T/found.sorted" "$T/known")
[ -z "$new" ] || { echo "FAIL --help and docs/cmd disagree:"; echo "$new"; fail=1; }
[ -z "$fixed" ] || { echo "FAIL fixed, remove from $(basename "$K"):"; echo "$fixed"; fail=1; }
[ $fail -eq 0 ] && echo "checked $n commands; $(wc -l < "$T/known") known mismatches left"
exit $fail
