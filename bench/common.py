"""Helpers shared by the benchmark scripts."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every Triage process a benchmark starts: no cloud lookups, fixed AWS keys, a fixed
# key for sealed secrets, and an API rate limit that never refuses the polling.
FIXED_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
    "TRIAGE_SECRET_KEY": "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
    "TRIAGE_API_REQUESTS_PER_MINUTE": "1000000000", "TRIAGE_API_BURST": "1000000",
    "TRIAGE_LOG": "info,sqlx=warn,tower_sessions=warn,html5ever=error",
}


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


def log(text):
    print(text, file=sys.stderr, flush=True)


def start_service(cmd, port, what, hint, **popen):
    """Starts a server process in a process group of its own (its children stop with
    it) and waits until `port` takes connections; exits with `hint` if it doesn't."""
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, start_new_session=True, **popen)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"{what} did not start: {hint}")
            time.sleep(0.02)


def stop_service(process):
    """Stops what `start_service` started, its children too."""
    if process and process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


class Api:
    """The REST API over one kept-alive connection, with a bearer token; a connection
    the server closed is opened again once."""

    def __init__(self, port, token, timeout=60):
        self.port, self.token, self.timeout, self.conn = port, token, timeout, None

    def call(self, method, path, body=None):
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                self.conn.request(method, path, body, headers)
                r = self.conn.getresponse()
                payload = r.read()
                break
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt:
                    raise
        if r.status >= 300:
            raise SystemExit(f"{method} {path}: {r.status} {payload[:500]!r}")
        return json.loads(payload)


S3RVER_VERSION = "3.7.1"
S3RVER = os.path.join(ROOT, ".tools", "node_modules", ".bin", "s3rver")


class LocalS3:
    """An AWS stand-in on a free loopback port, reached by Triage's real AWS SDK:
    moto in server mode (`kind="moto"`: S3 and the SageMaker control plane, the
    tests' stand-in; installed by scripts/setup.sh --test) or s3rver (`kind="s3rver"`:
    npm's s3rver 3.7.1, installed into .tools/ on first use, S3 only, objects as files
    on disk). moto is one Python process and answers about 230 GetObject requests a
    second, so where S3's speed would be measured instead of Triage's, s3rver serves."""

    def __init__(self, kind, work):
        self.kind, self.port = kind, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # s3rver checks signatures with its own fixed key; moto takes any.
        self.key = "S3RVER" if kind == "s3rver" else "test"
        self.log = open(os.path.join(work, f"{kind}.log"), "wb")
        if kind == "moto":
            cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
            hint = "pip install 'moto[server]' (scripts/setup.sh --test)"
        else:
            folder = os.path.join(work, "s3rver")
            os.makedirs(folder)
            cmd = [S3RVER, "-d", folder, "-a", "127.0.0.1", "-p", str(self.port), "--silent"]
            hint = f"npm install --prefix .tools s3rver@{S3RVER_VERSION}"
            if not os.access(S3RVER, os.X_OK):
                log(f"==> installing s3rver {S3RVER_VERSION} into .tools/")
                subprocess.run(["npm", "install", "--prefix", os.path.join(ROOT, ".tools"), "--no-audit",
                                "--no-fund", f"s3rver@{S3RVER_VERSION}"], check=True, stdout=subprocess.DEVNULL)
        # No cloud lookups. s3rver 3.7 makes its continuation tokens with a cipher
        # OpenSSL 3 keeps among its legacy ones (without it, listing past 1,000 keys
        # fails).
        env = dict(os.environ, AWS_EC2_METADATA_DISABLED="true", AWS_ACCESS_KEY_ID=self.key,
                   AWS_SECRET_ACCESS_KEY=self.key, AWS_REGION="us-east-1",
                   NODE_OPTIONS="--openssl-legacy-provider")
        self.process = start_service(cmd, self.port, kind, hint, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.s3 = self.client()

    def env(self):
        """What points Triage's S3 client here, with keys it takes (Triage's fixed
        keys, when set, win over the AWS chain's)."""
        return {"TRIAGE_S3_ENDPOINT_URL": self.url, "TRIAGE_S3_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": self.key, "AWS_SECRET_ACCESS_KEY": self.key,
                "TRIAGE_ENDPOINT_ACCESS_KEY_ID": self.key, "TRIAGE_ENDPOINT_SECRET_ACCESS_KEY": self.key}

    def client(self):
        import boto3
        from botocore.config import Config
        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id=self.key, aws_secret_access_key=self.key,
                            config=Config(max_pool_connections=16, s3={"addressing_style": "path"}))

    def keys(self, bucket, prefix):
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return keys

    def get(self, bucket, key):
        return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def put(self, bucket, key, body):
        self.s3.put_object(Bucket=bucket, Key=key, Body=body)

    def delete_under(self, bucket, prefix):
        keys = self.keys(bucket, prefix)
        for start in range(0, len(keys), 1000):
            self.s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]]})

    def stop(self):
        stop_service(self.process)
        self.log.close()
