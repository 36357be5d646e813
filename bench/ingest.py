#!/usr/bin/env python3
"""Ingest figures (issue #3), medians of 3 runs each:
- parse only: `triage import --dry-run` of a 20,000-message mbox;
- `triage import` end to end into a fresh SQLite database, and into PostgreSQL;
- the API: 20,000 JSON emails posted in batches of 100 to a running server.

Usage: bench/ingest.py [--bin PATH] [--messages N]
Defaults to the release binary ($CARGO_TARGET_DIR/release/triage, built by
scripts/build-release.sh). PostgreSQL: TRIAGE_TEST_POSTGRES_URL or
postgres://postgres@127.0.0.1:5432."""

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time

from common import free_port, wait_ready

HERE = os.path.dirname(os.path.abspath(__file__))


def run_import(binary, env, mbox, *extra):
    out = subprocess.run([binary, "import", "--quiet", *extra, mbox], env=env, check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"(\d+) imported, (\d+) duplicates, (\d+) rejected \((\d+) messages in [\d.]+ s, (\d+)/s\)", out)
    return int(m[5]), int(m[1]), int(m[3])


def psql(server, sql):
    subprocess.run(["psql", f"{server}/postgres", "-qc", sql], check=True, capture_output=True)


def api_rate(binary, env, messages, batch=100):
    port = free_port()
    token = subprocess.run([binary, "token", "create", "bench", "--role", "ingest"], env=env, check=True,
                           capture_output=True, text=True).stdout.strip()
    server = subprocess.Popen([binary, "serve", "--addr", f"127.0.0.1:{port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port)
        conn = http.client.HTTPConnection("127.0.0.1", port)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        bodies = []
        for b in range(messages // batch):
            emails = [{"message_id": f"api-{b}-{i}@bench", "from": f"Customer {i} <c{i}@shop.example>",
                       "subject": f"Order SO-{b}{i} has not arrived",
                       "body": "Hello,\n\nI ordered a pallet jack two weeks ago and it has not arrived yet. "
                               "Could you tell me where it is? The tracking page shows nothing.\n\nThanks, Customer",
                       "received_at": 1_790_000_000_000 + b * 1000 + i} for i in range(batch)]
            bodies.append(json.dumps({"emails": emails}))
        t0 = time.perf_counter()
        for body in bodies:
            conn.request("POST", "/api/v1/emails", body, headers)
            r = conn.getresponse()
            payload = r.read()
            assert r.status == 200, payload[:300]
        return messages / (time.perf_counter() - t0)
    finally:
        server.terminate()
        server.wait()


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(target, "release", "triage"))
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="triage-ingest-bench-")
    pg = os.environ.get("TRIAGE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
    try:
        mbox = os.path.join(work, "bench.mbox")
        subprocess.run(["python3", os.path.join(HERE, "make_mbox.py"), mbox, str(args.messages)], check=True)
        base = dict(os.environ, TRIAGE_LOG="warn")
        base.pop("DATABASE_URL", None)
        results = {}

        results["parse only (--dry-run)"] = [run_import(args.bin, dict(base, TRIAGE_DATA_DIR=os.path.join(work, "dry")), mbox, "--dry-run")[0]
                                             for _ in range(args.runs)]
        rates = []
        for n in range(args.runs):
            rate, imported, rejected = run_import(args.bin, dict(base, TRIAGE_DATA_DIR=os.path.join(work, f"sqlite{n}")), mbox)
            assert imported + rejected == args.messages
            rates.append(rate)
        results["import into SQLite"] = rates
        rates = []
        for n in range(args.runs):
            name = f"triage_bench_{os.getpid()}_{n}"
            psql(pg, f"CREATE DATABASE {name}")
            try:
                rates.append(run_import(args.bin, dict(base, DATABASE_URL=f"{pg}/{name}"), mbox)[0])
            finally:
                psql(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        results["import into PostgreSQL"] = rates
        results["API, batches of 100 (SQLite)"] = [api_rate(args.bin, dict(base, TRIAGE_DATA_DIR=os.path.join(work, f"api{n}")), args.messages)
                                                   for n in range(args.runs)]
        print(f"binary: {args.bin}; {args.messages} messages; median of {args.runs} runs")
        for label, rates in results.items():
            print(f"{label:<32} {statistics.median(rates):>9,.0f} emails/s   (runs: {', '.join(f'{r:,.0f}' for r in rates)})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
