#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a while each (default 20s).
set -euo pipefail
fuzztime=${1:-20s}
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
status=0
while read -r file; do
  dir=$(dirname "$file")
  for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
    echo "== fuzz $dir $target ($fuzztime)"
    go test "./$dir" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" || status=1
  done
done < <(grep -rl --include='*_test.go' -E '^func Fuzz' . | sort)
exit $status
