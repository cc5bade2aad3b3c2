#!/usr/bin/env python3
"""Pre-authentication flood against a gateway on loopback (tests and bench).

Holds SILENT connections that never send a byte and STALL connections that
send an SSH identification line and then nothing (stuck in key exchange),
spread round-robin over loopback source addresses. A connection the server
closes is opened again, so the flood is sustained. Bounded: it stops after
--duration seconds (or on SIGTERM) and prints what it did as one line:
  opened=N closed_by_server=N refused=N held_silent=N held_stall=N
Only loopback targets and sources are accepted.
"""
import argparse
import ipaddress
import selectors
import signal
import socket
import sys
import time


def loopback(addr):
    if not ipaddress.ip_address(addr).is_loopback:
        raise argparse.ArgumentTypeError(f"{addr} is not a loopback address")
    return addr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", type=loopback, default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--silent", type=int, default=300)
    ap.add_argument("--stall", type=int, default=50)
    ap.add_argument("--first", type=int, default=2,
                    help="sources 127.0.0.FIRST ...")
    ap.add_argument("--sources", type=int, default=30)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--ready", help="file written once the flood is up")
    a = ap.parse_args()
    if a.first < 1 or a.first + a.sources > 255:
        ap.error("sources must stay within 127.0.0.1-254")

    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    sel = selectors.DefaultSelector()
    stats = {"opened": 0, "closed_by_server": 0, "refused": 0}
    held = {"silent": 0, "stall": 0}
    n = [0]

    def open_one(kind):
        src = f"127.0.0.{a.first + n[0] % a.sources}"
        n[0] += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((src, 0))
            s.settimeout(5)
            s.connect((a.host, a.port))
        except OSError:
            stats["refused"] += 1
            s.close()
            return False
        s.setblocking(False)
        if kind == "stall":
            try:
                s.send(b"SSH-2.0-flood\r\n")
            except OSError:
                stats["refused"] += 1
                s.close()
                return False
        stats["opened"] += 1
        held[kind] += 1
        sel.register(s, selectors.EVENT_READ, kind)
        return True

    for _ in range(a.silent):
        open_one("silent")
    for _ in range(a.stall):
        open_one("stall")
    if a.ready:
        with open(a.ready, "w") as f:
            f.write("up\n")
    end = time.monotonic() + a.duration
    later = []  # (when, kind): reopen after a short pause, not in a spin
    while not stop[0] and time.monotonic() < end:
        now = time.monotonic()
        while later and later[0][0] <= now:
            open_one(later.pop(0)[1])
        for key, _ in sel.select(timeout=0.1):
            s, kind = key.fileobj, key.data
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                continue  # the server's banner or KEXINIT: ignore, stall
            sel.unregister(s)
            s.close()
            held[kind] -= 1
            stats["closed_by_server"] += 1
            later.append((time.monotonic() + 0.2, kind))
    print(" ".join(f"{k}={v}" for k, v in stats.items()) +
          f" held_silent={held['silent']} held_stall={held['stall']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
