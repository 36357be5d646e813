#!/usr/bin/env python3
"""The workspace figures of issue 6 (server/examples/workspace_bench.rs), with targets:

With 100,000 emails and 30,000 labels, 16 concurrent clients, 2 cores:
- the queue page (server-rendered, 50 rows, a filter and a search term): p99 < 50 ms
  and at least 500 pages/s;
- the email view: at least 1,500 pages/s, p99 < 20 ms;
- accept/correct: at least 500/s, p99 < 20 ms;
- the server's resident memory stays under 100 MiB.

Needs the release build (scripts/build-release.sh, or `cargo leptos build --release`).
Runs on a fresh SQLite database; set DATABASE_URL to an empty PostgreSQL database to
measure PostgreSQL. Exits non-zero when a target is missed.
Usage: bench/workspace.py [EMAILS LABELS SECONDS_PER_RUN]"""

import sys

from common import run_example

r = run_example("server", "workspace_bench", sys.argv[1:])
print(f"database: {r['database']}, {r['emails']} emails, {r['labels']} labels, {r['clients']} clients")
for name in ["queue", "email", "label"]:
    f = r[name]
    print(f"{name:6} {f['per_second']:8.0f}/s  median {f['median_ms']:6.2f} ms  p99 {f['p99_ms']:6.2f} ms")
print(f"peak resident memory: {r['peak_resident_mib']:.1f} MiB, of which the process's own "
      f"(anonymous, without pages mapped from files): {r['peak_anonymous_mib']:.1f} MiB")
ok = [
    ("queue page p99 < 50 ms", r["queue"]["p99_ms"] < 50),
    ("queue page >= 500/s", r["queue"]["per_second"] >= 500),
    ("email view >= 1,500/s", r["email"]["per_second"] >= 1500),
    ("email view p99 < 20 ms", r["email"]["p99_ms"] < 20),
    ("accept/correct >= 500/s", r["label"]["per_second"] >= 500),
    ("accept/correct p99 < 20 ms", r["label"]["p99_ms"] < 20),
    ("server memory < 100 MiB", r["peak_resident_mib"] < 100),
]
for name, passed in ok:
    print(f"  {'ok  ' if passed else 'MISS'} {name}")
sys.exit(0 if all(p for _, p in ok) else 1)
