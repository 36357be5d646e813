#!/usr/bin/env python3
"""The workspace figures of issue 6 (server/examples/workspace_bench.rs), with targets:

With 100,000 emails and 30,000 labels, 16 concurrent clients, 2 cores:
- the queue page (server-rendered, 50 rows) in every view a person uses (plain, a
  status, a category, a search, a search with each filter, the review order): p99 < 50
  ms in each view and at least 500 pages/s over the mix;
- the email view: at least 1,500 pages/s, p99 < 20 ms;
- accept/correct: at least 500/s, p99 < 20 ms (as the page does it; `label_api` is the
  same through the REST API and its rate limiter, issue 32, with the limit set so high
  that it never refuses: TRIAGE_BENCH_API_RATE=0 turns the limiter off to compare);
- the server's resident memory stays under 100 MiB;
- the Analytics page (issue 34), opened by a supervisor: under 250 ms (median).

Needs the release build (scripts/build-release.sh).
Runs on a fresh SQLite database; set DATABASE_URL to an empty PostgreSQL database to
measure PostgreSQL. The emails copy the demo's short texts; with TRIAGE_BENCH_MAIL=real
they copy real mail (bench/fetch_dataset.py's corpus: long bodies, quoted text).
TRIAGE_BENCH_BIN names another server binary to measure on the same data (an older
build, to compare code on equal terms). Exits non-zero when a target is missed.
Usage: bench/workspace.py [EMAILS LABELS SECONDS_PER_RUN]"""

import os
import sys

from common import run_example

r = run_example("server", "workspace_bench", sys.argv[1:])
mail = "real mail" if os.environ.get("TRIAGE_BENCH_MAIL") == "real" else "demo mail"
print(f"database: {r['database']}, {r['emails']} emails ({mail}), {r['labels']} labels, {r['clients']} clients")
for name in ["queue", "email", "label", "label_api"]:
    f = r[name]
    print(f"{name:6} {f['per_second']:8.0f}/s  median {f['median_ms']:6.2f} ms  p99 {f['p99_ms']:6.2f} ms")
print("queue, by view (all views mixed at random in the run above):")
for view, f in r["views"].items():
    print(f"  {view:20} {f['requests']:6} requests  median {f['median_ms']:6.2f} ms  p99 {f['p99_ms']:6.2f} ms")
a = r["analytics_page"]
print(f"analytics page (supervisor, one at a time): median {a['median_ms']:6.1f} ms  slowest {a['max_ms']:6.1f} ms")
print(f"peak resident memory before the Analytics page: {r['peak_resident_mib_before_analytics']:.1f} MiB")
print(f"peak resident memory: {r['peak_resident_mib']:.1f} MiB, of which the process's own "
      f"(anonymous, without pages mapped from files): {r['peak_anonymous_mib']:.1f} MiB")
ok = [
    ("queue page p99 < 50 ms", r["queue"]["p99_ms"] < 50),
    ("queue page >= 500/s", r["queue"]["per_second"] >= 500),
    *[(f"queue view {view} p99 < 50 ms", f["p99_ms"] < 50) for view, f in r["views"].items()],
    ("email view >= 1,500/s", r["email"]["per_second"] >= 1500),
    ("email view p99 < 20 ms", r["email"]["p99_ms"] < 20),
    ("accept/correct >= 500/s", r["label"]["per_second"] >= 500),
    ("accept/correct p99 < 20 ms", r["label"]["p99_ms"] < 20),
    ("analytics page < 250 ms", r["analytics_page"]["median_ms"] < 250),
    ("server memory < 100 MiB", r["peak_resident_mib"] < 100),
]
for name, passed in ok:
    print(f"  {'ok  ' if passed else 'MISS'} {name}")
sys.exit(0 if all(p for _, p in ok) else 1)
