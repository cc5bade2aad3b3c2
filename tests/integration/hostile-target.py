#!/usr/bin/env python3
"""A hostile SSH "target" for the terminal-safety tests.

Listens on 127.0.0.1 (a free port, written to PORTFILE), and to every
connection sends its version line and then, unencrypted, an
SSH_MSG_DISCONNECT whose description is TEXT (given as a Python bytes
literal body, e.g. 'bye \\x1b]0;owned\\x07'), so that the text reaches the
gateway through libssh's error message. RFC 4253 section 6: uint32
packet_length, byte padding_length, payload, at least 4 bytes of padding,
the whole a multiple of 8 bytes.

usage: hostile-target.py PORTFILE TEXT
"""
import ast
import os
import socket
import struct
import sys
import time


def ssh_string(b):
    return struct.pack(">I", len(b)) + b


def disconnect_packet(text):
    payload = (b"\x01" + struct.pack(">I", 2) + ssh_string(text) +
               ssh_string(b""))
    pad = 8 - (4 + 1 + len(payload)) % 8
    if pad < 4:
        pad += 8
    return (struct.pack(">IB", 1 + len(payload) + pad, pad) + payload +
            b"\0" * pad)


def main():
    portfile, text = sys.argv[1], ast.literal_eval("b'" + sys.argv[2] + "'")
    packet = disconnect_packet(text)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.getsockname()[1])
    # Renamed into place: the test never reads half a port number.
    os.rename(portfile + ".tmp", portfile)
    while True:
        conn, _ = srv.accept()
        conn.settimeout(5)
        try:
            conn.sendall(b"SSH-2.0-evil\r\n")
            # The client's version line and its KEXINIT first, so the
            # disconnect is read as a packet of a key exchange under way,
            # not with the banner.
            got = b""
            while b"\n" not in got or len(got) < got.index(b"\n") + 6:
                d = conn.recv(4096)
                if not d:
                    break
                got += d
            conn.sendall(packet)
            # Give the gateway time to read the disconnect as a packet
            # before the end of the stream arrives (libssh 0.10 takes a
            # hang-up seen with unread data as a socket error, stale errno
            # and all), then half-close and drain until it hangs up:
            # closing with its bytes unread would send a reset.
            time.sleep(1)
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(4096):
                pass
        except OSError:
            pass
        finally:
            conn.close()


if __name__ == "__main__":
    main()
