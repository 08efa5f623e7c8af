#!/usr/bin/env bash
# Map compile benchmark: the same 1,000,000-line access map compiled by
# createmap (smx), postmap hash: (Postfix) and makemap hash (sendmail 8),
# each run three times, median reported, with the ratio to createmap.
#
#   bench/maps.sh [LINES]
#
# Needs: python3, bc; postmap (package postfix) on PATH; makemap from sendmail-bin, found
# through $SMX_MAKEMAP or fetched by maps/tests/get-makemap.sh. Random
# lookups per second are measured separately by
# `cargo bench -p smx-maps --bench lookup`.
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-1000000}

cargo build -q --release -p createmap
createmap=target/release/createmap
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "${SMX_MAKEMAP:-}" ]; then
    SMX_MAKEMAP=$(bash maps/tests/get-makemap.sh "$work/sendmail" 2>/dev/null || true)
fi

# A realistic access map: recipients to relay, sender rejections, client nets.
python3 - "$lines" > "$work/access" <<'PY'
import random, sys
n = int(sys.argv[1]); random.seed(1)
for i in range(n):
    r = i % 4
    if r == 0:   print(f"to:user{i}@dept{i % 997}.example.org relay")
    elif r == 1: print(f"from:@spam{i}.example.net error:550 5.7.1 No mail from spam{i}")
    elif r == 2: print(f"cltaddr:10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255} ok")
    else:        print(f"to:list{i}@lists.example.org quick:ok")
PY

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { # command... ; prints seconds
    local s e
    s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
    echo "$e - $s" | bc -l
}

run3() {
    local label=$1; shift
    local t
    t=$(for _ in 1 2 3; do timeit "$@"; done | median)
    printf '%s %.2f\n' "$label" "$t"
}

results=()
results+=("$(run3 createmap "$createmap" -k access "$work/c" "$work/access")")
if command -v postmap >/dev/null; then
    : > "$work/main.cf"   # postmap needs a main.cf; an empty one will do
    results+=("$(run3 postmap postmap -c "$work" hash:"$work/access")")
else
    echo "postmap not found (apt-get install postfix)" >&2
fi
if [ -n "${SMX_MAKEMAP:-}" ] && [ -x "$SMX_MAKEMAP" ]; then
    results+=("$(run3 makemap sh -c "'$SMX_MAKEMAP' -C /dev/null hash '$work/m' < '$work/access'")")
else
    echo "makemap not found (set SMX_MAKEMAP)" >&2
fi

base=$(printf '%s\n' "${results[0]}" | awk '{print $2}')
echo "| tool | ${lines} lines, median of 3 (s) | time / createmap |"
echo "|---|---:|---:|"
for r in "${results[@]}"; do
    set -- $r
    printf '| %s | %.2f | %.1fx |\n' "$1" "$2" "$(echo "$2 / $base" | bc -l)"
done
