#!/usr/bin/env python3
"""Writes an mbox of N real-world-shaped messages for the ingest benchmark.

The messages are CPython's email test corpus (Lib/test/test_email/data/msg_*.txt:
real messages collected for the email package's tests: multipart, nested parts,
base64 and quoted-printable, legacy charsets, broken headers), each copy given a
unique Message-ID so every one is a new email. Usage: make_mbox.py OUT.mbox [N]"""

import glob
import os
import sys
import sysconfig

out, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20000
data = os.path.join(sysconfig.get_paths()["stdlib"], "test", "test_email", "data")
samples = []
for path in sorted(glob.glob(os.path.join(data, "msg_*.txt"))):
    raw = open(path, "rb").read().replace(b"\r\n", b"\n")
    head, sep, body = raw.partition(b"\n\n")
    # drop the sample's own Unix "From " line and Message-ID: each copy gets its own
    lines = [l for l in head.split(b"\n") if not l.lower().startswith(b"message-id:") and not l.startswith(b"From ")]
    samples.append((b"\n".join(lines), sep + body))
if not samples:
    sys.exit(f"no sample messages in {data}: this Python lacks its test suite")

with open(out, "wb") as f:
    for i in range(count):
        head, rest = samples[i % len(samples)]
        # mboxrd: quote body lines that would look like a new message
        rest = b"\n".join(b">" + l if l.startswith(b"From ") or l.startswith(b">From ") else l for l in rest.split(b"\n"))
        f.write(b"From bench@triage Thu Nov  5 10:00:00 2026\n")
        f.write(b"Message-ID: <bench-%d@triage.bench>\n" % i)
        f.write(head + rest.rstrip(b"\n") + b"\n\n")
print(f"{out}: {count} messages from {len(samples)} samples, {os.path.getsize(out) / 1e6:.1f} MB")
