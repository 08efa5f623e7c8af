#!/usr/bin/env python3
"""CPU time and memory of a process tree, read from /proc (Linux).

Used by bench/relay to account for ALL the processes of an MTA: smx's
MCP (smxd) and the components it starts, or Postfix's master and every
daemon it spawns.

  proctree.py cpu ROOT            print the CPU seconds of the tree
  proctree.py watch ROOT OUT      sample memory until SIGTERM, then write OUT
  proctree.py mem ROOT            print the tree's memory now

CPU: for every live process of the tree, utime + stime (its own threads,
fields 14-15 of /proc/PID/stat) + cutime + cstime (fields 16-17: the
children it has waited for, with their own reaped descendants). A process
that exited and was reaped is thus counted once, in its parent; a live
process is counted once, by itself; a zombie still carries its own times
until it is reaped. bench/relay takes the difference of two readings
around a run, so what the tree did before the run (start-up) drops out.
The one blind spot is a child reaped between the reading of its parent and
the reading of itself; a reading takes a few milliseconds, so the error is
at most one short-lived process per reading.

Memory: every INTERVAL seconds, the sum over the live processes of the tree
of VmHWM (each process's peak resident set, /proc/PID/status) and of Pss
(its proportional share of resident pages, /proc/PID/smaps_rollup, needs
root for other users' processes). OUT gets the largest sums seen, in kB:
"hwm_kb=... pss_kb=... procs=..." (procs: most processes seen at once).
`mem` prints the sums of VmRSS and Pss now, "rss_kb=... pss_kb=...
procs=..." (bench/relay: the memory held with 1,000 idle connections).
VmHWM counts pages shared between processes (libraries, the program text)
once per process; Pss divides them among the processes sharing them.
"""

import os
import signal
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            s = f.read()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain ") ".
    return s[s.rfind(b")") + 2:].split()


def tree(root):
    """The pids of ROOT and all its descendants (one pass over /proc)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        f = stat_fields(name)
        if f is None:
            continue
        children.setdefault(int(f[1]), []).append(int(name))  # f[1]: ppid
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(root):
    ticks = 0
    for pid in tree(root):
        f = stat_fields(pid)
        if f is not None:
            # fields 14-17 of stat; f starts at field 3 (state)
            ticks += sum(int(x) for x in f[11:15])
    return ticks / TICK


def status_kb(pid, path, key):
    try:
        with open(f"/proc/{pid}/{path}") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def watch(root, out, interval):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    hwm = pss = procs = 0
    while True:
        pids = tree(root)
        if stat_fields(root) is None:
            break
        hwm = max(hwm, sum(status_kb(p, "status", "VmHWM:") for p in pids))
        pss = max(pss, sum(status_kb(p, "smaps_rollup", "Pss:") for p in pids))
        procs = max(procs, len(pids))
        if stop:
            break
        time.sleep(interval)
    with open(out, "w") as f:
        f.write(f"hwm_kb={hwm} pss_kb={pss} procs={procs}\n")


def mem(root):
    pids = tree(root)
    rss = sum(status_kb(p, "status", "VmRSS:") for p in pids)
    pss = sum(status_kb(p, "smaps_rollup", "Pss:") for p in pids)
    print(f"rss_kb={rss} pss_kb={pss} procs={len(pids)}")


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "cpu":
        print(f"{cpu_seconds(int(args[1])):.2f}")
    elif len(args) == 2 and args[0] == "mem":
        mem(int(args[1]))
    elif len(args) in (3, 4) and args[0] == "watch":
        watch(int(args[1]), args[2], float(args[3]) if len(args) == 4 else 0.5)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
