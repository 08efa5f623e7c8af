#!/usr/bin/env bash
# SMTP accept benchmark: the same load into smx (smxd) and into a private
# Postfix instance that keeps every message in its queue
# (defer_transports), both durable (fsync before the 250).
#
#   bench/accept.sh [MESSAGES]        (default 20000)
#
# For each system, two runs of MESSAGES messages of 4,000 bytes over 100
# concurrent sessions, one message per connection:
#   1. smtp-source -s 100 -m MESSAGES -l 4000, timed: accepted msgs/s;
#   2. smtp-load (bench/smtp-load) with the same load, which also records
#      per message the time from the final "\r\n.\r\n" to the 250: p50/p99.
# Prints a markdown table with both systems and the ratio smx / Postfix.
#
# Temp dirs go to $SMX_BENCH_DIR (default /var/tmp; keep it on a real disk).
# Needs: smtp-source and postfix (package postfix), python3, bc. Run as root
# (Postfix's master needs it); nothing is started on port 25.
set -euo pipefail
cd "$(dirname "$0")/.."
msgs=${1:-20000}
sessions=100
size=4000

for t in smtp-source postfix postconf python3 bc; do
    command -v "$t" >/dev/null || { echo "accept.sh: $t not found (apt-get install postfix python3 bc)" >&2; exit 1; }
done

cargo build -q --release -p smxd -p smtp-load
smxd=$PWD/target/release/smxd
load=$PWD/target/release/smtp-load

# Temp dirs on the normal disk (not tmpfs), so that fsync costs what it costs.
work=$(mktemp -d "${SMX_BENCH_DIR:-/var/tmp}/smx-accept.XXXXXX")
chmod 755 "$work"   # Postfix's daemons (user postfix) must reach their dirs
smx_pid=
pf_up=
cleanup() {
    set +e
    if [ -n "$smx_pid" ]; then
        kill -TERM "$smx_pid" 2>/dev/null
        for _ in $(seq 100); do kill -0 "$smx_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$smx_pid" 2>/dev/null
        wait "$smx_pid" 2>/dev/null
    fi
    [ -n "$pf_up" ] && postfix -c "$work/pf/etc" stop >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() { # port
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "accept.sh: nothing listens on 127.0.0.1:$1" >&2
    return 1
}

# --- smx -------------------------------------------------------------------
smx_port=$(free_port)
mkdir -p "$work/smx"
printf 'localhost lmtp:\n' > "$work/smx/mt"
# smx does not deliver yet, so every accepted recipient stays in the IQDB
# (in-memory incoming queue, default 8192 entries): size it for both runs.
iqdb=$((2 * msgs + 1000))
cat > "$work/smx/smx.conf" <<EOF
queue_directory = queue;
hostname = mx.example.test;
qmgr { IQDB { max_cache_entries = $iqdb; hash_table_entries = $((2 * iqdb)); } }
smtps { listen_socket { type = inet; address = 127.0.0.1; port = $smx_port; } }
EOF
"$smxd" -f "$work/smx/smx.conf" </dev/null >/dev/null 2>"$work/smx/log" &
smx_pid=$!
wait_port "$smx_port"

# --- Postfix ---------------------------------------------------------------
pf_port=$(free_port)
while [ "$pf_port" = "$smx_port" ]; do pf_port=$(free_port); done
pf=$work/pf
mkdir -p "$pf/etc" "$pf/queue" "$pf/data"
chown postfix "$pf/data"
cat > "$pf/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = pf.example.test
mydomain = example.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
relay_domains = example.test
mynetworks = 127.0.0.0/8
# Hold everything in the queue: no delivery attempts during the run.
defer_transports = smtp, relay
# No throttling of the load: no per-client limit, no inflow delay.
smtpd_client_connection_count_limit = 0
in_flow_delay = 0s
alias_maps =
alias_database =
biff = no
maillog_file = $pf/maillog
maillog_file_prefixes = $pf
EOF
cat > "$pf/etc/master.cf" <<EOF
127.0.0.1:$pf_port inet n - n - $sessions smtpd
postlog   unix-dgram n - n -    1 postlogd
pickup    fifo  n - n 60   1 pickup
cleanup   unix  n - n -    0 cleanup
qmgr      unix  n - n 300  1 qmgr
rewrite   unix  - - n -    - trivial-rewrite
bounce    unix  - - n -    0 bounce
defer     unix  - - n -    0 bounce
trace     unix  - - n -    0 bounce
verify    unix  - - n -    1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -    - proxymap
smtp      unix  - - n -    - smtp
relay     unix  - - n -    - smtp
showq     unix  n - n -    - showq
error     unix  - - n -    - error
retry     unix  - - n -    - error
discard   unix  - - n -    - discard
anvil     unix  - - n -    1 anvil
scache    unix  - - n -    1 scache
EOF
postfix -c "$pf/etc" start >/dev/null 2>&1 || {
    echo "accept.sh: Postfix did not start:" >&2; cat "$pf/maillog" >&2 2>/dev/null; exit 1; }
pf_up=1
wait_port "$pf_port"
pf_version=$(postconf -c "$pf/etc" -h mail_version)

# --- runs ------------------------------------------------------------------
smx_queued() { grep -c ': from=<' "$work/smx/log" || true; }
pf_queued() { grep -c 'postfix/cleanup.*: message-id=' "$pf/maillog" || true; }

source_run() { # port recipient -> msgs/s
    local s e
    s=$(date +%s.%N)
    smtp-source -s "$sessions" -m "$msgs" -l "$size" -f s@example.org -t "$2" "127.0.0.1:$1" >&2 || true
    e=$(date +%s.%N)
    echo "$msgs / ($e - $s)" | bc -l
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

echo "smx: smtp-source ..." >&2
b=$(smx_queued); smx_src=$(source_run "$smx_port" alice@localhost); sleep 1; check "smx smtp-source" "$b" "$(smx_queued)"
echo "Postfix: smtp-source ..." >&2
b=$(pf_queued); pf_src=$(source_run "$pf_port" user@example.test); sleep 2; check "Postfix smtp-source" "$b" "$(pf_queued)"
echo "smx: smtp-load ..." >&2
b=$(smx_queued); smx_load=$(load_run "$smx_port" alice@localhost); sleep 1; check "smx smtp-load" "$b" "$(smx_queued)"
echo "Postfix: smtp-load ..." >&2
b=$(pf_queued); pf_load=$(load_run "$pf_port" user@example.test); sleep 2; check "Postfix smtp-load" "$b" "$(pf_queued)"
echo "smx:     $smx_load" >&2
echo "Postfix: $pf_load" >&2

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
