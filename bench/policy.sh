#!/usr/bin/env bash
# Policy benchmark (issue 6, "Policy checks stay fast"): the accept
# benchmark of bench/accept.sh for smx, with and without the policy work.
#
#   bench/policy.sh [MESSAGES]        (default 20000)
#
# smx instances one after the other (plain, policy, plain again; the
# baseline is the mean of the two plain runs), the same load each
# (smtp-source -s 100 -m MESSAGES -l 4000, one message per connection, from
# 127.0.0.1 to user@example.test; mail held by a refused route as in
# accept.sh):
#   plain:  relaying allowed by a `to:@example.test RELAY` entry in a
#           one-entry access map; no greylisting;
#   policy: the same entry in an access map of 100,000 entries (to:,
#           from:, cltaddr: keys of other addresses), and greylisting on,
#           the client whitelisted beforehand (one refused try, then a
#           retry after grey_wait), so every connection looks up the
#           greylisting databases and every command the big access map.
# Relaying is allowed by the recipient's domain, not by the client address:
# a `cltaddr:` relay marks the session as relay, and greylisting skips such
# sessions (README §3.12.2).
#
# Prints msgs/s of each and the loss. Aim: less than 15 %.
# Temp dirs go to $SMX_BENCH_DIR (default /var/tmp). Needs smtp-source
# (package postfix), swaks, python3, bc.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
msgs=${1:-20000}
sessions=100
size=4000
entries=100000

for t in smtp-source swaks python3 bc; do
    command -v "$t" >/dev/null || { echo "policy.sh: $t not found" >&2; exit 1; }
done
cargo build -q --release -p smxd -p createmap
smxd=$PWD/target/release/smxd
createmap=$PWD/target/release/createmap

work=$(mktemp -d "${SMX_BENCH_DIR:-/var/tmp}/smx-policy.XXXXXX")
smx_pid=
cleanup() {
    set +e
    smx_stop "$smx_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start DIR EXTRA_SMAR EXTRA_FLAGS: sets port and smx_pid.
start() {
    local d=$1
    port=$(free_port)
    printf '. 9^esmtp:[127.0.0.1]\nlocalhost lmtp:\n' > "$d/mt"
    "$createmap" -k access "$d/access" "$d/access.txt" >/dev/null
    smx_conf "$port" $((msgs + 1000)) "retry_min_delay = 1h;" "$2" "$3" > "$d/smx.conf"
    "$smxd" -f "$d/smx.conf" </dev/null >/dev/null 2>"$d/log" &
    smx_pid=$!
    wait_port "$port"
}
stop() {
    smx_stop "$smx_pid"
    smx_pid=
}
rate() {
    local s e
    s=$(date +%s.%N)
    smtp-source -s "$sessions" -m "$msgs" -l "$size" -f s@example.test -t user@example.test "127.0.0.1:$port" >&2 || true
    e=$(date +%s.%N)
    echo "$msgs / ($e - $s)" | bc -l
}
queued() { grep -c ': from=<' "$1/log" || true; }

# --- plain -------------------------------------------------------------------
d=$work/plain; mkdir -p "$d"
printf 'to:@example.test RELAY\n' > "$d/access.txt"
start "$d" "" ""
plain=$(rate)
n_plain=$(queued "$d")
stop

# --- policy ------------------------------------------------------------------
d=$work/policy; mkdir -p "$d"
python3 - "$entries" > "$d/access.txt" <<'PY'
import sys
n = int(sys.argv[1]) - 1
print("to:@example.test RELAY")
for i in range(n):
    k = i % 3
    if k == 0:
        print(f"to:user{i}@domain{i % 997}.example OK")
    elif k == 1:
        print(f"from:spammer{i}@bad{i % 991}.example REJECT")
    else:
        print(f"cltaddr:10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255} REJECT")
PY
start "$d" "greylisting { grey_wait = 1s; }" ", greylisting"
# Whitelist the client: the first try is greylisted, the retry passes.
if swaks --server "127.0.0.1:$port" --from s@example.test --to user@example.test >/dev/null 2>&1; then
    echo "policy.sh: the first try was not greylisted: greylisting is off" >&2
    exit 1
fi
sleep 2
swaks --server "127.0.0.1:$port" --from s@example.test --to user@example.test >/dev/null 2>&1 \
    || { echo "policy.sh: the client was not whitelisted" >&2; exit 1; }
before=$(queued "$d")
policy=$(rate)
n_policy=$(( $(queued "$d") - before ))
stop

# --- plain again: the baseline is the mean of the runs before and after ---
d=$work/plain2; mkdir -p "$d"
printf 'to:@example.test RELAY\n' > "$d/access.txt"
start "$d" "" ""
plain2=$(rate)
stop
plain=$(echo "($plain + $plain2) / 2" | bc -l)

loss=$(echo "(1 - $policy / $plain) * 100" | bc -l)
printf '\n## smx accept with policy checks (%s, %s CPUs)\n\n' "$(date -u +%Y-%m-%d)" "$(nproc)"
printf '| %d msgs of %d B, %d sessions | msgs/s | accepted |\n|---|---:|---:|\n' "$msgs" "$size" "$sessions"
printf '| 1-entry access map, no greylisting (mean of a run before and after) | %.0f | %d |\n' "$plain" "$n_plain"
printf '| %d-entry access map, greylisting on | %.0f | %d |\n' "$entries" "$policy" "$n_policy"
printf '| loss | %.1f %% | |\n' "$loss"
