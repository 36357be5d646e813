#!/usr/bin/env python3
"""The analytics and retraining figures of issue 7 (server/examples/analytics_bench.rs),
with targets: each analytics view over 100,000 emails and 30,000 labels answers in
under 100 ms (median), and a retrain on 30,000 labels finishes in under 10 s.

Runs on a fresh SQLite database; set DATABASE_URL to an empty PostgreSQL database to
measure PostgreSQL. Exits non-zero when a target is missed.
Usage: bench/analytics.py [EMAILS LABELS]"""

import sys

from common import run_example

r = run_example("server", "analytics_bench", sys.argv[1:])
print(f"database: {r['database']}, {r['emails']} emails, {r['labels']} labels")
ok = []
for name, ms in r["views_ms"].items():
    print(f"{name:14} median {ms:7.1f} ms")
    if name != "whole_report":
        ok.append((f"{name} < 100 ms", ms < 100))
print(f"retrain on {r['retrain_labelled_emails']} labelled emails: median {r['retrain_s']:.2f} s")
ok.append(("retrain < 10 s", r["retrain_s"] < 10))
for name, passed in ok:
    print(f"  {'ok  ' if passed else 'MISS'} {name}")
sys.exit(0 if all(p for _, p in ok) else 1)
