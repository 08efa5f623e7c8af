#!/usr/bin/env bash
# SMTP accept benchmark: the same load into smx (smxd) and into a private
# Postfix instance, both keeping every message in their queue, both durable
# (fsync before the 250). Recipients: user@example.test for both.
#
# Holding mail: Postfix defers every message without trying it
# (defer_transports = smtp, relay). smx has no such switch, so its
# mailertable routes everything to a port where nothing listens
# (`. 9^esmtp:[127.0.0.1]`): the first message's connect is refused, which
# suspends that next hop for retry_min_delay (set to 1h; the QMGR's
# connection cache, `octo`), so every later message is deferred without a
# connection attempt, as Postfix's are; the next try is after the run.
# Relaying from 127.0.0.1 is allowed by an access map entry
# `cltaddr:127.0.0.1 RELAY` (smtps `flags = { access }`), as Postfix allows
# it by mynetworks. So both systems do, per message, the accept plus one
# "deferred" step (Postfix: qmgr, the error agent, defer log, move to
# deferred/; smx: qmgr, routing by SMAR, one DEFEDB log record).
# After each run the script waits until that system has deferred
# everything it accepted (Postfix's qmgr lags its smtpd by many seconds),
# so that one system's leftover work does not slow the next run down.
#
#   bench/accept.sh [MESSAGES]        (default 20000)
#
# For each system, two runs of MESSAGES messages of 4,000 bytes over 100
# concurrent sessions, one message per connection:
#   1. smtp-source -s 100 -m MESSAGES -l 4000, timed: accepted msgs/s;
#   2. smtp-load (bench/smtp-load) with the same load, which also records
#      per message the time from the final "\r\n.\r\n" to the 250: p50/p99.
# Around run 1 it also reads the CPU seconds of all the MTA's processes
# (bench/lib/proctree.py: smx's MCP and its components, Postfix's master
# and every daemon it spawned), from the start of the load until the last
# message is deferred, and those of smtp-source itself: per 1,000 messages.
# Prints a markdown table with both systems and the ratio smx / Postfix.
#
# Temp dirs go to $SMX_BENCH_DIR (default /var/tmp; keep it on a real disk);
# SMX_BENCH_KEEP=1 keeps them (logs: smx.*/log, pf.*/maillog).
# SMX_BENCH_ROUNDS=N (default 1) repeats the smtp-source runs N times,
# smx and Postfix alternated, and reports every round and the round with
# the median ratio (this machine's runs vary by about +-12%).
# SMX_BENCH_CONF adds global options to smx's smx.conf, e.g.
# SMX_BENCH_CONF="CDB_sync = file;" (each content file fsynced by the SMTP
# server, as Postfix fsyncs each queue file, instead of one syncfs per
# group commit).
# Needs: smtp-source and postfix (package postfix), python3, bc, time. Run as root
# (Postfix's master needs it); nothing is started on port 25, and nothing
# may listen on 127.0.0.1:9.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/common.sh
msgs=${1:-20000}
rounds=${SMX_BENCH_ROUNDS:-1}
sessions=100
size=4000

for t in smtp-source postfix postconf python3 bc /usr/bin/time; do
    command -v "$t" >/dev/null || { echo "accept.sh: $t not found (apt-get install postfix python3 bc time)" >&2; exit 1; }
done

cargo build -q --release -p smxd -p smtp-load -p createmap
smxd=$PWD/target/release/smxd
createmap=$PWD/target/release/createmap
load=$PWD/target/release/smtp-load

work=$(make_workdir smx-accept)   # see bench/lib/common.sh
smx_pid=
pf_up=
cleanup() {
    set +e
    smx_stop "$smx_pid"
    [ -n "$pf_up" ] && postfix -c "$pf/etc" stop >/dev/null 2>&1
    if [ -n "${SMX_BENCH_KEEP:-}" ]; then echo "accept.sh: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- smx -------------------------------------------------------------------
smx_port=$(free_port)
sx=$(make_sysdir "$work" smx)
printf '. 9^esmtp:[127.0.0.1]\n' > "$sx/mt"
printf 'cltaddr:127.0.0.1 RELAY\n' > "$sx/access.txt"
"$createmap" -k access "$sx/access" "$sx/access.txt" >/dev/null
# The in-memory incoming queue (IQDB, default 8192 entries) is sized for
# both runs, so that it never refuses the load (452) whatever the
# deferrals cost.
{
    smx_conf "$smx_port" $(((rounds + 1) * msgs + 1000)) "retry_min_delay = 1h;"
    echo "${SMX_BENCH_CONF:-}"
} > "$sx/smx.conf"
"$smxd" -f "$sx/smx.conf" </dev/null >/dev/null 2>"$sx/log" &
smx_pid=$!
wait_port "$smx_port"

# --- Postfix ---------------------------------------------------------------
pf_port=$(free_port_but "$smx_port")
pf=$(make_sysdir "$work" pf)
mkdir -p "$pf/etc"
{
    pf_main_cf "$pf"
    cat <<EOF
relay_domains = example.test
# Hold everything in the queue: no delivery attempts during the run, and
# (as smx's retry_min_delay = 1h) no second try of a deferred message.
defer_transports = smtp, relay
queue_run_delay = 3600s
minimal_backoff_time = 3600s
maximal_backoff_time = 7200s
EOF
} > "$pf/etc/main.cf"
pf_master_cf "$pf_port" "$sessions" > "$pf/etc/master.cf"
pf_start "$pf"
pf_up=1
wait_port "$pf_port"
pf_version=$(postconf -c "$pf/etc" -h mail_version)

# --- runs ------------------------------------------------------------------
smx_queued() { grep -c ': from=<' "$sx/log" || true; }
pf_queued() { grep -c 'postfix/cleanup.*: message-id=' "$pf/maillog" || true; }

proctree="python3 $PWD/bench/lib/proctree.py"
source_run() { # port recipient -> msgs/s; the load client's CPU s in $work/src.cpu
    local s e
    s=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "$work/src.cpu" \
        smtp-source -s "$sessions" -m "$msgs" -l "$size" -f s@example.org -t "$2" "127.0.0.1:$1" >&2 || true
    e=$(date +%s.%N)
    echo "$msgs / ($e - $s)" | bc -l
}
per_k() { # cpu_before cpu_after -> CPU s per 1,000 messages
    echo "($2 - $1) * 1000 / $msgs" | bc -l
}
src_per_k() { # -> the load client's CPU s per 1,000 messages
    awk -v m="$msgs" '{printf "%.3f", ($1 + $2) * 1000 / m}' "$work/src.cpu"
}
load_run() { # port recipient -> key=value line
    "$load" -s "$sessions" -m "$msgs" -l "$size" -f s@example.org -t "$2" "127.0.0.1:$1" || true
}
field() { # line key
    tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"
}
check() { # label before after
    local n=$(($3 - $2))
    [ "$n" -eq "$msgs" ] || echo "accept.sh: $1: $n of $msgs messages queued" >&2
}
smx_deferred() { grep -c 'status=deferred' "$sx/log" || true; }
pf_deferred() { grep -c 'status=deferred' "$pf/maillog" || true; }
# settle LABEL COUNT_FN N: waits (at most 120 s) until COUNT_FN reaches N,
# i.e. until the system has deferred every message it accepted, so that
# its queue work left over does not run into the next measurement (Postfix's
# qmgr defers well after its smtpd has answered the last 250).
settle() {
    local t0 t
    t0=$(date +%s.%N)
    for _ in $(seq 1200); do
        [ "$($2)" -ge "$3" ] && break
        sleep 0.1
    done
    t=$(echo "$(date +%s.%N) - $t0" | bc -l)
    printf '%s: %d of %d deferred, %.1f s after the load ended\n' "$1" "$($2)" "$3" "$t" >&2
}

# The smtp-source rounds, alternated; per round: msgs/s and CPU per 1,000.
smx_srcs=() pf_srcs=() smx_cpus=() pf_cpus=() smx_src_cpus=() pf_src_cpus=()
for r in $(seq "$rounds"); do
    echo "smx: smtp-source (round $r of $rounds) ..." >&2
    c0=$($proctree cpu "$smx_pid")
    b=$(smx_queued); v=$(source_run "$smx_port" user@example.test); settle smx smx_deferred $((r * msgs)); check "smx smtp-source" "$b" "$(smx_queued)"
    smx_srcs+=("$v") smx_cpus+=("$(per_k "$c0" "$($proctree cpu "$smx_pid")")") smx_src_cpus+=("$(src_per_k)")
    echo "Postfix: smtp-source (round $r of $rounds) ..." >&2
    pf_root=$(pf_master_pid "$pf")
    c0=$($proctree cpu "$pf_root")
    b=$(pf_queued); v=$(source_run "$pf_port" user@example.test); settle Postfix pf_deferred $((r * msgs)); check "Postfix smtp-source" "$b" "$(pf_queued)"
    pf_srcs+=("$v") pf_cpus+=("$(per_k "$c0" "$($proctree cpu "$pf_root")")") pf_src_cpus+=("$(src_per_k)")
done
# The round with the median ratio (the lower middle one for an even count).
median=$(for i in "${!smx_srcs[@]}"; do echo "$(echo "${smx_srcs[$i]} / ${pf_srcs[$i]}" | bc -l) $i"; done |
    sort -g | awk '{a[NR] = $2} END {print a[int((NR + 1) / 2)]}')
smx_src=${smx_srcs[$median]} pf_src=${pf_srcs[$median]}
smx_cpu=${smx_cpus[$median]} pf_cpu=${pf_cpus[$median]}
smx_src_cpu=${smx_src_cpus[$median]} pf_src_cpu=${pf_src_cpus[$median]}
echo "smx: smtp-load ..." >&2
b=$(smx_queued); smx_load=$(load_run "$smx_port" user@example.test); settle smx smx_deferred $(((rounds + 1) * msgs)); check "smx smtp-load" "$b" "$(smx_queued)"
echo "Postfix: smtp-load ..." >&2
b=$(pf_queued); pf_load=$(load_run "$pf_port" user@example.test); settle Postfix pf_deferred $(((rounds + 1) * msgs)); check "Postfix smtp-load" "$b" "$(pf_queued)"
echo "smx:     $smx_load" >&2
echo "Postfix: $pf_load" >&2
# Both must have held the mail: every message deferred, none delivered.
echo "smx: $(smx_deferred) deferred, $(grep -c 'status=sent' "$sx/log" || true) sent;" \
    "Postfix: $(pf_deferred) deferred, $(grep -c 'status=sent' "$pf/maillog" || true) sent" >&2

ratio() { echo "$1 / $2" | bc -l; }
row() { # label src loadline
    printf '| %s | %.0f | %.0f | %.2f | %.2f | %.2f |\n' "$1" "$2" \
        "$(field "$3" msgs_per_s)" "$(field "$3" p50_ms)" "$(field "$3" p99_ms)" "$(field "$3" max_ms)"
}
echo
echo "| $msgs msgs x $size B, $sessions sessions | smtp-source msgs/s | smtp-load msgs/s | p50 dot→250 (ms) | p99 (ms) | max (ms) |"
echo "|---|---:|---:|---:|---:|---:|"
row smx "$smx_src" "$smx_load"
row "Postfix $pf_version" "$pf_src" "$pf_load"
printf '| smx / Postfix | %.2fx | %.2fx | %.2fx | %.2fx | %.2fx |\n' \
    "$(ratio "$smx_src" "$pf_src")" \
    "$(ratio "$(field "$smx_load" msgs_per_s)" "$(field "$pf_load" msgs_per_s)")" \
    "$(ratio "$(field "$smx_load" p50_ms)" "$(field "$pf_load" p50_ms)")" \
    "$(ratio "$(field "$smx_load" p99_ms)" "$(field "$pf_load" p99_ms)")" \
    "$(ratio "$(field "$smx_load" max_ms)" "$(field "$pf_load" max_ms)")"
if [ "$rounds" -gt 1 ]; then
    echo
    echo "| smtp-source round | smx msgs/s | Postfix msgs/s | smx / Postfix | CPU s per 1,000 msgs smx / Postfix |"
    echo "|---|---:|---:|---:|---:|"
    for i in "${!smx_srcs[@]}"; do
        mark=""; [ "$i" = "$median" ] && mark=" (median)"
        printf '| %d%s | %.0f | %.0f | %.2fx | %.3f / %.3f |\n' $((i + 1)) "$mark" "${smx_srcs[$i]}" "${pf_srcs[$i]}" \
            "$(ratio "${smx_srcs[$i]}" "${pf_srcs[$i]}")" "${smx_cpus[$i]}" "${pf_cpus[$i]}"
    done
fi
echo
echo "| smtp-source run, CPU s per 1,000 msgs | the MTA (all its processes, until all deferred) | the load client (smtp-source) |"
echo "|---|---:|---:|"
printf '| smx | %.3f | %.3f |\n' "$smx_cpu" "$smx_src_cpu"
printf '| Postfix %s | %.3f | %.3f |\n' "$pf_version" "$pf_cpu" "$pf_src_cpu"
printf '| smx / Postfix | %.2fx | |\n' "$(ratio "$smx_cpu" "$pf_cpu")"
