#!/usr/bin/env python3
"""Keystroke echo latency through an ssh command line (argv), on a pty.

Starts the command (which must run `cat` in a remote pty, e.g. ssh -tt
HOST cat), waits for the remote side to answer, then types one byte at a
time and times how long its echo takes to come back: what a maintainer
feels on every key. Prints the round-trip times in microseconds, one per
line. Measures only; asserts nothing. ECHO_GAP_MS (default 5: a fast
typist, 200 keys/s at most) is the pause between keys.

usage: echo_latency.py COUNT COMMAND [ARGS...]
"""
import os
import select
import subprocess
import sys
import time


def read_until(fd, want, deadline):
    """Reads from fd until the bytes `want` have arrived (returns True) or
    the deadline passes (False)."""
    got = b""
    while want not in got:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            return False
        chunk = os.read(fd, 4096)
        if not chunk:
            return False
        got += chunk
    return True


def main():
    count = int(sys.argv[1])
    gap = float(os.environ.get("ECHO_GAP_MS", "5")) / 1000.0
    proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.fileno()
    inp = proc.stdin.fileno()
    # The remote pty echoes what it gets; wait until a first line comes
    # back whole so login and session setup are not in the first sample.
    os.write(inp, b"ready\n")
    if not read_until(out, b"ready", time.monotonic() + 30):
        sys.exit("no echo from the remote side within 30 s")
    time.sleep(0.2)
    # drain the rest of the first line (echo and cat's copy)
    while select.select([out], [], [], 0.2)[0]:
        if not os.read(out, 4096):
            break
    keys = b"abcdefghijklmnopqrstuvwxyz"
    for i in range(count):
        k = keys[i % len(keys):i % len(keys) + 1]
        t0 = time.monotonic_ns()
        os.write(inp, k)
        if not read_until(out, k, time.monotonic() + 10):
            sys.exit("key %d: no echo within 10 s" % i)
        print((time.monotonic_ns() - t0) // 1000)
        if i % 60 == 59:
            # a newline now and then, so the remote line stays short;
            # its echo and cat's copy are drained before the next key
            os.write(inp, b"\n")
            time.sleep(0.05)
            while select.select([out], [], [], 0.05)[0]:
                if not os.read(out, 4096):
                    break
        time.sleep(gap)  # 5 ms: a fast typist, 200 keys per second at most
    os.write(inp, b"\n\x04")  # ^D at a line start ends cat
    proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        sys.exit("the remote cat did not end within 10 s of ^D")


if __name__ == "__main__":
    main()
