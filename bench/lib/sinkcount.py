#!/usr/bin/env python3
"""Counts the messages Postfix's smtp-sink received, as they arrive.

  smtp-sink -c ... | sinkcount.py N OUT

smtp-sink -c writes its running counters ("sess=S quit=Q mesg=M\\r") each
time a session ends, a QUIT is read or a final "." is received. This reads
them as they come and keeps OUT (replaced atomically) at
"count=M first=T1 last=T2 done=T3": the messages received so far, the
time of the first and of the latest one, and the time the count reached N
(0 until then; times are seconds since the epoch). It runs until
smtp-sink's output ends.
"""

import os
import re
import sys
import time

MESG = re.compile(rb"mesg=(\d+)[\r\n]")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    want, out = int(sys.argv[1]), sys.argv[2]
    count, first, last, done = 0, 0.0, 0.0, 0.0
    written = 0.0
    tail = b""

    def write():
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"count={count} first={first:.6f} last={last:.6f} done={done:.6f}\n")
        os.replace(tmp, out)

    write()
    stdin = sys.stdin.buffer
    while True:
        chunk = stdin.read1(65536)
        if not chunk:
            break
        now = time.time()
        tail = (tail + chunk)[-256:]
        found = MESG.findall(tail)
        if not found:
            continue
        n = int(found[-1])
        if n > count:
            count = n
            first = first or now
            last = now
            if not done and count >= want:
                done = now
                write()
        if now - written >= 0.2:
            write()
            written = now
    write()


if __name__ == "__main__":
    main()
