#!/usr/bin/env python3
"""The batch job figures of issue 5 (server/examples/job_bench.rs), with the targets:

- against a loopback endpoint answering each request after 20 ms, concurrency 8 and
  batches of 16, a score job reaches at least 90 % of 8 x 16 / 0.02 = 6,400 emails/s;
- a score job with the built-in model over 100,000 stored emails takes at most 1.5x
  the time the model alone needs for them (one core); measured on copies of the short
  demo emails and on copies of real mail (bench/fetch_dataset.py's corpus).

Runs on a fresh SQLite database (set DATABASE_URL for PostgreSQL). It also prints the
floor: what the database itself takes to store that many predictions
(bench/store_floor.py), as it is and with the schema changes that file measures, as
multiples of the model alone. Exits non-zero when a target is missed.
Usage: bench/jobs.py [ENDPOINT_EMAILS BUILTIN_EMAILS]; with ENDPOINT_EMAILS 0 it
measures the built-in model only (and exits 1: the endpoint figure is then not met)."""

import json
import os
import subprocess
import sys

from common import ROOT, run_example

r = run_example("server", "job_bench", sys.argv[1:])
e, b, real = r["endpoint"], r["builtin"], r["builtin_real_mail"]
print(f"database: {r['database']}")
if e["emails"]:
    print(f"endpoint, 20 ms per request, C={e['concurrency']} B={e['batch']}: {e['emails_per_second']:.0f} emails/s "
          f"= {e['share_of_limit'] * 100:.0f}% of the {e['limit_per_second']:.0f}/s limit ({e['emails']} emails)")
    # What each request took through the SDK, there and back: the most C x B / that allows.
    allowed = e['concurrency'] * e['batch'] / (e['median_request_ms'] / 1000)
    print(f"  median request {e['median_request_ms']:.1f} ms as the job saw it; the job made "
          f"{e['emails_per_second'] / allowed * 100:.0f}% of the {allowed:.0f}/s those requests allow")
else:
    print("endpoint: not measured (ENDPOINT_EMAILS is 0)")
for name, x in [("demo emails", b), ("real mail", real)]:
    if x is None:
        print(f"built-in model, {name}: not measured (run bench/fetch_dataset.py first)")
        continue
    print(f"built-in model, {x['emails']} {name} ({x['words_per_email']} words each): job {x['job_seconds']:.2f} s, "
          f"model alone {x['model_alone_seconds']:.2f} s = {x['ratio']:.2f}x")
    # Where the job's time went: CPU seconds per job by thread (Linux), against its wall time.
    cpu = ", ".join(f"{name} {s:.2f} s" for name, s in x["job_cpu_seconds"].items() if s >= 0.05)
    if cpu:
        print(f"  CPU per job by thread: {cpu}")
# The database's own cost of storing that many predictions, with no Rust in the way:
# the least a built-in job can take on this schema (bench/store_floor.py; it reads
# DATABASE_URL too).
floor = json.loads(subprocess.run([sys.executable, os.path.join(ROOT, "bench/store_floor.py"),
                                   str(b["emails"])], check=True, stdout=subprocess.PIPE,
                                  text=True).stdout.strip().splitlines()[-1])
# store_floor.py has printed its seconds for each variant (on stderr); here they are
# against the model.
for name, x in [("demo emails", b), ("real mail", real)]:
    if x is not None:
        alone = x["model_alone_seconds"]
        print(f"  floor, {name}: {floor['store_seconds'] / alone:.2f}x the model alone as it is, "
              f"{floor['store_seconds_narrow_table'] / alone:.2f}x with a narrow table")
ok = [("job reaches >= 90% of C x B / 20 ms", bool(e["emails"]) and e["share_of_limit"] >= 0.9),
      ("built-in job on demo emails <= 1.5x the model alone", b["ratio"] <= 1.5),
      ("built-in job on real mail <= 1.5x the model alone", real is not None and real["ratio"] <= 1.5)]
for name, passed in ok:
    print(f"  {'ok  ' if passed else 'MISS'} {name}")
sys.exit(0 if all(p for _, p in ok) else 1)
