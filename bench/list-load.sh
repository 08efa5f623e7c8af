#!/usr/bin/env bash
# Control-socket benchmark (issue 7): what listing the queue costs.
#
#   bench/list-load.sh [MESSAGES]        (default 20000)
#
# 1. Accept rate with and without a postmaster listing the queue: smx
#    holds all mail (a refused route, as in accept.sh), smtp-source sends
#    MESSAGES messages of 4,000 bytes over 100 sessions, four times:
#    alone; while `smxctl queue list --json` lists the whole (growing)
#    queue once a second (what smx-tui does by default); while it lists
#    back to back without a pause (the worst case); alone again. Reports
#    the rates and the loss against the mean of the two runs alone.
# 2. `queue.list` over a queue of 100,000 messages: smx is filled with
#    100,000 held messages by smtp-source, then `smxctl queue list --json`
#    is timed (wall clock, whole command: connect, request, 100,000 JSON
#    lines parsed and printed).
#
# Temp dirs go to $SMX_BENCH_DIR (default /var/tmp). Needs smtp-source
# (package postfix), python3, bc. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
msgs=${1:-20000}
big=${SMX_LIST_MESSAGES:-100000}
sessions=100
size=4000

for t in smtp-source python3 bc; do
    command -v "$t" >/dev/null || { echo "list-load.sh: $t not found (apt-get install postfix python3 bc)" >&2; exit 1; }
done

cargo build -q --release -p smxd -p smxctl -p createmap
smxd=$PWD/target/release/smxd
smxctl=$PWD/target/release/smxctl
createmap=$PWD/target/release/createmap

work=$(mktemp -d "${SMX_BENCH_DIR:-/var/tmp}/smx-list.XXXXXX")
smx_pid=
loop_pid=
cleanup() {
    set +e
    [ -n "$loop_pid" ] && kill "$loop_pid" 2>/dev/null
    smx_stop "$smx_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_smx DIR IQDB: smx holding all mail (refused route, retry in 1h);
# sets port and smx_pid (not to be called in a subshell).
start_smx() {
    local d=$1 iqdb=$2
    port=$(free_port)
    mkdir -p "$d"
    printf '. 9^esmtp:[127.0.0.1]\n' > "$d/mt"
    printf 'cltaddr:127.0.0.1 RELAY\n' > "$d/access.txt"
    "$createmap" -k access "$d/access" "$d/access.txt" >/dev/null
    smx_conf "$port" "$iqdb" "retry_min_delay = 1h;" > "$d/smx.conf"
    "$smxd" -f "$d/smx.conf" </dev/null >/dev/null 2>"$d/log" &
    smx_pid=$!
    wait_port "$port"
}
stop_smx() {
    smx_stop "$smx_pid"
    smx_pid=
}
rate() { # port -> msgs/s
    local s e
    s=$(date +%s.%N)
    smtp-source -s "$sessions" -m "$msgs" -l "$size" -f s@example.org -t rcpt@example.net "127.0.0.1:$1" >&2 || true
    e=$(date +%s.%N)
    echo "$msgs / ($e - $s)" | bc -l
}
# settle DIR N: until N messages were deferred (queue work done).
settle() {
    for _ in $(seq 1200); do
        [ "$(grep -c 'status=deferred' "$1/log" || true)" -ge "$2" ] && return
        sleep 0.1
    done
}

# --- 1. accept rate, alone and while listing --------------------------------
d=$work/a
start_smx "$d" $((4 * msgs + 1000))
alone=$(rate "$port")
settle "$d" "$msgs"
# listing_run PAUSE: prints the accept rate while smxctl lists every
# PAUSE seconds (0: back to back), then the number of listings.
listing_run() {
    local listings=$work/listings
    : > "$listings"
    (
        while :; do
            "$smxctl" -f "$d/smx.conf" queue list --json > /dev/null 2>&1 || true
            echo x >> "$listings"
            [ "$1" = 0 ] || sleep "$1"
        done
    ) &
    loop_pid=$!
    local r
    r=$(rate "$port")
    kill "$loop_pid" 2>/dev/null || true
    wait "$loop_pid" 2>/dev/null || true
    loop_pid=
    echo "$r $(wc -l < "$listings")"
}
read -r paced n_paced < <(listing_run 1)
settle "$d" $((2 * msgs))
read -r listing n_list < <(listing_run 0)
settle "$d" $((3 * msgs))
# Alone again, last: the baseline is the mean of the first and last runs,
# so the order of the runs (a queue that grows) does not favour either.
alone2=$(rate "$port")
settle "$d" $((4 * msgs))
alone=$(echo "($alone + $alone2) / 2" | bc -l)
stop_smx

# --- 2. queue.list over a big queue -----------------------------------------
d=$work/b
start_smx "$d" $((big + 1000))
msgs_saved=$msgs
msgs=$big
rate "$port" >/dev/null
msgs=$msgs_saved
settle "$d" "$big"
count=$("$smxctl" -f "$d/smx.conf" queue list --json | wc -l)
t=()
for _ in 1 2 3; do
    s=$(date +%s.%N)
    "$smxctl" -f "$d/smx.conf" queue list --json > /dev/null
    e=$(date +%s.%N)
    t+=("$(echo "$e - $s" | bc -l)")
done
stop_smx

loss() { echo "(1 - $1 / $alone) * 100" | bc -l; }
printf '\n## smx control socket (%s, %s)\n\n' "$(date -u +%Y-%m-%d)" "$(nproc) CPUs"
printf '| accept, %d msgs of %d B, %d sessions | msgs/s | loss |\n|---|---:|---:|\n' "$msgs" "$size" "$sessions"
printf '| alone (mean of the first and the last run) | %.0f | |\n' "$alone"
printf '| while smxctl lists the queue once a second (%d listings) | %.0f | %.1f %% |\n' "$n_paced" "$paced" "$(loss "$paced")"
printf '| while smxctl lists back to back (%d listings) | %.0f | %.1f %% |\n\n' "$n_list" "$listing" "$(loss "$listing")"
printf '| `smxctl queue list --json` over %d queued messages | seconds |\n|---|---:|\n' "$count"
for x in "${t[@]}"; do printf '| run | %.3f |\n' "$x"; done
