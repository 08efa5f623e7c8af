# Shell helpers shared by the MTA benchmarks (bench/accept.sh,
# bench/relay): free ports, waiting for a listener, and the pieces of a
# private Postfix instance (own config, queue and data directories; no
# chroot; started with `postfix -c DIR start`). Source it; it defines
# functions only.

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# free_port_but PORT...: a free port that is none of PORTs.
free_port_but() {
    local p
    while :; do
        p=$(free_port)
        case " $* " in *" $p "*) ;; *) echo "$p"; return ;; esac
    done
}

wait_port() { # port
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "bench: nothing listens on 127.0.0.1:$1" >&2
    return 1
}

# pf_main_cf DIR: the main.cf settings both benchmarks share, for a
# private instance under DIR (DIR/queue, DIR/data, log in DIR/maillog).
# The caller appends what differs (relaying or holding mail).
pf_main_cf() {
    cat <<EOC
compatibility_level = 3.6
queue_directory = $1/queue
data_directory = $1/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = pf.example.test
mydomain = example.test
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
mynetworks = 127.0.0.0/8
# No throttling of the load: no per-client limit, no inflow delay.
smtpd_client_connection_count_limit = 0
in_flow_delay = 0s
alias_maps =
alias_database =
biff = no
maillog_file = $1/maillog
maillog_file_prefixes = $1
EOC
}

# pf_master_cf PORT SESSIONS: master.cf with smtpd on 127.0.0.1:PORT
# (at most SESSIONS processes) and the usual daemons, none chrooted.
pf_master_cf() {
    cat <<EOC
127.0.0.1:$1 inet n - n - $2 smtpd
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
EOC
}

# pf_start DIR: start the instance whose main.cf and master.cf are in
# DIR/etc; prints the log and fails if it does not come up.
pf_start() {
    mkdir -p "$1/queue" "$1/data"
    chown postfix "$1/data"
    postfix -c "$1/etc" start >/dev/null 2>&1 || {
        echo "bench: Postfix did not start:" >&2
        cat "$1/maillog" >&2 2>/dev/null
        return 1
    }
}

# pf_master_pid DIR: the pid of the instance's master (from its pid file).
pf_master_pid() {
    local pid
    for _ in $(seq 100); do
        pid=$(tr -dc 0-9 < "$1/queue/pid/master.pid" 2>/dev/null || true)
        [ -n "$pid" ] && { echo "$pid"; return 0; }
        sleep 0.1
    done
    echo "bench: no master.pid under $1/queue" >&2
    return 1
}

# make_workdir NAME: a fresh temp dir for one benchmark run, under
# $SMX_BENCH_DIR (default /var/tmp: a real disk, not tmpfs, so that fsync
# costs what it costs), readable by Postfix's daemons (user postfix).
#
# It gets the ext4 "top of directory hierarchy" flag (chattr +T), so that
# each directory made in it (smx/, pf/) starts in a block group of its own
# (Orlov allocator) and the files of each system are allocated there. Why:
# on ext4 without a journal, creating a file skips every inode of the
# group deleted in the last minute or more (`recently_deleted`), at a CPU
# cost that grows with their number. Without the flag all the runs' queues
# share one group, and whichever system runs second (or any run shortly
# after another) pays for the files the previous one deleted. Harmless
# where the flag is not supported. Make the systems' directories with
# make_sysdir: Orlov picks the group from a hash of the name, so a name
# of its own per run also keeps one run off the group of the last.
make_workdir() {
    local d
    d=$(mktemp -d "${SMX_BENCH_DIR:-/var/tmp}/$1.XXXXXX")
    chmod 755 "$d"
    chattr +T "$d" 2>/dev/null || true
    echo "$d"
}

# make_sysdir WORK NAME: WORK/NAME.XXXXXX, a fresh directory for one
# system's configuration and queue (see make_workdir).
make_sysdir() {
    local d
    d=$(mktemp -d "$1/$2.XXXXXX")
    chmod 755 "$d"
    echo "$d"
}

# smx_conf PORT IQDB [QMGR] [SMAR] [FLAGS]: the smx.conf the smx runs of the
# benchmarks share: queue in ./queue, an access map (relay permission),
# the in-memory incoming queue sized to IQDB entries (so it never refuses
# the load with 452), no per-client connection limits (the load comes from
# one address; icr/icm, README §3.8.1, like Postfix's client limits set to
# 0), the SMTP server on 127.0.0.1:PORT. QMGR and SMAR are added to those
# sections, FLAGS to the server's flags (", greylisting").
smx_conf() {
    cat <<EOC
queue_directory = queue;
hostname = mx.example.test;
qmgr {
  IQDB { max_cache_entries = $2; hash_table_entries = $((2 * $2)); }
  smtps { max_connection_rate = 100000000; max_connections = 100000; }
  ${3:-}
}
smar { access_map { file = "access.db"; } ${4:-} }
smtps {
  flags = { access${5:-} };
  listen_socket { type = inet; address = 127.0.0.1; port = $1; }
}
EOC
}

# smx_stop PID: stops smxd (SIGTERM; SIGKILL after 10 s) and reaps it.
smx_stop() {
    [ -n "$1" ] || return 0
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
