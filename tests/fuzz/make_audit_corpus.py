#!/usr/bin/env python3
"""Writes tests/fuzz/corpus/audit/signed-*: audit logs signed as
gateway/core/audit.c signs them, with the fuzz harness's key (Ed25519
seed of 32 bytes 7), so mutations get past the signature check into the
chain and the line parsing. Run from the repository root; needs the
python3 cryptography package (Debian python3-cryptography)."""
import base64
import hashlib
import json
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import \
    Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

sk = Ed25519PrivateKey.from_private_bytes(bytes([7] * 32))
pk = sk.public_key().public_bytes(serialization.Encoding.Raw,
                                  serialization.PublicFormat.Raw)
kid = "ed25519:" + hashlib.blake2b(pk, digest_size=32).hexdigest()[:16]


def line(prev, fields):
    body = json.dumps(dict(fields, key=kid, prev=prev),
                      separators=(",", ":"), ensure_ascii=False)
    sig = sk.sign(b"SKAUDIT1" + body.encode())
    return body[:-1] + ',"sig":"' + base64.b64encode(sig).decode() + '"}'


def log(events):
    prev, out = "0" * 64, []
    for e in events:
        ln = line(prev, e)
        out.append(ln)
        prev = hashlib.blake2b(ln.encode(), digest_size=32).hexdigest()
    return "".join(x + "\n" for x in out)


base = {"time": "2026-12-01T00:00:00Z", "gateway": "gw", "pid": 1}
sess = "20261201T000000Z-0000abcd"
events = [
    dict(base, event="session_start", session=sess, user="alice",
         transcript="/var/lib/sekisho/t/" + sess + ".skt"),
    dict(base, event="session_end", session=sess, user="alice",
         transcript_hash="ab" * 32, transcript_size=1043, reason="closed"),
    dict(base, event="transcript_purged", session=sess, admin="root"),
]
d = "tests/fuzz/corpus/audit/"
open(d + "signed-log", "w").write(log(events))
if len(sys.argv) > 1:  # the public key, for checking with sekisho-verify
    print("ssh-ed25519 " + base64.b64encode(
        b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + pk).decode())
