#!/usr/bin/env python3
"""The Batch Transform figure of issue 31, with its target:

- the round trip of a transform job over 100,000 unscored emails, excluding the
  model's own time (export to S3 + read the `.out` objects back and store them), is
  at most 1.5x the time `triage import batch-output` takes to store the same answers
  from one local file, on a copy of the same database.

What runs: moto (`python3 -m moto.server`, installed by `scripts/setup.sh --test`)
serves the SageMaker control plane; S3 is s3rver (npm's s3rver 3.7.1, installed into
.tools/ on first use, as bench/s3_ingest.py uses it), or moto too with `--s3 moto`.
moto is one Python process that shares the two cores with Triage: storing the
export's 190 MB costs it about a second of CPU, as much as Triage's export itself,
so with moto as S3 the export measures moto as much as Triage. Both are reached by
Triage's real AWS SDK. moto marks a transform job Completed at once and runs
nothing, so this script plays SageMaker, as the tests do
(server/tests/api/aws_servers.rs, `play_sagemaker`):

1. `triage score --transform --wait` queues a transform job and works it in its own
   process, with TRIAGE_TRANSFORM_POLL_MS at its most (an hour): the job exports the
   emails to S3 (`…/input/part-NNNNN.jsonl`, 10,000 lines each), creates the SageMaker
   job, then waits an hour to describe it. Export time = the moment that wait was set
   (the job row's `next_step_at` minus the poll interval, written by the worker) minus
   the job's `started_at`; it includes CreateTransformJob (a loopback call).
2. The model's part, not timed: each input object is sent to `triage model-server`
   (`POST /invocations`, application/jsonlines) and its answers are put back as
   `…/output/part-NNNNN.jsonl.out`, `{"id": "42", "SageMakerOutput": [...]}` a line
   (JoinSource=Input with the output filter Triage asks for). The answers of the first
   run are kept and put again in later runs (same database copy, same ids).
3. The job's next step is made due (`next_step_at = 0`); it describes the job (moto
   says Completed), lists and reads the `.out` objects and stores the predictions.
   Import time = the job's `finished_at` minus that moment; it includes the worker's
   idle poll (up to 200 ms in `triage score --wait`), shown apart as "pickup".
4. Baseline: on a second copy of the database as it was before the transform, the
   same `.out` lines concatenated in one file, and `triage import batch-output FILE
   --model VERSION` timed from start to exit (its own job row's time is shown too).

The database: `triage demo` (which trains and activates the demo model), then N
emails imported with `triage import` from JSON Lines while no model is active (the
active model is set aside in SQL for the import and put back after, as
`training::activate` does it), so they stay unscored. Mail: "generated" (default):
composed from the demo's phrase pools (domain/src/demo/phrases) with long quoted
replies (about 300 words each, a third of them quoted); "real": the SpamAssassin
corpus of bench/fetch_dataset.py (bench/.data/emails.jsonl, used when present),
repeated to reach N. Each backend's database is made once and copied for every run
(SQLite: the file; PostgreSQL: CREATE DATABASE … TEMPLATE, after ANALYZE).

Needs the release build (`cargo build --release -p server --bin triage`, or
scripts/build-release.sh) and moto. SQLite always; PostgreSQL with --backends
sqlite,postgres (TRIAGE_TEST_POSTGRES_URL or postgres://postgres@127.0.0.1:5432; its
databases are made and dropped here). Prints medians of the runs and exits non-zero
when the target is missed. On 2 cores, 100,000 emails and 3 runs take about 4 minutes a
mail kind on SQLite and 4 to 5 on PostgreSQL (its `triage demo` alone about 2).
Usage: bench/transform.py [--bin PATH] [--emails 100000] [--runs 3] [--s3 s3rver|moto]
                          [--backends sqlite,postgres] [--mail generated,real] [--keep]"""

import argparse
import glob
import http.client
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

from common import FIXED_ENV, ROOT, LocalS3, free_port, log

HERE = os.path.dirname(os.path.abspath(__file__))
REAL_MAIL = os.path.join(HERE, ".data", "emails.jsonl")
BUCKET = "triage-bench"
POLL_MS = 3_600_000  # the most TRIAGE_TRANSFORM_POLL_MS allows: the job waits for us
BENCH_ENV = dict(FIXED_ENV, TRIAGE_ENDPOINT_ACCESS_KEY_ID="test", TRIAGE_ENDPOINT_SECRET_ACCESS_KEY="test",
                 TRIAGE_LOG="warn")


def now_ms():
    return int(time.time() * 1000)


# ---------------------------------------------------------------------------------
# The databases


class SqliteDb:
    name = "SQLite"

    def __init__(self, folder):
        self.folder = folder
        self.path = os.path.join(folder, "triage.db")
        os.makedirs(folder, exist_ok=True)
        self._conn = None

    def env(self):
        return {"TRIAGE_DATA_DIR": self.folder}

    def conn(self):
        if self._conn is None:
            self._conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._conn.execute("PRAGMA busy_timeout = 60000")
        return self._conn

    def rows(self, sql):
        return self.conn().execute(sql).fetchall()

    def one(self, sql):
        r = self.rows(sql)
        return r[0] if r else None

    def execute(self, sql):
        self.conn().execute(sql)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def prepare_template(self):
        """Everything in the main file, so a copy of it is the whole database."""
        self.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.close()

    def copy(self, name):
        other = SqliteDb(os.path.join(os.path.dirname(self.folder), name))
        for suffix in ("", "-wal"):
            if os.path.exists(self.path + suffix):
                shutil.copyfile(self.path + suffix, other.path + suffix)
        for key in glob.glob(os.path.join(self.folder, "*.key")):  # TRIAGE_DATA_DIR's secret key
            shutil.copy(key, other.folder)
        return other

    def drop(self):
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def backend_cpu(self):
        return {}  # in the triage process itself (SQLite's threads)


class PostgresDb:
    name = "PostgreSQL"

    def __init__(self, server, dbname, create=True):
        self.server, self.dbname = server, dbname
        self.url = f"{server}/{dbname}"
        if create:
            psql(f"{server}/postgres", f"CREATE DATABASE {dbname}")

    def env(self):
        return {"DATABASE_URL": self.url}

    def rows(self, sql):
        out = psql(self.url, sql, tuples=True)
        return [tuple(None if v == "\\N" else v for v in line.split("\t")) for line in out.splitlines() if line]

    def one(self, sql):
        r = self.rows(sql)
        return r[0] if r else None

    def execute(self, sql):
        psql(self.url, sql)

    def close(self):
        pass

    def prepare_template(self):
        self.execute("ANALYZE")

    def copy(self, name):
        psql(f"{self.server}/postgres", f"CREATE DATABASE {name} TEMPLATE {self.dbname}")
        return PostgresDb(self.server, name, create=False)

    def drop(self):
        psql(f"{self.server}/postgres", f"DROP DATABASE IF EXISTS {self.dbname} WITH (FORCE)")

    def backend_cpu(self):
        """CPU seconds used so far by each server process connected to this database."""
        return {int(pid): process_cpu(int(pid)) for (pid,) in psql_rows(
            f"{self.server}/postgres", f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.dbname}'")}


def psql(url, sql, tuples=False):
    args = ["psql", url, "-X", "-v", "ON_ERROR_STOP=1", "-q"]
    if tuples:
        args += ["-A", "-t", "-F", "\t", "-P", "null=\\N"]
    return subprocess.run(args + ["-c", sql], check=True, capture_output=True, text=True).stdout


def psql_rows(url, sql):
    return [tuple(line.split("\t")) for line in psql(url, sql, tuples=True).splitlines() if line]


def process_cpu(pid):
    """utime + stime of a process, in seconds (0 when it is gone)."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return 0.0
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BackendCpu:
    """CPU seconds the database's server processes (PostgreSQL backends) use from
    `start` on: each process as last seen, less what it had used at the start."""

    def __init__(self, db):
        self.db, self.base, self.seen = db, {}, {}

    def start(self):
        self.base = self.db.backend_cpu()
        self.seen = dict(self.base)

    def sample(self):
        self.seen.update(self.db.backend_cpu())

    def seconds(self):
        return sum(s - self.base.get(pid, 0.0) for pid, s in self.seen.items())


def cpu_by_thread(pid):
    """CPU seconds of each thread of `pid` by thread id: (name, seconds)."""
    threads = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            stat = open(os.path.join(task, "stat")).read()
        except OSError:
            continue
        name = stat[stat.find("(") + 1:stat.rfind(")")].rstrip("0123456789")
        fields = stat[stat.rfind(")") + 2:].split()
        threads[task] = (name, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return threads


def thread_cpu_between(before, after):
    """CPU seconds per thread name between two cpu_by_thread samples."""
    out = {}
    for tid, (name, seconds) in after.items():
        out[name] = out.get(name, 0.0) + seconds - before.get(tid, (name, 0.0))[1]
    return out


# ---------------------------------------------------------------------------------
# The mail


def generated_mail(n, seed=31):
    """Customer mail composed from the demo's phrase pools, each with a long quoted
    thread below it (the support team's reply, quoted, and the customer's first
    message quoted twice), as mail clients write replies."""
    rng = random.Random(seed)
    pools = {}
    for path in sorted(glob.glob(os.path.join(ROOT, "domain", "src", "demo", "phrases", "*.json"))):
        pools[os.path.basename(path)[:-5]] = json.load(open(path))
    categories = sorted(pools)
    products = ["thermal printer TP-300", "barcode scanner BS-20", "pallet jack PJ-2500",
                "label printer LP-4", "handheld terminal HT-9", "shelving unit SR-180"]
    names = ["Anna Berg", "Tom Walsh", "Priya Nair", "Lukas Meyer", "Chen Wei", "Sofia Rossi",
             "James Okafor", "Marta Nowak", "Ahmed Haddad", "Emma Laurent"]
    companies = ["Nordlicht GmbH", "Acme Logistics", "Baltic Freight", "Greenfield Foods",
                 "Harbor Retail", "Summit Tools"]
    replies = [
        "Thank you for contacting us. We have looked into your request and forwarded it to the "
        "responsible team, who will get back to you within two working days.",
        "Thanks for your message. Could you please send us the order number, the serial number "
        "of the device and a photo of the label so that we can check this for you?",
        "We are sorry for the trouble. A replacement has been arranged and you will receive a "
        "confirmation with the tracking details by email as soon as it leaves our warehouse.",
        "Your ticket has been updated. Our technician suggests restarting the device, installing "
        "the latest firmware from the customer portal and trying again; if the problem persists, "
        "reply to this email and we will arrange a call.",
    ]

    def fill(text):
        return (text.replace("{product}", rng.choice(products))
                .replace("{order}", f"SO-{rng.randint(100000, 999999)}")
                .replace("{qty}", str(rng.randint(2, 400)))
                .replace("{company}", rng.choice(companies))
                .replace("{invoice}", f"INV-{rng.randint(10000, 99999)}")
                .replace("{date}", f"{rng.randint(1, 28)} March")
                .replace("{amount}", f"{rng.randint(20, 9000)}.{rng.randint(0, 99):02d} EUR"))

    def message(p, details):
        lines = [rng.choice(["Hello,", "Hi,", "Dear support team,", "Good morning,"]), ""]
        lines.append(fill(rng.choice(p["openings"])) + " " + " ".join(
            fill(rng.choice(p["details"])) for _ in range(details)))
        lines += ["", " ".join(fill(rng.choice(p["asks"])) for _ in range(2)), ""]
        return lines

    for i in range(n):
        p = pools[categories[i % len(categories)]]
        name = rng.choice(names)
        company = rng.choice(companies)
        first = message(p, 4)
        body = message(p, 3) + ["Best regards,", name, company, "",
                                f"On Mon, {rng.randint(1, 28)} Sep 2026 at 09:{rng.randint(10, 59)}, "
                                "Support <support@shop.example> wrote:"]
        body += ["> " + line if line else ">" for line in
                 (rng.choice(replies) + "\n\n" + rng.choice(replies) + "\n\nKind regards,\nThe support team").split("\n")]
        body += [">", f"> On Fri, {rng.randint(1, 28)} Aug 2026 at 16:{rng.randint(10, 59)}, {name} wrote:"]
        body += [">> " + line if line else ">>" for line in first + ["Thanks,", name]]
        yield fill(rng.choice(p["subjects"])), "\n".join(body)


def real_mail(n):
    rows = [json.loads(line) for line in open(REAL_MAIL)]
    texts = [(r["subject"].replace("\0", ""), r["body"].replace("\0", "")) for r in rows]
    for i in range(n):
        yield texts[i % len(texts)]


def write_mail(path, kind, n):
    """N JSON emails for `triage import`; returns their mean number of words."""
    texts = generated_mail(n) if kind == "generated" else real_mail(n)
    words = 0
    with open(path, "w") as f:
        for i, (subject, body) in enumerate(texts):
            words += len(subject.split()) + len(body.split())
            f.write(json.dumps({"message_id": f"<transform-bench-{i}@triage.bench>",
                                "from": f"Customer {i % 5000} <customer{i % 5000}@shop.example>",
                                "subject": subject, "body": body,
                                "received_at": 1_780_000_000_000 + i * 1000}) + "\n")
    return words / max(n, 1)


# ---------------------------------------------------------------------------------
# The processes


class ModelServer:
    """`triage model-server` over the database's active model (it reads the model and
    closes the database), for the answers SageMaker would write."""

    def __init__(self, binary, env, work):
        self.port = free_port()
        self.log = open(os.path.join(work, "model-server.log"), "wb")
        self.process = subprocess.Popen([binary, "model-server", "--addr", f"127.0.0.1:{self.port}"], env=env,
                                        cwd=work, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", "/ping")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the model server did not start; see {self.log.name}")
            time.sleep(0.05)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def answer(self, lines):
        self.conn.request("POST", "/invocations", "\n".join(lines).encode(),
                          {"Content-Type": "application/jsonlines"})
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 200:
            sys.exit(f"model server: {r.status} {body[:300]!r}")
        answers = [a for a in body.decode().split("\n") if a.strip()]
        assert len(answers) == len(lines), "one answer line per input line"
        return answers

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait()
        self.log.close()


def triage(binary, env, work, *args):
    return subprocess.run([binary, *args], env=env, cwd=work, check=True, capture_output=True,
                          text=True).stdout


# ---------------------------------------------------------------------------------
# One measured run


ID = re.compile(r'^\{"id":"(\d+)"')


def play_sagemaker(s3, run, model, cache):
    """SageMaker's part: every input object answered into `<output>/<name>.out`.
    Returns the .out texts in object order and the seconds the answers took."""
    in_prefix = urllib.parse.urlparse(run["input"]).path.lstrip("/")
    out_prefix = urllib.parse.urlparse(run["output"]).path.lstrip("/")
    started = time.perf_counter()
    texts = []
    for key in sorted(s3.keys(BUCKET, in_prefix)):
        name = key.rsplit("/", 1)[1]
        lines = [line for line in s3.get(BUCKET, key).decode().split("\n") if line.strip()]
        ids = [(ID.match(line) or [None, str(json.loads(line)["id"])])[1] for line in lines]
        if name in cache and cache[name][0] == ids:
            out = cache[name][1]
        else:
            answers = []
            for start in range(0, len(lines), 500):  # mini-batches under the 6 MB payload
                answers += model.answer(lines[start:start + 500])
            out = "".join(f'{{"id":"{i}","SageMakerOutput":{a}}}\n' for i, a in zip(ids, answers))
            cache[name] = (ids, out)
        s3.put(BUCKET, f"{out_prefix}{name}.out", out.encode())
        texts.append(out)
    return texts, time.perf_counter() - started


def wait_for(what, check, timeout, process=None, every=0.01):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if process is not None and process.poll() is not None:
            value = check()
            if value:
                return value
            sys.exit(f"{what}: the triage process ended first ({process.returncode}); see its log")
        if time.monotonic() > deadline:
            sys.exit(f"{what}: not within {timeout} s")
        time.sleep(every)


def transform_run(binary, db, env, work, aws, model, cache, n_run):
    """One transform job, from queueing to the end. Returns its figures and the .out
    texts."""
    s3, sagemaker = aws
    env = dict(env, **db.env(), **s3.env(),
               TRIAGE_SAGEMAKER_ENDPOINT_URL=sagemaker.url, TRIAGE_SAGEMAKER_REGION="us-east-1",
               TRIAGE_TRANSFORM_MODEL_NAME="triage-builtin",
               TRIAGE_TRANSFORM_S3_URI=f"s3://{BUCKET}/jobs", TRIAGE_TRANSFORM_POLL_MS=str(POLL_MS))
    unscored = int(db.one("SELECT COUNT(*) FROM emails WHERE prediction_id IS NULL")[0])
    last_job = int(db.one("SELECT COALESCE(MAX(id), 0) FROM jobs")[0])
    log_path = os.path.join(work, f"score-{db.name}-{n_run}.log")
    s3_cpu = [process_cpu(s3.process.pid)]
    with open(log_path, "wb") as out:
        process = subprocess.Popen([binary, "score", "--transform", "--wait"], env=env, cwd=work,
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        job = int(wait_for("the transform job", lambda: (db.one(
            f"SELECT id FROM jobs WHERE kind = 'transform' AND id > {last_job}") or [None])[0], 120, process))

        def waiting():
            # Submitted, and the worker has set the hour's wait (not just the step's lease).
            r = db.one(f"SELECT started_at, next_step_at, result, status, error FROM jobs WHERE id = {job}")
            if r[3] in ("failed", "succeeded", "cancelled"):
                sys.exit(f"the transform job ended {r[3]} before its import: {r[4]}")
            if r[1] is not None and int(r[1]) - now_ms() > POLL_MS // 2 and r[2]:
                return r
            return None

        started_at, next_step_at, result, _, _ = wait_for("the export", waiting, 1800, process, every=0.05)
        export_s = (int(next_step_at) - POLL_MS - int(started_at)) / 1000
        s3_cpu.append(process_cpu(s3.process.pid))
        # The process's CPU so far: its start (a few ms) and the export.
        export_cpu = thread_cpu_between({}, cpu_by_thread(process.pid))
        run = json.loads(result)
        stage = db.one(f"SELECT transform_stage FROM jobs WHERE id = {job}")[0]
        assert stage == "follow", stage
        texts, model_s = play_sagemaker(s3, run, model, cache)
        before = cpu_by_thread(process.pid)
        db_cpu = BackendCpu(db)
        db_cpu.start()
        s3_cpu.append(process_cpu(s3.process.pid))
        kicked = now_ms()
        db.execute(f"UPDATE jobs SET next_step_at = 0 WHERE id = {job}")
        # The worker's claim of the step sets heartbeat_at; then the job ends.
        claimed = {}
        last_sample = [before]

        def finished():
            r = db.one(f"SELECT status, heartbeat_at, finished_at, transform_stage FROM jobs WHERE id = {job}")
            if "at" not in claimed and r[1] is not None and int(r[1]) >= kicked:
                claimed["at"] = int(r[1])
            # The process's threads, as late as they can be read (it exits soon after
            # the job ends, and a finished process has lost its threads' figures).
            sample = cpu_by_thread(process.pid) if process.poll() is None else {}
            if len(sample) > 1:
                last_sample[0] = sample
            db_cpu.sample()
            return r if r[0] != "running" else None

        status, _, finished_at, _ = wait_for("the import", finished, 1800, process, every=0.01)
        after = last_sample[0]
        s3_cpu.append(process_cpu(s3.process.pid))
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait()
    r = db.one(f"SELECT status, total, done, failed, error FROM jobs WHERE id = {job}")
    if r[0] != "succeeded" or int(r[2]) != unscored or int(r[3]) != 0:
        sys.exit(f"transform job {job}: {r} (expected {unscored} done); see {log_path}")
    objects = db.rows(f"SELECT object_key, stored, stored_at FROM transform_outputs WHERE job_id = {job} "
                      "ORDER BY stored_at")
    import_s = (int(finished_at) - kicked) / 1000
    pickup_s = (claimed.get("at", kicked) - kicked) / 1000
    # Seconds each .out object took to store (from the claim, then object to object).
    marks = [claimed.get("at", kicked)] + [int(o[2]) for o in objects]
    per_object = [(b - a) / 1000 for a, b in zip(marks, marks[1:])]
    folder = urllib.parse.urlparse(run["input"]).path.lstrip("/").rsplit("/input/", 1)[0]
    s3.delete_under(BUCKET, folder + "/")
    return {
        "job": job, "emails": unscored, "objects": run["input_objects"],
        "export_s": export_s, "import_s": import_s, "round_trip_s": export_s + import_s,
        "pickup_s": pickup_s, "model_s": model_s,
        "per_object_s": per_object,
        "tail_s": (int(finished_at) - marks[-1]) / 1000,
        "import_cpu": thread_cpu_between(before, after),
        "import_db_cpu": db_cpu.seconds(), "export_cpu": export_cpu,
        "export_s3_cpu": s3_cpu[1] - s3_cpu[0], "import_s3_cpu": s3_cpu[3] - s3_cpu[2],
    }, texts


def baseline_run(binary, db, env, work, out_file, version, emails):
    """`triage import batch-output` of the same answers on a fresh copy."""
    env = dict(env, **db.env())
    last_job = int(db.one("SELECT COALESCE(MAX(id), 0) FROM jobs")[0])
    t0 = time.perf_counter()
    process = subprocess.Popen([binary, "import", "batch-output", out_file, "--model", version], env=env,
                               cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    db_cpu = BackendCpu(db)
    # PostgreSQL's backends for this process: sampled until they go.
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        db_cpu.sample()
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    status = process.returncode = os.waitstatus_to_exitcode(status)
    output = process.stdout.read().decode()
    if status != 0:
        sys.exit(f"triage import batch-output failed: {output[-2000:]}")
    r = db.one(f"SELECT started_at, finished_at, done, failed FROM jobs WHERE kind = 'import' AND id > {last_job}")
    if int(r[2]) != emails or int(r[3]) != 0:
        sys.exit(f"batch-output stored {r[2]} of {emails} ({r[3]} failed): {output[-2000:]}")
    return {"wall_s": wall, "job_s": (int(r[1]) - int(r[0])) / 1000, "db_cpu": db_cpu.seconds(),
            "cpu": usage.ru_utime + usage.ru_stime}


# ---------------------------------------------------------------------------------


def make_base(binary, db, env, work, mail_file):
    """The demo, a trained active model, and the mail unscored."""
    env = dict(env, **db.env())
    t0 = time.perf_counter()
    triage(binary, env, work, "demo")
    model_id, version = db.one("SELECT id, version FROM models WHERE status = 'active'")
    # Set aside while the mail is imported, so `triage import` scores none of it.
    db.execute(f"UPDATE models SET status = 'retired' WHERE id = {model_id}")
    out = triage(binary, env, work, "import", "--quiet", mail_file)
    db.execute(f"UPDATE models SET status = 'active' WHERE id = {model_id}")
    imported = re.search(r"(\d+) imported", out)
    unscored = int(db.one("SELECT COUNT(*) FROM emails WHERE prediction_id IS NULL")[0])
    total = int(db.one("SELECT COUNT(*) FROM emails")[0])
    db.prepare_template()
    log(f"    {imported[1] if imported else '?'} imported: {total:,} emails, {unscored:,} unscored, "
        f"model {version}; in {time.perf_counter() - t0:.1f} s")
    return version, unscored


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def measure(binary, backend, mail, args, work, env, mail_file, aws):
    tag = f"{backend}-{mail}"
    log(f"==> {tag}: the database")
    pg = os.environ.get("TRIAGE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    prefix = f"triage_transform_bench_{os.getpid()}_{mail}"
    base = SqliteDb(os.path.join(work, f"{tag}-base")) if backend == "sqlite" else PostgresDb(pg, f"{prefix}_base")
    copies = [base]
    model = None
    try:
        version, unscored = make_base(binary, base, env, work, mail_file)
        model = ModelServer(binary, dict(env, **base.env()), work)
        cache, runs = {}, []
        out_file = os.path.join(work, f"{tag}.out")
        for n in range(args.runs):
            name = f"{prefix}_t{n}" if backend == "postgres" else f"{tag}-t{n}"
            t_db = base.copy(name)
            copies.append(t_db)
            b_db = base.copy(name.replace("_t", "_b").replace("-t", "-b"))
            copies.append(b_db)
            tr, texts = transform_run(binary, t_db, env, work, aws, model, cache, n)
            with open(out_file, "w") as f:
                f.writelines(texts)
            t_db.drop()
            copies.remove(t_db)
            bl = baseline_run(binary, b_db, env, work, out_file, version, unscored)
            b_db.drop()
            copies.remove(b_db)
            tr["baseline"] = bl
            runs.append(tr)
            objs = tr["per_object_s"]
            log(f"    run {n + 1}: export {tr['export_s']:.2f} s, import {tr['import_s']:.2f} s "
                f"(pickup {tr['pickup_s']:.2f} s, {len(objs)} objects {min(objs):.2f}-{max(objs):.2f} s each), "
                f"round trip {tr['round_trip_s']:.2f} s; batch-output {bl['wall_s']:.2f} s "
                f"(its job {bl['job_s']:.2f} s); ratio {tr['round_trip_s'] / bl['wall_s']:.2f}x "
                f"[model, not timed: {tr['model_s']:.1f} s]")
        return {"backend": base.name, "mail": mail, "emails": unscored, "runs": runs, "s3": aws[0].kind}
    finally:
        if model is not None:
            model.stop()
        if not args.keep:
            for db in copies:
                db.drop()


def report(result):
    runs = result["runs"]
    m = {k: median([r[k] for r in runs]) for k in ("export_s", "import_s", "round_trip_s", "pickup_s")}
    wall = median([r["baseline"]["wall_s"] for r in runs])
    job = median([r["baseline"]["job_s"] for r in runs])
    ratio = median([r["round_trip_s"] / r["baseline"]["wall_s"] for r in runs])
    per_object = median([median(r["per_object_s"]) for r in runs])
    print(f"{result['backend']}, {result['emails']:,} emails ({result['mail']} mail), median of {len(runs)} runs:")
    print(f"  export to S3 (+ CreateTransformJob)  {m['export_s']:7.2f} s   ({result['emails'] / m['export_s']:,.0f} emails/s)")
    print(f"  import of the .out objects            {m['import_s']:7.2f} s   (of which the worker's pickup "
          f"{m['pickup_s']:.2f} s; {per_object:.2f} s per object of {runs[0]['objects'] and result['emails'] // runs[0]['objects']:,} lines)")
    print(f"  round trip                            {m['round_trip_s']:7.2f} s")
    print(f"  triage import batch-output, same file {wall:7.2f} s   (its job row: {job:.2f} s)")
    print(f"  ratio round trip / batch-output       {ratio:7.2f}x  (runs: "
          + ", ".join(f"{r['round_trip_s'] / r['baseline']['wall_s']:.2f}x" for r in runs) + ")")
    mid = sorted(runs, key=lambda r: r["round_trip_s"])[len(runs) // 2]

    def by_thread(cpu):
        shown = ", ".join(f"{name} {s:.2f} s" for name, s in sorted(cpu.items(), key=lambda kv: -kv[1]) if s >= 0.05)
        return f"{sum(cpu.values()):.2f} s in triage ({shown or 'none measured'})"

    print(f"  CPU of the median run: export {by_thread(mid['export_cpu'])}")
    print(f"                         import {by_thread(mid['import_cpu'])}"
          + (f", {mid['import_db_cpu']:.2f} s in PostgreSQL" if result["backend"] == "PostgreSQL" else ""))
    print(f"                         {result['s3']} (S3): export {mid['export_s3_cpu']:.2f} s, "
          f"import {mid['import_s3_cpu']:.2f} s")
    print(f"                         batch-output {mid['baseline']['cpu']:.2f} s in triage"
          + (f", {mid['baseline']['db_cpu']:.2f} s in PostgreSQL" if result["backend"] == "PostgreSQL" else ""))
    return ratio


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(target, "release", "triage"))
    ap.add_argument("--emails", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--backends", default="sqlite")
    ap.add_argument("--mail", default=None, help="generated,real (default: both when bench/.data has the corpus)")
    ap.add_argument("--s3", choices=["s3rver", "moto"], default="s3rver", help="the local S3")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work folder (logs, .out file) and each backend's base database")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"{args.bin} not found: cargo build --release -p server --bin triage")
    mails = (args.mail or ("generated,real" if os.path.exists(REAL_MAIL) else "generated")).split(",")
    if "real" in mails and not os.path.exists(REAL_MAIL):
        sys.exit(f"{REAL_MAIL} is missing: run bench/fetch_dataset.py first")
    began = time.monotonic()
    work = tempfile.mkdtemp(prefix="triage-transform-bench-")
    env = dict(os.environ, **BENCH_ENV)
    for k in ("DATABASE_URL", "TRIAGE_DATA_DIR", "TRIAGE_CONFIG"):
        env.pop(k, None)
    sagemaker = LocalS3("moto", work)
    s3 = sagemaker if args.s3 == "moto" else LocalS3(args.s3, work)
    s3.s3.create_bucket(Bucket=BUCKET)
    results = []
    try:
        for mail in mails:
            mail_file = os.path.join(work, f"{mail}.jsonl")
            words = write_mail(mail_file, mail, args.emails)
            log(f"==> {args.emails:,} {mail} emails, {words:.0f} words each on average, "
                f"{os.path.getsize(mail_file) / 1e6:.0f} MB of JSON")
            for backend in args.backends.split(","):
                results.append(measure(args.bin, backend, mail, args, work, env, mail_file, (s3, sagemaker)))
    finally:
        for service in {id(s): s for s in (s3, sagemaker)}.values():
            service.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"files kept: {work}")
    print(f"binary: {args.bin}; S3: {args.s3}; {time.monotonic() - began:.0f} s in all")
    ok = []
    for result in results:
        ratio = report(result)
        ok.append((f"{result['backend']}, {result['mail']} mail: round trip <= 1.5x batch-output", ratio <= 1.5))
    for name, passed in ok:
        print(f"  {'ok  ' if passed else 'MISS'} {name}")
    sys.exit(0 if all(p for _, p in ok) else 1)


if __name__ == "__main__":
    main()
