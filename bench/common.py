"""Helpers shared by the benchmark scripts."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_example(package, example, args=(), features=None):
    """Builds and runs a release example with the flags of scripts/env.sh (the same
    ones `cargo xtask build` and the tests use, so nothing builds twice and the app
    compiles as it does there); its last stdout line is one JSON object."""
    cmd = ["cargo", "run", "--quiet", "--release", "-p", package, "--example", example]
    if features:
        cmd += ["--features", features]
    cmd += ["--", *args]
    print("==> " + " ".join(cmd), file=sys.stderr)
    out = subprocess.run(["bash", "-c", 'source scripts/env.sh && exec "$@"', "bash", *cmd],
                         cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, timeout=30.0):
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/readyz")
            if c.getresponse().status == 200:
                return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(0.002)
    raise SystemExit("server did not become ready")
