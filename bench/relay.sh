#!/usr/bin/env bash
# End-to-end relay benchmark: the same load through smx (smxd) and through
# a private Postfix instance, each relaying to its own Postfix smtp-sink,
# both with durable queues (fsync before the 250).
#
#   bench/relay.sh [MESSAGES]        (default 20000)
#
# Per system, in the same run and one after the other:
#   smtp-source -s 100 -m MESSAGES -l 4000 -> MTA -> smtp-sink -c
# with one recipient per message (user@sink.test), routed to the sink's
# port: smx by its mailertable (`sink.test PORT^esmtp:[127.0.0.1]`),
# relaying allowed by an access map entry `cltaddr:127.0.0.1 RELAY`;
# Postfix by a transport map (`sink.test relay:[127.0.0.1]:PORT`,
# relay_domains = sink.test, mynetworks = 127.0.0.0/8, no TLS).
#
# What is reported, per system:
# - msgs/s end to end: MESSAGES / (time the sink counted the last message
#   - time smtp-source was started, i.e. its first connect). Messages are
#   counted AT THE SINK: smtp-sink -c prints running counters, which
#   bench/lib/sinkcount.py reads and timestamps as they arrive. The wait
#   for the last one is bounded ($SMX_BENCH_TIMEOUT s, default 600).
# - CPU seconds per 1,000 messages of ALL the MTA's processes: smx's MCP
#   and every component it started; Postfix's master and every daemon it
#   spawned (smtpd, cleanup, qmgr, trivial-rewrite, smtp, ...). Read from
#   /proc by bench/lib/proctree.py: for each live process of the tree
#   utime+stime+cutime+cstime, so a process that exited during the run is
#   still counted through its parent's cutime/cstime (both MCPs wait for
#   their children). The difference between a reading just before
#   smtp-source starts and one after the MTA has removed every message from
#   its queue (bounded wait of 60 s), so start-up does not count and the
#   final clean-up does.
# - peak memory: every second the sum over the live processes of the tree of
#   VmHWM (each process's peak RSS) and of Pss (shared pages divided among
#   their users); the largest sums seen. Postfix runs many processes that
#   share their libraries, which VmHWM counts once per process.
# - accept: when smtp-source finished (all 250s received), in seconds.
# Prints a markdown table with both systems and the ratio smx / Postfix.
#
# Limits, chosen alike: smx's defaults (10 initial, at most 100 outgoing
# connections per destination IP, connections reused); Postfix with
# default_process_limit = 100 and default_destination_concurrency_limit =
# 100 (its default of 20 would cap it below smx's 100), initial concurrency
# 5 (default), connection cache on demand (default). Postfix's smtpd
# process limit is 100, as the load's 100 sessions. smx's in-memory
# incoming queue (IQDB, default 8,192 entries) is sized to MESSAGES+1000 so
# that a slower delivery does not make smx refuse the load (Postfix's
# incoming queue is on disk and has no such limit).
#
# Temp dirs go to $SMX_BENCH_DIR (default /var/tmp; keep it on a real disk);
# SMX_BENCH_KEEP=1 keeps them (logs: smx.*/log, pf.*/maillog).
# Needs: smtp-source, smtp-sink and postfix (package postfix), python3, bc.
# Run as root (Postfix's master needs it); nothing is started on port 25.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
msgs=${1:-20000}
sessions=100
size=4000
limit=${SMX_BENCH_TIMEOUT:-600}

for t in smtp-source smtp-sink postfix postconf python3 bc; do
    command -v "$t" >/dev/null || { echo "relay.sh: $t not found (apt-get install postfix python3 bc)" >&2; exit 1; }
done

cargo build -q --release -p smxd -p createmap
smxd=$PWD/target/release/smxd
createmap=$PWD/target/release/createmap
proctree="python3 $PWD/bench/lib/proctree.py"
sinkcount=$PWD/bench/lib/sinkcount.py

work=$(make_workdir smx-relay)   # see bench/lib/common.sh
smx_pid=
pf_up=
pids=()             # sinks, their counters, memory watchers
cleanup() {
    set +e
    smx_stop "$smx_pid"
    [ -n "$pf_up" ] && postfix -c "$pf/etc" stop >/dev/null 2>&1
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    if [ -n "${SMX_BENCH_KEEP:-}" ]; then echo "relay.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_sink NAME PORT: smtp-sink on PORT, its counters read by
# sinkcount.py into $work/NAME.count.
start_sink() {
    mkfifo "$work/$1.fifo"
    python3 "$sinkcount" "$msgs" "$work/$1.count" < "$work/$1.fifo" &
    pids+=($!)
    smtp-sink -u nobody -c "127.0.0.1:$2" 1000 > "$work/$1.fifo" 2>"$work/$1.sink.log" &
    pids+=($!)
    wait_port "$2"
}
# field FILE KEY: the value of KEY=... in FILE (0 when absent).
field() {
    local v
    v=$(tr ' ' '\n' < "$1" 2>/dev/null | sed -n "s/^$2=//p")
    echo "${v:-0}"
}

# --- smx -------------------------------------------------------------------
smx_sink=$(free_port)
smx_port=$(free_port_but "$smx_sink")
start_sink smx "$smx_sink"
sx=$(make_sysdir "$work" smx)
# The sender's domain must be routable too (the MAIL check of README
# §3.12.2); it is never delivered to.
printf 'sink.test %s^esmtp:[127.0.0.1]\nexample.org 9^esmtp:[127.0.0.1]\n' "$smx_sink" > "$sx/mt"
printf 'cltaddr:127.0.0.1 RELAY\n' > "$sx/access.txt"
"$createmap" -k access "$sx/access" "$sx/access.txt"
smx_conf "$smx_port" $((msgs + 1000)) > "$sx/smx.conf"
"$smxd" -f "$sx/smx.conf" </dev/null >/dev/null 2>"$sx/log" &
smx_pid=$!
wait_port "$smx_port"

# --- Postfix ---------------------------------------------------------------
pf_sink=$(free_port_but "$smx_sink" "$smx_port")
pf_port=$(free_port_but "$smx_sink" "$smx_port" "$pf_sink")
start_sink pf "$pf_sink"
pf=$(make_sysdir "$work" pf)
mkdir -p "$pf/etc"
{
    pf_main_cf "$pf"
    cat <<EOC
relay_domains = sink.test
transport_maps = texthash:$pf/etc/transport
smtp_tls_security_level = none
default_process_limit = 100
default_destination_concurrency_limit = 100
EOC
} > "$pf/etc/main.cf"
printf 'sink.test relay:[127.0.0.1]:%s\n' "$pf_sink" > "$pf/etc/transport"
pf_master_cf "$pf_port" "$sessions" > "$pf/etc/master.cf"
pf_start "$pf"
pf_up=1
wait_port "$pf_port"
pf_master=$(pf_master_pid "$pf")
pf_version=$(postconf -c "$pf/etc" -h mail_version)

# --- runs ------------------------------------------------------------------
smx_removed() { grep -c ': removed' "$sx/log" || true; }
pf_removed() { grep -c 'postfix/qmgr.*: removed' "$pf/maillog" || true; }

# run NAME PORT ROOT REMOVED_FN: one run; leaves NAME.result with
# "rate= accept_s= sink_s= at_sink= cpu_per_k= hwm_kb= pss_kb= procs=".
run() {
    local name=$1 port=$2 root=$3 removed=$4
    local cpu0 cpu1 s a done n w r0
    r0=$($removed)
    cpu0=$($proctree cpu "$root")
    $proctree watch "$root" "$work/$name.mem" 1 &
    w=$!
    pids+=($w)
    echo "$name: smtp-source -s $sessions -m $msgs -l $size ..." >&2
    s=$(date +%s.%N)
    smtp-source -s "$sessions" -m "$msgs" -l "$size" -f s@example.org -t user@sink.test \
        "127.0.0.1:$port" >&2 || echo "relay.sh: $name: smtp-source failed" >&2
    a=$(date +%s.%N)
    for _ in $(seq $((limit * 10))); do
        [ "$(field "$work/$name.count" done)" != "0.000000" ] && break
        sleep 0.1
    done
    done=$(field "$work/$name.count" done)
    if [ "$done" = "0.000000" ]; then
        echo "relay.sh: $name: only $(field "$work/$name.count" count) of $msgs at the sink after ${limit}s" >&2
        done=$(field "$work/$name.count" last)
    fi
    # Let the MTA finish with the queue (remove what it delivered).
    for _ in $(seq 600); do
        [ $(($($removed) - r0)) -ge "$msgs" ] && break
        sleep 0.1
    done
    n=$(($($removed) - r0))
    [ "$n" -ge "$msgs" ] || echo "relay.sh: $name: $n of $msgs removed from the queue" >&2
    cpu1=$($proctree cpu "$root")
    kill -TERM "$w"
    wait "$w" || true
    {
        echo -n "rate=$(echo "$msgs / ($done - $s)" | bc -l) "
        echo -n "accept_s=$(echo "$a - $s" | bc -l) sink_s=$(echo "$done - $s" | bc -l) "
        echo -n "at_sink=$(field "$work/$name.count" count) "
        echo -n "cpu_per_k=$(echo "($cpu1 - $cpu0) * 1000 / $msgs" | bc -l) "
        cat "$work/$name.mem"
    } > "$work/$name.result"
    echo "$name: $(cat "$work/$name.result")" >&2
}

run smx "$smx_port" "$smx_pid" smx_removed
run pf "$pf_port" "$pf_master" pf_removed

# --- table -----------------------------------------------------------------
r() { field "$work/$1.result" "$2"; }
ratio() { echo "$1 / $2" | bc -l; }
mb() { echo "$1 / 1024" | bc -l; }
row() { # label name
    printf '| %s | %.0f | %.1f | %.1f | %d | %.2f | %.0f | %.0f | %d |\n' "$1" \
        "$(r "$2" rate)" "$(r "$2" accept_s)" "$(r "$2" sink_s)" "$(r "$2" at_sink)" \
        "$(r "$2" cpu_per_k)" "$(mb "$(r "$2" hwm_kb)")" "$(mb "$(r "$2" pss_kb)")" "$(r "$2" procs)"
}
echo
echo "| $msgs msgs x $size B, $sessions sessions | msgs/s end to end | accepted after (s) | last at sink after (s) | at sink | CPU s / 1,000 msgs | peak RSS, sum VmHWM (MB) | peak PSS, sum (MB) | processes |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
row smx smx
row "Postfix $pf_version" pf
printf '| smx / Postfix | %.2fx | %.2fx | %.2fx | | %.2fx | %.2fx | %.2fx | |\n' \
    "$(ratio "$(r smx rate)" "$(r pf rate)")" \
    "$(ratio "$(r smx accept_s)" "$(r pf accept_s)")" \
    "$(ratio "$(r smx sink_s)" "$(r pf sink_s)")" \
    "$(ratio "$(r smx cpu_per_k)" "$(r pf cpu_per_k)")" \
    "$(ratio "$(r smx hwm_kb)" "$(r pf hwm_kb)")" \
    "$(ratio "$(r smx pss_kb)" "$(r pf pss_kb)")"
