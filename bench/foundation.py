#!/usr/bin/env python3
"""Foundation figures (issue #2): how fast `triage serve` starts on an existing
database, and how fast the queue page is served on the demo data.

Usage: bench/foundation.py [--bin PATH] [--runs N] [--requests N]
Defaults to the release binary ($CARGO_TARGET_DIR/release/triage); build it with
scripts/build-release.sh. Uses a fresh SQLite database in a temporary folder, or
DATABASE_URL if set. Prints medians (and p90/p99 for page latency)."""

import argparse
import http.client
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.parse

from common import free_port, wait_ready


def percentile(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(__file__), "..", "target"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(target, "release", "triage"))
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--requests", type=int, default=500)
    args = ap.parse_args()

    data = tempfile.mkdtemp(prefix="triage-bench-")
    env = dict(os.environ, TRIAGE_DATA_DIR=data, TRIAGE_LOG="warn",
               LEPTOS_SITE_ROOT=os.environ.get("LEPTOS_SITE_ROOT", os.path.join(target, "site")))
    try:
        subprocess.run([args.bin, "demo"], env=env, check=True, stdout=subprocess.DEVNULL)

        starts = []
        for _ in range(args.runs):
            port = free_port()
            t0 = time.perf_counter()
            p = subprocess.Popen([args.bin, "serve", "--addr", f"127.0.0.1:{port}"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_ready(port)
            starts.append(time.perf_counter() - t0)
            p.terminate()
            p.wait()

        port = free_port()
        server = subprocess.Popen([args.bin, "serve", "--addr", f"127.0.0.1:{port}"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port)
            conn = http.client.HTTPConnection("127.0.0.1", port)
            body = urllib.parse.urlencode({"username": "alex", "password": "triage-agent", "next": "/"})
            conn.request("POST", "/login", body, {"Content-Type": "application/x-www-form-urlencoded",
                                                   "Origin": f"http://127.0.0.1:{port}"})
            resp = conn.getresponse()
            resp.read()
            cookie = resp.getheader("Set-Cookie").split(";")[0]
            results = {}
            for label, path in [("queue page /", "/"), ("queue page, filtered", "/?status=triaged&category=complaint"),
                                ("queue page 3 (cursor)", None)]:
                if path is None:
                    # a deep page: follow the "older" link twice
                    path = "/"
                    for _ in range(2):
                        conn.request("GET", path, headers={"Cookie": cookie})
                        html = conn.getresponse().read().decode()
                        i = html.index('rel="next"')
                        href = html.rfind('href="', 0, i)
                        path = "/" + html[href + 6:html.index('"', href + 6)].replace("&amp;", "&")
                times = []
                for n in range(args.requests + 20):
                    t0 = time.perf_counter()
                    conn.request("GET", path, headers={"Cookie": cookie})
                    r = conn.getresponse()
                    r.read()
                    assert r.status == 200, r.status
                    if n >= 20:
                        times.append((time.perf_counter() - t0) * 1000)
                results[label] = times
        finally:
            server.terminate()
            server.wait()

        print(f"binary: {args.bin}")
        print(f"startup to /readyz on an existing database ({args.runs} runs): median {statistics.median(starts) * 1000:.0f} ms, "
              f"max {max(starts) * 1000:.0f} ms   (goal: < 1000 ms)")
        for label, times in results.items():
            print(f"{label:<24} ({args.requests} sequential requests): median {statistics.median(times):.2f} ms, "
                  f"p90 {percentile(times, 90):.2f} ms, p99 {percentile(times, 99):.2f} ms   (goal: median < 20 ms)")
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
